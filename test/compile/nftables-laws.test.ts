/**
 * Laws of kdp's nftables mode, each checked against an outside authority that its comment names:
 * kube-proxy's nftables proxier (Kubernetes v1.33 pkg/proxy/nftables/proxier.go) and the
 * priority names nft lists (nft(8), "STANDARD PRIORITY NAMES, FAMILY AND HOOK COMPATIBILITY MATRIX").
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { HOOK_OUTPUT, newNatDecision, VERDICT_DNAT, VERDICT_NONE } from '../../src/compile/dataplane.js';
import { buildRuleset, compileNftables, dataplaneFromNftText, dataplaneFromRuleset, fullSync, planSync, renderRuleset } from '../../src/compile/nftables/index.js';
import { InvalidArgumentError } from '../../src/errors.js';
import { priorityText } from '../../src/compile/nftables/rule-text.js';
import { formatIp, parseIp } from '../../src/net/ipv4.js';
import { clusterOf, node, proxyConfig, service, slice } from '../helpers/cluster.js';
import { firstPacket } from '../helpers/packet-flow.js';
import { flowCluster } from './nftables/flow-cluster.js';

/** A ClientIP-affinity Service (600 s) with two endpoints on node-1 (192.168.0.2), and a NodePort. */
function stickyCluster(extraProxy: Record<string, unknown> = {}, nodeObject: object = node('node-1', '10.0.1.0/24', '192.168.0.2')): ReturnType<typeof clusterOf> {
  return clusterOf(
    proxyConfig({ mode: 'nftables', clusterCIDR: '10.0.0.0/8', ...extraProxy }),
    nodeObject,
    service('ns', 'sticky', {
      type: 'NodePort', clusterIP: '172.30.0.41', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
      ports: [{ name: 'p', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
    }),
    slice('ns', 'sticky', [{ name: 'p', port: 8080 }], [{ ip: '10.0.1.1', node: 'node-1' }, { ip: '10.0.1.2', node: 'node-1' }], 'sticky-x'),
  );
}

describe('nftables: ClientIP affinity', () => {
  // kube-proxy's service chain sends a client found in an endpoint's affinity set
  // (`ip saddr @affinity-… goto endpoint-…`) to that endpoint before the numgen, and the endpoint
  // chain records it (`update @affinity-… { ip saddr }`): a client's later connection reaches the
  // endpoint its first one did, whatever the random draw. Checked for many clients, so that the
  // entries land all over a small affinity table (16 slots), the first slot included.
  it('the reference walker (decideGeneric) keeps each client on its first endpoint', () => {
    const dp = compileNftables(stickyCluster(), { node: 0, affinityCapacity: 16 });
    const out = newNatDecision();
    for (let c = 1; c <= 255; c++) {
      dp.reset();
      const probe = { src: `203.0.113.${c}`, dst: '172.30.0.41', port: 80 };
      dp.decideGeneric(firstPacket(probe, 0), out);
      assert.equal(out.verdict, VERDICT_DNAT);
      const first = out.endpoint;
      // The numgen's other branch: reciprocal_scale(0xffffffff, 2) is 1, of 0 it is 0.
      for (const rand of [0xffffffff, 0]) {
        const p = firstPacket(probe, rand);
        p.now = 10;
        dp.decideGeneric(p, out);
        assert.equal(out.endpoint, first, `client ${probe.src}, draw ${rand}`);
      }
    }
  });
});

describe('nftables: NodePort addresses', () => {
  // proxier.go syncProxyRules skips loopback node IPs when it fills nodeport-ips ("--nodeport-addresses
  // includes localhost but localhost NodePorts are not supported"), so a NodePort never answers on
  // 127.0.0.0/8 in nftables mode even when nodePortAddresses covers it. kdp knows a node's addresses
  // from its Node object; one listing 127.0.0.1 stands for the node's lo.
  const withLoopback = {
    apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-1' }, spec: { podCIDR: '10.0.1.0/24' },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.0.2' }, { type: 'ExternalIP', address: '127.0.0.1' }] },
  };
  const cluster = stickyCluster({ nodePortAddresses: ['127.0.0.0/8', '192.168.0.0/16'] }, withLoopback);

  it('nodeport-ips holds the node\'s other addresses, never a loopback one', () => {
    const set = buildRuleset(cluster, { node: 0 }).sets.find((s) => s.name === 'nodeport-ips');
    assert.deepEqual(set?.elements.map(formatIp), ['192.168.0.2']);
  });

  it('a NodePort on 127.0.0.1 is not DNATed; on the node IP it is', () => {
    const dp = compileNftables(cluster, { node: 0 });
    const out = newNatDecision();
    dp.decide(firstPacket({ src: '127.0.0.1', dst: '127.0.0.1', port: 30080, hook: HOOK_OUTPUT }), out);
    assert.equal(out.verdict, VERDICT_NONE);
    dp.decide(firstPacket({ src: '203.0.113.7', dst: '192.168.0.2', port: 30080 }), out);
    assert.equal(out.verdict, VERDICT_DNAT);
  });
});

describe('nftables: sync transactions', () => {
  // Affinity sets belong to the packets that fill them (`update @affinity-…`): kube-proxy adds the
  // set (`flags dynamic,timeout`) but never flushes it nor writes or deletes its elements, on a
  // full sync or a partial one. Here the kernel's set holds a live entry, as `nft list` shows it.
  it('neither a full nor a partial sync writes or deletes an affinity set\'s entries', () => {
    const built = buildRuleset(stickyCluster(), { node: 0 });
    assert.ok(built.sets.some((s) => s.timeout > 0), 'the fixture has an affinity set');
    const live = { ...built, sets: built.sets.map((s) => (s.timeout > 0 ? { ...s, elements: [parseIp('203.0.113.5') >>> 0] } : s)) };
    const touchesAffinity = (text: string): string[] => text.split('\n').filter((l) => /^(add|delete) element .* affinity-/.test(l) || /^flush set .* affinity-/.test(l));
    assert.deepEqual(touchesAffinity(fullSync(live).text), []);
    assert.deepEqual(touchesAffinity(planSync(live, built).text), []);
    assert.deepEqual(touchesAffinity(planSync(built, live).text), []);
  });
});

describe('nftables: base chain priorities as nft lists them', () => {
  // nft(8): dstnat (-100) is a name on the prerouting hook only and srcnat (100) on postrouting;
  // filter (0) on every hook; a priority within 10 of a name prints as `name ± d`, any other as
  // its number.
  it('dstnat names only prerouting priorities; srcnat and filter keep their hooks', () => {
    const rows: [Parameters<typeof priorityText>[0], number, string][] = [
      ['prerouting', -100, 'dstnat'],
      ['prerouting', -110, 'dstnat - 10'],
      ['prerouting', -300, '-300'],
      ['prerouting', 0, 'filter'],
      ['forward', -100, '-100'],
      ['input', -100, '-100'],
      ['postrouting', -100, '-100'],
      ['postrouting', 100, 'srcnat'],
      ['input', 0, 'filter'],
      ['forward', 5, 'filter + 5'],
    ];
    for (const [hook, priority, want] of rows) assert.equal(priorityText(hook, priority), want, `${hook} ${priority}`);
  });
});

describe('nftables: loadBalancerSourceRanges', () => {
  // kube-proxy's proxier.go writes the firewall chain's one rule as `ipX saddr != { sources } drop`
  // (knftables.Concat(ipX, "saddr", "!=", "{", sources, "}", "drop")), the anonymous-set braces
  // even for one range; its proxier_test.go expects
  // `add rule ip kube-proxy firewall-HVFWP5L3-ns5/svc5/tcp/p80 ip saddr != { 203.0.113.0/25 } drop`.
  it('the firewall chain drops sources outside the ranges, written as kube-proxy writes it', () => {
    const lines = fullSync(buildRuleset(flowCluster(), { node: 0 })).text.split('\n');
    assert.deepEqual(lines.filter((l) => l.startsWith('add rule ip kube-proxy firewall-7XESENFC-ns/lb/tcp/p ')), [
      'add rule ip kube-proxy firewall-7XESENFC-ns/lb/tcp/p ip saddr != { 203.0.113.0/25 } drop',
    ]);
  });
});

describe('nftables: the reference walker (explain, decideGeneric) matches `meta l4proto`', () => {
  // nft(8): `meta l4proto udp` matches only packets whose layer-4 protocol is UDP. An endpoint
  // chain whose DNAT rule is edited to `meta l4proto udp` cannot DNAT a TCP packet there.
  it('a TCP packet is never DNATed by a `meta l4proto udp dnat` rule', () => {
    const cluster = flowCluster();
    const text = renderRuleset(buildRuleset(cluster, { node: 0 }));
    const edited = text.replace('meta l4proto tcp dnat to 10.0.1.1:8080', 'meta l4proto udp dnat to 10.0.1.1:8080');
    assert.notEqual(edited, text);
    const dp = dataplaneFromNftText(edited, cluster, { node: 0 });
    const out = newNatDecision();
    const reached = new Set<string>();
    for (let rand = 0; rand < 64; rand++) {
      const pkt = firstPacket({ src: '203.0.113.9', dst: '172.30.0.41', port: 80 }, (rand * 0x9e3779b9) | 0);
      dp.decideGeneric(pkt, out);
      if (out.verdict === VERDICT_DNAT) reached.add(formatIp(out.dnatIp));
      const ex = dp.explain(pkt);
      assert.ok(!ex.candidates.some((r) => formatIp(cluster.endpoints.ip[r]) === '10.0.1.1'), `explain names 10.0.1.1: ${ex.candidates.join(',')}`);
    }
    assert.ok(!reached.has('10.0.1.1'), 'decideGeneric DNATed a TCP packet by a udp rule');
    assert.ok(reached.has('10.0.2.1'), 'the other endpoint was never reached: the law was not exercised');
  });
});

describe('nftables: options.node', () => {
  it('a node index outside cluster.nodes is refused, naming the range', () => {
    const cluster = flowCluster(); // two nodes
    const msg = 'options.node must be an index into cluster.nodes (0..1)';
    for (const node of [2, -1, 0.5, 7]) {
      assert.throws(() => compileNftables(cluster, { node }), (e: unknown) => e instanceof InvalidArgumentError && e.message === msg, `node ${node}`);
      assert.throws(() => dataplaneFromRuleset(buildRuleset(cluster, { node: 0 }), cluster, { node }), (e: unknown) => e instanceof InvalidArgumentError && e.message === msg, `node ${node}`);
    }
  });
});
