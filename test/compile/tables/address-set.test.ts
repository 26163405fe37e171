/** AddressSet: membership, 0.0.0.0 as a member, duplicates, sizing, and a shared image round trip. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AddressSet, kTableClasses, PairTable } from '../../../src/compile/tables/index.js';
import { packTables, unpackTables } from '../../../src/compile/table-image.js';

test('AddressSet holds exactly what was added, 0.0.0.0 and 255.255.255.255 included', () => {
  const members = [0, 0xffffffff, 0x0a000001, 0xc0a8000b, 0x7f000001];
  const set = AddressSet.of(members);
  assert.equal(set.size, members.length);
  for (const ip of members) assert.equal(set.has(ip), true);
  for (const ip of [1, 0x0a000002, 0xc0a8000c, 0xfffffffe]) assert.equal(set.has(ip), false);
  assert.equal(set.add(0x0a000001), false, 'a member is not added twice');
  assert.equal(set.size, members.length);
  // Signed and unsigned spellings of an address are the same member.
  assert.equal(set.has(0xffffffff | 0), true);
  // Load <= 1/2, at least 16 slots.
  assert.equal(set.mask + 1, 16);
  assert.equal(new AddressSet(1000).mask + 1, 2048);
});

test('the kit\'s tables come back from a shared image as the same classes, with their answers', () => {
  const set = AddressSet.of([0x0a000001, 0x0a000002]);
  const pairs = new PairTable(3, 2);
  const s = pairs.slotFor(0x0a600001, (6 << 16) | 443);
  pairs.rows[pairs.at(s)] = 7;
  pairs.rows[pairs.at(s) + 1] = 8;
  const back = unpackTables<{ set: AddressSet; pairs: PairTable }>(packTables({ set, pairs }, kTableClasses), kTableClasses);
  assert.ok(back.set instanceof AddressSet && back.pairs instanceof PairTable);
  assert.equal(back.set.has(0x0a000002), true);
  assert.equal(back.set.has(0x0a000003), false);
  const t = back.pairs.find(0x0a600001, (6 << 16) | 443);
  assert.deepEqual([t >= 0, back.pairs.rows[back.pairs.at(t)], back.pairs.rows[back.pairs.at(t) + 1]], [true, 7, 8]);
  assert.equal(back.pairs.find(0x0a600001, (17 << 16) | 443), -1);
});
