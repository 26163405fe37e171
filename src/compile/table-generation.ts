/**
 * A seqlock over a node's compiled tables, so that an endpoint change can be written into the
 * tables in place (ProxyMode.updateEndpoints) while replay workers read the same shared memory.
 *
 * The word is one Int32 inside the tables themselves, so packTables puts it in the shared image
 * with everything else and every attached dataplane sees the same word. The writer makes it odd
 * before its first store and even again after its last (Atomics are sequentially consistent, so
 * no store of the update moves outside that window). A reader takes the word, decides, and takes
 * it again: an odd first word or a second that differs means the decision may have read a
 * half-written range, and it decides again. Updates are short (a Service's ranges) and rare
 * against decisions, so a retry almost never happens; a first packet pays two atomic loads.
 *
 * What a retried decision leaves behind in per-instance state (a round-robin cursor moved once
 * more, an affinity entry for an endpoint of the same Service port) is what a real node's
 * scheduler also keeps across a sync: every range an update writes holds rows of its own
 * Service port only, so even a torn read never names another Service's endpoint.
 */
import type { FirstPacket, NatDecision, ServiceDataplane } from './dataplane.js';

/** A fresh generation word (even: no write under way). */
export function newGeneration(): Int32Array {
  return new Int32Array(2);
}

/** Marks the start of an in-place update: readers that overlap it will decide again. */
export function beginUpdate(generation: Int32Array): void {
  Atomics.add(generation, 0, 1);
}

/** Marks its end. */
export function endUpdate(generation: Int32Array): void {
  Atomics.add(generation, 0, 1);
}

/**
 * `dp.decide(pkt, out)`, repeated until no update overlapped it.
 * Cost: two Atomics.load per first packet besides the decision itself, ~14-16 ns: Node 20's V8
 * calls a builtin for each, where a plain load of the word takes ~1 ns (`SEQLOCK=1` against
 * without, `SERVICES=100 MODES=ipvs,nftables TIME=3000 node dist/bench/compile/lookup.bench.js`,
 * medians of three runs each alternated, 2026-12-07: ipvs 113 -> 128 ns a decision, nftables 135
 * -> 152). Reading the word once a frame instead, in two passes (every decision of the frame,
 * then each carried out, so that a retry decides the frame again) was slower than the loads it
 * saved: the service-nat stage took 170 ns a first packet against 159 (ipvs, 100 Services) and
 * 451 against 435 (nftables, 10k) (`kdp bench --services 100,10000 --modes ipvs,nftables
 * --workers 1 --flows 1000000`, three runs of each build alternated, 2026-12-07).
 */
export function decideConsistent(dp: ServiceDataplane, pkt: FirstPacket, out: NatDecision): void {
  const gen = dp.generation;
  if (gen === undefined) {
    dp.decide(pkt, out);
    return;
  }
  for (;;) {
    const before = Atomics.load(gen, 0);
    if ((before & 1) !== 0) continue; // a writer is inside; its window is a few µs
    dp.decide(pkt, out);
    if (Atomics.load(gen, 0) === before) return;
  }
}
