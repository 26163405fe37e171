/**
 * `kdp diff` (issue 13, item 4): a node's iptables-save against the rules its Services need.
 * The planted faults are written as kube-proxy would leave them after a failed sync: the chains
 * of a Service it never wrote, a SEP chain of an endpoint that is gone (named with kube-proxy's
 * own hash of the old endpoint), a chain nothing owns. Expectations are the planted facts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderRules } from '../../../src/compile/index.js';
import { endpointChainName, serviceChainNames } from '../../../src/compile/iptables/chain-names.js';
import { diffNode } from '../../../src/compile/iptables/diff.js';
import { parseIptablesSave } from '../../../src/compile/iptables/index.js';
import { fixturePath, loadFixture } from '../../helpers/cluster.js';

const cluster = loadFixture('small-cluster.yaml');
const own = renderRules(cluster, 'iptables', 0, 'iptables-save');

/** The node's dump with every line of kube-system/dns:dns-tcp (its rules and chains) taken out. */
function withoutService(save: string, name: string): string {
  const chains = Object.values(serviceChainNames(name, 'tcp'));
  const seps = new Set<string>();
  for (const l of save.split('\n')) if (l.includes(`"${name} -> `)) seps.add(/-j (KUBE-SEP-\S+)/.exec(l)![1]);
  const gone = [...chains, ...seps];
  return save.split('\n').filter((l) => !l.includes(`"${name}`) && !l.includes(`${name} `) && !gone.some((c) => l.includes(c))).join('\n');
}

function planted(): string {
  let save = withoutService(own, 'kube-system/dns:dns-tcp');
  const web = serviceChainNames('default/web:http', 'tcp').svc;
  const staleSep = endpointChainName('default/web:http', 'tcp', '10.244.1.99:8080');
  const lines = save.split('\n');
  const nat = lines.indexOf('*nat');
  lines.splice(nat + 1, 0, `:${staleSep} - [0:0]`, ':KUBE-SVC-ORPHANORPHAN2345 - [0:0]');
  const firstWebRule = lines.findIndex((l) => l.startsWith(`-A ${web} `) && l.includes('->'));
  lines.splice(firstWebRule, 0, `-A ${web} -m comment --comment "default/web:http -> 10.244.1.99:8080" -m statistic --mode random --probability 0.33333333349 -j ${staleSep}`);
  const commit = lines.indexOf('COMMIT', nat);
  lines.splice(commit, 0, `-A ${staleSep} -p tcp -m comment --comment "default/web:http" -m tcp -j DNAT --to-destination 10.244.1.99:8080`);
  save = lines.join('\n');
  return save;
}

test('kdp\'s own rendering is in sync', () => {
  const d = diffNode(cluster, 0, parseIptablesSave(own).ruleset);
  assert.deepEqual(d, { node: 'node-1', mode: 'iptables', inSync: true, missingServices: [], staleServices: [], endpoints: [], orphanChains: [] });
});

test('a planted stale endpoint, a missing Service and an orphan chain are all found', () => {
  const d = diffNode(cluster, 0, parseIptablesSave(planted()).ruleset);
  assert.equal(d.inSync, false);
  assert.deepEqual(d.missingServices, ['kube-system/dns:dns-tcp']);
  assert.deepEqual(d.endpoints, [{ service: 'default/web:http', missing: [], stale: ['10.244.1.99:8080'] }]);
  const staleSep = endpointChainName('default/web:http', 'tcp', '10.244.1.99:8080');
  assert.deepEqual(d.orphanChains, [`nat/${staleSep}`, 'nat/KUBE-SVC-ORPHANORPHAN2345'].sort());
  assert.deepEqual(d.staleServices, []);
});

test('a Service gone from the cluster but still in KUBE-SERVICES is a stale service', () => {
  const lines = own.split('\n');
  const nat = lines.indexOf('*nat');
  lines.splice(nat + 1, 0, ':KUBE-SVC-GONEGONEGONE2345 - [0:0]');
  const ks = lines.findIndex((l) => l.startsWith('-A KUBE-SERVICES '));
  lines.splice(ks, 0, '-A KUBE-SERVICES -d 10.96.0.77/32 -p tcp -m comment --comment "old/gone:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-GONEGONEGONE2345');
  const d = diffNode(cluster, 0, parseIptablesSave(lines.join('\n')).ruleset);
  assert.deepEqual(d.staleServices, ['old/gone:http']);
  assert.deepEqual(d.orphanChains, ['nat/KUBE-SVC-GONEGONEGONE2345']);
});

test('kdp diff exits 0 in sync, 1 when the node differs, and lists the differences as JSON', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdp-diff-'));
  const good = join(dir, 'good.save');
  const bad = join(dir, 'bad.save');
  writeFileSync(good, own);
  writeFileSync(bad, planted().replace(/^-A /gm, '[1:60] -A '));
  const kdp = (...args: string[]) => spawnSync(process.execPath, ['dist/src/cli/main.js', 'diff', ...args], { encoding: 'utf8' });
  const ok = kdp(fixturePath('small-cluster.yaml'), '--node-state', good);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /in sync/);
  const differs = kdp(fixturePath('small-cluster.yaml'), '--node-state', bad, '--json');
  assert.equal(differs.status, 1, differs.stderr);
  const j = JSON.parse(differs.stdout) as { missingServices: string[]; orphanChains: string[] };
  assert.deepEqual(j.missingServices, ['kube-system/dns:dns-tcp']);
  assert.equal(j.orphanChains.length, 2);
  const usage = kdp(fixturePath('small-cluster.yaml'));
  assert.equal(usage.status, 2);
});
