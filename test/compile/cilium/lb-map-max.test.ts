/**
 * `bpf-lb-map-max` (Cilium v1.17 pkg/loadbalancer `LBMapEntriesName`, default 65,536) bounds the
 * service map, masters and slots together; an upsert past it fails with E2BIG ("Unable to update
 * element for LB bpf map: You can resize it with the flag --bpf-lb-map-max"), so the frontend has
 * no master entry and the datapath does not know it. The oracle is the map's arithmetic: a
 * ClusterIP Service with n backends takes 1 + n entries.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { compileDataplane } from '../../../src/compile/index.js';
import { CompiledCluster } from '../../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../../src/dataplane/context.js';
import { ENTRY_POD } from '../../../src/dataplane/pipeline.js';
import { tracePacket } from '../../../src/dataplane/trace.js';
import { formatIp, parseIp } from '../../../src/net/ipv4.js';
import { PROTO_TCP } from '../../../src/net/proto.js';
import type { Cluster } from '../../../src/model/types.js';
import { clusterOf, node, service, slice } from '../../helpers/cluster.js';

const kBackends = 10;

/** `count` ClusterIP Services of one port, each with the same 10 backends: 11 entries each. */
function cluster(count: number, max: string | undefined): Cluster {
  const objects: object[] = [
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    node('node-2', '10.244.2.0/24', '192.168.0.12'),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'cilium-config' }, data: { 'kube-proxy-replacement': 'true', ...(max ? { 'bpf-lb-map-max': max } : {}) } },
  ];
  const eps = Array.from({ length: kBackends }, (_, j) => ({ ip: `10.244.${1 + (j % 2)}.${10 + j}`, node: `node-${1 + (j % 2)}` }));
  for (let k = 0; k < count; k++) {
    objects.push(service('default', `s${k}`, { clusterIP: formatIp(parseIp('10.96.0.0') + 10 + k), ports: [{ name: 'http', port: 80, targetPort: 8080 }] }));
    objects.push(slice('default', `s${k}`, [{ name: 'http', port: 8080 }], eps));
  }
  return clusterOf(...objects);
}

function fromPod(c: Cluster, k: number) {
  const ctx = new PipelineContext(new CompiledCluster(c, 'cilium'), { seed: 1, conntrackMax: 1024 });
  return tracePacket(ctx, { proto: PROTO_TCP, srcIp: parseIp('10.244.1.200'), srcPort: 40000, dstIp: parseIp('10.96.0.0') + 10 + k, dstPort: 80, node: 0, entry: ENTRY_POD }).result;
}

describe('cilium: bpf-lb-map-max', () => {
  it('a frontend that no longer fits is not programmed: its traffic is not load-balanced, and the agent\'s error is a warning', () => {
    // Arrange: 400 Services x 11 entries = 4,400 against a map of 4,096 (the smallest kdp accepts).
    const c = cluster(400, '4096');
    const fits = Math.floor(4096 / (1 + kBackends)); // 372
    // Act
    const dp = compileDataplane(c, 'cilium', 0);
    const s = dp.stats();
    // Assert
    assert.equal(s.lbMapEntries, 400 * (1 + kBackends));
    assert.equal(s.rules, fits * (1 + kBackends));
    assert.ok(s.rules <= 4096);
    assert.equal(s.lbMapUnprogrammed, 400 - fits);
    assert.equal(dp.warnings?.length, 1);
    assert.match(dp.warnings![0], /needs 4,400 service-map entries, more than bpf-lb-map-max 4,096: 28 frontend\(s\) are not programmed .*raise bpf-lb-map-max/);
    assert.equal(fromPod(c, fits - 1).decision, 'dnat');
    assert.equal(fromPod(c, fits).decision, 'none');
  });

  it('Cilium\'s default 65,536 holds the same cluster whole, and a raised bpf-lb-map-max holds what 65,536 does not', () => {
    const whole = compileDataplane(cluster(400, undefined), 'cilium', 0);
    assert.equal(whole.stats().lbMapMax, 65536);
    assert.equal(whole.stats().lbMapUnprogrammed, 0);
    assert.deepEqual(whole.warnings, []);
    assert.equal(fromPod(cluster(400, undefined), 399).decision, 'dnat');
    // 6,000 Services need 66,000 entries: past the default, within 131,072.
    assert.equal(compileDataplane(cluster(6000, undefined), 'cilium', 0).stats().lbMapUnprogrammed, 6000 - Math.floor(65536 / 11));
    assert.equal(compileDataplane(cluster(6000, '131072'), 'cilium', 0).stats().lbMapUnprogrammed, 0);
  });
});
