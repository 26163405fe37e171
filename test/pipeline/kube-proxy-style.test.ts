/**
 * Clusters as kube-proxy's own tests write them: a single Node object ("test-node"), endpoints
 * on nodes that have no Node object, a service CIDR of their choosing, sources that match no
 * Pod, loopback clients, and the KubeProxyConfiguration knobs that change masquerade.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { resolveProbe } from '../../src/dataplane/resolve.js';
import { tracePacket, type TraceResult } from '../../src/dataplane/trace.js';
import type { ModeName } from '../../src/model/types.js';
import { clusterOf, node, proxyConfig, service, slice } from '../helpers/cluster.js';

function cluster(config: Record<string, unknown>, mode: ModeName = 'iptables'): CompiledCluster {
  return new CompiledCluster(
    clusterOf(
      proxyConfig(config),
      node('test-node', '10.0.0.0/24', '192.168.0.2'),
      service('ns1', 'svc1', { type: 'NodePort', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, targetPort: 80, nodePort: 3001 }] }),
      slice('ns1', 'svc1', [{ name: 'p80', port: 80 }], [{ ip: '10.180.0.1', node: 'test-node' }, { ip: '10.180.2.1', node: 'node2' }], 'svc1-a'),
    ),
    mode,
  );
}

function trace(c: CompiledCluster, src: string, dst: string): TraceResult {
  return tracePacket(new PipelineContext(c), resolveProbe(c.cluster, c.plan, { src, dst, node: 'test-node' })).result;
}

describe('clusters as kube-proxy tests write them', () => {
  it('endpoints on a node without a Node object are candidates, and the packet leaves toward them', () => {
    const r = trace(cluster({}), '10.0.0.2:40000', '172.30.0.41:80');
    assert.deepEqual(r.candidates, ['10.180.0.1:80', '10.180.2.1:80']);
    assert.equal(r.decision, 'dnat');
    assert.equal(r.verdict, 'delivered');
  });

  it('without clusterCIDR there is no local detector: no masquerade for a ClusterIP, whatever the source', () => {
    assert.equal(trace(cluster({}), '203.0.113.5:40000', '172.30.0.41:80').masquerade, false);
  });

  it('masqueradeAll masquerades every ClusterIP packet', () => {
    assert.equal(trace(cluster({ iptables: { masqueradeAll: true } }), '10.0.0.2:40000', '172.30.0.41:80').masquerade, true);
  });

  it('with clusterCIDR, the detector decides on the source address alone (no Pod object needed)', () => {
    const c = cluster({ clusterCIDR: '10.0.0.0/8' });
    assert.equal(trace(c, '10.0.0.2:40000', '172.30.0.41:80').masquerade, false);
    assert.equal(trace(c, '203.0.113.5:40000', '172.30.0.41:80').masquerade, true);
  });

  it('loopback reaches NodePorts while localhostNodePorts is true, and not when false', () => {
    const on = trace(cluster({}), '127.0.0.1:40000', '127.0.0.1:3001');
    assert.equal(on.decision, 'dnat');
    assert.equal(on.masquerade, true, 'kube-proxy masquerades localhost NodePort traffic');
    const off = trace(cluster({ iptables: { localhostNodePorts: false } }), '127.0.0.1:40000', '127.0.0.1:3001');
    assert.equal(off.decision, 'none');
  });

  it('nftables mode has no localhost NodePorts (kube-proxy: "localhost NodePorts are not supported")', () => {
    assert.equal(trace(cluster({}, 'nftables'), '127.0.0.1:40000', '127.0.0.1:3001').decision, 'none');
  });

  it('nodePortAddresses limits NodePorts to node addresses inside the CIDRs', () => {
    const inside = cluster({ nodePortAddresses: ['192.168.0.0/24'] });
    assert.equal(trace(inside, '203.0.113.5:40000', '192.168.0.2:3001').decision, 'dnat');
    const outside = cluster({ nodePortAddresses: ['10.99.0.0/16'] });
    assert.equal(trace(outside, '203.0.113.5:40000', '192.168.0.2:3001').decision, 'none');
  });
});
