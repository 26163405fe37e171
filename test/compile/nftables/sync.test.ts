/**
 * Sync cost: a full load writes everything; a partial sync after one endpoint change rewrites
 * only that service's chains and elements, as kube-proxy's partial sync does.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildRuleset, fullSync, planSync } from '../../../src/compile/nftables/index.js';
import { nftablesOneEndpointSync } from '../../../src/compile/nftables/sync.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { Prng } from '../../../src/model/prng.js';
import { randomEndpointChange } from '../../helpers/endpoint-change.js';
import type { Cluster } from '../../../src/model/types.js';
import { clusterOf, node, proxyConfig, service, slice } from '../../helpers/cluster.js';

function cluster(webEndpoints: string[], withExtra: boolean) {
  return clusterOf(
    proxyConfig({ mode: 'nftables', clusterCIDR: '10.0.0.0/8' }),
    node('node-1', '10.0.1.0/24', '192.168.0.2'),
    service('ns', 'web', { clusterIP: '172.30.0.1', ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }),
    slice('ns', 'web', [{ name: 'http', port: 8080 }], webEndpoints.map((ip) => ({ ip, node: 'node-1' })), 'web-a'),
    service('ns', 'api', { clusterIP: '172.30.0.2', sessionAffinity: 'ClientIP', ports: [{ name: 'grpc', protocol: 'TCP', port: 9000 }] }),
    slice('ns', 'api', [{ name: 'grpc', port: 9000 }], [{ ip: '10.0.1.20', node: 'node-1' }], 'api-a'),
    ...(withExtra ? [service('ns', 'new', { clusterIP: '172.30.0.3', ports: [{ name: 'p', protocol: 'UDP', port: 53 }] })] : []),
  );
}

test('full sync writes every chain, rule and element', () => {
  const rs = buildRuleset(cluster(['10.0.1.10'], false), { node: 0 });
  const r = fullSync(rs);
  assert.equal(r.full, true);
  assert.equal(r.chainsWritten, rs.chains.length);
  assert.equal(r.rulesWritten, rs.chains.reduce((n, c) => n + c.rules.length, 0));
  assert.equal(r.elementsAdded, 2 /* cluster-ips */ + 1 /* nodeport-ips */ + 2 /* service-ips */);
  assert.equal(r.bytes, r.text.length);
  assert.ok(r.text.startsWith('add table ip kube-proxy { comment "rules for kube-proxy" ; }\n'));
  assert.deepEqual(planSync(null, rs), r);
});

test('partial sync: one endpoint added rewrites only that service', () => {
  const before = buildRuleset(cluster(['10.0.1.10'], false), { node: 0 });
  const after = buildRuleset(cluster(['10.0.1.10', '10.0.1.11'], false), { node: 0 });
  const r = planSync(before, after);
  assert.equal(r.full, false);
  assert.deepEqual(r.changedServices, ['ns/web']);
  assert.equal(r.chainsWritten, 3); // two endpoint chains + the service chain
  assert.equal(r.rulesWritten, 2 + 2 + 2);
  assert.equal(r.elementsAdded + r.elementsDeleted, 0, 'the service-ips element is unchanged');
  assert.ok(!r.text.includes('api'), 'the other service is not touched');
  assert.ok(r.bytes < fullSync(after).bytes / 3);
  assert.equal(planSync(after, after).text, '', 'no change, nothing written');
});

test('partial sync: a service losing its endpoints moves elements and leaves stale chains', () => {
  const before = buildRuleset(cluster(['10.0.1.10'], false), { node: 0 });
  const after = buildRuleset(cluster([], true), { node: 0 });
  const r = planSync(before, after);
  assert.equal(r.full, false);
  assert.deepEqual(r.changedServices, ['ns/new', 'ns/web']);
  assert.equal(r.staleChains, 2); // service + endpoint chain of ns/web, flushed now, deleted later
  assert.ok(r.text.includes('delete element ip kube-proxy service-ips { 172.30.0.1 . tcp . 80 }'));
  assert.ok(r.text.includes('add element ip kube-proxy no-endpoint-services { 172.30.0.1 . tcp . 80 comment "ns/web:http" : goto reject-chain }'));
  assert.ok(r.text.includes('add element ip kube-proxy cluster-ips { 172.30.0.3 }'));
  assert.equal(r.elementsAdded, 3);
  assert.equal(r.elementsDeleted, 1);
});

test('a change to the fixed part of the table forces a full sync', () => {
  const before = buildRuleset(cluster(['10.0.1.10'], false), { node: 0 });
  const c = cluster(['10.0.1.10'], false);
  const after = buildRuleset({ ...c, proxy: { ...c.proxy, masqueradeBit: 15 } }, { node: 0 });
  assert.equal(planSync(before, after).full, true);
});

/**
 * Law: a partial sync planned from builds of the changed Services alone (BuildOptions services) is
 * the transaction the whole rulesets diff to, in both directions; and the one-endpoint figure's
 * full-sync size is fullSync's. Oracle: planSync over the whole rulesets. Clusters from the
 * synthetic generator (NodePorts, LoadBalancers, affinity, traffic policies); endpoint conditions
 * changed at random in 1-3 random Services, sometimes every endpoint of one off (its elements move
 * to no-endpoint-services).
 */
test('law: builds of the changed Services alone plan the same transaction as the whole rulesets', () => {
  let partialSyncs = 0;
  for (let seed = 1; seed <= 12; seed++) {
    const before = generateCluster({ services: 40, endpoints: 3, nodes: 2 + (seed % 2), seed });
    const { changed, conditions } = randomEndpointChange(before, new Prng(seed * 7919));
    const after = { ...before, endpoints: { ...before.endpoints, conditions: conditions() } };
    for (const node of [0, 1]) {
      const whole = (c: Cluster) => buildRuleset(c, { node });
      const only = (c: Cluster) => buildRuleset(c, { node, services: changed });
      const forward = planSync(whole(before), whole(after));
      assert.deepEqual(planSync(only(before), only(after)), forward, `seed ${seed} node ${node}: forward`);
      assert.deepEqual(planSync(only(after), only(before)), planSync(whole(after), whole(before)), `seed ${seed} node ${node}: back`);
      if (forward.text !== '') partialSyncs++;
      const one = nftablesOneEndpointSync(before, after, node, [...changed]);
      const full = fullSync(whole(before));
      assert.equal(one.fullBytes, full.bytes);
      assert.equal(one.fullRules, full.rulesWritten + full.elementsAdded);
      assert.equal(one.oneEndpointRewrittenBytes, forward.bytes);
      assert.equal(one.oneEndpointRewrittenRules, forward.rulesWritten + forward.elementsAdded + forward.elementsDeleted);
      assert.equal(one.oneEndpointRewrittenChains, forward.chainsWritten);
    }
  }
  assert.ok(partialSyncs >= 12, `the changes wrote something in most cases (${partialSyncs} of 24)`);
});
