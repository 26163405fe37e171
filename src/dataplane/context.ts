/**
 * Everything the stages share while a batch runs, by what it holds: the per-packet columns
 * (`meta`), every node's world (`world`: compiled rules, conntrack tables, tunnels), the counters
 * (`counters`), and the run's tools: the virtual clock, the seed, an optional stage timer and
 * trace recorder, and scratch the stages reuse instead of allocating.
 *
 * A context belongs to one worker: its conntrack and the proxy modes' affinity state are its own
 * shard, so no packet needs a lock. The compiled rules and route tables are shared read-only.
 */
import type { FirstPacket, NatDecision } from '../compile/dataplane.js';
import { newFirstPacket, newNatDecision } from '../compile/dataplane.js';
import { kBatchSize, type PacketBatch } from '../net/batch.js';
import type { CompiledCluster } from './compiled-cluster.js';
import { Counters } from './counters.js';
import { DROP_SERVICE_REJECT, END_DROPPED, END_REJECTED, kStageNames, NEXT_DONE } from './next.js';
import { NodeWorld } from './node-world.js';
import { PacketMeta } from './packet-meta.js';
import type { TraceRecorder } from './trace-recorder.js';

export interface ContextOptions {
  /** Seeds every random choice (with each flow's hash), so runs are reproducible. */
  readonly seed: number;
  /**
   * nf_conntrack_max of every node's table in this shard, or 'kube-proxy': each node's own, as
   * kube-proxy leaves it for the cluster's KubeProxyConfiguration and the Node's capacity
   * (nodeConntrackMax). The default is a small table: a context that traces a few packets never
   * fills it, so its size cannot change a path, and 262144 entries would cost 23 MB per node.
   */
  readonly conntrackMax: number | 'kube-proxy';
  /**
   * With 'kube-proxy': how many contexts split each node's table, this one holding 1/shards of
   * nf_conntrack_max (a replay worker owns a shard of the flows, as RSS gives a core its share).
   */
  readonly conntrackShards: number;
  /** Packets per batch (the meta columns' length). */
  readonly capacity: number;
}

export const kDefaultContextOptions: ContextOptions = { seed: 1, conntrackMax: 4096, conntrackShards: 1, capacity: kBatchSize };

export class PipelineContext {
  readonly world: NodeWorld;
  readonly meta: PacketMeta;
  readonly counters: Counters;
  readonly seed: number;
  /** The counters' drop and end arrays, which drop() and end() count into once per packet. */
  readonly #drops: Uint32Array;
  readonly #ends: Uint32Array;

  /**
   * Virtual time in seconds: conntrack timeouts and affinity use it; the driver advances it. The
   * world's clock cell, which the nodes' conntrack tables read.
   */
  get now(): number {
    return this.world.clock[0];
  }

  set now(seconds: number) {
    this.world.clock[0] = seconds;
  }
  /** Optional clock (ms) for per-stage timing; the core has no timer of its own. */
  clock: (() => number) | null = null;
  recorder: TraceRecorder | null = null;

  /**
   * The frame of the stage the driver runs (VPP's vector of buffer indices): the batch slots bound
   * for it, ascending, `frameCount` of them. A stage reads its packets from here, never by a pass
   * over the whole batch; runBatch fills it from `queued`.
   */
  readonly frame: Int32Array;
  frameCount = 0;
  /**
   * New flows prerouting met in the batch runBatch is running, confirmed or not (an upper bound of
   * those left to confirm): confirm's prefetch (touchConfirms) skips a batch with none, as the
   * established phase's are.
   */
  newFlows = 0;
  /** The driver's queues: per stage id, a bitmap (`queueWords` words) of the slots whose next is that stage. */
  readonly queued: Int32Array;
  readonly queueWords: number;

  /** Scratch for the service stage (no allocation per packet). */
  readonly firstPacket: FirstPacket = newFirstPacket();
  readonly decision: NatDecision = newNatDecision();
  /** Userspace mode: the proxy's three 64 KiB socket buffers (allocated on first use). */
  #proxyBuffer: Uint8Array | undefined;

  /** A fresh context (empty conntrack, zero counters) over the compiled cluster's rules. */
  constructor(compiled: CompiledCluster, options: Partial<ContextOptions> = {}) {
    const o = { ...kDefaultContextOptions, ...options };
    this.world = new NodeWorld(compiled, o.conntrackMax, o.conntrackShards);
    this.meta = new PacketMeta(o.capacity);
    this.frame = new Int32Array(o.capacity);
    this.queueWords = (o.capacity + 31) >>> 5;
    this.queued = new Int32Array(kStageNames.length * this.queueWords);
    this.counters = new Counters();
    this.seed = o.seed >>> 0;
    this.#drops = this.counters.drops;
    this.#ends = this.counters.ends;
  }

  get proxyBuffer(): Uint8Array {
    this.#proxyBuffer ??= new Uint8Array(3 * 65536);
    return this.#proxyBuffer;
  }

  /** Ends packet i as dropped (or rejected) for `reason`, counted once. */
  drop(batch: PacketBatch, i: number, reason: number): void {
    const end = reason === DROP_SERVICE_REJECT ? END_REJECTED : END_DROPPED;
    batch.drop[i] = reason;
    batch.verdict[i] = end;
    batch.next[i] = NEXT_DONE;
    this.#drops[reason]++;
    this.#ends[end]++;
  }

  /** Ends packet i where it arrived (END_POD, END_HOST, END_EXTERNAL). */
  end(batch: PacketBatch, i: number, end: number): void {
    batch.verdict[i] = end;
    batch.next[i] = NEXT_DONE;
    this.#ends[end]++;
  }
}
