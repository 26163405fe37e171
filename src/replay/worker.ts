/**
 * The piscina worker entry: `default(task: WorkerTask): WorkerResult`, over plain data.
 *
 * A worker builds its setup (the synthetic cluster from the cell's seed, its pod network, its
 * flow set and every node's compiled rules) once per cell and keeps it for every repeat of the
 * cell, with its conntrack tables (emptied between repeats). The compiled rules are NOT shared
 * with the other workers: the compilers build object graphs and typed arrays that offer no
 * `from(buffer)` view, so each worker compiles its own copy (deterministic, hence identical);
 * the flows are generated inside the worker from (seed, flow id) and filtered by RSS queue, so
 * nothing big crosses threads, in either direction.
 */
import { performance } from 'node:perf_hooks';
import { threadId } from 'node:worker_threads';
import type { PipelineContext } from '../dataplane/context.js';
import { ReplaySetup, replayShard, setupKeyString, type ReplayTask, type ShardResult } from './replay.js';
import { measureSync, type SyncCost } from './sync-cost.js';

export interface WorkerTask extends ReplayTask {
  /** Also measure the rule-sync cost on this worker's setup (one shard of one repeat asks). */
  readonly measureSync?: boolean;
}

export interface WorkerResult {
  readonly shard: ShardResult;
  readonly sync?: SyncCost;
  readonly threadId: number;
  /** The setup's build times (ms): cluster + flow set, and each node's compile. */
  readonly clusterMs: number;
  readonly compileMs: readonly number[];
}

const clock = (): number => performance.now();
let setup: ReplaySetup | undefined;
let ctxCache: { ctx?: PipelineContext; max?: number } = {};

export default function replayWorker(task: WorkerTask): WorkerResult {
  let setupMs = 0;
  if (!setup || setup.key !== setupKeyString(task)) {
    // Drop the previous cell's state before building the next (they can be hundreds of MB).
    setup = undefined;
    ctxCache = {};
    const t0 = clock();
    setup = new ReplaySetup(
      { mode: task.mode, services: task.services, endpointsPerService: task.endpointsPerService, cni: task.cni, seed: task.seed, zipf: task.zipf },
      clock,
    );
    setupMs = clock() - t0;
  }
  const shard: ShardResult = { ...replayShard(setup, task, clock, ctxCache), setupMs };
  const sync = task.measureSync ? measureSync(setup, clock) : undefined;
  return { shard, ...(sync ? { sync } : {}), threadId, clusterMs: setup.clusterMs, compileMs: setup.compileMs };
}
