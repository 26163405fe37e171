/**
 * What W threads of this machine do at once against one alone: the limit the workers sweep's
 * speedup (issue 14 (d): two workers at least 1.8x one) is held to by the hardware, measured beside
 * the cell. Three kinds of work: independent random reads over an array as large as one worker's
 * conntrack tables (limits.ts's loop: memory-bound, what an established packet mostly is),
 * independent random stores over it (what a new flow's inserts are: two threads' store streams
 * share the write-back bandwidth, and scaled 1.34-1.66x here where reads did 1.85-1.98x) and a
 * hash chain in registers (arithmetic only). Two vCPUs that are one core's hyperthreads, or a
 * memory bus the neighbours saturate, give less than 2x whatever kdp does. The shards share no
 * data but the read-only tables: a workers' speedup near the machine's is the hardware's limit,
 * one far below it is kdp's own.
 *
 * The samples run on the replay pool's own threads (pool.ts `scaling`): one alone, then W at once,
 * each filling its array first and starting its clocks only once all W are at the gate, so no
 * thread's fill overlaps another's timed loop.
 */
import { performance } from 'node:perf_hooks';
import type { ParallelScaling } from '../report/result.js';
import { median } from '../report/spread.js';
import { computeRounds, randomAccess } from './limits.js';

export interface ScalingTask {
  /** Bytes of each thread's array (one worker's conntrack tables). */
  readonly bytes: number;
  readonly reads: number;
  readonly rounds: number;
  /** Threads at the read gate, the write gate, the compute gate, as Int32 words (newGate). */
  readonly gate: SharedArrayBuffer;
  /** Threads that meet at the gate (1: alone). */
  readonly parties: number;
  /** How long a thread waits at the gate for the others (default kGateTimeoutMs). */
  readonly gateTimeoutMs?: number;
}

export interface ScalingSample {
  /** ns per independent read, per independent store, per round of arithmetic, on this thread. */
  readonly readNs: number;
  readonly writeNs: number;
  readonly computeNs: number;
}

// Int32 words of a ScalingTask's gate: one per kind of work (read, write, compute).
const kGateWords = 3;

/** A fresh gate for one round of samples (every thread of the round gets the same one). */
export function newGate(): SharedArrayBuffer {
  return new SharedArrayBuffer(4 * kGateWords);
}

// A party that waits longer than this for the others was queued behind one of them on its own
// thread: the W samples did not run in parallel, and the measurement says so instead of hanging.
export const kGateTimeoutMs = 20_000;

/** A sink the optimiser cannot see through. */
export let scalingSink = 0;

/** Waits until `parties` threads have reached gate word `w` (each adds itself). */
function meet(g: Int32Array, w: number, parties: number, timeoutMs: number): void {
  const deadline = performance.now() + timeoutMs;
  const arrived = Atomics.add(g, w, 1) + 1;
  if (arrived === parties) {
    Atomics.notify(g, w);
    return;
  }
  for (let seen = arrived; seen < parties; seen = Atomics.load(g, w)) {
    const left = deadline - performance.now();
    if (left <= 0) throw new Error(`scaling: ${seen} of ${parties} threads reached the gate in ${timeoutMs / 1000} s; the samples did not run in parallel`);
    Atomics.wait(g, w, seen, left);
  }
}

/** One thread's sample (a piscina task of the replay worker): fill and warm, then for each kind (reads, stores, arithmetic) meet the others and time it. */
export function scalingSample(task: ScalingTask): ScalingSample {
  const g = new Int32Array(task.gate);
  const timeout = task.gateTimeoutMs ?? kGateTimeoutMs;
  const memory = randomAccess(task.bytes);
  scalingSink ^= memory.read(task.reads >> 3, 0x5bd1e995) ^ memory.write(task.reads >> 3, 0x1b873593) ^ computeRounds(task.rounds >> 3, 7); // warm-up: JIT, TLB
  // Each kind starts once every thread is at its gate, so the W threads run the same kind at once.
  const timed = (word: number, count: number, work: () => number): number => {
    meet(g, word, task.parties, timeout);
    const t0 = performance.now();
    scalingSink ^= work();
    return ((performance.now() - t0) * 1e6) / count;
  };
  const readNs = timed(0, task.reads, () => memory.read(task.reads, 0x27d4eb2f));
  const writeNs = timed(1, task.reads, () => memory.write(task.reads, 0x2c1b3c6d));
  const computeNs = timed(2, task.rounds, () => computeRounds(task.rounds, 11));
  return { readNs, writeNs, computeNs };
}

/**
 * The speedup of W samples taken together over one taken alone: the sum of each thread's
 * throughput (1 / ns) over the lone thread's. Figures of a repeat, in order; the median is kept.
 */
export function speedupOf(alone: readonly ScalingSample[], together: readonly (readonly ScalingSample[])[]): ParallelScaling {
  if (alone.length === 0 || alone.length !== together.length) throw new RangeError('speedupOf: one lone sample and one set of W samples per repeat');
  const threads = together[0]!.length;
  const ratio = (get: (x: ScalingSample) => number): number => median(alone.map((a, r) => together[r]!.reduce((sum, t) => sum + get(a) / get(t), 0)));
  return { threads, readSpeedup: ratio((x) => x.readNs), writeSpeedup: ratio((x) => x.writeNs), computeSpeedup: ratio((x) => x.computeNs) };
}
