/**
 * Every integer hash kdp computes, in one place: the mixers behind its hash tables (conntrack,
 * IPVS, nftables sets and maps, xt_recent, affinity), its flow hash and its per-flow and per-rule
 * random draws.
 *
 * They are not interchangeable: each one fixes where an entry lands in its table (and so how many
 * probes a lookup costs and which entry a full probe window evicts) or which endpoint a flow
 * draws, and decision checksums depend on them bit for bit. A table that changes its mixer
 * changes its measured work; a draw that changes it changes every decision.
 */

/** φ·2^32 (odd), the multiplier of Fibonacci hashing (Knuth, TAOCP 6.4). */
const kGolden = 0x9e3779b1;

/**
 * MurmurHash3's 32-bit finaliser: cheap, allocation-free, and every input bit moves every output
 * bit. The last step of most mixers below.
 */
export function fmix32(h: number): number {
  return fmix32Bits(h) >>> 0;
}

/**
 * fmix32's 32 bits as a signed int32, which V8 keeps a small integer: a u32 above 2^31 returned
 * from a call it did not inline is boxed in a 16-byte HeapNumber, one per lookup (measured in
 * test/compile/ipvs/flows.test.ts). For callers that mask the hash into a table slot.
 */
export function fmix32Bits(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * Two words to one u32: `b` spread by Fibonacci hashing, folded into `a`, then fmix32. The mixer of
 * the lookup-table kit (compile/tables), IPVS persistence templates and mh's source hash, the
 * iptables statistic draw and Maglev's backend offsets.
 */
export function mixPair(a: number, b: number): number {
  return fmix32Bits(a ^ Math.imul(b, kGolden)) >>> 0;
}

/** mixPair's 32 bits as a signed int32 (see fmix32Bits): the lookup-table kit's slot hash. */
export function mixPairBits(a: number, b: number): number {
  return fmix32Bits(a ^ Math.imul(b, kGolden));
}

/**
 * Two words to 32 bits, murmur3-style (a multiply per word, then fmix32), as a signed int32 (see
 * fmix32Bits): nftables' affinity sets, whose one taker masks it into a slot.
 */
export function murmurPair(k0: number, k1: number): number {
  return fmix32Bits(Math.imul(k0 ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(k1 + 0x7f4a7c15, 0xc2b2ae35));
}

/** Mixes two u32 into one well-spread u32 (for per-shard seeds, per-flow randomness and checksums). */
export function mix32(a: number, b: number): number {
  return mix32Bits(a, b) >>> 0;
}

/** mix32's 32 bits as a signed int32 (see fmix32Bits), for a per-packet caller that takes it modulo. */
export function mix32Bits(a: number, b: number): number {
  let h = Math.imul((a ^ 0x9e3779b9) >>> 0, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return h ^ (h >>> 16);
}

/** A fast, well-spread hash of a 5-tuple (murmur3-style mixing; not symmetric): the batch's flowHash. */
export function hash5(srcIp: number, dstIp: number, srcPort: number, dstPort: number, proto: number): number {
  let h = Math.imul(srcIp ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ dstIp, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ ((srcPort << 16) | dstPort), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ proto, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * murmur3 of a 4-word tuple, for conntrack's index and the socket table; the seed plays the
 * kernel's hash_rnd. Its 32 bits as an int32 (see fmix32Bits: every taker masks or shifts it): it is
 * computed for every packet, and a u32 returned from a call the JIT does not inline is boxed.
 */
export function hashTuple(seed: number, src: number, dst: number, ports: number, proto: number): number {
  let h = seed | 0;
  let k = Math.imul(src, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k;
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(dst, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k;
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  k = Math.imul(ports, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k;
  h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  return fmix32Bits(h ^ proto);
}

/** Fibonacci hashing of one word, all 32 bits kept (userspace's ephemeral source port draw). */
export function fibonacci32(x: number): number {
  return Math.imul(x, kGolden) >>> 0;
}

/** Fibonacci hashing of two words, the top 16 bits: the xt_recent table's slot. */
export function fibonacciPair16(a: number, b: number): number {
  return Math.imul(a ^ Math.imul(b, 0x27d4eb2d), kGolden) >>> 16;
}

/** The kernel's hash_32(val, bits) (include/linux/hash.h: val * GOLDEN_RATIO_32 >> (32 - bits)). */
export function hash32(val: number, bits: number): number {
  return Math.imul(val >>> 0, 0x61c88647) >>> (32 - bits);
}

/** FNV-1a (32-bit) of a string's UTF-16 code units. */
export function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

const kMask64 = (1n << 64n) - 1n;
const rotl64 = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & kMask64;
function fmix64(k: bigint): bigint {
  k ^= k >> 33n;
  k = (k * 0xff51afd7ed558ccdn) & kMask64;
  k ^= k >> 33n;
  k = (k * 0xc4ceb9fe1a85ec53n) & kMask64;
  return k ^ (k >> 33n);
}

/** Bytes `[at, at + n)` of `data` as a little-endian u64 (n <= 8). */
function le64(data: Uint8Array, at: number, n: number): bigint {
  let v = 0n;
  for (let b = n - 1; b >= 0; b--) v = (v << 8n) | BigInt(data[at + b]);
  return v;
}

/**
 * MurmurHash3_x64_128 (Appleby's smhasher MurmurHash3.cpp), as Cilium's pkg/murmur3 Hash128 runs
 * it on a little-endian machine: the two 64-bit halves (h1, h2). Cilium's Maglev places a backend
 * with it (offset = h1 mod M, skip = h2 mod (M - 1) + 1). Compile time only: BigInt arithmetic,
 * about 2 µs for a 30-byte key.
 */
export function murmur3x64128(data: Uint8Array, seed: number): [bigint, bigint] {
  const c1 = 0x87c37b91114253d5n;
  const c2 = 0x4cf5ad432745937fn;
  const len = data.length;
  const blocks = len >> 4;
  let h1 = BigInt(seed >>> 0);
  let h2 = h1;
  for (let i = 0; i < blocks; i++) {
    let k1 = le64(data, i * 16, 8);
    let k2 = le64(data, i * 16 + 8, 8);
    k1 = (rotl64((k1 * c1) & kMask64, 31n) * c2) & kMask64;
    h1 ^= k1;
    h1 = (((rotl64(h1, 27n) + h2) * 5n) + 0x52dce729n) & kMask64;
    k2 = (rotl64((k2 * c2) & kMask64, 33n) * c1) & kMask64;
    h2 ^= k2;
    h2 = (((rotl64(h2, 31n) + h1) * 5n) + 0x38495ab5n) & kMask64;
  }
  const tail = blocks * 16;
  const rest = len & 15;
  if (rest > 8) {
    const k2 = (rotl64((le64(data, tail + 8, rest - 8) * c2) & kMask64, 33n) * c1) & kMask64;
    h2 ^= k2;
  }
  if (rest > 0) {
    const k1 = (rotl64((le64(data, tail, Math.min(rest, 8)) * c1) & kMask64, 31n) * c2) & kMask64;
    h1 ^= k1;
  }
  const n = BigInt(len);
  h1 ^= n;
  h2 ^= n;
  h1 = (h1 + h2) & kMask64;
  h2 = (h2 + h1) & kMask64;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 = (h1 + h2) & kMask64;
  h2 = (h2 + h1) & kMask64;
  return [h1, h2];
}

const rol32 = (x: number, r: number): number => (x << r) | (x >>> (32 - r));

/**
 * The kernel's jhash_3words (include/linux/jhash.h: `__jhash_nwords` with initval + JHASH_INITVAL
 * + (3 << 2), then `__jhash_final`), which Cilium's datapath copies in bpf/lib/jhash.h and hashes
 * a flow with before a Maglev lookup (bpf/lib/hash.h hash_from_tuple_v4).
 */
export function jhash3Words(a: number, b: number, c: number, initval: number): number {
  const iv = (initval + 0xdeadbeef + 12) | 0;
  a = (a + iv) | 0;
  b = (b + iv) | 0;
  c = (c + iv) | 0;
  c ^= b; c = (c - rol32(b, 14)) | 0;
  a ^= c; a = (a - rol32(c, 11)) | 0;
  b ^= a; b = (b - rol32(a, 25)) | 0;
  c ^= b; c = (c - rol32(b, 16)) | 0;
  a ^= c; a = (a - rol32(c, 4)) | 0;
  b ^= a; b = (b - rol32(a, 14)) | 0;
  c ^= b; c = (c - rol32(b, 24)) | 0;
  return c >>> 0;
}
