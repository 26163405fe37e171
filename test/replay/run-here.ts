/**
 * A cell's run in this thread, standing in for ReplayPool.run: its W shards replayed one after
 * another with the pool's own replayShard, no threads and no warm-up.
 */
import { performance } from 'node:perf_hooks';
import type { PoolRun } from '../../src/replay/pool.js';
import { mergeShards, ReplaySetup, replayShard } from '../../src/replay/replay.js';
import type { SweepCell } from '../../src/replay/sweep.js';

export function runHere(cell: SweepCell, options: { stageTiming?: boolean } = {}): PoolRun {
  const setup = new ReplaySetup(cell);
  const shards = Array.from({ length: cell.workers }, (_, s) => replayShard(setup, { ...cell, shard: s, shards: cell.workers, ...options }, () => performance.now()));
  return { run: mergeShards(shards), threads: cell.workers, clusterMs: setup.clusterMs, compileMs: setup.compileMs, packMs: 0, attachMs: 0, workerCompiledNodes: 0, sharedTables: false, threadIds: [], warmUpFlows: 0, warmUpRevisitFlows: 0 };
}
