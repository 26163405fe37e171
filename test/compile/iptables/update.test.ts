/**
 * iptables' in-place endpoint update (update.ts) against what kube-proxy v1.33 writes for the
 * changed cluster, spelled from its specification: a KUBE-SVC- chain holds one jump per usable
 * endpoint, endpoint i of n taken with probability 1/(n-i) and the last unconditional
 * (writeServiceToEndpointRules), with ClientIP affinity one `-m recent --rcheck` jump per endpoint
 * before them; a KUBE-SEP- chain exists only for an endpoint the node can reach; a port with no
 * usable endpoint gets a REJECT rule in filter KUBE-SERVICES ("has no endpoints") and an
 * externalTrafficPolicy: Local port without a local one a DROP in KUBE-EXTERNAL-SERVICES ("has no
 * local endpoints"). Those last two reach past the port's own chains: the update writes nothing
 * and says so (undefined), and the caller recompiles.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newNatDecision } from '../../../src/compile/dataplane.js';
import { compileIptables, iptablesMode, iptablesSync, renderIptablesSave, type IptablesDataplane } from '../../../src/compile/iptables/index.js';
import { iptablesCopy } from '../../../src/compile/iptables/shared.js';
import { updateIptablesEndpoints } from '../../../src/compile/iptables/update.js';
import type { OneEndpointSync } from '../../../src/compile/mode.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import type { Cluster } from '../../../src/model/types.js';
import { oneEndpointChange } from '../../../src/replay/sync-cost.js';
import { clusterOf, node, proxyConfig, service, slice, type SliceEndpoint } from '../../helpers/cluster.js';
import { firstPacket } from '../../helpers/packet-flow.js';

const p80 = [{ name: 'p80', port: 80, protocol: 'TCP' }];
const gone = { ready: false, serving: false, terminating: false };

/** web: three pods; sticky: the same with ClientIP affinity; local: eTP Local, one pod per node. */
function cluster(web: Partial<SliceEndpoint>[], local: Partial<SliceEndpoint>[] = [{}, {}]): Cluster {
  const pods = (net: string, states: Partial<SliceEndpoint>[]): SliceEndpoint[] =>
    states.map((s, i) => ({ ip: `${net}.${i + 1}`, node: i % 2 === 0 ? 'node-1' : 'node-2', ...s }));
  return clusterOf(
    proxyConfig({ mode: 'iptables', clusterCIDR: '10.0.0.0/8' }),
    node('node-1', '10.0.1.0/24', '192.168.0.2'),
    node('node-2', '10.0.2.0/24', '192.168.0.3'),
    service('ns', 'web', { type: 'ClusterIP', clusterIP: '172.30.0.10', ports: p80 }),
    slice('ns', 'web', p80, pods('10.0.10', web), 'web-a'),
    service('ns', 'sticky', { type: 'ClusterIP', clusterIP: '172.30.0.11', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } }, ports: p80 }),
    slice('ns', 'sticky', p80, pods('10.0.11', web), 'sticky-a'),
    service('ns', 'local', { type: 'NodePort', clusterIP: '172.30.0.12', externalTrafficPolicy: 'Local', ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30012 }] }),
    slice('ns', 'local', p80, pods('10.0.12', local), 'local-a'),
  );
}

const serviceIndex = (c: Cluster, name: string): number => c.services.findIndex((s) => s.name === name);

/** Endpoints a pod's first packet to `vip` can reach (explain, every branch), as "ip:port", sorted. */
function reachable(dp: IptablesDataplane, c: Cluster, vip: string): string[] {
  const ex = dp.explain(firstPacket({ src: '10.0.1.200', dst: vip, port: 80, fromPod: true }));
  return ex.candidates.map((r) => `${[24, 16, 8, 0].map((s) => (c.endpoints.ip[r] >>> s) & 255).join('.')}:${c.endpoints.port[r]}`).sort();
}

/** The `-A CHAIN` lines of iptables-save that jump from the KUBE-SVC- chain kube-proxy names in `comment`. */
function svcJumps(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('-A KUBE-SVC-') && l.includes(`"${name} -> `));
}

test('one pod turning unready is written in place: two jumps at 1/2 then unconditional, its KUBE-SEP- chain gone', () => {
  // Arrange
  const before = cluster([{}, {}, {}]);
  const after = cluster([gone, {}, {}]);
  const dp = compileIptables(before, { node: 0 });
  // Act
  const u = iptablesMode.updateEndpoints!(dp, after, [serviceIndex(after, 'web')]);
  // Assert
  assert.ok(u !== undefined && u.entriesWritten > 0, 'written in place');
  const text = renderIptablesSave(dp.rules);
  const jumps = svcJumps(text, 'ns/web:p80');
  assert.equal(jumps.length, 2);
  assert.match(jumps[0], /-m statistic --mode random --probability 0\.50000000000 -j KUBE-SEP-/);
  assert.doesNotMatch(jumps[1], /statistic/);
  assert.doesNotMatch(text, /--to-destination 10\.0\.10\.1:80/, 'no DNAT to the unready pod');
  assert.deepEqual(reachable(dp, after, '172.30.0.10'), ['10.0.10.2:80', '10.0.10.3:80']);
  // Decisions never send a new flow to the unready pod, and reach both others.
  const out = newNatDecision();
  const hit = new Set<number>();
  for (let i = 0; i < 200; i++) {
    dp.decide(firstPacket({ src: '10.0.1.200', dst: '172.30.0.10', port: 80, fromPod: true }, Math.imul(i + 1, 0x9e3779b1) >>> 0), out);
    hit.add(out.dnatIp);
  }
  assert.deepEqual([...hit].sort(), [0x0a000a02, 0x0a000a03]);
});

test('the pod ready again: three jumps at 1/3, 1/2, then unconditional', () => {
  const all = cluster([{}, {}, {}]);
  const dp = compileIptables(cluster([gone, {}, {}]), { node: 0 });
  assert.ok(iptablesMode.updateEndpoints!(dp, all, [serviceIndex(all, 'web')]));
  const jumps = svcJumps(renderIptablesSave(dp.rules), 'ns/web:p80');
  assert.equal(jumps.length, 3);
  // 1/3 as kube-proxy prints it (%0.10f), held by the kernel as round(p * 2^31) / 2^31, printed %.11f.
  assert.match(jumps[0], /--probability 0\.33333333349 /);
  assert.match(jumps[1], /--probability 0\.50000000000 /);
  assert.doesNotMatch(jumps[2], /statistic/);
  assert.deepEqual(reachable(dp, all, '172.30.0.10'), ['10.0.10.1:80', '10.0.10.2:80', '10.0.10.3:80']);
});

test('ClientIP affinity: one -m recent --rcheck jump per ready pod, before the statistic jumps', () => {
  const after = cluster([{}, gone, {}]);
  const dp = compileIptables(cluster([{}, {}, {}]), { node: 0 });
  assert.ok(iptablesMode.updateEndpoints!(dp, after, [serviceIndex(after, 'sticky')]));
  const jumps = svcJumps(renderIptablesSave(dp.rules), 'ns/sticky:p80');
  assert.equal(jumps.length, 4);
  assert.ok(jumps.slice(0, 2).every((l) => /-m recent --rcheck --seconds 300 --reap --name KUBE-SEP-\w+ .*-j KUBE-SEP-/.test(l)));
  assert.ok(jumps.slice(2).every((l) => !l.includes('-m recent')));
  assert.deepEqual(reachable(dp, after, '172.30.0.11'), ['10.0.11.1:80', '10.0.11.3:80']);
});

test('the last pod going: KUBE-SERVICES changes (REJECT), so nothing is written and the update says so', () => {
  const before = cluster([{}, {}, {}]);
  const after = cluster([gone, gone, gone]);
  const dp = compileIptables(before, { node: 0 });
  const text = renderIptablesSave(dp.rules);
  const generation = dp.generation![0];
  assert.equal(iptablesMode.updateEndpoints!(dp, after, [serviceIndex(after, 'web')]), undefined);
  assert.equal(renderIptablesSave(dp.rules), text, 'the tables are as they were');
  assert.equal(dp.generation![0], generation, 'no write window was opened');
  // What the caller's recompile holds instead: the REJECT kube-proxy writes for a port with no endpoints.
  assert.match(renderIptablesSave(compileIptables(after, { node: 0 }).rules), /-A KUBE-SERVICES -d 172\.30\.0\.10\/32 -p tcp -m comment --comment "ns\/web:p80 has no endpoints" -m tcp --dport 80 -j REJECT/);
});

test('externalTrafficPolicy: Local losing its only local pod: KUBE-EXTERNAL-SERVICES changes, so the update gives up', () => {
  const before = cluster([{}, {}, {}]);
  const after = cluster([{}, {}, {}], [gone, {}]); // node-1's pod gone, node-2's still ready
  const dp = compileIptables(before, { node: 0 });
  assert.equal(iptablesMode.updateEndpoints!(dp, after, [serviceIndex(after, 'local')]), undefined);
  // On node-2 the same change only removes a pod it never reached: its chains stay, in place.
  const dp2 = compileIptables(before, { node: 1 });
  assert.ok(iptablesMode.updateEndpoints!(dp2, after, [serviceIndex(after, 'local')]));
  assert.equal(renderIptablesSave(dp2.rules), renderIptablesSave(compileIptables(after, { node: 1 }).rules));
});

/** The one-endpoint sync between two compiles, of `before` and of `after` (sync.ts iptablesSync): the oracle. */
function compiledSync(before: Cluster, after: Cluster, node: number, changed: readonly number[]): OneEndpointSync {
  const r = iptablesSync(before, after, node, changed);
  return { fullBytes: r.fullBytes, fullRules: r.fullRules, oneEndpointRewrittenBytes: r.bytes, oneEndpointRewrittenRules: r.rules, oneEndpointRewrittenChains: r.chains };
}

test('the one-endpoint sync counted over a copy updated in place is the sync between two compiles, and the node\'s tables are only read', () => {
  const cases: { what: string; before: Cluster; after: Cluster; node: number; changed: number[]; inPlace: boolean }[] = [];
  const hand = cluster([{}, {}, {}]);
  const both = [serviceIndex(hand, 'web'), serviceIndex(hand, 'sticky')];
  // A pod of web and one of sticky going unready: their KUBE-SEP- chains are deleted (`-X`), as the sync writes for a stale chain.
  cases.push({ what: 'first pods unready', before: hand, after: cluster([gone, {}, {}]), node: 0, changed: both, inPlace: true });
  cases.push({ what: 'second pods unready', before: hand, after: cluster([{}, gone, {}]), node: 1, changed: both, inPlace: true });
  // Past the port's room: the sync compiles the changed cluster instead.
  cases.push({ what: 'last local pod', before: hand, after: cluster([{}, {}, {}], [gone, {}]), node: 0, changed: [serviceIndex(hand, 'local')], inPlace: false });
  for (const [services, seed] of [[10, 1], [60, 2], [200, 3]] as const) {
    const before = generateCluster({ services, endpoints: 4, nodes: 2, seed, mode: 'iptables' });
    const { next, service } = oneEndpointChange(before);
    cases.push({ what: `synthetic ${services} Services, seed ${seed}`, before, after: next, node: 0, changed: [service], inPlace: true });
  }
  for (const c of cases) {
    const dp = compileIptables(c.before, { node: c.node });
    const text = renderIptablesSave(dp.rules);
    assert.equal(updateIptablesEndpoints(iptablesCopy(dp), c.after, c.changed) !== undefined, c.inPlace, `${c.what}: written in place`);
    const got = iptablesMode.syncOneEndpoint(dp, c.before, c.after, c.node, c.changed);
    assert.deepEqual(got, compiledSync(c.before, c.after, c.node, c.changed), c.what);
    assert.equal(renderIptablesSave(dp.rules), text, `${c.what}: the node's tables are as they were`);
  }
});
