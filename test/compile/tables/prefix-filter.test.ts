/**
 * Laws of the tables' /16 prefix filter (tables/prefix-filter.ts), which nftables' address-keyed
 * verdict maps and static sets, IPVS's VS table and bound set and Cilium's service map carry (that
 * those modes' lookups of a pod's address read no slot: ../service-prefix-filter.test.ts):
 * - exact: a filtered PairTable and AddressSet answer as a Map/Set model after any sequence of adds
 *   and deletes, asked for members, deleted members, other addresses of the members' /16s and
 *   addresses of other /16s (the oracle shares nothing with the tables or the filter);
 * - it reads no slot for an address of a /16 no key was ever in: with every slot overwritten to
 *   hold the asked key, the filtered table still says absent (and PairTable charges no probe),
 *   where an unfiltered one finds it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { AddressSet, PairTable, PairWord } from '../../../src/compile/tables/index.js';
import { runs } from '../../helpers/nat-assertions.js';

// Addresses from four /16s (10.96, 10.97, 10.128, 192.168), a few hosts each, so deletes find
// their keys and a /16 empties and fills again.
const kPrefixes = [0x0a600000, 0x0a610000, 0x0a800000, 0xc0a80000];
const addrArb = fc.tuple(fc.nat({ max: kPrefixes.length - 1 }), fc.nat({ max: 5 })).map(([p, h]) => (kPrefixes[p]! + h * 257) >>> 0);
const opsArb = fc.array(fc.record({ add: fc.boolean(), addr: addrArb, k1: fc.integer({ min: 1, max: 2 }) }), { minLength: 10, maxLength: 80 });
// Asked after each step: every address the ops could hold, and addresses of /16s none of them is in.
const kAsked = [...kPrefixes.flatMap((p) => Array.from({ length: 6 }, (_, h) => (p + h * 257) >>> 0)), 0x0a620001, 0x0b600001, 0, 0xffffffff];

test('a filtered PairTable answers as a Map after any adds and deletes', () => {
  fc.assert(
    fc.property(opsArb, (ops) => {
      const table = new PairTable(48, 1, true);
      const model = new Map<string, number>();
      ops.forEach((op, i) => {
        const key = `${op.addr}/${op.k1}`;
        if (op.add) {
          table.rows[table.at(table.slotFor(op.addr, op.k1))] = i;
          model.set(key, i);
        } else {
          assert.equal(table.delete(op.addr, op.k1), model.delete(key));
        }
        for (const a of kAsked) {
          for (let k1 = 1; k1 <= 2; k1++) {
            const s = table.find(a, k1);
            assert.equal(s >= 0 ? table.rows[table.at(s)] : undefined, model.get(`${a >>> 0}/${k1}`), `key ${a >>> 0}/${k1}`);
          }
        }
      });
    }),
    { numRuns: runs(200) },
  );
});

test('a filtered AddressSet answers as a Set after any adds and deletes', () => {
  fc.assert(
    fc.property(opsArb, (ops) => {
      const set = new AddressSet(24, true);
      const model = new Set<number>();
      for (const op of ops) {
        if (op.add) assert.equal(set.add(op.addr), !model.has(op.addr) && (model.add(op.addr), true));
        else assert.equal(set.delete(op.addr), model.delete(op.addr));
        for (const a of kAsked) assert.equal(set.has(a), model.has(a >>> 0), `address ${a >>> 0}`);
      }
    }),
    { numRuns: runs(200) },
  );
});

test('an address of a /16 no key is in is answered without reading a slot', () => {
  const members = [0x0a600001, 0x0a600102, 0x0a610203];
  const asked = 0x0a800005; // 10.128.0.5: a pod's address, where the members are ClusterIPs
  for (const filtered of [true, false]) {
    const table = new PairTable(8, 1, filtered);
    const set = new AddressSet(8, filtered);
    for (const m of members) {
      table.rows[table.at(table.slotFor(m, 6 << 16 | 80))] = 1;
      set.add(m);
    }
    // Every slot now holds the asked key: only a lookup that reads no slot can miss it.
    for (let s = 0; s < table.capacity; s++) {
      table.rows[s * table.stride + PairWord.K0] = asked;
      table.rows[s * table.stride + PairWord.K1] = 6 << 16 | 80;
    }
    set.keys.fill(asked);
    set.used.fill(1);
    const slot = table.find(asked, 6 << 16 | 80);
    if (filtered) {
      assert.equal(slot, -1, 'the filter rules 10.128/16 out');
      assert.equal(table.lastProbes, 0, 'no probe charged');
      assert.equal(set.has(asked), false);
    } else {
      assert.ok(slot >= 0, 'an unfiltered table reads its slots');
      assert.equal(set.has(asked), true);
    }
  }
});
