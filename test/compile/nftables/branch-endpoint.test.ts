/**
 * Law: each numgen branch's DNAT row holds the DNAT of the chain it goes to (program.ts DnatWord),
 * which decide() takes in place of walking that chain, exactly when the ruleset says that chain is
 * kube-proxy's endpoint chain, `ip saddr EP jump …` then `meta l4proto P dnat to EP:PORT`, with
 * EP:PORT one of its Service port's endpoint rows; and otherwise holds none (ENDPOINT -1); and the
 * branch's Service port in either case, as its verdict row has it. After a
 * compile, after endpoint changes written in place (update.ts), and over a ruleset whose endpoint
 * chains leave that shape in each of the ways the words it checks can. The oracle reads the ruleset
 * (chains and rules by name) and the cluster's endpoint rows: it shares none of linkTargets' reading
 * of the code. walker-equivalence.test.ts shows the other half: decide() with these rows decides
 * as the walker, hairpin packets included.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ActionOp, ChainWord, dnatRowAt, DnatWord, RuleWord, VerdictBits, VerdictWord } from '../../../src/compile/nftables/program.js';
import { buildRuleset, compileNftables, dataplaneFromRuleset, nftablesMode, type Chain, type NftablesDataplane, type Ruleset } from '../../../src/compile/nftables/index.js';
import type { Cluster } from '../../../src/model/types.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { withFewerReady } from '../../helpers/endpoint-change.js';

/** A DNAT row's DNAT words: the endpoint's address, l4proto << 16 | port, endpoint row. */
type Dnat = readonly [number, number, number];
const kNone: Dnat = [0, 0, -1];

/** The DNAT a branch going to `v` should hold, from the ruleset's rules and the Service port's endpoint rows. */
function dnatOf(cluster: Cluster, chains: Map<string, Chain>, port: number, v: { k: string; chain?: string }): Dnat {
  if (v.k !== 'goto') return kNone;
  const rules = chains.get(v.chain!)!.rules;
  if (rules.length !== 2) return kNone;
  const [hairpin, dnat] = rules as [Chain['rules'][number], Chain['rules'][number]];
  const h = hairpin.matches[0];
  const hairpinRule = hairpin.matches.length === 1 && h?.k === 'addr' && h.field === 'saddr' && !h.neg && h.cidrs.length === 1 && h.cidrs[0]!.prefix === 32 && hairpin.action.k === 'jump';
  const d = dnat.matches[0];
  if (!hairpinRule || dnat.matches.length !== 1 || d?.k !== 'l4proto' || dnat.action.k !== 'dnat' || h?.k !== 'addr' || h.cidrs[0]!.base >>> 0 !== dnat.action.ip >>> 0) return kNone;
  const a = dnat.action;
  const eps = cluster.endpoints;
  const sp = cluster.ports[port]!;
  let row = -1;
  for (let r = sp.endpointStart; r < sp.endpointStart + sp.endpointCount; r++) if (eps.ip[r] === a.ip >>> 0 && eps.port[r] === a.port && row < 0) row = r;
  return row < 0 ? kNone : [a.ip | 0, (d.proto << 16) | a.port, row];
}

/** Every numgen branch of `dp`'s live chains checked against `rs`; how many held a DNAT and how many none. */
function checkBranches(cluster: Cluster, rs: Ruleset, dp: NftablesDataplane, what: string): { dnat: number; none: number } {
  const p = dp.program;
  const K = p.code;
  const chains = new Map(rs.chains.map((c) => [c.name, c]));
  const counts = { dnat: 0, none: 0 };
  p.chainNames.forEach((name, c) => {
    if (p.chainLive[c] !== 1) return;
    const numgen = chains.get(name)!.rules.find((r) => r.action.k === 'numgen');
    if (numgen === undefined || numgen.action.k !== 'numgen') return;
    let pc = p.chainRows[c * ChainWord.STRIDE + ChainWord.START]!;
    while (K[pc + RuleWord.OP] !== ActionOp.NUMGEN) pc = K[pc + RuleWord.NEXT]!;
    const port = p.chainRows[c * ChainWord.STRIDE + ChainWord.SERVICE_PORT]!;
    const targets = numgen.action.targets;
    targets.forEach((v, k) => {
      const t = K[pc + RuleWord.A]! + k * VerdictWord.STRIDE;
      const r = dnatRowAt(K[pc + RuleWord.A]!, targets.length, k);
      assert.equal(K[t + VerdictWord.VERDICT]! & VerdictBits.OP_MASK, v.k === 'goto' ? ActionOp.GOTO : (K[t + VerdictWord.VERDICT]! & VerdictBits.OP_MASK), `${what}: ${name}'s branch ${k}`);
      const got = [K[r + DnatWord.ADDR], K[r + DnatWord.L4], K[r + DnatWord.ENDPOINT]];
      const want = dnatOf(cluster, chains, port, v);
      assert.deepEqual(got, want, `${what}: the DNAT of ${name}'s branch ${k}${v.k === 'goto' ? ` to ${v.chain}` : ''}`);
      assert.equal(K[r + DnatWord.PORT], K[t + VerdictWord.PORT], `${what}: the Service port of ${name}'s branch ${k}`);
      if (want[2] >= 0) counts.dnat++;
      else counts.none++;
    });
  });
  return counts;
}


test('law: every numgen branch holds its endpoint chain\'s DNAT as the ruleset says, after a compile and after updates in place (seeded, 300 Services)', () => {
  // Arrange: a synthetic cluster (ClusterIP, NodePort, LoadBalancer and external IPs; some ClientIP
  // affinity Services, whose endpoint chains hold an `update` and so no DNAT in their branches).
  let cluster = generateCluster({ services: 300, endpoints: 6, nodes: 3, seed: 5 });
  const dp = compileNftables(cluster, { node: 1 });
  const before = checkBranches(cluster, buildRuleset(cluster, { node: 1 }), dp, 'compiled');
  assert.ok(before.dnat > 1000 && before.none > 10, `checked ${JSON.stringify(before)}`);
  const codeBefore = dp.program.code.slice();
  // Act: endpoint changes written in place; each Service's numgens lose two branches in three.
  const changed = [0, 7, 19, 42, 111, 250];
  for (const [k, s] of changed.entries()) {
    cluster = withFewerReady(cluster, s, k % 3);
    assert.ok(nftablesMode.updateEndpoints!(dp, cluster, [s]) !== undefined, `Service ${s}'s change is written in place`);
  }
  // Assert
  const after = checkBranches(cluster, buildRuleset(cluster, { node: 1 }), dp, 'updated');
  assert.ok(after.dnat > 1000 && after.dnat < before.dnat, `checked ${JSON.stringify(after)} after ${JSON.stringify(before)}`);
  // The premise: the updates rewrote branch rows' DNATs (another endpoint in a branch's place).
  let moved = 0;
  for (let w = 0; w < codeBefore.length; w++) if (dp.program.code[w] !== codeBefore[w]) moved++;
  assert.ok(moved > 0, 'the updates rewrote the code');
});

test('law: a branch holds no DNAT where its chain leaves kube-proxy\'s endpoint chain in any word decide() would trust', () => {
  // Arrange: endpoint chains edited, one kind in each of ten, so that each word the DNAT rests on
  // differs somewhere: the hairpin rule's prefix (/24), its field (daddr), its negation, its
  // action (a mark, not a jump), its address (another than the DNAT's); the DNAT rule's match
  // (none, or `ct state new`), its address (no endpoint row of its port); a third rule; the DNAT
  // rule first.
  const cluster = generateCluster({ services: 200, endpoints: 3, nodes: 3, seed: 23 });
  const rs = buildRuleset(cluster, { node: 1 });
  let ep = 0;
  const edited: Ruleset = {
    ...rs,
    chains: rs.chains.map((c): Chain => {
      const [a, b] = c.rules;
      if (!c.name.startsWith('endpoint-') || !a || !b || c.rules.length !== 2 || a.matches[0]?.k !== 'addr' || b.action.k !== 'dnat') return c;
      const m = a.matches[0];
      switch (ep++ % 11) {
        case 0:
          return { ...c, rules: [{ ...a, matches: [{ ...m, cidrs: [{ base: m.cidrs[0]!.base & 0xffffff00, prefix: 24 }] }] }, b] };
        case 1:
          return { ...c, rules: [{ ...a, matches: [{ ...m, field: 'daddr' }] }, b] };
        case 2:
          return { ...c, rules: [{ ...a, matches: [{ ...m, neg: true }] }, b] };
        case 3:
          return { ...c, rules: [{ ...a, action: { k: 'mark-or', mask: 16 } }, b] };
        case 4:
          return { ...c, rules: [a, { ...b, matches: [] }] };
        case 5:
          return { ...c, rules: [a, { ...b, matches: [{ k: 'ct-new' }] }] };
        case 6:
          return { ...c, rules: [a, { ...b, action: { ...b.action, ip: 0x0a0b0c0d } }] };
        case 7:
          return { ...c, rules: [a, { matches: [], action: { k: 'mark-or', mask: 32 } }, b] };
        case 8:
          return { ...c, rules: [b, a] };
        case 9:
          return { ...c, rules: [{ ...a, matches: [{ ...m, cidrs: [{ base: (m.cidrs[0]!.base ^ 1) >>> 0, prefix: 32 }] }] }, b] };
        default:
          return c;
      }
    }),
  };
  assert.ok(ep > 300, `${ep} endpoint chains edited or kept`);
  // Act
  const dp = dataplaneFromRuleset(edited, cluster, { node: 1 });
  // Assert: the edited ones hold none, the kept ones theirs.
  const counts = checkBranches(cluster, edited, dp, 'edited');
  assert.ok(counts.dnat > 20 && counts.none > 9 * counts.dnat, `checked ${JSON.stringify(counts)}`);
});
