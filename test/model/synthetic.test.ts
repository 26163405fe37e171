import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from '../../src/errors.js';
import { generateCluster, generateObjects } from '../../src/model/synthetic.js';
import { EP_READY, EP_TERMINATING } from '../../src/model/types.js';
import { cidrContains } from '../../src/net/ipv4.js';

describe('synthetic clusters', () => {
  it('are deterministic for a seed and differ across seeds', () => {
    const a = JSON.stringify(generateObjects({ services: 300, endpoints: 4, nodes: 5, seed: 42 }));
    const b = JSON.stringify(generateObjects({ services: 300, endpoints: 4, nodes: 5, seed: 42 }));
    const c = JSON.stringify(generateObjects({ services: 300, endpoints: 4, nodes: 5, seed: 43 }));
    assert.equal(a, b);
    assert.notEqual(a, c);
  });

  it("write the mode's own configuration: kube-proxy's mode, or Cilium's ConfigMap that replaces it", () => {
    for (const mode of ['iptables', 'ipvs', 'nftables', 'userspace'] as const) {
      const cluster = generateCluster({ services: 10, endpoints: 2, nodes: 2, seed: 1, mode });
      assert.equal(cluster.proxy.mode, mode);
      assert.equal(cluster.cilium, undefined, mode);
      // kube-proxy's --cluster-cidr holds every endpoint (pod) address, so its local detector is ClusterCIDR.
      assert.equal(cluster.proxy.clusterCIDRs.length, 1, mode);
      assert.ok(cluster.endpoints.count > 0 && cluster.endpoints.ip.slice(0, cluster.endpoints.count).every((ip) => cidrContains(cluster.proxy.clusterCIDRs[0], ip)), mode);
    }
    const cilium = generateCluster({ services: 10, endpoints: 2, nodes: 2, seed: 1, mode: 'cilium' });
    assert.equal(cilium.proxy.mode, 'cilium', 'the model reads the replacement from cilium-config');
    assert.equal(cilium.cilium?.kubeProxyReplacement, true);
  });

  it('have the realistic mix the benchmark relies on', () => {
    const cluster = generateCluster({ services: 2000, endpoints: 10, nodes: 20, seed: 1 });
    const types = new Map<string, number>();
    for (const s of cluster.services) types.set(s.type, (types.get(s.type) ?? 0) + 1);
    assert.ok(types.get('ClusterIP')! > 1200, 'mostly ClusterIP');
    assert.ok(types.get('NodePort')! > 200 && types.get('LoadBalancer')! > 100, 'some NodePort and LoadBalancer');
    assert.ok(cluster.ports.some((p) => p.protocol === 17) && cluster.ports.some((p) => p.protocol === 6), 'TCP and UDP');
    assert.ok(cluster.services.some((s) => s.affinity.clientIP), 'session affinity');
    assert.ok(cluster.services.some((s) => s.externalTrafficPolicy === 'Local'), 'externalTrafficPolicy Local');
    assert.ok(cluster.services.some((s) => s.loadBalancerSourceRanges.length > 0), 'source ranges');
    const { conditions } = cluster.endpoints;
    assert.ok(cluster.ports.some((p) => {
      for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if (conditions[r] & EP_READY) return false;
      return p.endpointCount > 0;
    }), 'a service with no ready endpoints');
    assert.ok(conditions.some((c) => (c & EP_TERMINATING) !== 0), 'terminating endpoints');
  });

  it('spreads endpoints over every node and allocates them from that node\'s pod block', () => {
    const cluster = generateCluster({ services: 500, endpoints: 6, nodes: 7, seed: 3 });
    const perNode = new Array(7).fill(0);
    const { ip, node, count } = cluster.endpoints;
    for (let r = 0; r < count; r++) {
      perNode[node[r]]++;
      assert.ok(cidrContains(cluster.nodes[node[r]].podCIDRs[0], ip[r]), `row ${r} outside its node's pod CIDR`);
    }
    assert.ok(Math.min(...perNode) > 0.8 * Math.max(...perNode), `uneven spread ${perNode}`);
  });

  it('put Service s in namespace ns-(s mod 50), two digits, each declared by a Namespace object when there are policies', () => {
    // The names synthetic.ts documents (ns-00..ns-49); the API server refuses an object in a
    // namespace that does not exist, so with policies (which select namespaces) each is declared.
    const objects = generateObjects({ services: 120, endpoints: 1, nodes: 2, seed: 3, policies: 4 }) as { kind: string; metadata: { name: string; namespace?: string } }[];
    const declared = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
    const services = objects.filter((o) => o.kind === 'Service' && o.metadata.namespace !== 'kube-system');
    assert.equal(services.length, 120);
    services.forEach((svc, s) => {
      assert.equal(svc.metadata.namespace, `ns-${String(s % 50).padStart(2, '0')}`, svc.metadata.name);
      assert.ok(declared.has(svc.metadata.namespace!), `${svc.metadata.namespace} is declared`);
    });
  });

  it('refuses options out of range with the option named', () => {
    assert.throws(() => generateObjects({ services: -1, endpoints: 1, nodes: 1 }), (e: Error) => e instanceof InvalidArgumentError && /options\.services/.test(e.message));
    assert.throws(() => generateObjects({ services: 1, endpoints: 1, nodes: 0 }), /options\.nodes/);
  });

  it('widens the NodePort range when a big sweep needs more ports than the default holds', () => {
    const cluster = generateCluster({ services: 20000, endpoints: 1, nodes: 3, seed: 1 });
    assert.deepEqual(cluster.network.nodePortRange, [10000, 65535]);
  });
});
