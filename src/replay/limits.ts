/**
 * The machine's limits, measured beside every cell so that each result can be read as a
 * multiple of what the hardware allows:
 *
 * - randomReadNs: one random read in a typed array as large as the conntrack tables, each read's
 *   index depending on the value read before (a dependent chain, as a hash-table probe is), so
 *   the figure is the memory latency at that working-set size, not the bandwidth;
 * - scanNsPerElement: a bare sequential sum over a Uint32Array (what a linear rule scan can at
 *   best approach per element).
 *
 * No Node.js imports: the clock (ms) is passed in.
 */
import { mix32 } from '../net/hash.js';

export interface MachineLimits {
  readonly randomReadNs: number;
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

export function measureScan(clock: () => number, elements = 1 << 22, passes = 8): number {
  const a = new Uint32Array(elements);
  for (let i = 0; i < elements; i++) a[i] = mix32(i, 7);
  let s = 0;
  for (let i = 0; i < elements; i++) s = (s + a[i]) | 0; // warm-up pass
  const t0 = clock();
  for (let p = 0; p < passes; p++) for (let i = 0; i < elements; i++) s = (s + a[i]) | 0;
  const ns = ((clock() - t0) * 1e6) / (elements * passes);
  limitsSink ^= s;
  return ns;
}

/** Both limits; the random-read array is `bytes` long (the conntrack tables of one worker). */
export function measureLimits(bytes: number, clock: () => number): MachineLimits {
  return { randomReadNs: measureRandomRead(bytes, clock), scanNsPerElement: measureScan(clock), randomReadBytes: Math.max(4096, Math.floor(bytes / 4) * 4) };
}
