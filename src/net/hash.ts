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

/** Two words to one u32, murmur3-style (a multiply per word, then fmix32): nftables' affinity sets. */
export function murmurPair(k0: number, k1: number): number {
  return fmix32(Math.imul(k0 ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(k1 + 0x7f4a7c15, 0xc2b2ae35));
}

/** Mixes two u32 into one well-spread u32 (for per-shard seeds, per-flow randomness and checksums). */
export function mix32(a: number, b: number): number {
  let h = Math.imul((a ^ 0x9e3779b9) >>> 0, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

/** A fast, well-spread hash of a 5-tuple (murmur3-style mixing; not symmetric): the batch's flowHash. */
export function hash5(srcIp: number, dstIp: number, srcPort: number, dstPort: number, proto: number): number {
  let h = Math.imul(srcIp ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ dstIp, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ ((srcPort << 16) | dstPort), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ proto, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** murmur3 of a 4-word tuple, for conntrack's index; the seed plays the kernel's hash_rnd. */
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
  return fmix32(h ^ proto);
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
