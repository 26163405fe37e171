/**
 * felix's filter chains rendered from the compiled policy tables: the layout (dispatch to
 * cali-fw-/cali-tw- per local workload, cali-pi-/cali-po- per policy in order, the end-of-tier
 * drop only where a policy selects the workload, the namespace profile), and, where root and the
 * tools are here, the sets and rules really loaded by `ipset restore` and `iptables-restore` in a
 * throw-away network namespace (`unshare -n`: nothing on the host is touched).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderFelix } from '../../src/compile/calico-policy/render.js';
import { DIR_EGRESS, DIR_INGRESS } from '../../src/compile/calico-policy/policy-tables.js';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { vethName } from '../../src/dataplane/pod-network.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { loadFixture } from '../helpers/cluster.js';
import { unshareSkipReason } from '../helpers/unshare.js';

function kernelAvailable(): string | undefined {
  return unshareSkipReason('iptables-restore', 'ipset');
}

describe("Calico policy rendered as felix's chains", () => {
  const compiled = new CompiledCluster(loadFixture('policy-cluster.yaml'), 'iptables');
  const tables = compiled.policy!;
  const cluster = compiled.cluster;

  it('dispatches every local workload to its own chains, each policy that selects it in order', () => {
    const node = 1; // node-2: web and db
    const r = renderFelix(tables, cluster, node);
    const lines = r.iptables.split('\n');
    for (let w = 0; w < tables.workloadIp.length; w++) {
      const iface = vethName(cluster.network.cni, tables.workloadIp[w]);
      const local = tables.workloadNode[w] === node;
      assert.equal(lines.includes(`:cali-tw-${iface} - [0:0]`), local, iface);
      if (!local) continue;
      for (const [d, prefix] of [[DIR_INGRESS, 'cali-tw-'], [DIR_EGRESS, 'cali-fw-']] as const) {
        const jumps = lines.filter((l) => l.startsWith(`-A ${prefix}${iface} -m mark --mark 0x0/0x20000 -j cali-p`)).length;
        assert.equal(jumps, tables.start[d][w + 1] - tables.start[d][w], `${prefix}${iface}`);
        const tierDrop = lines.some((l) => l.startsWith(`-A ${prefix}${iface} `) && l.includes('Drop if no policies passed packet'));
        assert.equal(tierDrop, jumps > 0, `${prefix}${iface}: the end-of-tier drop only where a policy selects the workload`);
        assert.equal(lines.filter((l) => l.startsWith(`-A ${prefix}${iface} `))[0], `-A ${prefix}${iface} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
      }
    }
    assert.ok(r.iptables.includes('-j DROP') && r.iptables.includes('cali:deny-dev-to-db ingress rule 0'), 'the GlobalNetworkPolicy Deny rule is rendered');
    assert.ok(r.ipset.includes('hash:ip,port') && r.ipset.includes(',tcp:9090'), "web's named port metrics is a (ip, port) set member");
  });

  it("gives each policy rule felix's target for its action: Allow the accept mark, Deny DROP, Pass the pass mark, Log a non-terminal LOG", () => {
    // felix rules/policy.go: Allow sets the accept mark (0x10000 here) and RETURNs, Deny is DROP,
    // Pass sets the pass mark (0x20000) and RETURNs to the next tier, Log is the kernel's LOG
    // target and falls through to the policy's next rule (it neither drops nor marks). NFLOG is
    // felix's flow-log hook (FlowLogsEnabled), not the Log action.
    const expected: Record<string, RegExp> = {
      'cali:prod/allow-same-namespace ingress rule 0': / -j MARK --set-xmark 0x10000\/0x10000$/,
      'cali:deny-dev-to-db ingress rule 0': / -j DROP$/,
      'cali:pass-ops ingress rule 1': / -j MARK --set-xmark 0x20000\/0x20000$/,
      // felix's LogAction (iptables/actions.go) with its default LogPrefix (FelixConfiguration logPrefix).
      'cali:pass-ops ingress rule 0': / -j LOG --log-prefix "calico-packet: " --log-level 5$/,
    };
    const lines = renderFelix(tables, cluster, 1).iptables.split('\n');
    for (const [comment, target] of Object.entries(expected)) {
      const rule = lines.filter((l) => l.includes(`--comment "${comment}"`));
      assert.equal(rule.length, 1, comment);
      assert.match(rule[0], target, comment);
    }
  });

  it('ipset restore and iptables-restore load the rendering in a throw-away namespace', (t) => {
    const why = kernelAvailable();
    if (why) return t.skip(why);
    const dir = mkdtempSync(join(tmpdir(), 'kdp-felix-'));
    try {
      const big = generateCluster({ services: 200, endpoints: 3, nodes: 2, cni: 'calico-ipip', policies: 600 });
      for (const [c, node] of [[cluster, 0], [cluster, 1], [big, 0]] as const) {
        const tables2 = new CompiledCluster(c, 'iptables').policy!;
        const r = renderFelix(tables2, c, node);
        writeFileSync(join(dir, 'sets'), r.ipset);
        writeFileSync(join(dir, 'rules'), r.iptables);
        const test = spawnSync('unshare', ['-n', 'sh', '-c', `ipset restore < ${dir}/sets && iptables-restore --test < ${dir}/rules && iptables-restore < ${dir}/rules && iptables-save -t filter | grep -c '^-A cali-'`], { encoding: 'utf8' });
        assert.equal(test.status, 0, test.stderr);
        // The kernel holds every cali- rule kdp wrote (iptables-save prints them back).
        assert.equal(Number(test.stdout.trim()), r.iptables.split('\n').filter((l) => l.startsWith('-A cali-')).length);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
