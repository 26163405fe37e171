/**
 * Sizing of kdp's open-addressing tables: a power-of-two capacity, so a hash becomes a slot with
 * one `& mask`, and a load factor of at most 1/2, which keeps linear-probing runs short (Knuth's
 * analysis: ~1.5 probes per hit, ~2.5 per miss at load 1/2).
 */

/** The smallest power of two >= n (1 for n <= 1). */
export function nextPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** Slots for `expected` keys at load <= 1/2: a power of two, at least `minimum` (16). */
export function capacityFor(expected: number, minimum = 16): number {
  return nextPow2(Math.max(minimum, expected * 2));
}
