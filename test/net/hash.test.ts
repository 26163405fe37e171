/**
 * The hashes kdp takes from elsewhere, checked against their authors' published values: a hash
 * that claims to be MurmurHash3, lookup3 (the kernel's jhash), FNV-1a or the kernel's hash_32 must
 * give those functions' outputs bit for bit, or Maglev tables, Cilium's backend pick and IPVS's
 * source hash all drift from the system they model.
 *
 * Where the published value covers a general function (lookup3's hashlittle, MurmurHash3_x86_32)
 * and kdp runs only its fixed-length case, the test carries a byte-wise reference written from the
 * author's C, checks that reference against the published values, then compares kdp's case with it.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { fibonacciPair16, fnv1a, hash32, hashTuple, jhash3Words, murmur3x64128, murmurPair } from '../../src/net/hash.js';
import { Prng } from '../../src/model/prng.js';

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

/** lookup3.c's hashlittle, byte at a time (Bob Jenkins, 2006): mix() per 12 bytes, final() on the rest. */
function refHashlittle(key: Uint8Array, initval: number): number {
  let a = (0xdeadbeef + key.length + initval) | 0;
  let b = a;
  let c = a;
  const word = (at: number, n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) v |= key[at + i] << (8 * i);
    return v;
  };
  let at = 0;
  let left = key.length;
  while (left > 12) {
    a = (a + word(at, 4)) | 0;
    b = (b + word(at + 4, 4)) | 0;
    c = (c + word(at + 8, 4)) | 0;
    a = (a - c) | 0; a ^= rotl(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rotl(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rotl(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rotl(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rotl(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rotl(b, 4); b = (b + a) | 0;
    at += 12;
    left -= 12;
  }
  if (left === 0) return c >>> 0;
  a = (a + word(at, Math.min(left, 4))) | 0;
  if (left > 4) b = (b + word(at + 4, Math.min(left - 4, 4))) | 0;
  if (left > 8) c = (c + word(at + 8, left - 8)) | 0;
  c ^= b; c = (c - rotl(b, 14)) | 0;
  a ^= c; a = (a - rotl(c, 11)) | 0;
  b ^= a; b = (b - rotl(a, 25)) | 0;
  c ^= b; c = (c - rotl(b, 16)) | 0;
  a ^= c; a = (a - rotl(c, 4)) | 0;
  b ^= a; b = (b - rotl(a, 14)) | 0;
  c ^= b; c = (c - rotl(b, 24)) | 0;
  return c >>> 0;
}

/** MurmurHash3_x86_32 (Appleby's MurmurHash3.cpp), byte at a time, any length. */
function refMurmur3x86(key: Uint8Array, seed: number): number {
  const mixK = (k: number): number => Math.imul(rotl(Math.imul(k, 0xcc9e2d51), 15), 0x1b873593);
  let h = seed | 0;
  const blocks = key.length >> 2;
  for (let i = 0; i < blocks; i++) {
    const k = key[4 * i] | (key[4 * i + 1] << 8) | (key[4 * i + 2] << 16) | (key[4 * i + 3] << 24);
    h ^= mixK(k);
    h = (Math.imul(rotl(h, 13), 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  for (let i = key.length & 3; i > 0; i--) k |= key[4 * blocks + i - 1] << (8 * (i - 1));
  if (key.length & 3) h ^= mixK(k);
  h ^= key.length;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * SMHasher's VerificationTest (KeysetTest.cpp): key i is the bytes 0..i-1, hashed with seed 256 - i;
 * the 256 digests end to end are hashed with seed 0; the first 4 bytes of that, little-endian.
 */
function verification(hash: (key: Uint8Array, seed: number) => Uint8Array, bytes: number): number {
  const key = Uint8Array.from({ length: 256 }, (_, i) => i);
  const all = new Uint8Array(256 * bytes);
  for (let i = 0; i < 256; i++) all.set(hash(key.subarray(0, i), 256 - i), i * bytes);
  const f = hash(all, 0);
  return (f[0] | (f[1] << 8) | (f[2] << 16) | (f[3] << 24)) >>> 0;
}

const le32 = (v: number): Uint8Array => Uint8Array.of(v & 255, (v >>> 8) & 255, (v >>> 16) & 255, v >>> 24);
const le64 = (v: bigint): number[] => Array.from({ length: 8 }, (_, b) => Number((v >> BigInt(8 * b)) & 255n));

describe('MurmurHash3 (SMHasher)', () => {
  it('murmur3x64128 gives MurmurHash3_x64_128 verification value 0x6384BA69, and (0, 0) for no bytes', () => {
    const x64 = (key: Uint8Array, seed: number): Uint8Array => Uint8Array.from(murmur3x64128(key, seed).flatMap(le64));
    assert.equal(verification(x64, 16).toString(16), '6384ba69');
    assert.deepEqual(murmur3x64128(new Uint8Array(0), 0), [0n, 0n]);
  });

  it('hashTuple is MurmurHash3_x86_32 of the three words, little-endian, with the protocol where the length goes (its bits as an int32)', () => {
    assert.equal(verification((k, s) => le32(refMurmur3x86(k, s)), 4).toString(16), 'b0f57ee3');
    const rng = new Prng(3032);
    for (let n = 0; n < 2000; n++) {
      const [seed, src, dst, ports] = [rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()];
      const key = Uint8Array.from([...le32(src), ...le32(dst), ...le32(ports)]);
      const h = hashTuple(seed, src, dst, ports, 12);
      assert.equal(h, h | 0, 'an int32');
      assert.equal(h >>> 0, refMurmur3x86(key, seed));
    }
  });
});

describe('lookup3 / jhash', () => {
  it('the reference hashlittle gives lookup3.c driver5 values', () => {
    assert.equal(refHashlittle(new Uint8Array(0), 0), 0xdeadbeef);
    assert.equal(refHashlittle(new Uint8Array(0), 0xdeadbeef), 0xbd5b7dde);
    assert.equal(refHashlittle(ascii('Four score and seven years ago'), 0), 0x17770551);
    assert.equal(refHashlittle(ascii('Four score and seven years ago'), 1), 0xcd628161);
  });

  it('jhash3Words is hashlittle of the three words little-endian (init 0xdeadbeef + 12 + initval, then final)', () => {
    const rng = new Prng(2006);
    for (let n = 0; n < 2000; n++) {
      const [a, b, c, iv] = [rng.nextU32(), rng.nextU32(), rng.nextU32(), rng.nextU32()];
      assert.equal(jhash3Words(a, b, c, iv), refHashlittle(Uint8Array.from([...le32(a), ...le32(b), ...le32(c)]), iv));
    }
  });
});

describe('FNV-1a and the kernel hash_32', () => {
  it('fnv1a gives the FNV-1a 32-bit test vectors (offset basis for no input)', () => {
    assert.equal(fnv1a(''), 0x811c9dc5);
    assert.equal(fnv1a('a'), 0xe40c292c);
    assert.equal(fnv1a('foobar'), 0xbf9cf968);
  });

  it('hash32 is the top `bits` bits of val * 0x61C88647 mod 2^32 (include/linux/hash.h)', () => {
    const rng = new Prng(1640531527);
    for (let n = 0; n < 2000; n++) {
      const val = rng.nextU32();
      const bits = 1 + rng.below(31);
      const want = Number(((BigInt(val) * 0x61c88647n) & 0xffffffffn) >> BigInt(32 - bits));
      assert.equal(hash32(val, bits), want);
    }
  });
});

describe('kdp\'s own table mixers spread their keys', () => {
  // murmurPair (nftables' affinity sets) and fibonacciPair16 (xt_recent's slots) are kdp's, not a
  // published hash: what a table needs of them is a whole number in range that spreads distinct
  // keys. 4,096 distinct (client, owner) keys: a u32 mixer that spreads collides about twice
  // (birthday bound 4096^2 / 2^33); 16 bits give about 3,970 distinct slots (65,536 x (1 - e^(-1/16))).
  const keys: [number, number][] = [];
  for (let c = 0; c < 512; c++) for (let o = 0; o < 8; o++) keys.push([(0x0af40000 + c * 7) >>> 0, o]);

  it('murmurPair gives 32 bits as an int32, and distinct keys distinct values but for a few', () => {
    const v = keys.map(([c, o]) => murmurPair(c, o));
    assert.ok(v.every((x) => Number.isInteger(x) && x >= -0x80000000 && x <= 0x7fffffff), 'not an int32');
    assert.ok(new Set(v).size >= 4080, `${new Set(v).size} distinct values of 4,096 keys`);
  });

  it('fibonacciPair16 gives 16-bit slots, spread as a random draw would', () => {
    const v = keys.map(([c, o]) => fibonacciPair16(c, o + 1));
    assert.ok(v.every((x) => Number.isInteger(x) && x >= 0 && x < 65536), 'not a 16-bit slot');
    assert.ok(new Set(v).size >= 3800, `${new Set(v).size} distinct slots of 4,096 keys`);
  });
});
