/**
 * `kdp generate --policies N` and `kdp bench --policies LIST`: the generator writes exactly N
 * policies of the documented mix with the pods they select, a cluster without policies is what it
 * was, and the sweep's cells carry the policy count in their key (so --resume tells them apart)
 * while a cell without policies keeps the key it always had.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { generateCluster, generateObjects } from '../../src/model/synthetic.js';
import { planSweep } from '../../src/replay/sweep.js';
import { cellKeyString } from '../../src/report/result.js';

describe('the policy generator and sweep', () => {
  it('writes N policies and one labelled pod per endpoint; none and no pods without --policies', () => {
    for (const n of [1, 7, 150]) {
      const c = generateCluster({ services: 40, endpoints: 2, nodes: 2, policies: n });
      assert.equal(c.policies.length, n);
      assert.equal(c.pods.length, 80);
      assert.ok(c.pods.every((p) => p.labels.app?.startsWith('svc-') && p.namedPorts.length > 0));
    }
    const c = generateCluster({ services: 40, endpoints: 2, nodes: 2, policies: 150 });
    const kinds = new Set(c.policies.map((p) => `${p.kind}:${p.name.replace(/-svc-\d+.*$/, '').replace(/^ns-\d+\//, '')}`));
    for (const k of ['GlobalNetworkPolicy:deny-telnet', 'KubernetesNetworkPolicy:knp.default.mesh-ingress', 'KubernetesNetworkPolicy:knp.default.default-deny', 'KubernetesNetworkPolicy:knp.default.allow-monitoring', 'KubernetesNetworkPolicy:knp.default.allow-egress']) {
      assert.ok(kinds.has(k), `${k} in ${[...kinds].join(', ')}`);
    }
    const plain = generateObjects({ services: 40, endpoints: 2, nodes: 2 });
    assert.ok(!plain.some((o) => ['Pod', 'NetworkPolicy', 'Namespace', 'GlobalNetworkPolicy'].includes((o as { kind: string }).kind)));
  });

  it('the sweep grid has a cell per policy count, keyed apart; 0 keeps the old key', () => {
    const cells = planSweep({ services: [100], modes: ['nftables'], policies: [1000, 0, 100], flows: 1000, cores: 2 });
    assert.deepEqual(cells.map((c) => c.policies ?? 0), [0, 100, 1000]);
    assert.deepEqual(cells.map(cellKeyString), ['nftables|100|10|calico-vxlan|1|1000|1|0', 'nftables|100|10|calico-vxlan|1|1000|1|0|policies=100', 'nftables|100|10|calico-vxlan|1|1000|1|0|policies=1000']);
  });
});
