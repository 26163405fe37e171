/**
 * The worker pool: one piscina pool per worker count, so that a cell with W workers runs its W
 * shards on exactly W threads, one shard each (NIC RSS queues pinned to cores), and a thread that
 * built a cell's setup keeps it for the cell's next repeat.
 *
 * The cell's rules are compiled once, here on the main thread, and packed into shared memory
 * (ReplaySetup.images); every task carries the images, which postMessage shares, not copies. The
 * last cell's setup is kept, so the workers sweep (same cell, more workers) compiles nothing.
 * The sync cost is timed here too, before the shards start, so no timing shares the CPU with them;
 * what kube-proxy would write for the change (counted, not timed) is counted while they warm up.
 *
 * A watchdog fails a run whose shards stop moving: every shard sends a heartbeat per chunk of
 * flows (and before and after building its setup), and when one is silent for `stallMs` the run
 * is aborted (piscina terminates the worker, and a fresh thread takes its place) with an error
 * naming the cell, so the sweep records the cell as failed and goes on to the next.
 *
 * Options follow piscina's convention: `ReplayPoolOptions` -> `kDefaultReplayPoolOptions` ->
 * `{ ...defaults, ...options }`, validated at construction with messages naming the option.
 */
import { Piscina } from 'piscina';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { MessageChannel } from 'node:worker_threads';
import { StalledRunError } from '../errors.js';
import { mergeShards, ReplaySetup, setupKeyString, type ReplayTask, type RunResult } from './replay.js';
import type { ParallelScaling } from '../report/result.js';
import { newGate, speedupOf, type ScalingSample, type ScalingTask } from './scaling.js';
import { measureSyncTimes, syncCost, syncWrites, type SyncCost } from './sync-cost.js';
import type { WorkerResult, WorkerTask } from './worker.js';

export interface ReplayPoolOptions {
  /** The worker module (default: worker.js beside this file). */
  readonly filename?: string;
  /** Milliseconds an idle thread is kept (default: for the whole sweep). */
  readonly idleTimeout?: number;
  /**
   * Milliseconds a shard may go without a heartbeat before its run is failed. Default 10 minutes:
   * a chunk of 16,384 flows takes about a second at 30,000 Services in iptables mode on one core,
   * and building a cell's setup some seconds, so only a worker that hangs ever gets near it.
   */
  readonly stallMs?: number;
}

/**
 * Told the flows a run has replayed so far, warm-up first, out of the run's total (warm-up plus
 * the cell's flows), from the shards' heartbeats: once per chunk of flows a shard, no more.
 */
export type FlowsProgress = (flowsDone: number, flowsTotal: number) => void;

/**
 * V8 flags set before the first worker starts (V8's flags are the process's, so its threads share
 * them). The stages' loops call callees of 270-380 bytecodes each (natRewrite, vxlanEncap,
 * hashTuple, conntrack's find, vxlanDecap), and V8's default budget of 920 bytecodes inlined into
 * one optimised function leaves most of them as calls: with 5,000, an established packet took
 * 0.91-0.95x the time, a new flow 0.91-0.99x (`kdp bench --services 1000 --modes ipvs,iptables
 * --workers 1 --flows 500000`, three runs each alternated: established ipvs 375/382/376 -> 349/352/354
 * ns, iptables 379/381/387 -> 361/345/352; new flow ipvs 1,121/1,172/1,138 -> 1,038/1,067/1,060,
 * iptables 3,274/3,327/3,412 -> 3,245/3,174/3,213; prerouting 222-234 -> 204-212 ns a packet,
 * postrouting 96-103 -> 86-92; 2,000 measured about the same, 20,000 slower). V8 reads the budget
 * each time it optimises a function, so setting it here, before any stage has run, is enough.
 * machine.json records the flags (MachineInfo.v8Flags).
 */
export const kWorkerV8Flags: readonly string[] = ['--max-inlined-bytecode-size-cumulative=5000'];

/** Flows a worker's warm-up replays a second time, the rules' state kept (ReplayTask revisitFlows): an eighth of kWarmUpFlows. */
export const kRevisitFlows = 16_384;

/** Of a warm-up of `warmUp` flows on `workers` threads, those replayed a second time. */
export function revisitFlowsOf(warmUp: number, workers: number): number {
  return Math.min(warmUp, kRevisitFlows * workers);
}

export const kDefaultReplayPoolOptions = {
  filename: new URL('./worker.js', import.meta.url).href,
  idleTimeout: 2 ** 31 - 1,
  stallMs: 600_000,
} as const;


/** One run (one repeat) of a cell: the merged shards, the sync cost when asked, build times. */
export interface PoolRun {
  readonly run: RunResult;
  readonly sync?: SyncCost;
  /** Distinct threads that ran the shards (W when the shards really ran in parallel). */
  readonly threads: number;
  /** Build times (ms): the cluster (largest over workers), each node's compile and the packing
   * into shared memory (main thread, once per cell), the workers' attach (largest). */
  readonly clusterMs: number;
  readonly compileMs: readonly number[];
  readonly packMs: number;
  readonly attachMs: number;
  /** Nodes compiled by the workers themselves (0: every worker attached to the shared tables). */
  readonly workerCompiledNodes: number;
  readonly sharedTables: boolean;
  /** The worker threads' ids, one a shard (a new pool's threads have new ids: #pool). */
  readonly threadIds: readonly number[];
  /** Flows of the untimed warm-up run before this one (0: none). */
  readonly warmUpFlows: number;
  /** Of them, the first ones it replayed a second time (ReplayTask revisitFlows; 0: none). */
  readonly warmUpRevisitFlows: number;
  /**
   * The previous run's setup served this one (the same setup key: a repeat, or a cell run right
   * after its twin on other workers): its cluster and compile were not built for this run, so
   * clusterMs, compileMs and packMs are the time they took when they were.
   */
  readonly setupReused?: boolean;
}

export type CellSpec = Omit<ReplayTask, 'shard' | 'shards'>;

export class ReplayPool {
  readonly options: Required<ReplayPoolOptions>;
  readonly #pools = new Map<number, { readonly pool: Piscina; mode?: CellSpec['mode'] }>();
  #setup: ReplaySetup | undefined;

  constructor(options: ReplayPoolOptions = {}) {
    const o = { ...kDefaultReplayPoolOptions, ...options };
    if (typeof o.filename !== 'string' || o.filename === '') throw new TypeError('options.filename must be a non-empty string');
    if (!Number.isInteger(o.idleTimeout) || o.idleTimeout < 0) throw new RangeError('options.idleTimeout must be a whole number of milliseconds');
    if (!Number.isInteger(o.stallMs) || o.stallMs < 1) throw new RangeError('options.stallMs must be a positive whole number of milliseconds');
    this.options = o;
  }

  /**
   * The pool of `workers` threads; for a cell's `mode`, threads that have replayed no other mode.
   * A thread that replayed other modes carries their type feedback: the pipeline's calls of
   * decide() and prefetch() had met several dataplane classes, and V8 compiled them as such. In
   * one process after iptables and ipvs, nftables' new flow at 100 Services took 816-822 ns
   * against 779-796 alone, and at 30k 1,156 in the sweep of record against 1,071-1,090 after ipvs
   * alone (`kdp bench --services 100 --modes nftables` against `--modes
   * iptables,ipvs,nftables,userspace,cilium`, two runs each, 2026-12-07): a node runs one mode.
   * Cost: a pool's start, ~0.1 s a cell whose mode differs from the cell before.
   */
  async #pool(workers: number, mode?: CellSpec['mode']): Promise<Piscina> {
    const had = this.#pools.get(workers);
    if (had !== undefined && (mode === undefined || had.mode === undefined || had.mode === mode)) {
      had.mode ??= mode;
      return had.pool;
    }
    if (had !== undefined) {
      this.#pools.delete(workers);
      await had.pool.destroy();
    }
    for (const flag of kWorkerV8Flags) setFlagsFromString(flag);
    const pool = new Piscina({ filename: this.options.filename, minThreads: workers, maxThreads: workers, idleTimeout: this.options.idleTimeout, concurrentTasksPerWorker: 1 });
    this.#pools.set(workers, { pool, mode });
    return pool;
  }

  /** The cell's compiled rules: compiled and packed on first use, kept for the cell's next runs. */
  setup(cell: CellSpec): ReplaySetup {
    if (this.#setup?.key !== setupKeyString(cell)) {
      this.#setup = undefined; // the previous cell's tables can be hundreds of MB
      const clock = (): number => performance.now();
      const setup = new ReplaySetup(cell, clock);
      setup.images(clock);
      this.#setup = setup;
    }
    return this.#setup;
  }

  /** Runs one repeat of a cell on `workers` threads, shard s of W on each. */
  async run(cell: CellSpec, workers: number, options: { measureSync?: boolean; warmUpFlows?: number; signal?: AbortSignal; onFlows?: FlowsProgress } = {}): Promise<PoolRun> {
    if (!Number.isInteger(workers) || workers < 1 || workers > 256) throw new RangeError('workers must be a whole number from 1 to 256');
    const warmUp = options.warmUpFlows ?? 0;
    if (!Number.isInteger(warmUp) || warmUp < 0) throw new RangeError('options.warmUpFlows must be a whole number of flows');
    const setupReused = this.#setup?.key === setupKeyString(cell);
    const setup = this.setup(cell);
    // The timed figures alone, before any shard reads node 0's tables (their updates write them and undo it).
    const syncTimes = options.measureSync === true ? measureSyncTimes(setup, () => performance.now()) : undefined;
    const images = setup.images();
    const pool = await this.#pool(workers, cell.mode);
    const onFlows = options.onFlows;
    const shards = (flows: number, before: number, revisitFlows = 0): Promise<WorkerResult[]> =>
      this.#watched(pool, cell, workers, { flows, revisitFlows }, images, options.signal, onFlows && ((done) => onFlows(before + done, warmUp + cell.flows)));
    // Untimed first: the threads' JIT compiles this mode's code paths, as a node's kernel has
    // long been running when it is measured, clients connecting again included (ReplayTask
    // revisitFlows). Its results are dropped.
    const revisit = revisitFlowsOf(warmUp, workers);
    const warming = warmUp > 0 ? shards(warmUp, 0, revisit) : undefined;
    // What kube-proxy writes for the change is counted, never timed, and only reads node 0's tables:
    // it is counted here while the shards build their setup and warm up, not before they start
    // (for an iptables node: a copy of its tables updated in place, the full restore's size and the partial restore).
    let sync: SyncCost | undefined;
    try {
      if (syncTimes) sync = syncCost(syncTimes, syncWrites(setup));
    } catch (err) {
      await warming?.catch(() => undefined);
      throw err;
    }
    await warming;
    const results = await shards(cell.flows, warmUp);
    return {
      run: mergeShards(results.map((r) => r.shard)),
      ...(sync ? { sync } : {}),
      threads: new Set(results.map((r) => r.threadId)).size,
      threadIds: results.map((r) => r.threadId),
      clusterMs: Math.max(setup.clusterMs, ...results.map((r) => r.clusterMs)),
      compileMs: setup.compileMs,
      packMs: setup.packMs,
      attachMs: Math.max(...results.map((r) => r.attachMs)),
      workerCompiledNodes: results.reduce((a, r) => a + r.compiledNodes, 0),
      sharedTables: results.every((r) => r.sharedTables),
      warmUpFlows: warmUp,
      warmUpRevisitFlows: revisit,
      ...(setupReused ? { setupReused: true } : {}),
    };
  }

  /**
   * What `threads` of the pool's threads do at once against one alone (scaling.ts), over arrays of
   * `bytes` each: an untimed round of `threads` together first (every thread's JIT compiles the
   * loops: a thread's first sample ran up to ~10x slower, which read as a speedup of 10), then
   * three repeats, one sample alone then `threads` together each time, the medians.
   * Run between cells, never beside a shard. Cost: ~2.5-3.5 s at 64-128 MB a thread (fills and timed
   * loops; /tmp script calling it four times, 2026-12-04).
   */
  async scaling(threads: number, bytes: number, options: { reads?: number; rounds?: number; repeats?: number } = {}): Promise<ParallelScaling> {
    if (!Number.isInteger(threads) || threads < 2 || threads > 256) throw new RangeError('threads must be a whole number from 2 to 256');
    const pool = await this.#pool(threads);
    const sample = (parties: number, gate: SharedArrayBuffer): Promise<ScalingSample> => {
      const task: ScalingTask = { bytes, reads: options.reads ?? 4_000_000, rounds: options.rounds ?? 20_000_000, gate, parties };
      return pool.run(task, { name: 'scalingSample' }) as Promise<ScalingSample>;
    };
    const round = (): Promise<ScalingSample[]> => {
      const gate = newGate();
      return Promise.all(Array.from({ length: threads }, () => sample(threads, gate)));
    };
    await round();
    const alone: ScalingSample[] = [];
    const together: ScalingSample[][] = [];
    for (let r = 0; r < (options.repeats ?? 3); r++) {
      alone.push(await sample(1, newGate()));
      together.push(await round());
    }
    return speedupOf(alone, together);
  }

  /** Runs the W shards, each with a heartbeat port; aborts them all when one is silent for stallMs. */
  async #watched(pool: Piscina, cell: CellSpec, workers: number, run: Pick<WorkerTask, 'flows' | 'revisitFlows'>, images: WorkerTask['images'], signal?: AbortSignal, onFlows?: (done: number) => void): Promise<WorkerResult[]> {
    const stallMs = this.options.stallMs;
    const abort = new AbortController();
    const onOuterAbort = (): void => abort.abort(signal?.reason);
    signal?.addEventListener('abort', onOuterAbort, { once: true });
    const heard = new Array<number>(workers).fill(performance.now());
    const flowsDone = new Array<number>(workers).fill(0);
    const ports: MessageChannel['port1'][] = [];
    let stalled = -1;
    const timer = setInterval(() => {
      const now = performance.now();
      for (let s = 0; s < workers; s++) {
        if (now - heard[s]! > stallMs && stalled < 0) {
          stalled = s;
          abort.abort();
        }
      }
    }, Math.max(10, Math.min(5_000, stallMs / 4)));
    try {
      const tasks: Promise<WorkerResult>[] = [];
      for (let s = 0; s < workers; s++) {
        const { port1, port2 } = new MessageChannel();
        port1.on('message', (done: number) => {
          heard[s] = performance.now();
          if (onFlows && done > flowsDone[s]!) {
            flowsDone[s] = done;
            // Every shard walks the cell's whole flow list and replays its own share of it, so
            // the run's position is the mean of the shards' positions.
            onFlows(Math.floor(flowsDone.reduce((a, b) => a + b, 0) / workers));
          }
        });
        ports.push(port1);
        const task: WorkerTask = { ...cell, ...run, sizedForFlows: cell.flows, shard: s, shards: workers, images, heartbeat: port2 };
        tasks.push(pool.run(task, { signal: abort.signal, transferList: [port2] }) as Promise<WorkerResult>);
      }
      // Settle every shard before deciding, so no aborted task is left running behind the error.
      const settled = await Promise.allSettled(tasks);
      if (stalled >= 0) {
        throw new StalledRunError(`${cellText(cell, workers)}: shard ${stalled} of ${workers} made no progress for ${(stallMs / 1000).toLocaleString('en-US')} s (no heartbeat); its worker was stopped and the cell failed`);
      }
      const failedShard = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failedShard) throw failedShard.reason;
      return settled.map((r) => (r as PromiseFulfilledResult<WorkerResult>).value);
    } finally {
      clearInterval(timer);
      signal?.removeEventListener('abort', onOuterAbort);
      for (const p of ports) p.close();
    }
  }

  /** Ends every thread (the sweep's end, or Ctrl-C). */
  async close(): Promise<void> {
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    this.#setup = undefined;
    await Promise.all(pools.map((p) => p.pool.destroy()));
  }
}

function cellText(cell: CellSpec, workers: number): string {
  return `${cell.mode} ${cell.services.toLocaleString('en-US')} Services x${cell.endpointsPerService} ${cell.cni}, ${workers} worker${workers === 1 ? '' : 's'}, ${cell.flows.toLocaleString('en-US')} flows`;
}
