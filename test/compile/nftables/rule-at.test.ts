/**
 * A compiled rule read back from its code words (src/compile/nftables/rule-at.ts ruleAt) is the
 * rule the ruleset has there: what explain prints for it. The oracle is the ruleset itself, as the
 * builder made it or the parser read it, chain by chain in order: the same Rule (an anonymous
 * set's `anonSet` aside, which only kube-proxy's own spelling shows) and the same `nft list` text,
 * in kdp's compile with room, after endpoint changes written in place over it, and in a dump's.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { modeNamed } from '../../../src/compile/index.js';
import { buildRuleset, compileNftables, dataplaneFromNftText, parseRuleset, renderRuleset, type NftablesDataplane } from '../../../src/compile/nftables/index.js';
import { ChainWord, RuleWord } from '../../../src/compile/nftables/program.js';
import { ruleAt } from '../../../src/compile/nftables/rule-at.js';
import { ruleText } from '../../../src/compile/nftables/rule-text.js';
import type { Rule, Ruleset } from '../../../src/compile/nftables/ruleset.js';
import { Prng } from '../../../src/model/prng.js';
import type { Cluster } from '../../../src/model/types.js';
import { resolveScenario, scenarioArb } from '../../helpers/arbitraries.js';
import { randomEndpointChange } from '../../helpers/endpoint-change.js';
import { checkProperty, runs } from '../../helpers/nat-assertions.js';

/** `r` without what the compiled words never hold and `nft list` never prints: an anonymous set's braces for one element. */
function listed(r: Rule): Rule {
  return { ...r, matches: r.matches.map((m) => (m.k === 'addr' ? { k: 'addr', field: m.field, neg: m.neg, cidrs: m.cidrs } : m)) };
}

/** Every rule of every chain of `rs`, read back from `dp`'s code, against the ruleset's; returns how many rules were read. */
function readsBack(dp: NftablesDataplane, rs: Ruleset, where: string): number {
  const p = dp.program;
  const slotOf = new Map<string, number>();
  p.chainNames.forEach((name, slot) => {
    if (name !== '' && p.chainLive[slot] === 1) slotOf.set(name, slot);
  });
  let read = 0;
  for (const c of rs.chains) {
    const slot = slotOf.get(c.name);
    assert.ok(slot !== undefined, `${where}: chain ${c.name} has a live slot`);
    let pc = p.chainRows[slot * ChainWord.STRIDE + ChainWord.START];
    const end = p.chainRows[slot * ChainWord.STRIDE + ChainWord.END];
    for (const r of c.rules) {
      assert.ok(pc < end, `${where}: chain ${c.name} has all its rules in code`);
      const back = ruleAt(p, pc);
      assert.deepEqual(listed(back), listed(r), `${where}: chain ${c.name}`);
      assert.equal(ruleText(back), ruleText(r), `${where}: chain ${c.name}`);
      pc = p.code[pc + RuleWord.NEXT];
      read++;
    }
    assert.equal(pc, end, `${where}: chain ${c.name} has no more rules in code`);
  }
  return read;
}

test('nftables: every compiled rule reads back as the rule the ruleset has, in kdp\'s compile and in a dump\'s', () => {
  let read = 0;
  let noted = 0;
  checkProperty(
    'nftables rules read back',
    scenarioArb(),
    (sc) => {
      const { cluster } = resolveScenario(sc);
      for (let node = 0; node < cluster.nodes.length; node++) {
        const rs = buildRuleset(cluster, { node });
        const dp = compileNftables(cluster, { node });
        read += readsBack(dp, rs, `node ${node}`);
        noted += dp.program.ruleNote.filter((n) => n > 0).length;
        const text = renderRuleset(rs);
        read += readsBack(dataplaneFromNftText(text, cluster, { node }), parseRuleset(text), `node ${node}, its dump`);
      }
    },
    { numRuns: runs(40) },
  );
  // Not vacuous: many rules read back, some with a comment.
  assert.ok(read > 1000, `${read} rules read back`);
  assert.ok(noted > 0, 'some rules have a comment');
});

test('nftables: after endpoint changes written in place, every rule reads back as a fresh build of the changed cluster has it', () => {
  const nft = modeNamed('nftables');
  let inPlace = 0;
  checkProperty(
    'nftables rules read back after in-place updates',
    fc.tuple(scenarioArb(), fc.integer({ min: 1, max: 1_000_000 })),
    ([sc, seed]) => {
      const { cluster } = resolveScenario(sc);
      const rng = new Prng(seed);
      const dp = compileNftables(cluster, { node: 0 });
      let now: Cluster = cluster;
      for (let k = 0; k < 3; k++) {
        const { changed, conditions } = randomEndpointChange(now, rng);
        const next: Cluster = { ...now, endpoints: { ...now.endpoints, conditions: conditions() } };
        if (nft.updateEndpoints!(dp, next, [...changed]) === undefined) return;
        inPlace++;
        now = next;
        readsBack(dp, buildRuleset(now, { node: 0 }), `after change ${k + 1}`);
      }
    },
    { numRuns: runs(40) },
  );
  assert.ok(inPlace > 20, `${inPlace} changes written in place`);
});
