/**
 * An open-addressing index of `[hash, ref]` pairs in one Uint32Array (slot p at 2p, 2p + 1; ref 0
 * marks an empty slot), probed linearly from `hash & mask`. Tables that keep their entries in
 * arrays of their own (conntrack, socket LB's sockets) index them here by both directions of a
 * tuple; their lookups walk `index` inline, comparing the full key at each hash match.
 *
 * Cost: add walks to the first empty slot; remove finds the ref, then shifts later items of the
 * same run back (backward-shift deletion: no tombstones, so a lookup's probe run never grows with
 * churn). Both are O(run length), about 1-2 slots at the load factors callers keep (<= 1/2).
 */

export function refIndexAdd(index: Uint32Array, mask: number, h: number, ref: number): void {
  let p = h & mask;
  while (index[2 * p + 1] !== 0) p = (p + 1) & mask;
  index[2 * p] = h;
  index[2 * p + 1] = ref;
}

/** Removes the item `ref` filed under hash `h`; nothing when it is absent. */
export function refIndexRemove(index: Uint32Array, mask: number, h: number, ref: number): void {
  let i = h & mask;
  while (index[2 * i + 1] !== ref) {
    if (index[2 * i + 1] === 0) return;
    i = (i + 1) & mask;
  }
  let j = i;
  for (;;) {
    j = (j + 1) & mask;
    const r = index[2 * j + 1];
    if (r === 0) break;
    const home = index[2 * j] & mask;
    // Leave the item where it is if its home lies cyclically in (i, j].
    const stays = i <= j ? i < home && home <= j : i < home || home <= j;
    if (stays) continue;
    index[2 * i] = index[2 * j];
    index[2 * i + 1] = r;
    i = j;
  }
  index[2 * i] = 0;
  index[2 * i + 1] = 0;
}
