/**
 * The kernel as referee of what becomes of a packet conntrack calls INVALID
 * (test/pipeline/conntrack-invalid.test.ts holds kdp's table). kdp's own rendering of a node's
 * rules (flannel, no CNI firewall) is loaded into a namespace that forwards between a client pod
 * and a second namespace standing for the rest of the network (the endpoint's node, and the
 * default route). The client opens a flow to a ClusterIP with a raw SYN (hping3), then sends a
 * SYN/ACK on the same tuple, which nf_conntrack_proto_tcp.c calls INVALID. The far side counts
 * what reaches it, by destination. kdp's pipeline is given the same two packets, and the two must
 * agree: in iptables mode KUBE-FORWARD drops the SYN/ACK; in nftables mode nothing does, and it
 * leaves un-NATed, to the ClusterIP, by the default route.
 *
 * Runs only inside namespaces it creates (kdpv-<pid>-*), sends only to their addresses, and
 * deletes them by name afterwards, also on failure; skipped, with the reason, without root or the
 * tools.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { END_DROPPED, END_EXTERNAL, kEndNames } from '../../src/dataplane/next.js';
import { ENTRY_POD, inject, runBatch } from '../../src/dataplane/pipeline.js';
import type { ModeName } from '../../src/model/types.js';
import { PacketBatch } from '../../src/net/batch.js';
import { formatIp, parseIp } from '../../src/net/ipv4.js';
import { TCP_ACK, TCP_SYN } from '../../src/net/l4.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { kernelMode, missingRequirements } from '../../src/verify/requirements.js';
import { loadRules } from '../../src/verify/rules.js';
import { Sandbox } from '../../src/verify/sandbox.js';
import { clusterOf } from '../helpers/cluster.js';
import { twoNodeObjects } from '../helpers/two-nodes.js';

const kModes: readonly ModeName[] = ['iptables', 'nftables'];
const hping = spawnSync('sh', ['-c', 'command -v hping3'], { encoding: 'utf8' }).status === 0;
const missing = [...new Set(kModes.flatMap((m) => missingRequirements(m))), ...(hping ? [] : ['hping3 (not on PATH; Debian/Ubuntu: apt-get install hping3)'])];
const skip = missing.length > 0 ? `needs root and ${missing.join('; ')}` : undefined;

const client = '10.244.1.5';
const clusterIp = '10.96.0.10';
const endpoint = '10.244.2.7';
const kSport = 40000;

/** kdp's answer: where the SYN, then the SYN/ACK, end, and the destination the SYN/ACK carried. */
function kdpSays(mode: ModeName): { syn: string; synAck: string; carried: string } {
  const ctx = new PipelineContext(new CompiledCluster(clusterOf(...twoNodeObjects('flannel-vxlan', mode)), mode));
  const send = (flags: number): { end: string; dst: string } => {
    const batch = new PacketBatch({ capacity: 1 });
    const i = batch.push(PROTO_TCP, parseIp(client), kSport, parseIp(clusterIp), 80, 100, flags);
    inject(ctx, batch, i, 0, ENTRY_POD);
    runBatch(ctx, batch);
    return { end: kEndNames[batch.verdict[i]], dst: formatIp(batch.dstIp[i]) };
  };
  const syn = send(TCP_SYN);
  const synAck = send(TCP_SYN | TCP_ACK);
  return { syn: syn.end, synAck: synAck.end, carried: synAck.dst };
}

/** The packets a counter named `name` of table `ip count` counted, from `nft list table`. */
function counted(listing: string, name: string): number {
  const m = new RegExp(`counter ${name} \\{\\s*packets (\\d+)`).exec(listing);
  if (!m) throw new Error(`no counter ${name} in:\n${listing}`);
  return Number(m[1]);
}

describe('conntrack INVALID: the kernel agrees with kdp', () => {
  for (const mode of kModes) {
    it(`${mode}: a SYN/ACK from the client after its SYN to a ClusterIP`, { skip, timeout: 60_000 }, async () => {
      const kdp = kdpSays(mode);
      const cluster = clusterOf(...twoNodeObjects('flannel-vxlan', mode));
      const sandbox = new Sandbox();
      try {
        const pod = await sandbox.addNamespace('pod');
        const node = await sandbox.addNamespace('node');
        const far = await sandbox.addNamespace('far');
        const toPod = await sandbox.addVeth(node, pod);
        const toFar = await sandbox.addVeth(node, far);
        await sandbox.ip(pod, ['addr', 'add', `${client}/24`, 'dev', toPod.b]);
        await sandbox.ip(pod, ['route', 'add', 'default', 'via', '10.244.1.1']);
        await sandbox.ip(node, ['addr', 'add', '10.244.1.1/24', 'dev', toPod.a]);
        await sandbox.ip(node, ['addr', 'add', '192.168.0.11/24', 'dev', toFar.a]);
        // The endpoint's node and the world beyond the default route are one namespace: it counts what arrives.
        await sandbox.ip(node, ['route', 'add', '10.244.2.0/24', 'via', '192.168.0.12']);
        await sandbox.ip(node, ['route', 'add', 'default', 'via', '192.168.0.12']);
        await sandbox.ip(far, ['addr', 'add', '192.168.0.12/24', 'dev', toFar.b]);
        await sandbox.ip(far, ['addr', 'add', `${endpoint}/32`, 'dev', toFar.b]);
        await sandbox.sysctl(node, { 'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.rp_filter': 0 });
        const mk = kernelMode(mode)!;
        await loadRules(sandbox, node, mk, mk.kernel.render(cluster, 0));
        // Count by destination before routing, and answer nothing (no RST to move conntrack on).
        const count = [
          'table ip count {',
          '  counter syn { }',
          '  counter synack_endpoint { }',
          '  counter synack_clusterip { }',
          '  chain pre { type filter hook prerouting priority -300;',
          `    ip daddr ${endpoint} tcp dport 8080 tcp flags & (syn | ack) == syn counter name syn`,
          `    ip daddr ${endpoint} tcp dport 8080 tcp flags & (syn | ack) == syn | ack counter name synack_endpoint`,
          `    ip daddr ${clusterIp} tcp dport 80 tcp flags & (syn | ack) == syn | ack counter name synack_clusterip`,
          '    tcp dport { 80, 8080 } drop',
          '  }',
          '}',
        ].join('\n');
        const loaded = await sandbox.exec(far, 'nft', ['-f', '-'], { input: count });
        assert.equal(loaded.status, 0, loaded.stderr);
        const hping3 = (flags: string[]): Promise<unknown> => sandbox.exec(pod, 'hping3', ['-q', '-c', '1', ...flags, '-s', String(kSport), '-k', '-p', '80', clusterIp], { timeoutMs: 10_000 });
        await hping3(['-S']);
        await hping3(['-S', '-A']);
        const listing = (await sandbox.exec(far, 'nft', ['list', 'table', 'ip', 'count'])).stdout;
        const stats = (await sandbox.exec(node, 'conntrack', ['-S'])).stdout;
        const invalid = [...stats.matchAll(/\binvalid=(\d+)/g)].reduce((s, m) => s + Number(m[1]), 0);

        // The SYN was DNATed to the endpoint, in the kernel and in kdp.
        assert.equal(counted(listing, 'syn'), 1, listing);
        assert.notEqual(kdp.syn, kEndNames[END_DROPPED]);
        assert.ok(invalid >= 1, `the node's conntrack called the SYN/ACK INVALID (conntrack -S: ${stats.trim()})`);
        // The SYN/ACK is never DNATed: an INVALID packet has no entry for nat to follow.
        assert.equal(counted(listing, 'synack_endpoint'), 0, listing);
        const kernelPassed = counted(listing, 'synack_clusterip') === 1;
        assert.equal(kdp.synAck, kernelPassed ? kEndNames[END_EXTERNAL] : kEndNames[END_DROPPED], `kernel: ${kernelPassed ? 'left to the ClusterIP' : 'dropped'}; kdp: ${kdp.synAck}`);
        if (kernelPassed) assert.equal(kdp.carried, clusterIp);
        // What each mode's rules are known to do (kubernetes PRs 120412, 122663): the kernel is asked, not assumed, above.
        assert.equal(kernelPassed, mode === 'nftables');
      } finally {
        await sandbox.dispose();
      }
    });
  }
});
