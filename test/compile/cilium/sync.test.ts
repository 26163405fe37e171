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
