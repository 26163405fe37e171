/**
 * Everything the stages share while a batch runs: the compiled cluster (every node's pod
 * network and, compiled on first use, its service rules and conntrack table), per-packet
 * pipeline state beside the batch's own columns, counters, and an optional trace recorder.
 *
 * A context belongs to one worker: conntrack and the proxy modes' affinity state are its own
 * shard, so no packet needs a lock. The compiled route tables are shared read-only.
 */
import type { FirstPacket, NatDecision, ServiceDataplane } from '../compile/dataplane.js';
import { newFirstPacket, newNatDecision } from '../compile/dataplane.js';
import type { Cluster, ModeName } from '../model/types.js';
import { kBatchSize } from '../net/batch.js';
import { ConntrackTable } from './conntrack.js';
import { DROP_SERVICE_REJECT, END_DROPPED, END_REJECTED, kDropNames, kEndNames, kStageNames, NEXT_DONE } from './next.js';
import type { PacketBatch } from '../net/batch.js';
import type { PodNetworkPlan } from './pod-network.js';
import type { TraceRecorder } from './trace-recorder.js';
import { TunnelCache } from './encap.js';

/** Compiles one node's service rules; injected so the pipeline does not depend on every mode. */
export type CompileNode = (cluster: Cluster, node: number) => ServiceDataplane;

export interface PipelineOptions {
  readonly mode: ModeName;
  /** Seeds every random choice (with each flow's hash), so runs are reproducible. */
  readonly seed: number;
  /** nf_conntrack_max of each node's table in this shard. */
  readonly conntrackMax: number;
  readonly capacity?: number;
}

export class PipelineContext {
  readonly cluster: Cluster;
  readonly plan: PodNetworkPlan;
  readonly mode: ModeName;
  readonly seed: number;
  readonly conntrackMax: number;
  readonly #compile: CompileNode;
  readonly #dataplanes: (ServiceDataplane | undefined)[];
  readonly #conntrack: (ConntrackTable | undefined)[];

  /** Virtual time in seconds: conntrack timeouts and affinity use it; the driver advances it. */
  now = 0;

  // Per-packet state the stages hand each other (index = batch index).
  readonly hook: Uint8Array;
  readonly fromPod: Uint8Array;
  /** Conntrack direction of the packet's entry (0 original, 1 reply). */
  readonly ctDir: Uint8Array;
  /** 1 while a new flow awaits its conntrack confirm at POSTROUTING. */
  readonly newFlow: Uint8Array;
  readonly masq: Uint8Array;
  /** Endpoint row chosen by the service NAT, -1 none. */
  readonly endpoint: Int32Array;
  readonly servicePort: Int32Array;
  /** The original tuple of a new flow, before any NAT. */
  readonly origSrc: Uint32Array;
  readonly origDst: Uint32Array;
  readonly origSport: Uint16Array;
  readonly origDport: Uint16Array;
  /** Routing result: RK_* kind, next-hop node, gateway. */
  readonly outKind: Uint8Array;
  readonly outNode: Int32Array;
  readonly outGateway: Uint32Array;
  /** Stage visits, to catch routing loops. */
  readonly visits: Uint16Array;
  /** The destination was rewritten by NAT (the packet is routed, not bridged). */
  readonly dnatted: Uint8Array;
  /** Userspace mode: redirected to the proxy's socket on this node. */
  readonly redirected: Uint8Array;
  /** Userspace mode: the packet is the proxy's own, for the client connection in this slot (-1 none). */
  readonly proxyClientSlot: Int32Array;
  /** Prerouting's scratch: each packet's conntrack hash, and what its prefetch read. */
  readonly ctHash: Uint32Array;
  readonly ctWarm: Int32Array;
  /** Userspace mode: the proxy's three 64 KiB socket buffers (allocated on first use). */
  #proxyBuffer: Uint8Array | undefined;
  readonly tunnels = new TunnelCache();
  /** Optional clock (ms) for per-stage timing; the core has no timer of its own. */
  clock: (() => number) | null = null;
  readonly stageMs = new Float64Array(kStageNames.length);

  readonly drops = new Uint32Array(kDropNames.length);
  readonly ends = new Uint32Array(kEndNames.length);
  /** Bytes that crossed the underlay, outer headers included, and the part that was overlay. */
  wireBytes = 0;
  encapBytes = 0;
  /** New flows decided by the service NAT, and rules/probes their decisions cost. */
  decisions = 0;
  decisionWork = 0;
  /** Userspace mode: payload bytes copied through the proxy. */
  proxyCopiedBytes = 0;

  /** Scratch for the service stage (no allocation per packet). */
  readonly firstPacket: FirstPacket = newFirstPacket();
  readonly decision: NatDecision = newNatDecision();

  recorder: TraceRecorder | null = null;

  constructor(cluster: Cluster, plan: PodNetworkPlan, compile: CompileNode, options: PipelineOptions) {
    this.cluster = cluster;
    this.plan = plan;
    this.mode = options.mode;
    this.seed = options.seed >>> 0;
    this.conntrackMax = options.conntrackMax;
    this.#compile = compile;
    this.#dataplanes = new Array(cluster.nodes.length);
    this.#conntrack = new Array(cluster.nodes.length);
    const n = options.capacity ?? kBatchSize;
    this.hook = new Uint8Array(n);
    this.fromPod = new Uint8Array(n);
    this.ctDir = new Uint8Array(n);
    this.newFlow = new Uint8Array(n);
    this.masq = new Uint8Array(n);
    this.endpoint = new Int32Array(n);
    this.servicePort = new Int32Array(n);
    this.origSrc = new Uint32Array(n);
    this.origDst = new Uint32Array(n);
    this.origSport = new Uint16Array(n);
    this.origDport = new Uint16Array(n);
    this.outKind = new Uint8Array(n);
    this.outNode = new Int32Array(n);
    this.outGateway = new Uint32Array(n);
    this.visits = new Uint16Array(n);
    this.dnatted = new Uint8Array(n);
    this.redirected = new Uint8Array(n);
    this.proxyClientSlot = new Int32Array(n).fill(-1);
    this.ctHash = new Uint32Array(n);
    this.ctWarm = new Int32Array(n);
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
    this.drops[reason]++;
    this.ends[end]++;
  }

  /** Ends packet i where it arrived (END_POD, END_HOST, END_EXTERNAL). */
  end(batch: PacketBatch, i: number, end: number): void {
    batch.verdict[i] = end;
    batch.next[i] = NEXT_DONE;
    this.ends[end]++;
  }

  /** The node's compiled service rules (compiled on first use, then kept). */
  dataplane(node: number): ServiceDataplane {
    let dp = this.#dataplanes[node];
    if (!dp) {
      dp = this.#compile(this.cluster, node);
      this.#dataplanes[node] = dp;
    }
    return dp;
  }

  conntrack(node: number): ConntrackTable {
    let ct = this.#conntrack[node];
    if (!ct) {
      ct = new ConntrackTable({ maxEntries: this.conntrackMax, timeouts: this.cluster.proxy.conntrack });
      this.#conntrack[node] = ct;
    }
    return ct;
  }

  /** Every conntrack table created so far (for counters). */
  conntrackTables(): ConntrackTable[] {
    return this.#conntrack.filter((t): t is ConntrackTable => t !== undefined);
  }
}
