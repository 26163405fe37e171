/**
 * What a proxy mode is, as one record (kube-proxy's `Provider` interface, VPP's node registration
 * as data): everything the engine, the replay, the sweep, `kdp verify` and the CLI need to know
 * about a mode, so that none of them ever names one. Each `src/compile/<mode>/index.ts` exports
 * its record; `modes.ts` lists them. A new mode is one folder and one line there.
 */
import type { Cluster, ConntrackConfig, ModeName } from '../model/types.js';
import type { ServiceDataplane } from './dataplane.js';
import type { ClassRegistry } from './table-image.js';
import type { Ruleset } from './iptables/ruleset.js';
import type { IpsetSet } from './ipvs/ipset-parse.js';

/**
 * Whether the Service port's Service has ClientIP session affinity: then every mode's choice for
 * a flow depends on the flows of the same client before it.
 */
export function clientIpAffinity(cluster: Cluster, servicePort: number): boolean {
  return servicePort >= 0 && cluster.services[cluster.ports[servicePort].service].affinity.clientIP;
}

/**
 * The text one format prints, for one node of a cluster: a string, or its chunks in order for a
 * format that can outgrow one string (V8 caps a string at 512 MiB; iptables-save of 200,000
 * Services is several GB), so that it is written out as it is made.
 */
export type RenderRules = (cluster: Cluster, node: number) => string | Iterable<string>;

/**
 * A format's text read back into the mode's dataplane: a real node's dump. With the cluster (and
 * the node the dump was taken on), its rules are mapped to the cluster's Services and endpoints.
 * Throws RuleParseError naming the line.
 */
export type ParseRules<D> = (text: string, cluster?: Cluster, node?: number) => D;

/**
 * What the sync kube-proxy would run for one endpoint turning unready writes, planned by the
 * mode's own sync code (see src/replay/sync-cost.ts for the change and the full build).
 */
export interface OneEndpointSync {
  /** Bytes and rules (or commands, elements) a full sync writes. */
  readonly fullBytes: number;
  readonly fullRules: number;
  readonly oneEndpointRewrittenBytes: number;
  readonly oneEndpointRewrittenRules: number;
  /** Chains the payload writes (declares and fills, or flushes): modes whose kernel objects are chains (iptables, nftables). */
  readonly oneEndpointRewrittenChains?: number;
}

/** The Service ports of `services` in `cluster`: what a one-endpoint sync compares (syncOneEndpoint's `changedServices`). */
export function portsOf(cluster: Cluster, services: readonly number[]): Set<number> {
  const ports = new Set<number>();
  for (const s of services) for (const p of cluster.services[s].ports) ports.add(p);
  return ports;
}

/** Bytes of the ASCII text `lines` make, each ended by a newline: a payload's size, never joined. */
export function linesBytes(lines: readonly string[]): number {
  let n = 0;
  for (const line of lines) n += line.length + 1;
  return n;
}

/**
 * An endpoint change written into a node's compiled tables in place (ProxyMode.updateEndpoints):
 * kdp's own side of a sync, as opposed to what kube-proxy writes to the kernel (OneEndpointSync).
 */
export interface TableUpdate {
  /** Table slots written (endpoint slots, counts, map entries), a measure of the update's size. */
  readonly entriesWritten: number;
}

/**
 * How the mode's control plane turns endpoint changes into syncs (the churn benchmark,
 * src/replay/churn.ts, runs it in simulated time). Each mode's index.ts names its source.
 */
export interface SyncLoop {
  /**
   * 'runner': kube-proxy's BoundedFrequencyRunner (Kubernetes v1.33
   * pkg/util/async/bounded_frequency_runner.go, as the iptables, ipvs and nftables proxiers build
   * it): a change asks for a sync, which runs at once when the runner's token bucket (one token
   * per minSyncPeriod, `burst` tokens) allows, else minSyncPeriod after the last sync ended or when
   * the next token comes, whichever is later (src/replay/churn.ts runnerNextRun); changes that
   * arrive meanwhile are coalesced into that sync.
   * 'immediate': every change is applied as it arrives (the userspace proxier's LoadBalancerRR,
   * Cilium's agent writing its BPF maps).
   */
  readonly trigger: 'runner' | 'immediate';
  /** Seconds (KubeProxyConfiguration's default minSyncPeriod: 1 s). */
  readonly minSyncPeriodS: number;
  readonly burst: number;
  /**
   * What kind a sync is: 'partial' (only changed Services are rewritten; a full sync only first,
   * after a failure, and every fullSyncPeriodS), or 'full-walk' (every sync walks every Service
   * and diffs it against the kernel: IPVS).
   */
  readonly kind: 'partial' | 'full-walk';
  /** Seconds between forced full syncs (proxyutil.FullSyncPeriod, one hour: kubernetes PR 129329), when kind is partial. */
  readonly fullSyncPeriodS?: number;
}

/** The connection tracking a mode brings instead of the kernel's nf_conntrack (Cilium's BPF CT maps). */
export interface ConntrackPolicy {
  /** Timeouts in place of kube-proxy's (ConntrackConfig's fields). */
  readonly timeouts: Partial<ConntrackConfig>;
  /** A full table evicts its least recently used entry (a BPF LRU map) rather than dropping the new flow. */
  readonly lru: boolean;
  /**
   * The node's table sizes as the mode configures them (TCP, and everything else): with `lru`, a
   * node sized as its proxy leaves it ('kube-proxy' sizing, see NodeWorld) gets two maps of these
   * sizes, each evicting only its own entries; a size given for every node (the replay's) is one map.
   */
  readonly tcpMax: number;
  readonly anyMax: number;
  /** False: TCP flags only time entries, no packet is INVALID (ConntrackTable's `tcpStateChecks`). Default true. */
  readonly tcpStateChecks?: boolean;
}

/** How the real kernel loads a mode's rules, for `kdp verify` and the kernel baseline. */
export interface KernelRules {
  /** The program that loads the rules, as it must be on PATH (`iptables-restore`, `nft`). */
  readonly tool: string;
  /** Its Debian package, for the message when it is missing. */
  readonly toolPackage: string;
  /** Arguments that make it read the rules from standard input. */
  readonly loadArgs: readonly string[];
  /** Arguments of one call of the tool that empties what an earlier load left (none: the load replaces). */
  readonly flushArgs?: readonly string[];
  /** The rules as the kernel gets them. */
  render(cluster: Cluster, node: number): string;
  /** kdp's dataplane for exactly that rendering (options the kernel cannot load left out alike). */
  compile(cluster: Cluster, node: number): ServiceDataplane;
  /** The 1-based line the tool refused, from its error output. */
  failingLine(stderr: string): number | undefined;
  /** Whether a line can be taken out of the text without breaking its structure. */
  strippable(line: string): boolean;
  /**
   * The one-endpoint sync as the kernel applies it (`kdp bench --kernel`, src/verify/kernel-apply.ts):
   * the programs that apply the mode's payloads, each a backend of its own, and the payloads.
   */
  readonly apply?: KernelApplyRules;
}

/** The texts of a one-endpoint sync: the full load, the change, and its undo. */
export interface ApplyPayloads {
  readonly full: string;
  readonly forward: string;
  readonly back: string;
}

export interface KernelApplyRules {
  /**
   * Each backend: its name in results (`iptables-legacy`), the program and its arguments, its
   * Debian package, and what `<kernel tool> --version` prints when that backend is the one the
   * rules were loaded with (the cell's own figure).
   */
  readonly backends: readonly { readonly name: string; readonly tool: string; readonly args: readonly string[]; readonly toolPackage: string; readonly version: RegExp }[];
  /** The payloads for `next`, `cluster` with `changed` Services changed, on node 0. */
  payloads(cluster: Cluster, next: Cluster, changed: readonly number[]): ApplyPayloads;
}

/**
 * Members are methods (not function-typed properties) on purpose: a record over a mode's own
 * dataplane class (`ProxyMode<IptablesDataplane>`) is then usable where any mode is expected.
 */
export interface ProxyMode<D extends ServiceDataplane = ServiceDataplane> {
  /** As `--mode` and KubeProxyConfiguration's `mode` spell it. */
  readonly name: ModeName;
  /** One line for `--help`. */
  readonly summary: string;
  /** The mode's rules for `node`, compiled from the model. */
  compile(cluster: Cluster, node: number): D;
  /** The text formats the mode's own tools print, the first being the default. */
  readonly formats: Readonly<Record<string, RenderRules>>;
  /** The formats the mode reads back (a real node's dump), by format name. */
  readonly parsers?: Readonly<Record<string, ParseRules<D>>>;
  /**
   * How each of `parsers`' formats is recognised: the pattern its tool's output matches on its
   * first meaningful line (not blank, not a `#` comment), for a dump given without `:FORMAT`.
   */
  readonly sniff?: Readonly<Record<string, RegExp>>;
  /**
   * A node of this mode read whole: one of its `parsers`' dumps (`dump`, the node's ipset save
   * appended) together with the iptables rules kube-proxy writes around the mode's own tables
   * (`iptables`, the node's iptables-save already read with `sets`), in the kernel's hook order.
   * Needs the cluster the node belongs to. Absent: the mode's dumps are read alone, and an
   * iptables-save beside them is refused (src/compile/node-state.ts).
   */
  readNode?(dump: string, iptables: Ruleset, sets: ReadonlyMap<string, IpsetSet>, cluster: Cluster, node: number): ServiceDataplane;

  /** Classes the shared tables hold (see packTables). */
  readonly sharedClasses: ClassRegistry;
  /** The compiled tables as plain data for worker threads: no per-instance state. */
  shared(dp: D): unknown;
  /** A dataplane over what `shared` gave (the same cluster), with fresh per-instance state. */
  attach(cluster: Cluster, shared: unknown): D;

  /** The one-endpoint sync, measured from the node's compiled dataplane (`prev`) to `next`. */
  syncOneEndpoint(prev: D, cluster: Cluster, next: Cluster, node: number, changedServices: readonly number[]): OneEndpointSync;
  /**
   * Writes an endpoint change into `dp`'s tables in place, under their seqlock (the shared image
   * included, so attached workers see it), in time proportional to the changed Services' endpoints.
   * `next` has the Services, ports and endpoint rows of the cluster `dp` was compiled from; only
   * endpoint conditions (ready, serving, terminating) differ, and only in `changedServices`. An
   * endpoint that is gone is a row with no condition set, which every mode already ignores. After
   * it, `dp` decides as `compile(next, node)` would (test/properties/incremental-update.test.ts).
   * Undefined: the change reaches past what the mode can write in place (iptables: a port's
   * KUBE-SERVICES rules); nothing was written, and the caller recompiles the node.
   */
  updateEndpoints?(dp: D, next: Cluster, changedServices: readonly number[]): TableUpdate | undefined;
  /**
   * Writes Services that appeared or disappeared into `dp`'s tables in place, under their seqlock
   * (the shared image included), in time proportional to those Services' ports and endpoints:
   * what kube-proxy's partial sync (or Cilium's reconciler) writes for a Service added or
   * deleted. `next` is the cluster `dp` was compiled from with the change written as
   * src/model/service-change.ts writes it: `added` are new Services appended past every index `dp`
   * knows, in order; `removed` keep their index as Services kube-proxy skips. After it, `dp`
   * decides as `compile(next, node)` would, up to the work a hash lookup counts (probe runs
   * depend on the order keys came and went) and what the real proxy keeps where a compile would
   * renumber (Cilium's IDs, the userspace proxy's sockets), test/properties/incremental-service.test.ts.
   * Undefined: the tables have no room left for the change (or the mode cannot tell the
   * outcome without a full pass); nothing was written, and the caller recompiles the node.
   * Absent: the mode always recompiles for a Service added or removed.
   */
  updateServices?(dp: D, next: Cluster, added: readonly number[], removed: readonly number[]): TableUpdate | undefined;
  /** How endpoint changes become syncs (see SyncLoop). */
  readonly syncLoop: SyncLoop;
  /**
   * Whether the endpoint a flow to this Service port gets depends on the flows seen before it
   * (round-robin cursors, affinity), so that shards legitimately differ (see src/replay/replay.ts).
   */
  orderDependent(cluster: Cluster, servicePort: number): boolean;
  /**
   * Figures only this mode has, measured once per sweep cell on node 0's compiled dataplane beside
   * the sync cost (the results' `modeFigures`): e.g. Cilium's Maglev table build time per Service.
   */
  figures?(dp: D, cluster: Cluster, clock: () => number): Readonly<Record<string, number>>;
  /** The mode's own connection tracking, when it does not use the kernel's nf_conntrack. */
  conntrack?(cluster: Cluster): ConntrackPolicy;
  /** Conntrack entries one flow makes on a node at most (a proxied flow makes two connections). */
  readonly conntrackEntriesPerFlow: number;
  /**
   * Rough cost, for the sweep's time estimate only: µs a new flow spends per Service in the
   * mode's lookup (0 when it does not grow with Services), µs per Service to compile a node, and
   * µs a flow costs whatever the Services (`flowUs`, kFlowUs in src/replay/sweep.ts when absent).
   */
  readonly cost: { readonly firstPacketUsPerService: number; readonly compileUsPerService: number; readonly flowUs?: number };
  /**
   * Its decision work counts rules matched one after another (iptables' linear chains): a sweep
   * cell then reports rules per first packet and ns per rule (the results' `iptables` field).
   */
  readonly ruleScan?: boolean;
  /**
   * How a first packet finds its Service: a scan that grows with the number of Services, or a
   * hash lookup that should not (the report's target (b) holds the hash modes to that).
   */
  readonly lookup: 'linear' | 'hash';
  /** The most Services the mode can serve on one node, and why; the sweep leaves out larger cells. */
  readonly serviceLimit?: { readonly services: number; readonly why: string };
  /**
   * Its dataplanes may carry `warnings` (what the mode's agent would log while programming a node,
   * ServiceDataplane.warnings): `kdp compile` then compiles the node once more to print them before
   * a listing. Absent: no mode pays that compile for nothing.
   */
  readonly warns?: boolean;
  /** Present when `kdp verify` can load the mode's rules into the real kernel. */
  readonly kernel?: KernelRules;
}
