/**
 * The machine's limits, measured beside every cell so that each result can be read as a
 * multiple of what the hardware allows:
 *
 * - randomReadNs: one random read in a typed array as large as the conntrack tables, each read's
 *   index depending on the value read before (a dependent chain, as one lone hash-table probe
 *   is), so the figure is the memory latency at that working-set size, not the bandwidth;
 * - independentReadNs: random reads over the same array whose indexes do not depend on what was
 *   read, so the core overlaps their misses, as a batched pipeline that prefetches a vector's
 *   conntrack slots can: the throughput limit of lookups, which a batch of packets is held to
 *   (the dependent chase is the limit of one packet alone, several times slower);
 * - scanNsPerElement: a bare sequential sum over a 64 KiB Uint32Array (what a linear rule scan
 *   can at best approach per element: iptables' scan keys stay in cache while they are scanned; a larger array would measure memory bandwidth, which a neighbour's job on a
 *   shared machine swings by 10x), the minimum of several warmed repeats: one pass can be slowed by
 *   a neighbour on a shared machine, never sped up, so the minimum is the stable figure.
 *
 * No Node.js imports: the clock (ms) is passed in.
 */
import { mix32 } from '../net/hash.js';

export interface MachineLimits {
  readonly randomReadNs: number;
  readonly independentReadNs: number;
  readonly scanNsPerElement: number;
  /** Bytes of the array the random reads ran over. */
  readonly randomReadBytes: number;
}

/** A sink the optimiser cannot see through. */
export let limitsSink = 0;

export function measureRandomRead(bytes: number, clock: () => number, reads = 2_000_000): number {
  const n = Math.max(1024, Math.floor(bytes / 4));
  const a = new Uint32Array(n);
  let x = 0x2545f491;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    a[i] = x >>> 0;
  }
  // Warm up (TLB, page faults already taken by the fill), then the timed dependent chain.
  let j = 0;
  for (let k = 0; k < 10000; k++) j = Math.floor((a[j] / 4294967296) * n);
  const t0 = clock();
  for (let k = 0; k < reads; k++) j = Math.floor(((a[j] ^ k) >>> 0) / 4294967296 * n);
  const ns = ((clock() - t0) * 1e6) / reads;
  limitsSink ^= j;
  return ns;
}

/**
 * Random reads whose indexes come from a counter mixed by a hash, not from the data: the loads are
 * independent, so the out-of-order core keeps several misses in flight. ns per read.
 */
export function measureIndependentRead(bytes: number, clock: () => number, reads = 4_000_000): number {
  const { read } = randomAccess(bytes);
  limitsSink ^= read(reads >> 3, 0x5bd1e995); // warm-up: JIT, TLB
  const t0 = clock();
  limitsSink ^= read(reads, 0x27d4eb2f);
  return ((clock() - t0) * 1e6) / reads;
}

/**
 * measureIndependentRead's loop over its own filled array (a power of two no larger than `bytes`,
 * so that an index is a mask): `read(count, salt)` makes `count` independent random reads and
 * returns their sum; `write(count, salt)` as many independent random stores (what a new flow's
 * inserts are: each a line the core must own and later write back). Filled here, timed by the
 * caller: the workers' scaling measurement fills every thread's array before any starts its clock.
 */
export function randomAccess(bytes: number): { read(count: number, salt: number): number; write(count: number, salt: number): number } {
  const n = 2 ** Math.floor(Math.log2(Math.max(1024, Math.floor(bytes / 4))));
  const mask = n - 1;
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = mix32(i, 11);
  return {
    read(count: number, salt: number): number {
      let s = 0;
      for (let k = 0; k < count; k++) {
        let h = Math.imul(k ^ salt, 0x85ebca6b);
        h ^= h >>> 13;
        s = (s + a[h & mask]) | 0;
      }
      return s;
    },
    write(count: number, salt: number): number {
      for (let k = 0; k < count; k++) {
        let h = Math.imul(k ^ salt, 0x85ebca6b);
        h ^= h >>> 13;
        a[h & mask] = k;
      }
      return a[salt & mask];
    },
  };
}

/** `count` rounds of a hash chain in registers (no memory): arithmetic a core does alone. */
export function computeRounds(count: number, seed: number): number {
  let h = seed | 0;
  for (let k = 0; k < count; k++) {
    h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
    h = Math.imul(h ^ (h >>> 12), 0x297a2d39) + k;
  }
  return h;
}

/**
 * ns per element of a bare sequential sum: the minimum over rounds of warmed repeats, rounds run
 * for at least `minMs` and until the minimum has not improved for three of them (at most `capMs`). Not one round: V8 gave the
 * first rounds of a fresh process code ~5x slower (4 ns per element against 0.8 on this project's
 * machine, Node 20) however long each warmed, which is where the old figure's swings from 0.5 to
 * 4 ns between cells came from; the minimum is the machine's figure, not the compiler's.
 */
export function measureScan(clock: () => number, minMs = 500, capMs = 5000): number {
  // Every loop and operation of a round runs once on a tiny array first: V8 compiles a round while
  // its first (fill) loop is hot, and code compiled before the later loops had run deoptimised on
  // them again and again until V8 gave up and left the baseline code (~4 ns per element against
  // ~0.8; node --trace-deopt: "Insufficient type feedback").
  for (let k = 0; k < 3; k++) scanRound(clock, 64, 2, 2);
  const start = clock();
  let best = Number.POSITIVE_INFINITY;
  for (let stale = 0; (stale < 3 || clock() - start < minMs) && clock() - start < capMs; ) {
    const ns = scanRound(clock);
    if (ns < best * 0.97) stale = 0;
    else stale++;
    best = Math.min(best, ns);
  }
  return best;
}

/** One round: fill, warm up, then the minimum of `repeats` timed runs of `passes` passes. */
function scanRound(clock: () => number, elements = 1 << 16, passes = 32, repeats = 5): number {
  const a = new Uint32Array(elements);
  for (let i = 0; i < elements; i++) a[i] = mix32(i, 7);
  let s = 0;
  for (let p = 0; p < passes; p++) for (let i = 0; i < elements; i++) s = (s + a[i]) | 0; // warm-up
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < repeats; r++) {
    const t0 = clock();
    for (let p = 0; p < passes; p++) for (let i = 0; i < elements; i++) s = (s + a[i]) | 0;
    best = Math.min(best, ((clock() - t0) * 1e6) / (elements * passes));
  }
  limitsSink ^= s;
  return best;
}

/** The limits; the random-read arrays are `bytes` long (the conntrack tables of one worker). */
export function measureLimits(bytes: number, clock: () => number): MachineLimits {
  return {
    randomReadNs: measureRandomRead(bytes, clock),
    independentReadNs: measureIndependentRead(bytes, clock),
    scanNsPerElement: measureScan(clock),
    randomReadBytes: Math.max(4096, Math.floor(bytes / 4) * 4),
  };
}
