/**
 * Law: PairTable and AddressSet with backward-shift deletion answer as a Map/Set model after any
 * sequence of adds and deletes, keys crowded into a few home slots on purpose (a small table and
 * a narrow key range, so that probe runs wrap around and cross), and no deleted key is found again.
 * The oracle is a JavaScript Map keyed by the pair, which shares nothing with the tables' probing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressSet, PairTable } from '../../../src/compile/tables/index.js';
import { runs } from '../../helpers/nat-assertions.js';

// 24 keys for 8 places: a delete mostly finds its key, and runs share home slots.
const opsArb = fc.array(fc.record({ add: fc.boolean(), k0: fc.nat({ max: 11 }), k1: fc.integer({ min: 1, max: 2 }), value: fc.integer() }), { minLength: 20, maxLength: 120, size: 'max' });

// Rows of no value (a set of pairs), one (IPVS's), three (a slot padded to its stride of 8) and six
// (nftables' verdict maps, a stride of 8 exactly): a delete moves every word of each slot it shifts back.
for (const width of [0, 1, 3, 6]) {
  test(`PairTable, ${width} word${width === 1 ? '' : 's'} a row: adds and deletes in any order answer as a Map`, () => {
    fc.assert(
      fc.property(opsArb, (ops) => {
        // Arrange: 16 slots for at most 8 keys (load <= 1/2).
        const table = new PairTable(8, width);
        const model = new Map<string, number>();
        for (const op of ops) {
          const key = `${op.k0}/${op.k1}`;
          // Act
          if (op.add) {
            if (!model.has(key) && model.size === 8) continue;
            const s = table.slotFor(op.k0, op.k1);
            for (let w = 0; w < width; w++) table.rows[table.at(s) + w] = op.value + w;
            model.set(key, op.value);
          } else {
            assert.equal(table.delete(op.k0, op.k1), model.delete(key));
          }
          // Assert
          assert.equal(table.size, model.size);
          for (let k0 = 0; k0 <= 11; k0++) {
            for (let k1 = 1; k1 <= 2; k1++) {
              const s = table.find(k0, k1);
              const want = model.get(`${k0}/${k1}`);
              const row = s >= 0 ? [...table.rows.subarray(table.at(s), table.at(s) + width)] : undefined;
              assert.deepEqual(row, want === undefined ? undefined : Array.from({ length: width }, (_, w) => (want + w) | 0), `key ${k0}/${k1}`);
            }
          }
        }
      }),
      { numRuns: runs(200) },
    );
  });
}

test('AddressSet: adds and deletes in any order answer as a Set', () => {
  fc.assert(
    fc.property(opsArb, (ops) => {
      const set = new AddressSet(8);
      const model = new Set<number>();
      for (const op of ops) {
        if (op.add) {
          if (!model.has(op.k0) && model.size === 8) continue;
          assert.equal(set.add(op.k0), !model.has(op.k0));
          model.add(op.k0);
        } else {
          assert.equal(set.delete(op.k0), model.delete(op.k0));
        }
        assert.equal(set.size, model.size);
        for (let ip = 0; ip <= 11; ip++) assert.equal(set.has(ip), model.has(ip), `address ${ip}`);
      }
    }),
    { numRuns: runs(200) },
  );
});
