/**
 * Law: a verdict map element's SERVICE_CHAIN flag (program.ts VerdictBits), on which decide()
 * takes a pod's packet from the element straight to its numgen's branch row, is set exactly when
 * the ruleset says the element's goto enters kube-proxy's Service chain for that element's key:
 * `ip daddr KEY th dport KEY ip saddr != LOCAL jump …`, LOCAL the cluster's local detector CIDR,
 * then the numgen as its last rule. After a compile, after endpoint changes written in place
 * (update.ts), and over a ruleset whose Service chains leave that shape in each word the flag
 * rests on. The oracle reads the ruleset's chains by name and the cluster's detector CIDR: it
 * shares none of serviceChainAt's reading of the code. walker-equivalence.test.ts shows that
 * decide() with the flag decides as the walker, packets from outside the CIDR included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { VerdictBits, VerdictWord } from '../../../src/compile/nftables/program.js';
import { buildRuleset, compileNftables, dataplaneFromRuleset, nftablesMode, type Chain, type NftablesDataplane, type Ruleset } from '../../../src/compile/nftables/index.js';
import type { Cluster } from '../../../src/model/types.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { withFewerReady } from '../../helpers/endpoint-change.js';

type Rule = Chain['rules'][number];

/** Whether `chain` is kube-proxy's Service chain for the key (ip, proto, port) with local CIDR `local`, by the ruleset. */
function isServiceChain(chains: Map<string, Chain>, chain: string, ip: number, proto: number, port: number, local: { base: number; prefix: number }): boolean {
  const rules = chains.get(chain)!.rules;
  if (rules.length !== 2) return false;
  const [masq, numgen] = rules as [Rule, Rule];
  const [d, p, s] = masq.matches;
  return (
    masq.matches.length === 3 && masq.action.k === 'jump' &&
    d?.k === 'addr' && d.field === 'daddr' && !d.neg && d.cidrs.length === 1 && d.cidrs[0]!.prefix === 32 && d.cidrs[0]!.base >>> 0 === ip >>> 0 &&
    p?.k === 'dport' && p.proto === proto && p.port === port &&
    s?.k === 'addr' && s.field === 'saddr' && s.neg && s.cidrs.length === 1 && s.cidrs[0]!.base >>> 0 === local.base >>> 0 && s.cidrs[0]!.prefix === local.prefix &&
    numgen.matches.length === 0 && numgen.action.k === 'numgen' && numgen.action.targets.length > 0
  );
}

/** Every goto element of `dp`'s maps checked against `rs`; how many are flagged and how many not. */
function checkFlags(cluster: Cluster, rs: Ruleset, dp: NftablesDataplane, what: string): { flagged: number; plain: number } {
  const p = dp.program;
  const chains = new Map(rs.chains.map((c) => [c.name, c]));
  const local = cluster.proxy.clusterCIDRs[0]!;
  const counts = { flagged: 0, plain: 0 };
  for (const map of rs.maps) {
    const t = p.maps[p.mapNames.indexOf(map.name)]!;
    for (const e of map.elements) {
      if (e.verdict.k !== 'goto') continue;
      const slot = t.find(e.ip | 0, (e.proto << 16) | e.port);
      assert.ok(slot >= 0, `${what}: ${map.name} holds ${e.ip}.${e.proto}.${e.port}`);
      const got = (t.rows[t.at(slot) + VerdictWord.VERDICT]! & VerdictBits.SERVICE_CHAIN) !== 0;
      const want = isServiceChain(chains, e.verdict.chain, e.ip, e.proto, e.port, local);
      assert.equal(got, want, `${what}: ${map.name}'s element ${e.ip}.${e.proto}.${e.port} going to ${e.verdict.chain}`);
      if (want) counts.flagged++;
      else counts.plain++;
    }
  }
  return counts;
}


test('law: an element is flagged as entering kube-proxy\'s Service chain exactly where the ruleset says so, after a compile and after updates in place (seeded, 300 Services)', () => {
  // Arrange: ClusterIPs (flagged), NodePorts, LoadBalancer and external IPs (external chains:
  // not), ClientIP affinity Services (a rule an endpoint before the numgen: not).
  let cluster = generateCluster({ services: 300, endpoints: 6, nodes: 3, seed: 5 });
  assert.equal(cluster.proxy.detectLocalMode, 'ClusterCIDR');
  const dp = compileNftables(cluster, { node: 1 });
  const before = checkFlags(cluster, buildRuleset(cluster, { node: 1 }), dp, 'compiled');
  assert.ok(before.flagged > 250 && before.plain > 50, `checked ${JSON.stringify(before)}`);
  // Act: endpoint changes written in place (their chains shortened, the elements written again).
  for (const [k, s] of [0, 7, 19, 42, 111, 250].entries()) {
    cluster = withFewerReady(cluster, s, k % 3);
    assert.ok(nftablesMode.updateEndpoints!(dp, cluster, [s]) !== undefined, `Service ${s}'s change is written in place`);
  }
  // Assert
  const after = checkFlags(cluster, buildRuleset(cluster, { node: 1 }), dp, 'updated');
  assert.deepEqual(after, before, 'the same elements flagged');
});

test('law: an element is not flagged where its Service chain leaves kube-proxy\'s in any word the flag rests on', () => {
  // Arrange: Service chains edited, one kind in each of ten: the masquerade rule's address
  // (another), its prefix, its field; its port, its protocol; the detector CIDR (another prefix),
  // not negated; a rule between it and the numgen; a rule after the numgen; the rule's third
  // match gone (kube-proxy's masqueradeAll).
  const cluster = generateCluster({ services: 300, endpoints: 3, nodes: 3, seed: 23 });
  const rs = buildRuleset(cluster, { node: 1 });
  let svc = 0;
  const edited: Ruleset = {
    ...rs,
    chains: rs.chains.map((c): Chain => {
      const [a, b] = c.rules;
      if (!c.name.startsWith('service-') || c.rules.length !== 2 || !a || !b || b.action.k !== 'numgen') return c;
      const [d, p, s] = a.matches;
      if (d?.k !== 'addr' || p?.k !== 'dport' || s?.k !== 'addr') return c;
      const masq = (matches: Rule['matches']): Chain => ({ ...c, rules: [{ ...a, matches }, b] });
      switch (svc++ % 11) {
        case 0:
          return masq([{ ...d, cidrs: [{ base: (d.cidrs[0]!.base + 1) >>> 0, prefix: 32 }] }, p, s]);
        case 1:
          return masq([{ ...d, cidrs: [{ base: d.cidrs[0]!.base, prefix: 31 }] }, p, s]);
        case 2:
          return masq([{ ...d, field: 'saddr' }, p, s]);
        case 3:
          return masq([d, { ...p, port: p.port + 1 }, s]);
        case 4:
          return masq([d, { ...p, proto: p.proto === 6 ? 17 : 6 }, s]);
        case 5:
          return masq([d, p, { ...s, cidrs: [{ base: s.cidrs[0]!.base, prefix: s.cidrs[0]!.prefix + 1 }] }]);
        case 6:
          return masq([d, p, { ...s, neg: false }]);
        case 7:
          return { ...c, rules: [a, { matches: [], action: { k: 'mark-or', mask: 8 } }, b] };
        case 8:
          return { ...c, rules: [a, b, { matches: [], action: { k: 'drop' } }] };
        case 9:
          return masq([d, p]);
        default:
          return c;
      }
    }),
  };
  assert.ok(svc > 200, `${svc} Service chains edited or kept`);
  // Act
  const dp = dataplaneFromRuleset(edited, cluster, { node: 1 });
  // Assert: the edited ones not flagged, the kept ones flagged.
  const counts = checkFlags(cluster, edited, dp, 'edited');
  assert.ok(counts.flagged > 15 && counts.plain > 9 * counts.flagged, `checked ${JSON.stringify(counts)}`);
});
