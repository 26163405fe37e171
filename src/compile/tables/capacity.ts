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

/**
 * Entries to allocate for `n` so that a table updated in place (ProxyMode.updateServices) has room
 * for Services added later: an eighth more, and `spare` besides, so that a small table takes a
 * Service or two (the default, 64, is a few hundred bytes of typed arrays; a table whose entries
 * are large, a Maglev lookup table, asks for fewer). Past it, the caller recompiles, which makes
 * new room: an add costs O(its own entries) amortised.
 */
export function withRoom(n: number, spare = 64): number {
  return n + (n >> 3) + spare;
}
