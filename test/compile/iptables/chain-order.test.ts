/**
 * How RulesetBuilder lays a ruleset out (its second law is at the end: each rule is its spec).
 *
 * Law: a built ruleset lists each table's built-in chains in kernel order, then its user chains in
 * the order of their names' UTF-16 code units, as iptables-save prints them. The oracle is the
 * language's own string sort (ECMA-262: Array.prototype.sort without a comparator compares code
 * units), not the builder's radix sort; names it cannot key (longer than 28 characters, or with a
 * character outside 1..127) take the builder's other path and must come out the same.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  chainRoomEnd, encodeRule, kBuiltinChains, kRuleColumns, RulesetBuilder, T_ACCEPT, T_DROP, T_JUMP, T_NONE, T_RETURN, TABLE_FILTER, TABLE_NAT,
  type RuleColumns, type RuleSpec,
} from '../../../src/compile/iptables/ruleset.js';
import { checkProperty, runs } from '../../helpers/nat-assertions.js';

// Characters that make ties in the first places likely (kube-proxy's names share "KUBE-SEP-"), a
// prefix of another name, and (rarely) characters the radix sort does not key.
const kChars = ['K', 'U', 'B', 'E', '-', 'S', 'P', 'A', 'Z', '2', '7', 'a', '_', '~', '\u007f', '\u0001', 'é', '\u{1F600}'];
const name = fc.array(fc.constantFrom(...kChars), { minLength: 1, maxLength: 30 }).map((cs) => cs.join(''));
const names = fc.uniqueArray(name, { minLength: 0, maxLength: 60 });

function userOrder(table: number, chains: readonly string[]): string[] {
  const b = new RulesetBuilder();
  for (const c of chains) b.chain(table, c);
  const rs = b.build({ sort: true });
  const out: string[] = [];
  for (let c = 0; c < rs.chainCount; c++) if (rs.chainTable[c] === table && !kBuiltinChains[table].includes(rs.chainName[c])) out.push(rs.chainName[c]);
  return out;
}

test('user chains are built in the code-unit order of their names, whatever their characters', () => {
  checkProperty('chain order', names, (ns) => {
    // Built-in names are laid out first, not sorted: leave them out of the generated ones.
    const user = ns.filter((n) => !kBuiltinChains[TABLE_NAT].includes(n));
    assert.deepEqual(userOrder(TABLE_NAT, user), [...user].sort());
  }, { numRuns: runs(300) });
});

test('a table of kube-proxy-like names sorts as their strings do, across both key words and digits', () => {
  // 2,000 names of one shape: 9 shared characters, then 16 of base32, as KUBE-SEP- chains are.
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let x = 7;
  const chains: string[] = [];
  for (let i = 0; i < 2000; i++) {
    let n = i % 3 === 0 ? 'KUBE-SVC-' : 'KUBE-SEP-';
    for (let k = 0; k < 16; k++) {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      n += alphabet[x >>> 27];
    }
    chains.push(n);
  }
  chains.push('KUBE-SEP-', 'KUBE-SE', 'KUBE-SERVICES', 'KUBE-MARK-MASQ');
  const built = userOrder(TABLE_FILTER, chains);
  assert.deepEqual(built, [...chains].sort());
  assert.equal(built.length, chains.length);
});

/**
 * Law: the laid-out tables hold, in every rule of every chain and every room slot after a chain,
 * exactly what encodeRule writes for that rule's spec (a room slot: the blank rule), whatever
 * order the chains were declared and filled in. Oracle: each spec encoded alone into columns of
 * one rule, compared column by column (kRuleColumns, the jump as its target's name).
 */
test('every rule and room slot of a built ruleset is its spec encoded', () => {
  const spec = fc.record({
    target: fc.constantFrom(T_ACCEPT, T_DROP, T_JUMP, T_RETURN),
    comment: fc.option(fc.constantFrom('a', 'b', 'c'), { nil: undefined }),
    dport: fc.option(fc.integer({ min: 1, max: 65535 }), { nil: undefined }),
    endpoint: fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }),
  });
  // Chains by name index, filled in a random interleaving, some with room after them.
  const plan = fc.record({
    chains: fc.integer({ min: 1, max: 12 }),
    adds: fc.array(fc.tuple(fc.nat(), fc.nat(), spec), { maxLength: 60 }),
    room: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 4 })), { maxLength: 4 }),
  });
  checkProperty('layout', plan, ({ chains, adds, room }) => {
    const b = new RulesetBuilder();
    const names = Array.from({ length: chains }, (_, i) => `KUBE-SEP-${String.fromCharCode(90 - i)}${i}`);
    const declared = names.map((n) => b.chain(TABLE_NAT, n));
    const written = names.map((): RuleSpec[] => []);
    for (const [c, to, s] of adds) {
      const r: RuleSpec = { order: [], target: s.target, ...(s.target === T_JUMP ? { jump: names[to % chains] } : {}), ...(s.comment ? { comment: s.comment } : {}), ...(s.dport ? { dport: s.dport, proto: 6 } : {}), ...(s.endpoint !== undefined ? { endpoint: s.endpoint } : {}) };
      b.add(declared[c % chains], r);
      written[c % chains].push(r);
    }
    const roomOf = new Map<number, number>();
    for (const [c, n] of room) roomOf.set(c % chains, n);
    for (const [c, n] of roomOf) b.room(declared[c], n);
    const rs = b.build({ sort: true });
    const blank: RuleSpec = { order: [], target: T_NONE };
    for (let k = 0; k < chains; k++) {
      const c = rs.chainId(TABLE_NAT, names[k]);
      const specs = [...written[k], ...Array.from({ length: roomOf.get(k) ?? 0 }, () => blank)];
      assert.equal(chainRoomEnd(rs, c) - rs.chainStart[c], specs.length, `${names[k]}: rules and room`);
      specs.forEach((s, i) => {
        const one = Object.fromEntries(kRuleColumns.map((col) => [col, new (rs[col].constructor as new (n: number) => Uint32Array)(1)])) as unknown as RuleColumns;
        const strings: string[] = [];
        encodeRule(one, 0, TABLE_NAT, -1, s, rs.ruleSeq[rs.chainStart[c] + i], {
          jump: (_t, n) => names.indexOf(n),
          intern: (text) => (strings.includes(text) ? strings.indexOf(text) : strings.push(text) - 1),
        });
        const r = rs.chainStart[c] + i;
        for (const col of kRuleColumns) {
          if (col === 'ruleJump') assert.equal(one.ruleJump[0] < 0 ? undefined : names[one.ruleJump[0]], rs.ruleJump[r] < 0 ? undefined : rs.chainName[rs.ruleJump[r]], `${names[k]} rule ${i}: jump`);
          else if (col === 'ruleComment') assert.equal(one.ruleComment[0] < 0 ? undefined : strings[one.ruleComment[0]], rs.ruleComment[r] < 0 ? undefined : rs.strings[rs.ruleComment[r]], `${names[k]} rule ${i}: comment`);
          else assert.equal(rs[col][r], one[col][0], `${names[k]} rule ${i}: ${col}`);
        }
      });
    }
  }, { numRuns: runs(200) });
});
