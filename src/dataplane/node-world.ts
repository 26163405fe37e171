/**
 * What a context sees of every node: the compiled cluster (each node's pod network and Service
 * NAT rules, shared read-only with other contexts), and the node's own state in this context:
 * its conntrack table, made on first use, and the tunnels it sends through. A context belongs to
 * one worker, so this state is that worker's shard and no packet needs a lock.
 *
 * Each node's table holds either one size given for every node (the replay sizes its tables to
 * hold every flow of its shard, so that a benchmark measures the proxy, not the limit) or, with
 * 'kube-proxy', the size the node's proxy leaves it: nf_conntrack_max as kube-proxy sets it
 * (nodeConntrackMax), or for a mode with its own connection tracking its own maps (Cilium's TCP
 * and non-TCP LRU maps, `bpf-ct-global-tcp-max` and `bpf-ct-global-any-max`, each full map
 * evicting only its own entries). The 'kube-proxy' size is divided among `shards` contexts when each holds a shard of the
 * node's flows (the replay's workers, as RSS gives each core its share of one kernel table).
 */
import { findMode } from '../compile/index.js';
import type { ConntrackPolicy } from '../compile/mode.js';
import type { Cluster, ConntrackConfig, ModeName } from '../model/types.js';
import type { CompiledCluster } from './compiled-cluster.js';
import { ConntrackTable, kernelDefaultConntrackBuckets, kubeProxyConntrackMax } from './conntrack.js';
import { SocketTable } from './socket-table.js';
import type { PodNetworkPlan } from './pod-network.js';
import { Tunnels } from './tunnels.js';
import { NEXT_PREROUTING, NEXT_RAW } from './next.js';

export class NodeWorld {
  readonly compiled: CompiledCluster;
  readonly cluster: Cluster;
  readonly plan: PodNetworkPlan;
  readonly mode: ModeName;
  /** nf_conntrack_max of every node's table, or 'kube-proxy': each node's own (nodeConntrackMax). */
  readonly conntrackMax: number | 'kube-proxy';
  /** Contexts that share each node's kube-proxy-sized table, each holding 1/shards of it. */
  readonly shards: number;
  readonly tunnels: Tunnels;
  /**
   * Addresses whose DNS (port 53, UDP and TCP) the raw table leaves untracked on every node:
   * NodeLocal DNSCache's listeners. Empty without it, and the raw stage is then never entered.
   */
  readonly notrackDns: Uint32Array;
  /** The stage a packet a node sends meets after its socket: the raw table's where there are rules, else conntrack. */
  readonly afterSocket: number;
  /**
   * The nodes' clock (virtual seconds, one cell): every conntrack table reads it, and the
   * pipeline's `now` is this cell.
   */
  readonly clock = new Float64Array(1);
  readonly #conntrack: (ConntrackTable | undefined)[];
  readonly #sockets: (SocketTable | undefined)[];
  readonly #dsr: (SocketTable | undefined)[];
  readonly #socketLb: Int8Array;

  constructor(compiled: CompiledCluster, conntrackMax: number | 'kube-proxy', shards = 1) {
    this.compiled = compiled;
    this.cluster = compiled.cluster;
    this.plan = compiled.plan;
    this.mode = compiled.mode;
    this.conntrackMax = conntrackMax;
    this.shards = shards;
    this.tunnels = new Tunnels(compiled.plan);
    this.notrackDns = Uint32Array.from(compiled.cluster.dns.nodeLocal?.listenIps ?? []);
    this.afterSocket = this.notrackDns.length > 0 ? NEXT_RAW : NEXT_PREROUTING;
    this.#conntrack = new Array(compiled.cluster.nodes.length);
    this.#sockets = new Array(compiled.cluster.nodes.length);
    this.#dsr = new Array(compiled.cluster.nodes.length);
    this.#socketLb = new Int8Array(compiled.cluster.nodes.length).fill(-1);
  }

  /**
   * The node's conntrack table, made on first use. Every stage asks it per packet: the accessor
   * stays a few bytes of bytecode, so V8 inlines it everywhere without spending the caller's
   * inlining budget (the making, ~290 bytes inlined at each call site, used to exhaust
   * prerouting's and leave its hot loops calling out).
   */
  conntrack(node: number): ConntrackTable {
    return this.#conntrack[node] ?? this.#makeConntrack(node);
  }

  #makeConntrack(node: number): ConntrackTable {
    const maxEntries = this.#maxEntries(node);
    // A mode with its own connection tracking (Cilium's BPF CT maps) brings its timeouts and LRU eviction,
    // and, sized as the node's proxy leaves it, its TCP and other-protocol maps.
    const own = this.#ownConntrack();
    const split = own?.lru === true && this.conntrackMax === 'kube-proxy';
    const ct = new ConntrackTable({
      maxEntries, timeouts: own ? { ...this.cluster.proxy.conntrack, ...own.timeouts } : this.cluster.proxy.conntrack, lru: own?.lru ?? false,
      tcpStateChecks: own?.tcpStateChecks ?? true,
      clock: this.clock,
      ...(split ? { tcpMax: Math.max(1, Math.floor(own.tcpMax / this.shards)) } : {}),
    });
    this.#conntrack[node] = ct;
    return ct;
  }

  #ownConntrack(): ConntrackPolicy | undefined {
    return findMode(this.mode)?.conntrack?.(this.cluster);
  }

  /** The node's nf_conntrack_max (or its own CT maps' sizes together), this shard's part of it, which also bounds its connected sockets. */
  #maxEntries(node: number): number {
    if (this.conntrackMax !== 'kube-proxy') return this.conntrackMax;
    const own = this.#ownConntrack();
    if (own?.lru) return Math.max(2, Math.floor((own.tcpMax + own.anyMax) / this.shards));
    const n = this.cluster.nodes[node];
    return Math.max(1, Math.floor(nodeConntrackMax(this.cluster.proxy.conntrack, n?.cpus, n?.memoryBytes) / this.shards));
  }

  /** Whether the node's mode balances at the socket (its dataplane's `socketLb`), asked once per node. */
  socketLb(node: number): boolean {
    let v = this.#socketLb[node];
    if (v < 0) v = this.#socketLb[node] = this.compiled.dataplane(node).socketLb === true ? 1 : 0;
    return v === 1;
  }

  /** The node's connected sockets (socket LB), made on first use, as many as conntrack entries. */
  sockets(node: number): SocketTable {
    let s = this.#sockets[node];
    if (!s) {
      s = new SocketTable(this.#maxEntries(node));
      this.#sockets[node] = s;
    }
    return s;
  }

  /**
   * The DSR flows whose backend is on `node` (Cilium's `snat_v4_create_dsr` entries in its SNAT
   * map): each client's tuple to the frontend it asked for, and the backend that answers it, so
   * that the backend's replies leave the node from the frontend. Made on first use, as many as
   * conntrack entries.
   */
  dsrReplies(node: number): SocketTable {
    let t = this.#dsr[node];
    if (!t) {
      t = new SocketTable(this.#maxEntries(node));
      this.#dsr[node] = t;
    }
    return t;
  }

  /** The node's DSR flows if it has had any, else undefined (a packet leaving a node without them pays nothing). */
  dsrRepliesIfAny(node: number): SocketTable | undefined {
    return this.#dsr[node];
  }

  /**
   * The endpoint row the flow sent from `node` with this tuple got, or -1: its socket's backend
   * (socket LB), else its conntrack entry's. Untimed bookkeeping: not counted as a lookup.
   */
  flowEndpoint(node: number, src: number, dst: number, sport: number, dport: number, proto: number): number {
    const s = this.#sockets[node];
    const e = s ? s.lookup(src, dst, sport, dport, proto, 0) : -1;
    if (e >= 0) return s!.endpoint(e);
    const ct = this.conntrack(node);
    const found = ct.counters[0];
    const slot = ct.lookup(src, dst, sport, dport, proto);
    ct.counters[0] = found;
    return slot >= 0 ? ct.endpoint[slot] : -1;
  }

  /**
   * Makes every node's conntrack table, and its socket table where the mode balances at the
   * socket, now: a node has them from boot, and a replay must not time their allocation and first
   * page faults inside its first batches (they are otherwise made on first use). DSR tables stay
   * made on first use: a node without DSR flows has none.
   */
  prepare(): void {
    for (let n = 0; n < this.#conntrack.length; n++) {
      this.conntrack(n);
      if (this.socketLb(n)) this.sockets(n);
    }
  }

  /** Every conntrack table created so far (for counters). */
  conntrackTables(): ConntrackTable[] {
    return this.#conntrack.filter((t): t is ConntrackTable => t !== undefined);
  }

  /** Empties every conntrack table (and socket table) and zeroes its counters, keeping the memory for the next run. */
  clearConntrack(): void {
    for (const s of this.#sockets) s?.clear();
    for (const s of this.#dsr) s?.clear();
    for (const ct of this.conntrackTables()) {
      ct.clear();
      ct.counters.fill(0);
    }
  }
}

/** CPUs assumed for a Node whose `status.capacity.cpu` is not given: then `conntrack.min` decides unless `maxPerCore` alone exceeds it. */
export const kAssumedCpus = 1;
/**
 * The kernel's default nf_conntrack_max assumed for a Node that gives no `status.capacity.memory`:
 * the default on any 64-bit node with more than 4 GiB of RAM.
 */
export const kAssumedKernelConntrackMax = 262144;

/**
 * nf_conntrack_max on a node as kube-proxy leaves it. kube-proxy computes
 * max(maxPerCore x cpus, min) (kubeProxyConntrackMax), and writes it only when it is larger than
 * the current value (cmd/kube-proxy/app/conntrack.go setIntSysCtl, Kubernetes v1.31: `if val <
 * value`), so the kernel's own default, sized by the node's RAM, is a floor. maxPerCore 0 leaves
 * the kernel's default alone.
 */
export function nodeConntrackMax(config: Pick<ConntrackConfig, 'maxPerCore' | 'min'>, cpus: number | undefined, memoryBytes: number | undefined): number {
  const kernel = memoryBytes === undefined ? kAssumedKernelConntrackMax : kernelDefaultConntrackBuckets(memoryBytes);
  const kubeProxy = kubeProxyConntrackMax(config, cpus ?? kAssumedCpus);
  return kubeProxy > kernel ? kubeProxy : kernel;
}
