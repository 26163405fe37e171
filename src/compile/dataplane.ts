/**
 * The contract every proxy mode's compiled tables meet, so that the pipeline, `kdp trace`, the
 * benchmark and the cross-mode tests treat every mode (src/compile/modes.ts) alike.
 *
 * A dataplane is compiled for one node (Local traffic policy, node addresses and the NodeCIDR
 * detector make the rules node-specific). It answers one question, fast: what happens to the
 * first packet of a new flow. Later packets never reach it; conntrack replays its answer.
 */
import type { ModeName } from '../model/types.js';

/** Where the packet meets the rules: PREROUTING for packets that arrive at the node (from its
 * pods or from outside), OUTPUT for packets the node itself sends (host network, loopback). */
export const HOOK_PREROUTING = 0;
export const HOOK_OUTPUT = 1;
/**
 * A local socket's `connect()` or `sendmsg()` (cgroup BPF, before any packet exists): asked only
 * of a dataplane with `socketLb`, for what a pod's or the host's socket sends.
 */
export const HOOK_SOCKET = 2;

/** What the rules did to the first packet. */
export const VERDICT_NONE = 0; // no service rule applied: the packet goes on unchanged
export const VERDICT_DNAT = 1; // rewritten to an endpoint
export const VERDICT_REJECT = 2; // ICMP port unreachable (or TCP reset) sent back
export const VERDICT_DROP = 3; // silently dropped
export const VERDICT_REDIRECT = 4; // redirected to a proxy's port on the node, which takes the connection over
/** A rule kdp cannot evaluate met the packet (a real node's dump only): kdp stops knowing there. */
export const VERDICT_UNKNOWN = 5;
/**
 * A Service's own rule let the packet in, unchanged (kube-proxy's health-check node port ACCEPT):
 * the packet goes on as with VERDICT_NONE, but a trace names the rule's answer.
 */
export const VERDICT_ACCEPT = 6;
export const kVerdictNames = ['none', 'dnat', 'reject', 'drop', 'redirect', 'unknown', 'accept'] as const;
export type VerdictName = (typeof kVerdictNames)[number];

/** A first packet, as the service stage sees it. Preallocated by the caller and reused. */
export interface FirstPacket {
  srcIp: number;
  srcPort: number;
  dstIp: number;
  dstPort: number;
  proto: number;
  hook: number;
  /** Entered from one of this node's pod interfaces (veth): the interface-based local detectors. */
  fromPodInterface: boolean;
  /**
   * A uniform random u32 for this flow. Every random choice (statistic matches, numgen, a
   * scheduler's tie-break) derives from it, so the same flow decides the same way in every run.
   */
  rand: number;
  /** Virtual time in seconds, for session-affinity timeouts. */
  now: number;
  /**
   * The service frontend the packet carries from the node that balanced it, in DSR (Cilium's IPv4
   * option, or its Geneve option; see DSR_*): 0 or absent when it carries none. (Optional so
   * that a literal FirstPacket of a test need not name it; newFirstPacket sets both.)
   */
  dsrIp?: number;
  dsrPort?: number;
}

// How a decision asks the pipeline to carry DSR's frontend (NatDecision.dsr), Cilium's
// bpf/lib/nodeport.h: the entry node sends it with the DNATed packet to the backend's node
// (`dsr_set_opt4` for bpf-lb-dsr-dispatch opt; `encap_geneve_dsr_opt4` for geneve), which
// remembers it (`nodeport_extract_dsr_v4`, `snat_v4_create_dsr`) and gives the backend's replies
// that source as they leave (`xlate_dsr_v4`), so they go straight to the client.
export const DSR_NONE = 0;
/** DNAT in DSR: the packet carries the frontend in an IPv4 option (TCP: the SYN only). */
export const DSR_OPTION = 1;
/** DNAT in DSR: the frontend rides in the tunnel header (kdp: the packet's metadata). */
export const DSR_TUNNEL = 2;
/** No service here, but the packet carries a frontend: this node translates the flow's replies to it. */
export const DSR_REPLY = 3;

/** The answer for one first packet. Preallocated by the caller and overwritten. */
export interface NatDecision {
  verdict: number;
  /** Index into `Cluster.ports`, or -1 when no service matched. */
  servicePort: number;
  /** Endpoint row chosen (into `Cluster.endpoints`), or -1. */
  endpoint: number;
  /** Destination after DNAT (the endpoint's, or the proxy's for REDIRECT). */
  dnatIp: number;
  dnatPort: number;
  /** Marked for masquerade (SNAT to the node's address at POSTROUTING). */
  masquerade: boolean;
  /** Cost accounting: the mode's unit of lookup work, rules matched or hash probes. */
  work: number;
  /** DSR_*: what the pipeline does about Direct Server Return (absent: DSR_NONE). */
  dsr?: number;
}

export function newFirstPacket(): FirstPacket {
  return { srcIp: 0, srcPort: 0, dstIp: 0, dstPort: 0, proto: 0, hook: HOOK_PREROUTING, fromPodInterface: false, rand: 0, now: 0, dsrIp: 0, dsrPort: 0 };
}

/** Resets a decision to "no rule applied" before a mode fills it in. */
export function clearDecision(out: NatDecision): void {
  out.verdict = VERDICT_NONE;
  out.servicePort = -1;
  out.endpoint = -1;
  out.dnatIp = 0;
  out.dnatPort = 0;
  out.masquerade = false;
  out.work = 0;
  out.dsr = DSR_NONE;
}

export function newNatDecision(): NatDecision {
  return { verdict: VERDICT_NONE, servicePort: -1, endpoint: -1, dnatIp: 0, dnatPort: 0, masquerade: false, work: 0, dsr: DSR_NONE };
}

/** One rule or table lookup a packet met, in the mode's own words, for `kdp trace`. */
export interface TraceStep {
  /** The table or chain, in the mode's own words. */
  readonly where: string;
  /** The rule or entry as the mode's own tool prints it. */
  readonly rule: string;
  /** What it did: "jump KUBE-SVC-…", "DNAT 10.244.1.5:8080", "MARK 0x4000", "no match", … */
  readonly action: string;
}

/** Everything a first packet could meet: every branch of every random choice explored. */
export interface Explanation {
  readonly verdict: VerdictName;
  readonly servicePort: number;
  /** Every endpoint row the packet could be DNATed to, in the order of the mode's rules. */
  readonly candidates: readonly number[];
  /** Marked for masquerade on any candidate path (as kube-proxy's own packet tracer reports). */
  readonly masquerade: boolean;
  readonly steps: readonly TraceStep[];
  /** With verdict `unknown`: the rule kdp could not evaluate, `line N: -A CHAIN ...`, and why. */
  readonly unknownAt?: string;
}

/**
 * What drops a packet conntrack calls INVALID (its TCP state table's sIV), in the mode's words.
 * `forward`: a filter FORWARD rule, so only forwarded packets (kube-proxy's iptables mode:
 * `-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP`, left out when the node has
 * nf_conntrack_tcp_be_liberal, kubernetes PR 120412). `conntrack`: kdp drops it where conntrack
 * sees it, which is kdp's own choice for a mode whose kernel behaviour it does not model (IPVS).
 */
export interface InvalidDrop {
  readonly at: 'forward' | 'conntrack';
  readonly words: string;
}

export interface DataplaneStats {
  readonly mode: ModeName;
  /** Rules in all chains, or entries in all tables, as the mode counts them. */
  readonly rules: number;
  readonly chains: number;
  /** Bytes of typed arrays holding the compiled tables. */
  readonly tableBytes: number;
  readonly [extra: string]: number | string;
}

/**
 * Below this many bytes of the arrays decide() reads, ServiceDataplane.prefetch does nothing:
 * they stay in a core's L2 (2 MB here) between frames, beside conntrack's lines, and the
 * prefetch's own loops are the cost. IPVS's service-nat stage, with the prefetch against
 * without: +35 ns a first packet at 100 Services (52 KB), +5 at 1k (0.40 MB), -12 at 2k (0.80
 * MB), -44 at 3k (1.24 MB), -116 at 10k, -164 at 30k (`kdp bench --services
 * 100,1000,2000,3000,10000,30000 --modes ipvs --workers 1 --flows 500000`, medians of three runs
 * of each alternated, 2026-12-06). Without the gate, at 10 and 100 Services, nftables' prefetch
 * cost +35 and +34 ns, Cilium's +19 and +19 (`kdp bench --services 10,100 --modes
 * nftables,ipvs,cilium --workers 1 --flows 500000`, the same way).
 */
export const kPrefetchMinBytes = 512 << 10;

export interface ServiceDataplane {
  readonly mode: ModeName;
  /** The node (index into `Cluster.nodes`) the rules were compiled for. */
  readonly node: number;
  /** Hot path: no allocation, no exceptions. */
  decide(pkt: FirstPacket, out: NatDecision): void;
  /**
   * The seqlock word of tables that ProxyMode.updateEndpoints writes in place (see
   * table-generation.ts); readers that may run beside a writer call decideConsistent.
   */
  readonly generation?: Int32Array;
  /** Slow path for `kdp trace` and tests: explores every random branch. */
  explain(pkt: FirstPacket): Explanation;
  stats(): DataplaneStats;
  /**
   * Software prefetch for decide() over a stage's frame (service-nat.ts), VPP's way: this node's
   * packets of the frame (`frame[0..count)` indexes the batch's arrays) whose destination the first
   * lookup may hold, compacted into a vector, then each level of decide()'s reads one tight gather
   * loop over that vector, so the frame's misses overlap instead of queueing one decide() behind
   * the other. It reads and never writes the tables, and returns what it read (the caller keeps
   * it, so the loads stay): it changes what is in cache, never an answer. `mix32(flowHash[i], seed)`
   * is the packet's `rand`, for a mode whose next read depends on its random branch. A mode skips it while
   * the arrays it would read span less than kPrefetchMinBytes.
   */
  prefetch?(frame: Int32Array, count: number, node: Uint16Array, dstIp: Uint32Array, dstPort: Uint16Array, proto: Uint8Array, flowHash: Uint32Array, seed: number): number;
  /**
   * Set when the mode balances at the socket (Cilium's socket LB): the pipeline then asks
   * `decide` with HOOK_SOCKET before a local socket's packet leaves, rewrites its destination
   * there, and translates the answers back at the socket; conntrack sees only the backend.
   */
  readonly socketLb?: boolean;
  /**
   * For `kdp trace`: the program a first packet meets, in the mode's words, where the hook's name
   * (PREROUTING, OUTPUT) would not say it (an eBPF program at tc or XDP). Not called on the hot path.
   */
  programAt?(pkt: FirstPacket): string;
  /**
   * Absent when the mode writes no rule against conntrack INVALID (nftables since kube-proxy
   * v1.30, kubernetes PR 122663; userspace): such a packet goes on untracked, without NAT, and its
   * entry is left as it was, unless the CNI's own chains drop it (dataplane/route.ts).
   */
  readonly invalidDrop?: InvalidDrop;
  /** For `kdp trace`: what does the source NAT of a marked packet, when not iptables' MASQUERADE. */
  readonly snatBy?: string;
  /**
   * What the mode's own agent would log while programming these tables (Cilium: a full LB map
   * refusing upserts), one line each; `kdp compile` and `kdp trace` print them as warnings.
   */
  readonly warnings?: readonly string[];
  /**
   * Forgets every per-run state (session affinity entries, schedulers' cursors), as a freshly
   * started node would have them.
   */
  reset(): void;
}
