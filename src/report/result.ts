/**
 * One benchmark cell's result: one JSON object per line in `results/results.jsonl`. The sweep
 * writes it, `--resume` reads it back to skip finished cells, and the report draws it. Field
 * names are relied on by other tools; add fields, never rename them.
 */

/** The cell's coordinates: a sweep never runs the same key twice (that is what --resume skips). */
export interface CellKey {
  /** iptables | ipvs | nftables | userspace, or a kernel baseline: kernel-iptables | kernel-nftables */
  readonly mode: string;
  readonly services: number;
  readonly endpointsPerService: number;
  readonly cni: string;
  readonly workers: number;
  readonly flows: number;
  readonly seed: number;
  readonly zipf: number;
  /**
   * How each node's conntrack table was sized (`kdp bench --conntrack`): `fit` holds every flow of
   * the worker's shard, so nothing is dropped for want of room; `kube-proxy` is nf_conntrack_max
   * as kube-proxy leaves it on the node (max(maxPerCore x CPUs, min), never below the kernel's
   * default), divided by the workers, each owning a shard of the flows as RSS gives a core its
   * share. New flows that find the table full are dropped and counted in
   * `counters["drop:conntrack-full"]`; `counters.conntrackEntries` and `counters.conntrackCapacity`
   * show how full the tables ended. Absent (results before it existed) means `fit`.
   */
  readonly conntrack?: 'fit' | 'kube-proxy';
  /**
   * Network policies in the cell's synthetic cluster (`kdp bench --policies`, the mix of
   * `kdp generate --policies`), enforced by the policy stage on Calico CNIs. Absent means 0.
   * The policy stage's time is `stages.policy`; flows a policy denied count in
   * `counters["drop:policy"]`.
   */
  readonly policies?: number;
  /**
   * `kdp bench --dns`: each connection a pod opens to a name resolves it first, as its resolver
   * would (src/replay/lookups.ts), through `kube-dns` alone or behind NodeLocal DNSCache
   * (`nodelocal`); the synthetic cluster then has kube-system/kube-dns (and kube-dns-upstream).
   * Absent: no lookups. `ndots` is the pods' (5 as kubelet writes it, 1 as `dnsConfig` can set),
   * `dnsExternal` the share of looked-up connections that call an external name instead of a
   * Service. The measurements are in `lookups`.
   */
  readonly dns?: 'kube-dns' | 'nodelocal';
  readonly ndots?: number;
  readonly dnsExternal?: number;
}

/** A measured quantity over repeated runs: the median and the spread. */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

export interface CellResult extends CellKey {
  readonly schema: 1;
  /** ISO time the cell finished. */
  readonly finishedAt: string;
  readonly packets: number;
  /** Bytes on the wire, including encapsulation overhead. */
  readonly wireBytes: number;
  readonly gbitPerSecond: number;
  readonly newFlow: { readonly nsPerFlow: number; readonly perSecond: number; readonly spread?: Spread };
  /**
   * `inCache` (1-worker cells; absent in results from before it was measured): the same cell
   * replayed with `flows` flows (kInCacheFlows), its conntrack tables (`conntrackBytes` on both
   * nodes) small enough to stay in cache: what an established packet costs when no lookup misses,
   * the fastest of kInCacheRuns runs.
   */
  readonly established: {
    readonly packetsPerSecond: number;
    readonly nsPerPacket: number;
    readonly spread?: Spread;
    readonly inCache?: { readonly flows: number; readonly nsPerPacket: number; readonly conntrackBytes: number };
  };
  /** iptables modes only. In a --dns cell, first packets include the lookups' (rule walks of kube-dns's ClusterIP). */
  readonly iptables?: { readonly rulesPerFirstPacket: number; readonly nsPerRule: number };
  /**
   * Rule-sync cost (src/replay/sync-cost.ts). `fullMs`: compile of node 0's tables from the model, the
   * median of `counters.fullBuilds` builds (up to 3, while they fit 8 s; one in results before 2026-12-04).
   * `oneEndpointMs`: kdp's own update of those tables for one endpoint turning unready, written in
   * place (ProxyMode.updateEndpoints; median of 7); a mode without an in-place update has
   * `counters.measuredOneEndpointUpdate: 0` and the figure is missing (0 here, never a measurement).
   * `oneEndpointRewrittenBytes`/`Rules`: what kube-proxy itself would write to the kernel for that
   * change (the mode's sync.ts). `counters.oneEndpointEntriesWritten`: table slots kdp's update wrote.
   * `counters.oneEndpointRecompiled: 1`: the mode could not write that change in place (iptables: it
   * changed the port's KUBE-SERVICES rules), and `oneEndpointMs` is the recompile it fell back to.
   * `oneServiceMs` (absent when the mode has no in-place Service update, ProxyMode.updateServices:
   * it recompiles the node for a Service added): kdp's own update of node 0's tables for one
   * ClusterIP Service created, with its ports and endpoints (the cell's last such Service deleted
   * and created again, src/model/service-change.ts), written in place on a compile of its own;
   * median of 7. `counters.oneServiceEntriesWritten`: slots it wrote; `counters.oneServiceRecompiled:
   * 1`: the tables had no room for it, and `oneServiceMs` is the recompile it fell back to.
   */
  readonly sync: {
    readonly fullMs: number; readonly oneEndpointMs: number; readonly oneEndpointRewrittenBytes: number; readonly oneEndpointRewrittenRules?: number;
    readonly oneServiceMs?: number;
  };
  /**
   * `tableBytes`: the largest node's compiled tables. `allNodesTableBytes` (absent in results from
   * before 2026-12-06): every node's together, which a worker holds at once, since it replays every
   * node's packets on one core, where each node of a cluster has caches of its own.
   */
  readonly memory: { readonly tableBytes: number; readonly conntrackBytesPerEntry: number; readonly allNodesTableBytes?: number };
  /**
   * Figures only the cell's mode has (ProxyMode.figures), by name. cilium: `maglevBuildUsPerService`
   * (µs to build one Service's Maglev table at the configured M, the median over up to 200 Services
   * with backends), `maglevTableBytesPerService` (4 x M), `maglevServicesTimed`, `lbMapEntries`
   * (service-map entries the node needs: masters and slots), `lbMapMax` (bpf-lb-map-max; the
   * synthetic cluster raises it past Cilium's default 65,536 when the Services need more),
   * `lbMapUnprogrammed` (frontends left out because the map was full; 0 when all fit).
   */
  readonly modeFigures?: Readonly<Record<string, number>>;
  /**
   * `kdp bench --churn R` only (src/replay/churn.ts): R endpoint changes per second, shaped like
   * rolling updates, for 10 simulated seconds, while pods on node 0 open 2,000 flows a second to
   * ClusterIPs. `programmingLatencyMs`: change to rule in effect (the wait for the mode's sync
   * loop, ProxyMode.syncLoop, plus kdp's measured apply, plus the kernel's measured apply when
   * `kernelApply.included` names a backend; see ChurnKernelApply). `syncs`: how many of each kind ran (IPVS walks everything: full). `bytesWrittenPerSecond`:
   * what kube-proxy (or the agent) would write, planned by the mode's sync code, per simulated
   * second. `packetsToGoneEndpoints`: packets of those flows sent while their endpoint's pod was
   * gone, which a real node loses. The run's size is in counters (churnSeconds, churnChanges,
   * churnFlows, churnPackets, churnApplyMs: median ms of one apply; churnRecompiles: syncs the
   * mode could not write in place and applied by recompiling node 0), beside what the writes hold
   * per simulated second: churnRulesWrittenPerSecond (rules, nft elements, ipvsadm and ipset
   * commands) and churnChainsWrittenPerSecond (iptables and nftables only). With a kernel
   * included, every contract field is that backend's run's (its syncs are fewer and later when
   * the kernel is slow).
   */
  readonly churn?: {
    readonly changesPerSecond: number;
    readonly programmingLatencyMs: { readonly p50: number; readonly p90: number; readonly p99: number };
    readonly syncs: { readonly full: number; readonly partial: number };
    readonly bytesWrittenPerSecond: number;
    readonly packetsToGoneEndpoints: number;
    /** Whether the latency includes the kernel's apply (absent in results from before it could). */
    readonly kernelApply?: ChurnKernelApply;
  };
  /**
   * The machine's limits measured in the same run (src/replay/limits.ts), over an array the size
   * of one worker's conntrack tables: `randomReadNs` one read of a dependent chain (latency),
   * `independentReadNs` one read among independent ones (throughput, misses overlapped; absent in
   * results before it was measured), `scanNsPerElement` a sequential scan, the minimum of warmed
   * repeats. `parallel`, in cells of more than one worker: what that many of the pool's threads
   * did at once against one alone (src/replay/scaling.ts), on independent reads and stores over
   * arrays of the same size and on arithmetic, each the sum of the threads' throughputs over the
   * lone thread's (absent in 1-worker cells and in results from before it was measured).
   */
  readonly limits: {
    readonly randomReadNs: number;
    readonly independentReadNs?: number;
    readonly scanNsPerElement: number;
    readonly parallel?: ParallelScaling;
  };
  /**
   * `kdp bench --dns` cells only, from the first run (times: the median over runs, per worker as
   * `newFlow`). `connections`: connections replayed; `lookedUp`: those that resolved a name first
   * (ClusterIP connections and the external share); `names`: names their resolvers asked (one
   * UDP socket each, from the pod to its nameserver on port 53); `queries`: DNS queries sent, an
   * A and an AAAA per name; `queriesPerConnection`: queries / lookedUp. `upstreamConnections`:
   * node-local-dns's TCP connections to kube-dns-upstream, one per cache miss (0 without the
   * cache). `conntrackEntries`: entries DNS left in every node's table (original tuple to port 53
   * of a nameserver, node-local-dns, kube-dns-upstream or a CoreDNS pod), counted in the tables
   * after the run; `conntrackShare`: of every entry the run created (counter `new`, all nodes).
   * `lookupNsPerConnection`: runBatch time spent on a lookup's packets (queries, answers, upstream
   * connections), per looked-up connection; `firstPacketNs`: what a looked-up connection's first
   * packet costs with its lookup: `newFlow.nsPerFlow` + `lookupNsPerConnection`.
   * `failedLookups`: lookup flows whose first packet was not delivered.
   */
  readonly lookups?: {
    readonly connections: number;
    readonly lookedUp: number;
    readonly names: number;
    readonly queries: number;
    readonly queriesPerConnection: number;
    readonly upstreamConnections: number;
    readonly conntrackEntries: number;
    readonly conntrackShare: number;
    readonly lookupNsPerConnection: number;
    readonly firstPacketNs: number;
    readonly failedLookups: number;
  };
  /** ns per packet in each pipeline stage, by stage name (in a --dns cell, over the lookups' packets too); each the median over the cell's runs. */
  readonly stages?: Readonly<Record<string, number>>;
  /**
   * ns per established packet in each stage, over the established phase alone (connections'
   * later packets, replies included; not a --dns cell's lookups): what `stages` averages together
   * with first packets' conntrack inserts and lookups. Absent in results from before it was measured.
   */
  readonly establishedStages?: Readonly<Record<string, number>>;
  readonly counters?: Readonly<Record<string, number>>;
  /** Which endpoint each flow got, hashed: equal across worker counts for the same seed. */
  readonly decisionChecksum: string;
}

/**
 * A kernel baseline point `kdp bench --kernel` set out to measure and did not: one JSON object per
 * line in `results/kernel-missing.jsonl`, so that the report says why the point is missing (a
 * tool absent, the kernel refusing the ruleset, a timeout) instead of leaving a silent gap.
 */
/**
 * The kernel's side of a churn cell (`kdp bench --churn R --churn-kernel`, src/verify/churn-kernel.ts):
 * per backend of the mode, a churn run whose every sync applied its partial payload (the mode's
 * ProxyMode.kernel.apply `forward`) into a kernel table of its own network namespace, loaded first
 * with the starting cluster's full payload; each sync lasted kdp's apply plus the kernel's in the
 * sync loop's clock, and each change's latency is wait + kdp's apply + the kernel's apply.
 */
export interface ChurnKernelApply {
  /**
   * The backend whose apply the cell's programmingLatencyMs (and its other contract fields)
   * include: the node's own `iptables-restore` backend (`iptables-legacy` or `iptables-nft`),
   * or `nftables`. Absent when none is; then `notIncluded` says why (not asked for, not root, a
   * mode kdp cannot apply to the kernel, the backend failed), and the latency is kdp's side alone.
   */
  readonly included?: string;
  readonly notIncluded?: string;
  /** With a backend included: the same cell's run without the kernel (the wait + kdp's apply). */
  readonly withoutKernelMs?: { readonly p50: number; readonly p90: number; readonly p99: number };
  /**
   * Every backend run, the included one too: its latencies and syncs, the median ms of one
   * sync's kernel apply (`applyMs`, the tool's wall time, spawn included) over `applies`, and the
   * untimed-for-latency load of the full payload before the run (`loadMs`).
   */
  readonly backends?: readonly {
    readonly backend: string;
    readonly programmingLatencyMs: { readonly p50: number; readonly p90: number; readonly p99: number };
    readonly syncs: { readonly full: number; readonly partial: number };
    readonly applyMs: number;
    readonly applies: number;
    readonly loadMs: number;
  }[];
  /** Backends asked for and not measured, each `name: why` (a tool missing, a payload refused, a timeout). */
  readonly missing?: readonly string[];
}

export interface KernelMissing {
  /** kernel-iptables | kernel-nftables */
  readonly mode: string;
  readonly services: number;
  readonly endpointsPerService: number;
  readonly seed: number;
  /** What went wrong, as the sweep logged it. */
  readonly why: string;
  /** ISO time it was given up. */
  readonly at: string;
}

/** The file of KernelMissing lines in a results directory. */
export const kKernelMissingFile = 'kernel-missing.jsonl';

/** W threads' throughput over one thread's alone, on independent reads, independent stores and arithmetic (the median of repeats). */
export interface ParallelScaling {
  readonly threads: number;
  readonly readSpeedup: number;
  readonly writeSpeedup: number;
  readonly computeSpeedup: number;
}

/** What a results file records of huge pages (machine.json `hugePages`; replay/huge-pages.ts). */
export interface HugePages {
  /** The kernel's transparent huge page mode (`always`, `madvise`, `never`), or null where it cannot be read. */
  readonly thp: string | null;
  /** glibc's version when Node.js runs on glibc, else null (malloc's tunables are glibc's). */
  readonly glibc: string | null;
  /** `glibc.malloc.hugetlb` as GLIBC_TUNABLES gave it to the process, or null when it did not. */
  readonly mallocHugetlb: string | null;
  /** Whether malloc'd tables get huge pages: THP `always`, or `madvise` with malloc asking (hugetlb 1, glibc 2.35+). */
  readonly tables: boolean;
}

/** The environment a results file was produced on, written once as `results/machine.json`. */
export interface MachineInfo {
  readonly cpuModel: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  readonly platform: string;
  readonly kernel: string;
  /** The V8 flags the replay threads ran with (pool.ts kWorkerV8Flags); absent in results from before kdp set any. */
  readonly v8Flags?: readonly string[];
  /**
   * The Node.js options the process was started with (`process.execArgv`): the main thread, where
   * every cell's rules are compiled and the full builds timed, runs with them (`npm run bench`
   * and the `kdp` command give it `--max-semi-space-size=64`); V8's among them reach the replay
   * threads too. Absent in results from before kdp recorded it.
   */
  readonly execArgv?: readonly string[];
  /** Whether the run's tables sat on 2 MiB pages, and why (replay/huge-pages.ts). Absent in results from before kdp recorded it. */
  readonly hugePages?: HugePages;
  /**
   * `git rev-parse HEAD` of the code that ran, or null when it could not be known (not a git
   * checkout, git absent); then `gitCommitMissing` says why. Never a placeholder posing as data.
   */
  readonly gitCommit: string | null;
  /** Why `gitCommit` is null; absent when it is known. */
  readonly gitCommitMissing?: string;
  readonly date: string;
  readonly command: string;
  /** How this run's sweep ended (written when it ends: absent while it runs, or from kdp before it kept it). */
  readonly sweep?: SweepRun;
  /** Later `--resume` runs that added cells to the same results: their commands, dates, commits and huge pages, and how each ended. */
  readonly resumes?: readonly { readonly command: string; readonly date: string; readonly gitCommit: string | null; readonly hugePages?: HugePages; readonly sweep?: SweepRun }[];
  /** A sharded sweep (`kdp bench --shard I/N`, or `--shards N` in an Indexed Job): which shard these results are. */
  readonly shard?: { readonly index: number; readonly count: number };
  /** The Kubernetes node the shard's pod ran on (`KDP_NODE_NAME`, set by the Job `kdp job` prints). */
  readonly kubernetesNode?: string;
}

/** One `kdp bench` run's sweep as it ended: its wall time, and what its cells came to. */
export interface SweepRun {
  /** From the run's start (its machine record's date) to its end. */
  readonly elapsedMs: number;
  /** Cells the run was given; of them, those it ran, found already finished (--resume), saw fail. */
  readonly cells: number;
  readonly ran: number;
  readonly skipped: number;
  readonly failed: number;
  /** Stopped early (Ctrl-C): the cells after it never ran. */
  readonly stopped: boolean;
  /**
   * The run was the default sweep: `kdp bench`'s own grid on this machine's cores, no --churn, not
   * a shard. Issue 14's wall-time target is about that sweep.
   */
  readonly defaultSweep: boolean;
}

/**
 * The machine's memory in whole GiB: how machine records are compared (the kernel's total moves
 * by a few hundred kB between boots of one machine).
 */
export function memoryGiB(m: MachineInfo): number {
  return Math.round(m.memoryBytes / 2 ** 30);
}

/** The runs a cell's figures are the median of: counters.repeats, or its spreads' runs (none recorded: one run). */
export function runsOf(r: CellResult): number {
  return Math.max(1, r.counters?.repeats ?? 1, r.newFlow.spread?.runs ?? 1, r.established.spread?.runs ?? 1);
}

/**
 * A cell's key: its coordinates in this fixed order, whatever order the command line gave them
 * in. --resume, the report's last-line-wins and a sharded sweep's shards (plan.ts) all rely on it
 * staying the same across kdp versions.
 */
export function cellKeyString(k: CellKey): string {
  // `fit` adds nothing, so the keys (and shards) of every earlier sweep stay what they were.
  const conntrack = k.conntrack === 'kube-proxy' ? '|conntrack=kube-proxy' : '';
  const policies = k.policies ? `|policies=${k.policies}` : '';
  const dns = k.dns ? `|dns=${k.dns},ndots=${k.ndots ?? 5},external=${k.dnsExternal ?? 0}` : '';
  return `${k.mode}|${k.services}|${k.endpointsPerService}|${k.cni}|${k.workers}|${k.flows}|${k.seed}|${k.zipf}${conntrack}${policies}${dns}`;
}
