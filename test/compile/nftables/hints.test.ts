/**
 * Law: each verdict map element's hint (program.ts MapWord), which nftables' prefetch and
 * decide()'s guess read, names what the ruleset says, after a compile and after endpoint changes
 * written in place (update.ts): where the endpoint chains of the numgen the element's goto reaches
 * lie (the first one's start, the branch count, the stride), the count negative when that numgen
 * is in the chain the element's chain's last rule goes to (kube-proxy's external chain of a
 * NodePort, LoadBalancer IP or external IP), and no hint (-1, 0, 0) where those chains do not lie
 * one after another at one stride. The oracle reads the ruleset kdp built for the cluster
 * (elements, chains and rules by name) and takes each named chain's span from the program's rows:
 * it shares none of writeMapVerdict's walk over the code. A stale hint costs a walk, never a wrong
 * answer (walker-equivalence.test.ts shows that half); this law shows that compile and update keep
 * the hints fresh, so that the prefetch reads the lines decide() reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ChainWord, MapWord } from '../../../src/compile/nftables/program.js';
import { buildRuleset, compileNftables, nftablesMode, type NftablesDataplane, type Ruleset } from '../../../src/compile/nftables/index.js';
import type { Cluster } from '../../../src/model/types.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { withFewerReady } from '../../helpers/endpoint-change.js';

/** A hint as MapWord holds it: the first chain's start, the branch count (negative: through an external chain), the stride (HINT's two halves). */
type Hint = readonly [number, number, number];
const kNoHint: Hint = [-1, 0, 0];

/** The program's live chains by name. */
function liveChains(dp: NftablesDataplane): Map<string, number> {
  const p = dp.program;
  const byName = new Map<string, number>();
  p.chainNames.forEach((name, c) => {
    if (p.chainLive[c] === 1) byName.set(name, c);
  });
  return byName;
}

/** The hint an element whose verdict is `goto chain` should hold, from the ruleset's rules. */
function hintOf(rs: Ruleset, dp: NftablesDataplane, chains: Map<string, number>, chain: string): Hint {
  const byName = new Map(rs.chains.map((c) => [c.name, c]));
  let rules = byName.get(chain)!.rules;
  let numgen = rules.find((r) => r.action.k === 'numgen');
  let sign = 1;
  if (numgen === undefined) {
    const last = rules.at(-1);
    if (last === undefined || last.action.k !== 'goto') return kNoHint;
    rules = byName.get(last.action.chain)!.rules;
    numgen = rules.find((r) => r.action.k === 'numgen');
    sign = -1;
  }
  if (numgen === undefined || numgen.action.k !== 'numgen') return kNoHint;
  const CR = dp.program.chainRows;
  const spans = numgen.action.targets.map((v) => {
    if (v.k !== 'goto') return undefined;
    const c = chains.get(v.chain)!;
    return [CR[c * ChainWord.STRIDE + ChainWord.START]!, CR[c * ChainWord.STRIDE + ChainWord.END]!] as const;
  });
  const first = spans[0]?.[0] ?? -1;
  const stride = spans[0] === undefined ? 0 : spans[0][1] - first;
  const evenly = spans.every((s, k) => s !== undefined && s[0] === first + k * stride && s[1] === first + (k + 1) * stride);
  // A count or a stride past its 16 bits of MapWord.HINT is no hint.
  const fits = spans.length <= 32767 && stride <= 0xffff;
  return evenly && fits ? [first, sign * spans.length, stride] : kNoHint;
}

/** Every goto element of `dp`'s maps checked against the ruleset kdp builds for `cluster`; counts of the hints checked by kind. */
function checkHints(cluster: Cluster, dp: NftablesDataplane, what: string): { through: number; direct: number; none: number } {
  const rs = buildRuleset(cluster, { node: dp.node });
  const p = dp.program;
  const chains = liveChains(dp);
  const counts = { through: 0, direct: 0, none: 0 };
  for (const map of rs.maps) {
    const t = p.maps[p.mapNames.indexOf(map.name)]!;
    for (const e of map.elements) {
      if (e.verdict.k !== 'goto') continue;
      const slot = t.find(e.ip | 0, (e.proto << 16) | e.port);
      assert.ok(slot >= 0, `${what}: ${map.name} holds its element ${e.ip}.${e.proto}.${e.port}`);
      const o = t.at(slot);
      const got = [t.rows[o + MapWord.HINT_START], t.rows[o + MapWord.HINT]! >> 16, t.rows[o + MapWord.HINT]! & 0xffff];
      const want = hintOf(rs, dp, chains, e.verdict.chain);
      assert.deepEqual(got, want, `${what}: the hint of ${map.name}'s element going to ${e.verdict.chain}`);
      if (want[1] < 0) counts.through++;
      else if (want[1] > 0) counts.direct++;
      else counts.none++;
    }
  }
  return counts;
}


test('law: every map element\'s hint names what the ruleset says, after a compile and after updates in place (seeded, 300 Services)', () => {
  // Arrange: a synthetic cluster has ClusterIPs, NodePorts, LoadBalancer and external IPs, both traffic policies.
  let cluster = generateCluster({ services: 300, endpoints: 6, nodes: 3, seed: 5 });
  const dp = compileNftables(cluster, { node: 1 });
  const before = checkHints(cluster, dp, 'compiled');
  assert.ok(before.through > 50 && before.direct > 200, `checked ${JSON.stringify(before)}`);
  const hintsBefore = dp.program.maps.map((t) => t.rows.slice());
  // Act: endpoint changes written in place, Services whose ports have external chains among them.
  const changed = [0, 7, 19, 42, 111, 250];
  for (const [k, s] of changed.entries()) {
    cluster = withFewerReady(cluster, s, k % 3);
    assert.ok(nftablesMode.updateEndpoints!(dp, cluster, [s]) !== undefined, `Service ${s}'s change is written in place`);
  }
  // Assert
  const after = checkHints(cluster, dp, 'updated');
  assert.ok(after.through > 50 && after.direct > 200, `checked ${JSON.stringify(after)}`);
  // The premise: the updates moved hints of both kinds (their Services' numgens lost branches).
  const moved = { through: 0, direct: 0 };
  dp.program.maps.forEach((t, m) => {
    for (let s = 0; s < t.capacity; s++) {
      const o = t.at(s);
      if (t.rows[o + MapWord.HINT] >> 16 === hintsBefore[m]![o + MapWord.HINT]! >> 16) continue;
      if (t.rows[o + MapWord.HINT]! < 0) moved.through++;
      else moved.direct++;
    }
  });
  assert.ok(moved.through > 0 && moved.direct > 0, `hints moved by the updates: ${JSON.stringify(moved)}`);
});
