/**
 * What the agent writes when one endpoint of a ClusterIP Service goes unready, in a cluster of N
 * such Services (kdp's ProxyMode.syncOneEndpoint for cilium). Cilium keeps backend IDs and
 * rev-NAT IDs for as long as the backend and the Service live (pkg/loadbalancer's ID
 * allocators), so the change touches that Service's entries only. With its 3 backends in slots
 * 1-3 and one going, the oracle is: the master entry (slot 0, the count 3 -> 2), the slots after
 * the removed one shifted down, the last slot deleted, and the backend entry deleted: at most
 * 1 + 3 + 1 = 5 writes, whatever N is.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { compileDataplane, modeNamed } from '../../../src/compile/index.js';
import type { CiliumDataplane } from '../../../src/compile/cilium/index.js';
import { ciliumOneEndpointSync, ciliumWholeDiff } from '../../../src/compile/cilium/sync.js';
import { updateCiliumEndpoints } from '../../../src/compile/cilium/update.js';
import { beIp, bePort } from '../../../src/compile/cilium/tables.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { formatIp } from '../../../src/net/ipv4.js';
import { Prng } from '../../../src/model/prng.js';
import { randomEndpointChange } from '../../helpers/endpoint-change.js';
import type { Cluster } from '../../../src/model/types.js';
import { oneEndpointChange } from '../../../src/replay/sync-cost.js';
import { clusterOf, node, service, slice } from '../../helpers/cluster.js';

const ciliumConfig = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'cilium-config' }, data: { 'kube-proxy-replacement': 'true' } };

function clusterOfServices(n: number) {
  const objects: object[] = [node('node-1', '10.244.0.0/16', '192.168.0.11'), ciliumConfig];
  for (let j = 0; j < n; j++) {
    const name = `svc-${j}`;
    objects.push(service('default', name, { clusterIP: `10.96.${(j + 1) >> 8}.${(j + 1) & 0xff}`, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
    // Three backends of its own per Service (a backend two Services share outlives either's change).
    const eps = [0, 1, 2].map((k) => ({ ip: `10.244.${j >> 6}.${(j & 63) * 3 + k + 2}`, node: 'node-1' }));
    objects.push(slice('default', name, [{ name: 'http', port: 8080 }], eps));
  }
  return clusterOf(...objects);
}

test('cilium: one endpoint going unready rewrites that Service\'s entries only, at 20 and at 400 Services', () => {
  const cilium = modeNamed('cilium');
  const writes: number[] = [];
  for (const n of [20, 400]) {
    const cluster = clusterOfServices(n);
    const { next, service } = oneEndpointChange(cluster);
    assert.equal(service, 0, 'the change is in the first Service');
    const prev = compileDataplane(cluster, 'cilium', 0) as CiliumDataplane;
    const sync = cilium.syncOneEndpoint(prev, cluster, next, 0, [service]);
    assert.ok(sync.oneEndpointRewrittenRules > 0, 'the change wrote nothing');
    assert.ok(sync.oneEndpointRewrittenRules <= 5, `${sync.oneEndpointRewrittenRules} writes at ${n} Services, more than the Service's own 5`);
    writes.push(sync.oneEndpointRewrittenRules);
  }
  assert.equal(writes[0], writes[1], `writes grow with the cluster: ${writes.join(' vs ')}`);
});

/**
 * Law: the one-endpoint sync, which compares only the changed Services' frontends and the backends
 * they name, writes what the whole diff of every map entry writes, and its full sync, counted
 * without the entries' text, writes every entry once. Oracle: ciliumWholeDiff (every entry of both
 * sides as text, keyed as the maps key them), before and after the change is written in place. Synthetic clusters (NodePorts, LoadBalancers, affinity, traffic policies),
 * random and Maglev backend selection, both nodes; endpoint conditions changed at random in 1-3
 * random Services, sometimes every endpoint of one off.
 */
test('law: the one-endpoint sync writes what the whole diff of the maps writes', () => {
  let wrote = 0;
  for (let seed = 1; seed <= 10; seed++) {
    const base = generateCluster({ services: 40, endpoints: 3, nodes: 2, seed, mode: 'cilium' });
    // Both sides' conditions at random in those Services, so that backends go and come.
    const { changed, conditions: conditionsOf } = randomEndpointChange(base, new Prng(seed * 104729));
    const before: Cluster = { ...base, ...(seed % 2 === 0 ? { cilium: { ...base.cilium!, lbAlgorithm: 'maglev' as const } } : {}), endpoints: { ...base.endpoints, conditions: conditionsOf() } };
    const after: Cluster = { ...before, endpoints: { ...before.endpoints, conditions: conditionsOf() } };
    for (const n of [0, 1]) {
      const prev = compileDataplane(before, 'cilium', n) as CiliumDataplane;
      const sync = ciliumOneEndpointSync(prev, after, n, [...changed]);
      const whole = ciliumWholeDiff(prev, after, n);
      assert.equal(sync.oneEndpointRewrittenRules, whole.writes, `seed ${seed} node ${n}: writes`);
      assert.equal(sync.oneEndpointRewrittenBytes, whole.bytes, `seed ${seed} node ${n}: bytes`);
      assert.equal(sync.fullRules, whole.full.writes, `seed ${seed} node ${n}: full sync's writes`);
      assert.equal(sync.fullBytes, whole.full.bytes, `seed ${seed} node ${n}: full sync's bytes`);
      if (whole.writes > 0) wrote++;
      // The maps as the agent leaves them after the change (IDs kept, new ones past them; backends
      // no frontend names stay): the full sync still counts every entry once.
      updateCiliumEndpoints(prev, after, [...changed]);
      const updated = ciliumOneEndpointSync(prev, after, n, [...changed]);
      const oracle = ciliumWholeDiff(prev, after, n).full;
      assert.deepEqual([updated.fullRules, updated.fullBytes], [oracle.writes, oracle.bytes], `seed ${seed} node ${n}: full sync after the update`);
    }
  }
  assert.ok(wrote >= 10, `the changes wrote something in most cases (${wrote} of 20)`);
});

/**
 * Two Services with the same pod address: the second's endpoint, not serving when compiled, is
 * given its own backend ID when it becomes ready in place (update.ts allocates by row), so the
 * maps hold two IDs of one address. The full sync counts that address's backend entry once, as
 * the oracle's entries keyed by address do.
 */
test('law: the full sync counts a backend address once, however many IDs it has', () => {
  const objects: object[] = [node('node-1', '10.244.0.0/16', '192.168.0.11'), ciliumConfig];
  for (const [j, ready] of [[1, true], [2, false]] as const) {
    objects.push(service('default', `svc-${j}`, { clusterIP: `10.96.0.${j}`, ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
    objects.push(slice('default', `svc-${j}`, [{ name: 'http', port: 8080 }], [{ ip: '10.244.0.5', node: 'node-1', ready, serving: ready }]));
  }
  const before = clusterOf(...objects);
  const conditions = Uint8Array.from(before.endpoints.conditions, () => before.endpoints.conditions[0]);
  const after: Cluster = { ...before, endpoints: { ...before.endpoints, conditions } };
  const prev = compileDataplane(before, 'cilium', 0) as CiliumDataplane;
  const changed = [before.services.findIndex((s) => s.name === 'svc-2')];
  updateCiliumEndpoints(prev, after, changed);
  const t = prev.tables;
  const ids = Array.from({ length: t.backends }, (_, k) => k + 1);
  assert.equal(new Set(ids.map((id) => `${beIp(t, id)}:${bePort(t, id)}`)).size, 1, 'one address');
  assert.equal(ids.length, 2, 'two backend IDs of it');
  const sync = ciliumOneEndpointSync(prev, after, 0, changed);
  const oracle = ciliumWholeDiff(prev, after, 0).full;
  assert.deepEqual([sync.fullRules, sync.fullBytes], [oracle.writes, oracle.bytes]);
});

/**
 * kube-dns's pods answer on 53 over UDP and TCP: one address and port, two protocols. Cilium keys a
 * backend by address, port and protocol (lb4_backend holds `proto`; pkg/loadbalancer's L3n4Addr
 * includes the L4 protocol), so each pod is two backends. Oracle: the count from the spec (pods x
 * protocols), and the full sync against the whole diff's entries, keyed as the maps key them.
 */
test('law: one address and port over two protocols is two backends, in the build and in the full sync', () => {
  const pods = ['10.244.0.5', '10.244.0.6'];
  const before = clusterOf(
    node('node-1', '10.244.0.0/16', '192.168.0.11'), ciliumConfig,
    service('kube-system', 'kube-dns', { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 }, { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 }] }),
    slice('kube-system', 'kube-dns', [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }], pods.map((ip) => ({ ip, node: 'node-1' }))),
  );
  const prev = compileDataplane(before, 'cilium', 0) as CiliumDataplane;
  const t = prev.tables;
  const ids = Array.from({ length: t.backends }, (_, k) => k + 1);
  assert.deepEqual(ids.map((id) => `${formatIp(beIp(t, id))}:${bePort(t, id)}/${t.beProto[id]}`).sort(), pods.flatMap((ip) => [`${ip}:53/6`, `${ip}:53/17`]).sort());
  // One pod goes unready: its two backends go, the other pod's two stay.
  const conditions = Uint8Array.from(before.endpoints.conditions, (c, row) => (before.endpoints.ip[row] === before.endpoints.ip[0] ? 0 : c));
  const after: Cluster = { ...before, endpoints: { ...before.endpoints, conditions } };
  const changed = [before.services.findIndex((s) => s.name === 'kube-dns')];
  const sync = ciliumOneEndpointSync(prev, after, 0, changed);
  const whole = ciliumWholeDiff(prev, after, 0);
  assert.deepEqual([sync.oneEndpointRewrittenRules, sync.oneEndpointRewrittenBytes], [whole.writes, whole.bytes], 'the change');
  assert.deepEqual([sync.fullRules, sync.fullBytes], [whole.full.writes, whole.full.bytes], 'the full sync');
});
