/**
 * ExpiringTable against the three tables it replaced, kept here as reference models: IPVS's and
 * userspace's persistence templates, nftables' affinity sets and iptables' xt_recent lists must
 * keep, find, refresh and evict exactly as before under random operations on a small, crowded
 * table (where windows fill and evictions happen).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ExpiringTable } from '../../../src/compile/tables/index.js';
import { fibonacciPair16, mixPair, murmurPair, mix32 } from '../../../src/net/hash.js';

/** ipvs/affinity-table.ts as it was. */
class IpvsReference {
  owner: Int32Array; client: Uint32Array; slot: Int32Array; expires: Float64Array; evictions = 0;
  constructor(readonly mask: number) {
    this.owner = new Int32Array(mask + 1).fill(-1); this.client = new Uint32Array(mask + 1);
    this.slot = new Int32Array(mask + 1); this.expires = new Float64Array(mask + 1);
  }
  lookup(owner: number, client: number, now: number, ttl: number): number {
    let i = mixPair(client, owner + 1) & this.mask;
    for (let n = 0; n < 16; n++) {
      if (this.owner[i] === owner && this.client[i] === client >>> 0) {
        if (now < this.expires[i]) { this.expires[i] = now + ttl; return this.slot[i]; }
        return -1;
      }
      i = (i + 1) & this.mask;
    }
    return -1;
  }
  remember(owner: number, client: number, slot: number, now: number, ttl: number): void {
    let i = mixPair(client, owner + 1) & this.mask;
    let free = -1;
    let oldest = i;
    for (let n = 0; n < 16; n++) {
      if (this.owner[i] === owner && this.client[i] === client >>> 0) { free = i; break; }
      if (free < 0 && (this.owner[i] === -1 || this.expires[i] <= now)) free = i;
      if (this.expires[i] < this.expires[oldest]) oldest = i;
      i = (i + 1) & this.mask;
    }
    if (free < 0) { free = oldest; this.evictions++; }
    this.owner[free] = owner; this.client[free] = client >>> 0; this.slot[free] = slot; this.expires[free] = now + ttl;
  }
}

/** nftables/hash-tables.ts AffinityTable as it was, its home slot a client's block of 16 set ids (ExpiringTableOptions.hash). */
class NftReference {
  set: Int32Array; ip: Uint32Array; expiry: Float64Array;
  constructor(readonly mask: number) {
    this.set = new Int32Array(mask + 1).fill(-1); this.ip = new Uint32Array(mask + 1); this.expiry = new Float64Array(mask + 1);
  }
  has(setId: number, ip: number, now: number): boolean {
    let s = (murmurPair(ip, setId >>> 4) + (setId & 15)) & this.mask;
    for (let i = 0; i < 16; i++, s = (s + 1) & this.mask) {
      if (this.set[s] === -1) return false;
      if (this.set[s] === setId && this.ip[s] === ip) return now < this.expiry[s];
    }
    return false;
  }
  update(setId: number, ip: number, now: number, timeout: number): void {
    let s = (murmurPair(ip, setId >>> 4) + (setId & 15)) & this.mask;
    let victim = s;
    for (let i = 0; i < 16; i++, s = (s + 1) & this.mask) {
      if (this.set[s] === -1 || (this.set[s] === setId && this.ip[s] === ip)) { victim = s; break; }
      if (this.expiry[s] < this.expiry[victim]) victim = s;
    }
    this.set[victim] = setId; this.ip[victim] = ip; this.expiry[victim] = now + timeout;
  }
}

/** iptables/dataplane.ts recentCheck/recentSet as they were (at a capacity of 2^16, the slot is the hash). */
class RecentReference {
  names: Int32Array; ips: Uint32Array; times: Float64Array;
  constructor(readonly mask: number) {
    this.names = new Int32Array(mask + 1).fill(-1); this.ips = new Uint32Array(mask + 1); this.times = new Float64Array(mask + 1);
  }
  check(name: number, ip: number, seconds: number, now: number): boolean {
    let s = fibonacciPair16(ip, name + 1) & this.mask;
    for (let i = 0; i < 8; i++, s = (s + 1) & this.mask) {
      if (this.names[s] === name && this.ips[s] === ip) return seconds === 0 || now - this.times[s] <= seconds;
      if (this.names[s] === -1) return false;
    }
    return false;
  }
  set(name: number, ip: number, now: number): void {
    let s = fibonacciPair16(ip, name + 1) & this.mask;
    let oldest = s;
    for (let i = 0; i < 8; i++, s = (s + 1) & this.mask) {
      if (this.names[s] === -1 || (this.names[s] === name && this.ips[s] === ip)) { oldest = s; break; }
      if (this.times[s] < this.times[oldest]) oldest = s;
    }
    this.names[oldest] = name; this.ips[oldest] = ip; this.times[oldest] = now;
  }
}

const kOps = 20000;
const kCapacity = 64; // crowded: 8 owners x 40 clients compete for 64 slots

function draw(seed: number, i: number): { owner: number; client: number; now: number; ttl: number; value: number; lookup: boolean } {
  const h = mix32(seed, i);
  return { owner: h & 7, client: (0x0a000000 + ((h >>> 3) % 40)) >>> 0, now: i * 0.25, ttl: 1 + ((h >>> 12) & 15), value: (h >>> 16) & 255, lookup: ((h >>> 24) & 1) === 0 };
}

test('ExpiringTable as persistence templates (IPVS, userspace): same hits, refreshes and evictions', () => {
  const ref = new IpvsReference(kCapacity - 1);
  const t = new ExpiringTable({ capacity: kCapacity, hash: 'mix-pair', refreshOnHit: true, reuseExpired: true, values: true });
  for (let i = 0; i < kOps; i++) {
    const o = draw(1, i);
    const ttl = o.ttl * 16; // long enough that windows fill with live templates
    t.now = o.now;
    if (o.lookup) {
      const s = t.lookup(o.owner, o.client, ttl);
      assert.equal(s < 0 ? -1 : t.value[s], ref.lookup(o.owner, o.client, o.now, ttl), `op ${i}`);
    } else {
      t.remember(o.owner, o.client, o.value, ttl);
      ref.remember(o.owner, o.client, o.value, o.now, ttl);
    }
  }
  assert.ok(ref.evictions > 0, 'the run must crowd the table');
  assert.equal(t.evictions, ref.evictions);
  assert.deepEqual(Array.from(t.owner), Array.from(ref.owner));
  assert.deepEqual(Array.from(t.stamp), Array.from(ref.expires));
});

test('ExpiringTable as nftables affinity sets: same membership, no refresh on lookup', () => {
  const ref = new NftReference(kCapacity - 1);
  const t = new ExpiringTable({ capacity: kCapacity, hash: 'murmur-block' });
  for (let i = 0; i < kOps; i++) {
    const o = draw(2, i);
    t.now = o.now;
    if (o.lookup) assert.equal(t.lookup(o.owner, o.client, 0) >= 0, ref.has(o.owner, o.client, o.now), `op ${i}`);
    else {
      t.remember(o.owner, o.client, 0, o.ttl);
      ref.update(o.owner, o.client, o.now, o.ttl);
    }
  }
  assert.ok(t.evictions > 0, 'the run must crowd the table');
  assert.deepEqual(Array.from(t.owner), Array.from(ref.set));
  assert.deepEqual(Array.from(t.stamp), Array.from(ref.expiry));
});

test('ExpiringTable as nftables affinity sets: a client\'s entries in one block of 16 set ids take consecutive slots, other blocks and clients spread', () => {
  // A Service port's affinity sets have consecutive ids: its rules' lookups of one client then
  // read adjacent slots (one or two cache lines) instead of one line a set.
  const t = new ExpiringTable({ capacity: 1 << 16, hash: 'murmur-block' });
  const client = 0x0af40a07;
  // Remembered last set first: a placement that ignored the set's place in its block would still
  // fill consecutive slots by probing, but in the reverse order.
  for (let set = 47; set >= 32; set--) t.remember(set, client, 0, 100);
  const home = t.find(32, client);
  for (let set = 33; set < 48; set++) assert.equal(t.find(set, client), (home + set - 32) & t.mask, `set ${set}`);
  // Another block of the same client, and another client of the same block, land elsewhere.
  t.remember(48, client, 0, 100);
  t.remember(32, client + 1, 0, 100);
  for (const s of [t.find(48, client), t.find(32, client + 1)]) assert.ok(((s - home) & t.mask) >= 16, `slot ${s} within the block at ${home}`);
  assert.equal(t.evictions, 0);
});

test('ExpiringTable as xt_recent lists: same --rcheck answers, the least recently seen evicted', () => {
  const ref = new RecentReference(kCapacity - 1);
  const t = new ExpiringTable({ capacity: kCapacity, window: 8, hash: 'fibonacci-16' });
  for (let i = 0; i < kOps; i++) {
    const o = draw(3, i);
    if (o.lookup) {
      const s = t.find(o.owner, o.client);
      const seconds = o.ttl & 3 ? o.ttl : 0;
      assert.equal(s >= 0 && (seconds === 0 || o.now - t.stamp[s] <= seconds), ref.check(o.owner, o.client, seconds, o.now), `op ${i}`);
    } else {
      t.now = o.now;
      t.stamp[t.claim(o.owner, o.client)] = o.now;
      ref.set(o.owner, o.client, o.now);
    }
  }
  assert.ok(t.evictions > 0, 'the run must crowd the table');
  assert.deepEqual(Array.from(t.owner), Array.from(ref.names));
  assert.deepEqual(Array.from(t.stamp), Array.from(ref.times));
});
