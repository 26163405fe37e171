/**
 * The worker pool: one piscina pool per worker count, so that a cell with W workers runs its W
 * shards on exactly W threads, one shard each (NIC RSS queues pinned to cores), and a thread that
 * built a cell's setup keeps it for the cell's next repeat.
 *
 * Options follow piscina's convention: `ReplayPoolOptions` -> `kDefaultReplayPoolOptions` ->
 * `{ ...defaults, ...options }`, validated at construction with messages naming the option.
 */
import { Piscina } from 'piscina';
import { mergeShards, type ReplayTask, type RunResult } from './replay.js';
import type { SyncCost } from './sync-cost.js';
import type { WorkerResult, WorkerTask } from './worker.js';

export interface ReplayPoolOptions {
  /** The worker module (default: worker.js beside this file). */
  readonly filename?: string;
  /** Milliseconds an idle thread is kept (default: for the whole sweep). */
  readonly idleTimeout?: number;
}

export const kDefaultReplayPoolOptions = {
  filename: new URL('./worker.js', import.meta.url).href,
  idleTimeout: 2 ** 31 - 1,
} as const;

/** One run (one repeat) of a cell: the merged shards, the sync cost when asked, build times. */
export interface PoolRun {
  readonly run: RunResult;
  readonly sync?: SyncCost;
  /** Distinct threads that ran the shards (W when the shards really ran in parallel). */
  readonly threads: number;
  /** Build times of the setups (ms; the largest over workers): cluster and per-node compile. */
  readonly clusterMs: number;
  readonly compileMs: readonly number[];
}

export type CellSpec = Omit<ReplayTask, 'shard' | 'shards'>;

export class ReplayPool {
  readonly options: Required<ReplayPoolOptions>;
  readonly #pools = new Map<number, Piscina>();

  constructor(options: ReplayPoolOptions = {}) {
    const o = { ...kDefaultReplayPoolOptions, ...options };
    if (typeof o.filename !== 'string' || o.filename === '') throw new TypeError('options.filename must be a non-empty string');
    if (!Number.isInteger(o.idleTimeout) || o.idleTimeout < 0) throw new RangeError('options.idleTimeout must be a whole number of milliseconds');
    this.options = o;
  }

  #pool(workers: number): Piscina {
    let p = this.#pools.get(workers);
    if (!p) {
      p = new Piscina({ filename: this.options.filename, minThreads: workers, maxThreads: workers, idleTimeout: this.options.idleTimeout, concurrentTasksPerWorker: 1 });
      this.#pools.set(workers, p);
    }
    return p;
  }

  /** Runs one repeat of a cell on `workers` threads, shard s of W on each. */
  async run(cell: CellSpec, workers: number, options: { measureSync?: boolean; signal?: AbortSignal } = {}): Promise<PoolRun> {
    if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new RangeError('workers must be a whole number from 1 to 256');
    const pool = this.#pool(workers);
    const tasks: Promise<WorkerResult>[] = [];
    for (let s = 0; s < workers; s++) {
      const task: WorkerTask = { ...cell, shard: s, shards: workers, measureSync: options.measureSync === true && s === 0 };
      tasks.push(pool.run(task, options.signal ? { signal: options.signal } : {}) as Promise<WorkerResult>);
    }
    const results = await Promise.all(tasks);
    const sync = results.find((r) => r.sync)?.sync;
    const compileMs = results[0]!.compileMs.map((_, n) => Math.max(...results.map((r) => r.compileMs[n] ?? 0)));
    return {
      run: mergeShards(results.map((r) => r.shard)),
      ...(sync ? { sync } : {}),
      threads: new Set(results.map((r) => r.threadId)).size,
      clusterMs: Math.max(...results.map((r) => r.clusterMs)),
      compileMs,
    };
  }

  /** Ends every thread (the sweep's end, or Ctrl-C). */
  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.destroy()));
  }
}
