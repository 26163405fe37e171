/**
 * MurmurHash3's 32-bit finaliser: cheap, allocation-free, and every input bit moves every output
 * bit. The one integer mixer behind kdp's hash tables (IPVS, conntrack) and its per-rule draws.
 */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
