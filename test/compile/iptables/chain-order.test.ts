/**
 * Law: a built ruleset lists each table's built-in chains in kernel order, then its user chains in
 * the order of their names' UTF-16 code units, as iptables-save prints them. The oracle is the
 * language's own string sort (ECMA-262: Array.prototype.sort without a comparator compares code
 * units), not the builder's radix sort; names it cannot key (longer than 28 characters, or with a
 * character outside 1..127) take the builder's other path and must come out the same.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { kBuiltinChains, RulesetBuilder, TABLE_FILTER, TABLE_NAT } from '../../../src/compile/iptables/ruleset.js';
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
