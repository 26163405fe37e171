/**
 * The replay core: one worker's shard of a cell's flows through the whole pipeline, timed in
 * two phases per chunk of flows, as a NIC queue would see them:
 *
 *   1. new flows: the first packet of every flow of the chunk (conntrack miss, the proxy mode's
 *      rules, conntrack confirm, routing, masquerade, encapsulation, the wire, decapsulation and
 *      the destination node's conntrack), in batches of 256;
 *   2. established: every later packet of those flows (replies included), interleaved flow by
 *      flow (packet 1 of every flow, then packet 2, ...), so that conntrack sees the whole
 *      table's working set, as a busy node does.
 *
 * With --dns, each chunk's lookup flows (flows.ts LOOKUP_*) go first in both phases, in batches of
 * their own, timed apart (`lookupNs`): a name is resolved before its connection opens, and the
 * connections' figures stay comparable with cells without lookups.
 *
 * Only `runBatch` is timed (one clock read before and after each batch): writing the header
 * bytes (`PacketBatch.push`, what the NIC's DMA does) is measured apart as `rxNs`.
 *
 * The decision checksum is the sum, mod 2^32, of mix32(flow id, decision) over the shard's flows,
 * so it is independent of the order and of the sharding; two sums with different mixes are
 * kept (64 bits). The decision is the endpoint row the entry node's conntrack bound the flow to
 * (-1 none), with its end verdict. Where the mode's choice depends on the order of flows seen by
 * one node (IPVS rr/wrr/lc, the userspace proxy's round robin, and ClientIP session affinity in
 * any mode), the decision checksummed is the Service port the endpoint belongs to (the
 * candidate set) instead of the endpoint itself, and an endpoint outside the flow's Service port
 * is counted in `foreignEndpoints` (must be 0).
 *
 * No Node.js imports: the clock is passed in (worker.ts gives performance.now). chunk-replay.ts
 * replays a chunk's two phases; replayShard() fills the chunks and sums the shard's counters.
 */
import { modeNamed } from '../compile/index.js';
import type { ProxyMode } from '../compile/mode.js';
import { dataplaneFromImage, dataplaneImage, type DataplaneImage } from '../compile/image.js';
import { InvalidArgumentError } from '../errors.js';
import type { ServiceDataplane } from '../compile/dataplane.js';
import { CompiledCluster } from '../dataplane/compiled-cluster.js';
import { CT_COUNTER_NAMES, type ConntrackTable } from '../dataplane/conntrack.js';
import { PipelineContext } from '../dataplane/context.js';
import { addCounterRecord, addStageNs, emptyCounterRecord, type CounterRecord } from '../dataplane/counters.js';
import type { PodNetworkPlan } from '../dataplane/pod-network.js';
import type { Cluster, Cni, ModeName } from '../model/types.js';
import { kBatchSize } from '../net/batch.js';
import { FlowSet } from './flows.js';
import { ChunkReplay } from './chunk-replay.js';
import { kDnsPort } from './lookups.js';
import { cellCluster } from './cell-cluster.js';

/**
 * Nodes of the synthetic cluster a cell replays on: two give both the same-node and the
 * cross-node (encapsulated) paths; every node's rules are compiled, which at 30,000 Services
 * costs seconds per node, so more nodes would only lengthen the setup.
 */
export const kReplayNodes = 2;
/** Global flow ids per chunk (each worker keeps its RSS share of them). */
export const kChunkFlows = 16384;
/** Virtual seconds between two flows' first packets (1M new flows per second). */
export const kFlowInterval = 1e-6;

/** What a worker builds once and reuses for every repeat of a cell. */
export interface SetupKey {
  readonly mode: ModeName;
  readonly services: number;
  readonly endpointsPerService: number;
  readonly cni: Cni;
  readonly seed: number;
  readonly zipf: number;
  /** Network policies of the synthetic cluster (`kdp generate --policies`); absent or 0: none. */
  readonly policies?: number;
  /**
   * `kdp bench --dns`: connections look their names up first (src/replay/lookups.ts), through
   * kube-dns alone or behind NodeLocal DNSCache; absent: no lookups (and no kube-dns Service).
   */
  readonly dns?: 'kube-dns' | 'nodelocal';
  /** The pods' ndots with `dns` (5 as kubelet writes it when absent). */
  readonly ndots?: number;
  /** With `dns`, the share of looked-up connections that call an external name (0 when absent). */
  readonly dnsExternal?: number;
}

export interface ReplayTask extends SetupKey {
  /** Total flows of the cell (all shards). */
  readonly flows: number;
  readonly shard: number;
  readonly shards: number;
  /** Time each stage (adds two clock reads per stage per pass per batch). Default true. */
  readonly stageTiming?: boolean;
  /** How each node's conntrack table is sized (ConntrackSizing); default 'fit'. */
  readonly conntrack?: ConntrackSizing;
  /**
   * The flows 'fit' sizes the tables for (default `flows`): the warm-up run sizes them as its
   * timed run will, so the timed run reuses its context, tables and objects, and the code the
   * warm-up compiled keeps the shapes it was compiled for.
   */
  readonly sizedForFlows?: number;
  /**
   * A warm-up's second pass: after its flows, the first `revisitFlows` of them again, conntrack
   * emptied and the rules' state kept, as clients connecting again. Their ClientIP affinity
   * Services' first packets then find the client's endpoint remembered, a path the first pass of
   * a large cell may never take (at 30k Services 131,072 flows hold no such hit); the timed run
   * took it first, and each node's decide() fell back to unoptimised code mid-run (`node
   * --trace-deopt`: nine deoptimisations in a timed run at 30k Services, three with the second
   * pass; README, "How a benchmark cell is run"). Default 0.
   */
  readonly revisitFlows?: number;
}

/**
 * 'fit': every node's table holds every flow of the shard (conntrackMaxFor), so a benchmark
 * measures the proxy, not the limit. 'kube-proxy': nf_conntrack_max as kube-proxy leaves it on the
 * node (nodeConntrackMax: the KubeProxyConfiguration's conntrack limits, the Node's capacity),
 * divided by the shards: each worker owns a shard of the flows, as RSS gives a core its share of
 * the one kernel table, so W workers together hold the node's table. A full table drops new
 * flows, counted in the drop `conntrack-full`.
 */
export type ConntrackSizing = 'fit' | 'kube-proxy';

/** One shard's counters: plain data, merged across workers by `mergeShards`. */
export interface ShardResult extends CounterRecord {
  readonly shard: number;
  readonly shards: number;
  /** Flows of this shard, and those whose first packet was not delivered (no further packets). */
  readonly flows: number;
  readonly failedFlows: number;
  readonly firstPackets: number;
  readonly establishedPackets: number;
  /** Nanoseconds inside runBatch, per phase. */
  readonly newPhaseNs: number;
  readonly establishedPhaseNs: number;
  /** The part of `stageNs` spent on the established phase's batches (connections' later packets), by stage name. */
  readonly establishedStageNs: Record<string, number>;
  /** Nanoseconds spent writing header bytes and scheduling packets (outside runBatch). */
  readonly rxNs: number;
  readonly conntrack: Record<string, number>;
  readonly checksumLo: number;
  readonly checksumHi: number;
  readonly exactDecisions: number;
  readonly candidateDecisions: number;
  readonly foreignEndpoints: number;
  /** Bytes of this shard's conntrack tables, their capacity and live entries. */
  readonly conntrackBytes: number;
  readonly conntrackCapacity: number;
  readonly conntrackEntries: number;
  /** Largest node's compiled tables (stats().tableBytes), every node's together, and nodes compiled. */
  readonly tableBytes: number;
  readonly allNodesTableBytes: number;
  readonly nodesCompiled: number;
  /** Milliseconds this worker spent building its setup for this task (0 when cached). */
  readonly setupMs: number;
  /**
   * With --dns: connections that looked a name up and the names they asked (a lookup's sockets;
   * each carries an A and an AAAA query), the upstream connections node-local-dns opened on cache
   * misses, the lookups' packets and the nanoseconds inside runBatch spent on them (both phases),
   * lookup flows whose first packet was not delivered, and the conntrack entries left by DNS in
   * every node's table (original tuple to port 53 of a cluster DNS address: a nameserver, a
   * node-local-dns listener, kube-dns-upstream, a CoreDNS pod), counted from the tables.
   */
  readonly lookupConnections: number;
  readonly lookupNames: number;
  readonly upstreamConnections: number;
  readonly lookupPackets: number;
  readonly lookupNs: number;
  readonly failedLookups: number;
  readonly dnsConntrackEntries: number;
  /** With --dns: the lookups' flows replayed (their first packets): resolver sockets and upstream connections. */
  readonly lookupFlows: number;
}

export function setupKeyString(k: SetupKey): string {
  const dns = k.dns ? `|dns=${k.dns},ndots=${k.ndots ?? 5},external=${k.dnsExternal ?? 0}` : '';
  return `${k.mode}|${k.services}|${k.endpointsPerService}|${k.cni}|${k.seed}|${k.zipf}${k.policies ? `|policies=${k.policies}` : ''}${dns}`;
}

/**
 * A cell's compiled cluster (the cluster, its pod network and every node's compiled rules) and
 * its flow set, built once.
 *
 * On the main thread the rules are compiled (`new ReplaySetup(spec)`), and `images()` packs them
 * into shared memory once; the workers attach to those images (`new ReplaySetup(spec, clock,
 * images)`) and compile nothing. The cluster and flow set are rebuilt from the seed on each side:
 * they are the input, deterministic, and cost a fraction of a compile (the cluster once for the
 * cells that differ only in kube-proxy's mode: cell-cluster.ts).
 */
export class ReplaySetup {
  readonly key: string;
  readonly spec: SetupKey;
  readonly mode: ProxyMode;
  readonly cluster: Cluster;
  readonly plan: PodNetworkPlan;
  readonly compiledCluster: CompiledCluster;
  readonly flowSet: FlowSet;
  #images: DataplaneImage[] | undefined;
  /** Milliseconds to generate the cluster (model + pod network + flow set). */
  readonly clusterMs: number;
  /** Milliseconds to compile each node's rules (empty when attached to images). */
  readonly compileMs: number[] = [];
  /** Milliseconds to attach to the images (0 when compiled here), and to pack them. */
  readonly attachMs: number = 0;
  packMs = 0;

  constructor(spec: SetupKey, clock: () => number = Date.now, images?: readonly DataplaneImage[]) {
    const t0 = clock();
    this.spec = spec;
    this.mode = modeNamed(spec.mode);
    this.key = setupKeyString(spec);
    this.cluster = cellCluster({
      services: spec.services, endpoints: spec.endpointsPerService, nodes: kReplayNodes, cni: spec.cni, seed: spec.seed, mode: spec.mode, policies: spec.policies ?? 0,
      ...(spec.dns ? { dns: { nodeLocal: spec.dns === 'nodelocal' } } : {}),
    });
    const attach = images ? (c: Cluster, n: number): ServiceDataplane => dataplaneFromImage(c, images[n]) : undefined;
    this.compiledCluster = new CompiledCluster(this.cluster, spec.mode, attach);
    this.plan = this.compiledCluster.plan;
    this.clusterMs = clock() - t0;
    if (images) {
      if (images.length !== this.cluster.nodes.length || images.some((img, n) => img.mode !== spec.mode || img.node !== n)) {
        throw new InvalidArgumentError(`the images (${images.map((i) => `${i.mode}/node ${i.node}`).join(', ')}) are not the ${spec.mode} rules of this cell's ${this.cluster.nodes.length} nodes`);
      }
      const t1 = clock();
      for (let n = 0; n < images.length; n++) this.compiledCluster.dataplane(n);
      this.attachMs = clock() - t1;
      this.#images = [...images];
      this.flowSet = this.#flowSet();
      return;
    }
    // Every node's rules are compiled here, never inside a timed batch.
    for (let n = 0; n < this.cluster.nodes.length; n++) {
      const t = clock();
      this.compiledCluster.dataplane(n);
      this.compileMs.push(clock() - t);
    }
    this.flowSet = this.#flowSet();
  }

  /** The cell's flows; with --dns their lookups, which reach NodeLocal DNSCache unless the mode balances at the socket (Cilium), past the cache. */
  #flowSet(): FlowSet {
    const spec = this.spec;
    const cacheReached = spec.dns === 'nodelocal' && this.compiledCluster.dataplane(0).socketLb !== true;
    const dns = spec.dns ? { dns: { ndots: spec.ndots ?? 5, external: spec.dnsExternal ?? 0, cacheReached, secondsPerFlow: kFlowInterval } } : {};
    return new FlowSet(this.cluster, this.plan, { seed: spec.seed, zipf: spec.zipf, ...dns });
  }

  /**
   * Every node's tables packed into shared memory, for the workers. Packed once; from then on
   * this setup runs over the packed copy too (the compiled originals can be collected), so a
   * cell's tables are in memory once however many threads read them.
   */
  images(clock: () => number = Date.now): readonly DataplaneImage[] {
    if (!this.#images) {
      const t0 = clock();
      this.#images = this.compiled().map((dp) => dataplaneImage(dp));
      for (let n = 0; n < this.#images.length; n++) this.compiledCluster.replace(n, dataplaneFromImage(this.cluster, this.#images[n]));
      this.packMs = clock() - t0;
    }
    return this.#images;
  }

  /** The node's compiled rules. */
  dataplane(node: number): ServiceDataplane {
    return this.compiledCluster.dataplane(node);
  }

  compiled(): readonly ServiceDataplane[] {
    return this.compiledCluster.dataplanes();
  }

  /** Forgets per-run state of the compiled rules (affinity, schedulers' cursors). */
  resetRules(): void {
    for (const dp of this.compiled()) dp.reset();
  }
}

/** Conntrack entries a shard's context is sized for, per node (every flow of the shard fits). */
export function conntrackMaxFor(flows: number, shards: number, mode: ProxyMode): number {
  const perShard = Math.ceil((flows / shards) * 1.15) + 1024;
  return Math.max(4096, Math.ceil((perShard * mode.conntrackEntriesPerFlow * 1.3) / kReplayNodes));
}

/**
 * Replays one shard. `clock` returns milliseconds (performance.now in workers). The setup's
 * compiled rules are reused; its per-run state is reset first, and a fresh context (conntrack
 * tables) is built for every call, so repeats are independent.
 */
/**
 * `progress` is told how far into the cell's flow list the shard is (it replays its own share of
 * the flows before that point), once per chunk of kChunkFlows flows (the
 * pool's watchdog hears it, the progress bar moves by it; a few calls a second at most, nothing
 * per packet).
 */
export function replayShard(setup: ReplaySetup, task: ReplayTask, clock: () => number, ctxCache?: { ctx?: PipelineContext; max?: number | string }, progress?: (flowsDone: number) => void): ShardResult {
  const { shard, shards, flows } = task;
  const mode = setup.mode;
  const cluster = setup.cluster;
  setup.resetRules();
  setup.flowSet.reset();
  const kubeProxy = task.conntrack === 'kube-proxy';
  const fit = conntrackMaxFor((task.sizedForFlows ?? flows) * trackedPerFlow(setup.flowSet), shards, mode);
  const max = kubeProxy ? `kube-proxy/${shards}` : fit;
  let ctx = ctxCache?.ctx;
  if (ctx && ctxCache!.max === max) {
    // Reuse the tables (allocating hundreds of MB per repeat only feeds the GC): empty them and
    // zero every counter.
    ctx.world.clearConntrack();
    ctx.counters.reset();
    ctx.now = 0;
  } else {
    const conntrackMax = kubeProxy ? 'kube-proxy' : fit;
    ctx = new PipelineContext(setup.compiledCluster, { seed: setup.spec.seed, conntrackMax, conntrackShards: shards, capacity: kBatchSize });
    ctx.world.prepare();
    if (ctxCache) {
      ctxCache.ctx = ctx;
      ctxCache.max = max;
    }
  }
  ctx.clock = task.stageTiming === false ? null : clock;
  const c = ctx;
  const flowSet = setup.flowSet;
  // Room for a whole chunk's ids with every flow they can write (a lookup's flows too), so that a
  // chunk is replayed at once: a small remainder would put a flow's SYN/ACK and ACK in one batch.
  const r = new ChunkReplay(c, mode, cluster, setup.plan.podMtu, clock, (Math.ceil(kChunkFlows / shards) + kChunkFlows / 4 + 64) * flowSet.flowsPerIdMax);
  const chunk = r.chunk;
  const pass = (count: number, since: number): void => {
    for (let first = 0; first < count; ) {
      progress?.(first);
      const take = Math.min(kChunkFlows, count - first);
      let consumed = 0;
      while (consumed < take) {
        const used = flowSet.fillShard(first + consumed, take - consumed, shard, shards, chunk);
        consumed += used;
        if (chunk.count === 0) continue;
        c.now = since + (first + consumed) * kFlowInterval;
        r.replay();
      }
      first += take;
    }
  };
  pass(flows, 0);
  const revisit = Math.min(flows, task.revisitFlows ?? 0);
  if (revisit > 0) {
    c.world.clearConntrack();
    pass(revisit, flows * kFlowInterval);
  }

  // Counters.
  const conntrack: Record<string, number> = {};
  let ctBytes = 0;
  let ctCap = 0;
  let ctLive = 0;
  for (const name of CT_COUNTER_NAMES) conntrack[name] = 0;
  let dnsEntries = 0;
  const dnsAddresses = flowSet.lookups ? clusterDnsAddresses(cluster) : null;
  for (const ct of c.world.conntrackTables()) {
    for (let k = 0; k < CT_COUNTER_NAMES.length; k++) conntrack[CT_COUNTER_NAMES[k]] += ct.counters[k];
    ctBytes += ct.buffer.byteLength;
    ctCap += ct.maxEntries;
    ctLive += ct.count;
    if (dnsAddresses) dnsEntries += dnsEntriesOf(ct, dnsAddresses);
  }
  const counters = emptyCounterRecord();
  c.counters.addInto(counters);
  const establishedStageNs: Record<string, number> = {};
  addStageNs(establishedStageNs, r.estStageMs);
  let tableBytes = 0;
  let allNodesTableBytes = 0;
  const dps = setup.compiled();
  for (const dp of dps) {
    const bytes = dp.stats().tableBytes;
    tableBytes = Math.max(tableBytes, bytes);
    allNodesTableBytes += bytes;
  }
  c.clock = null;
  return {
    shard,
    shards,
    flows: r.nFlows,
    failedFlows: r.failed,
    firstPackets: r.firstPackets,
    establishedPackets: r.estPackets,
    newPhaseNs: r.newNs,
    establishedPhaseNs: r.estNs,
    establishedStageNs,
    rxNs: r.rxNs,
    ...counters,
    conntrack,
    checksumLo: r.lo,
    checksumHi: r.hi,
    exactDecisions: r.exact,
    candidateDecisions: r.candidate,
    foreignEndpoints: r.foreign,
    conntrackBytes: ctBytes,
    conntrackCapacity: ctCap,
    conntrackEntries: ctLive,
    tableBytes,
    allNodesTableBytes,
    nodesCompiled: dps.length,
    setupMs: 0,
    lookupConnections: r.lookupConnections,
    lookupNames: r.lookupNames,
    upstreamConnections: r.upstreamConnections,
    lookupPackets: r.lookupPackets,
    lookupNs: r.lookupNs,
    failedLookups: r.failedLookups,
    dnsConntrackEntries: dnsEntries,
    lookupFlows: r.lookupFlows,
  };
}

/**
 * Conntrack entries per flow id the 'fit' sizing plans for: 1, and with lookups each looked-up
 * connection's names (and as many upstream connections behind a cache) for the share of ids that
 * look up (the ClusterIP share of the mix).
 */
function trackedPerFlow(flowSet: FlowSet): number {
  const plan = flowSet.lookups;
  if (!plan) return 1;
  return 1 + flowSet.mix[0] * plan.maxNames * (plan.upstream ? 2 : 1);
}

/** Every address DNS is sent to in the cluster: the nameservers, node-local-dns's, kube-dns-upstream, and the endpoints of the Services behind them. */
function clusterDnsAddresses(cluster: Cluster): Set<number> {
  const dns = cluster.dns;
  const out = new Set<number>([...dns.servers, ...(dns.nodeLocal?.listenIps ?? []), ...(dns.nodeLocal?.upstream ? [dns.nodeLocal.upstream] : [])]);
  for (let s = 0; s < cluster.services.length; s++) {
    if (!out.has(cluster.services[s].clusterIPs[0] ?? -1)) continue;
    for (const p of cluster.services[s].ports) {
      const port = cluster.ports[p];
      for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) out.add(cluster.endpoints.ip[r]);
    }
  }
  return out;
}

/** Live entries of `ct` whose original tuple goes to port 53 of one of `addresses` (a scan of the table: after the run, untimed). */
function dnsEntriesOf(ct: ConntrackTable, addresses: Set<number>): number {
  let n = 0;
  for (let e = 0; e < ct.maxEntries; e++) {
    if (ct.statusOf(e) === 0) continue;
    if (ct.origDport(e) === kDnsPort && addresses.has(ct.origDst(e) >>> 0)) n++;
  }
  return n;
}

/** The merged counters of every shard of one run (one repeat of a cell). */
export interface RunResult extends Omit<ShardResult, 'shard' | 'shards' | 'setupMs'> {
  readonly workers: number;
  /** The slowest shard's phase times: the run's wall time for each phase (workers run in parallel). */
  readonly newPhaseWallNs: number;
  readonly establishedPhaseWallNs: number;
  readonly decisionChecksum: string;
  readonly setupMs: number;
}

export function checksumString(lo: number, hi: number): string {
  return (lo >>> 0).toString(16).padStart(8, '0') + (hi >>> 0).toString(16).padStart(8, '0');
}

/** Sums shard counters; checksums add mod 2^32; phase wall times are the slowest shard's. */
export function mergeShards(shards: readonly ShardResult[]): RunResult {
  const sum = (f: (s: ShardResult) => number): number => shards.reduce((a, s) => a + f(s), 0);
  const max = (f: (s: ShardResult) => number): number => shards.reduce((a, s) => Math.max(a, f(s)), 0);
  const conntrack: Record<string, number> = {};
  const establishedStageNs: Record<string, number> = {};
  const counters = emptyCounterRecord();
  let lo = 0;
  let hi = 0;
  for (const s of shards) {
    for (const [k, v] of Object.entries(s.conntrack)) conntrack[k] = (conntrack[k] ?? 0) + v;
    for (const [k, v] of Object.entries(s.establishedStageNs)) establishedStageNs[k] = (establishedStageNs[k] ?? 0) + v;
    addCounterRecord(counters, s);
    lo = (lo + s.checksumLo) >>> 0;
    hi = (hi + s.checksumHi) >>> 0;
  }
  return {
    workers: shards.length,
    flows: sum((s) => s.flows),
    failedFlows: sum((s) => s.failedFlows),
    firstPackets: sum((s) => s.firstPackets),
    establishedPackets: sum((s) => s.establishedPackets),
    newPhaseNs: sum((s) => s.newPhaseNs),
    establishedPhaseNs: sum((s) => s.establishedPhaseNs),
    newPhaseWallNs: max((s) => s.newPhaseNs),
    establishedPhaseWallNs: max((s) => s.establishedPhaseNs),
    establishedStageNs,
    rxNs: sum((s) => s.rxNs),
    ...counters,
    conntrack,
    checksumLo: lo,
    checksumHi: hi,
    decisionChecksum: checksumString(lo, hi),
    exactDecisions: sum((s) => s.exactDecisions),
    candidateDecisions: sum((s) => s.candidateDecisions),
    foreignEndpoints: sum((s) => s.foreignEndpoints),
    conntrackBytes: sum((s) => s.conntrackBytes),
    conntrackCapacity: sum((s) => s.conntrackCapacity),
    conntrackEntries: sum((s) => s.conntrackEntries),
    lookupConnections: sum((s) => s.lookupConnections),
    lookupNames: sum((s) => s.lookupNames),
    upstreamConnections: sum((s) => s.upstreamConnections),
    lookupPackets: sum((s) => s.lookupPackets),
    lookupNs: sum((s) => s.lookupNs),
    failedLookups: sum((s) => s.failedLookups),
    dnsConntrackEntries: sum((s) => s.dnsConntrackEntries),
    lookupFlows: sum((s) => s.lookupFlows),
    tableBytes: max((s) => s.tableBytes),
    allNodesTableBytes: max((s) => s.allNodesTableBytes),
    nodesCompiled: max((s) => s.nodesCompiled),
    setupMs: max((s) => s.setupMs),
  };
}
