/**
 * The piscina worker entry: `default(task: WorkerTask): WorkerResult`, over plain data.
 *
 * A worker attaches to the cell's compiled rules, which the main thread compiled once and packed
 * into shared memory (`task.images`: a SharedArrayBuffer per node, posted without a copy), and
 * never compiles them itself. It builds the rest of its setup (the synthetic cluster and flow set,
 * from the cell's seed) once per cell and keeps it for every repeat, with its conntrack tables
 * (emptied between repeats); the flows are generated inside the worker from (seed, flow id) and
 * filtered by RSS queue, so nothing big crosses threads, in either direction.
 */
import { performance } from 'node:perf_hooks';
import { threadId, type MessagePort } from 'node:worker_threads';
import type { DataplaneImage } from '../compile/image.js';
import type { PipelineContext } from '../dataplane/context.js';
import { ReplaySetup, replayShard, setupKeyString, type ReplayTask, type ShardResult } from './replay.js';

/** The pool's `scaling` samples run on these same threads (piscina's named task). */
export { scalingSample } from './scaling.js';

export interface WorkerTask extends ReplayTask {
  /** Every node's compiled rules, packed by the main thread (ReplaySetup.images). */
  readonly images: readonly DataplaneImage[];
  /** Where the shard says it is still moving (the pool's watchdog): one empty message per chunk. */
  readonly heartbeat?: MessagePort;
}

export interface WorkerResult {
  readonly shard: ShardResult;
  readonly threadId: number;
  /** This worker's setup build times (ms): cluster + flow set, and attaching to the images. */
  readonly clusterMs: number;
  readonly attachMs: number;
  /** Nodes whose rules this worker compiled itself: 0, or the tables were not shared. */
  readonly compiledNodes: number;
  /** Whether every compiled table the shard read lives in shared memory. */
  readonly sharedTables: boolean;
}

const clock = (): number => performance.now();
let setup: ReplaySetup | undefined;
let ctxCache: { ctx?: PipelineContext; max?: number | string } = {};

export default function replayWorker(task: WorkerTask): WorkerResult {
  let setupMs = 0;
  // Each heartbeat carries the shard's flows replayed so far (0 before the first chunk).
  const beat = task.heartbeat ? (flowsDone = 0): void => task.heartbeat!.postMessage(flowsDone) : undefined;
  beat?.();
  if (!setup || setup.key !== setupKeyString(task)) {
    // Drop the previous cell's state before building the next (they can be hundreds of MB).
    setup = undefined;
    ctxCache = {};
    const t0 = clock();
    setup = new ReplaySetup(
      { mode: task.mode, services: task.services, endpointsPerService: task.endpointsPerService, cni: task.cni, seed: task.seed, zipf: task.zipf, ...(task.policies ? { policies: task.policies } : {}),
        ...(task.dns ? { dns: task.dns, ndots: task.ndots ?? 5, dnsExternal: task.dnsExternal ?? 0 } : {}) },
      clock,
      task.images,
    );
    setupMs = clock() - t0;
  }
  beat?.();
  const shard: ShardResult = { ...replayShard(setup, task, clock, ctxCache, beat), setupMs };
  task.heartbeat?.close();
  return {
    shard,
    threadId,
    clusterMs: setup.clusterMs,
    attachMs: setup.attachMs,
    compiledNodes: setup.compileMs.length,
    sharedTables: setup.images().every((img) => img.tables.buffer instanceof SharedArrayBuffer),
  };
}
