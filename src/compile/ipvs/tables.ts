/**
 * The compiled IPVS state of one node, as typed arrays (Cilium-like shape, STYLE item 7):
 * virtual services by index (`vs*`, and the fields a first packet reads in `vs` rows), each
 * owning the real-server range `[vsRsStart, vsRsStart + vsRsCount)` of the `rs` rows; the real
 * server's endpoint row is the backend id. Scheduler state (rr cursor, wrr cursor/weight, lc
 * connection counts) lives beside it.
 */
import type { IpvsScheduler } from '../../model/types.js';
import type { AddressSet, ExpiringTable, PairTable } from '../tables/index.js';
import type { MaglevBackends } from './maglev.js';

/** Why the virtual service exists (which kube-proxy loop created it). */
export const VS_CLUSTER_IP = 0;
export const VS_EXTERNAL_IP = 1;
export const VS_LOAD_BALANCER = 2;
export const VS_NODE_PORT = 3;
export const kVsKindNames = ['ClusterIP', 'externalIP', 'LoadBalancer', 'NodePort'] as const;

/** Set memberships and properties of a virtual service (one ipset entry each, keyed like the VS). */
export const F_CLUSTER_IP = 1; // KUBE-CLUSTER-IP
export const F_EXTERNAL_IP = 2; // KUBE-EXTERNAL-IP
export const F_EXTERNAL_IP_LOCAL = 4; // KUBE-EXTERNAL-IP-LOCAL
export const F_LB = 8; // KUBE-LOAD-BALANCER
export const F_LB_LOCAL = 16; // KUBE-LOAD-BALANCER-LOCAL
export const F_LB_FW = 32; // KUBE-LOAD-BALANCER-FW (has loadBalancerSourceRanges)
export const F_LB_ALLOW_NODE = 64; // KUBE-LOAD-BALANCER-SOURCE-IP (a source range holds the node IP)
export const F_PERSISTENT = 128; // ClientIP affinity: ipvsadm -p
export const F_BOUND = 256; // address bound to kube-ipvs0 (KUBE-IPVS-IPS)
export const F_LOCAL_POLICY = 512; // real servers chosen under a Local traffic policy
export const F_LOCAL_FALLBACK = 1024; // ... which had no local endpoint, so cluster ones were used (PR 97081)
/** The VS's Service was removed (update-services.ts): no longer in the table, its slot unused until the next compile. */
export const F_GONE = 2048;

/** Bits of `nodePortBits[port]`: the bitmap:port sets, and SCTP's hash:ip,port sets. */
export const NP_TCP = 1;
export const NP_UDP = 2;
export const NP_SCTP = 4;
export const NP_TCP_LOCAL = 8;
export const NP_UDP_LOCAL = 16;
export const NP_SCTP_LOCAL = 32;
export const NP_HEALTH_CHECK = 64;

export const SCHED_RR = 0;
export const SCHED_WRR = 1;
export const SCHED_LC = 2;
export const SCHED_SH = 3;
export const SCHED_MH = 4;
export const kSchedulerIds: Readonly<Record<IpvsScheduler, number>> = { rr: SCHED_RR, wrr: SCHED_WRR, lc: SCHED_LC, sh: SCHED_SH, mh: SCHED_MH };

export interface IpvsTables {
  /** Seqlock word of in-place endpoint updates (table-generation.ts). */
  readonly generation: Int32Array;
  /** The virtual services of each service port: `[spVsStart, spVsStart + spVsCount)` (build order). */
  readonly spVsStart: Uint32Array;
  readonly spVsCount: Uint32Array;
  /** Virtual services in use (past them: room for Services added in place, update-services.ts). */
  readonly vsCount: number;
  /** Service ports `spVsStart` and `spVsCount` cover (an update appends new ports past them). */
  readonly ports: number;
  /** Of the vsCount, those of Services removed in place (F_GONE). */
  readonly vsGone: number;
  readonly vsIp: Uint32Array;
  readonly vsPort: Uint16Array;
  readonly vsProto: Uint8Array;
  readonly vsKind: Uint8Array;
  /** Its real-server range, flags and Service port, VsWord.STRIDE words a VS (vsRsStart() and the others read them). */
  readonly vs: Int32Array;
  /** Persistence timeout in seconds (sessionAffinityConfig.clientIP.timeoutSeconds). */
  readonly vsTimeout: Uint32Array;
  /** Source ranges of a firewalled LB VS: `[vsFwStart, vsFwStart + vsFwCount)` of fwBase/fwPrefix. */
  readonly vsFwStart: Uint32Array;
  readonly vsFwCount: Uint16Array;
  /** Source ranges in use. */
  readonly fwCount: number;
  readonly fwBase: Uint32Array;
  readonly fwPrefix: Uint8Array;
  /** wrr: max weight (minus gcd-1) and gcd of the VS's weights, as ip_vs_wrr_init_svc computes them. */
  readonly vsWrrMw: Uint16Array;
  readonly vsWrrDi: Uint16Array;
  /** mh: index of the VS's Maglev table in `mhLuts` (in units of mhSize), or -1. */
  readonly vsMh: Int32Array;
  readonly mhLuts: Uint32Array;
  readonly mhSize: number;
  /** Maglev tables given out, and of them those of Services since removed (update-services.ts). */
  readonly mhUsed: number;
  readonly mhGone: number;

  /** Real-server slots, spare room included (realServerCount: the ones in use). */
  readonly rsCount: number;
  /** Of which given to a VS's range. */
  readonly rsUsed: number;
  /** The real servers, RsWord.STRIDE words a slot: what a first packet's pick and DNAT read, in one line. */
  readonly rs: Int32Array;
  /**
   * 1 when the slot's (ip, port) is in KUBE-LOOP-BACK: a local endpoint, masqueraded when it calls
   * itself. Apart from `rs`: decide() reads it only for a client that is the real server itself.
   */
  readonly rsLoopback: Uint8Array;

  /** The kernel's service table (ip_vs_svc_hashkey): key (address, portProtoKey) -> the VS index. */
  readonly table: PairTable;
  /** KUBE-IPVS-IPS. */
  readonly bound: AddressSet;
  /**
   * Live VSs that bind each address of `bound` (key (address, 1) -> count): an address leaves
   * kube-ipvs0 with the last VS on it, as kube-proxy unbinds what no VS it wants uses any more
   * (proxier.go: the legacy bind addresses). What update-services.ts keeps right.
   */
  readonly boundRefs: PairTable;
  /** Node addresses that carry NodePort virtual services. */
  readonly nodePortIps: AddressSet;
  readonly nodePortBits: Uint8Array;
  /**
   * Local endpoint rows (KUBE-LOOP-BACK entries), per service port: rows of this node, the first
   * `loopbackCount` of the array; -1 for a row of a Service since removed.
   */
  readonly loopbackRows: Int32Array;
  readonly loopbackCount: number;

  // Scheduler state, per compiled instance (the kernel's per-service sched_data).
  readonly rrNext: Uint32Array;
  readonly wrrCl: Int32Array;
  readonly wrrCw: Int32Array;
  /** Active connections per real server (ip_vs_dest.activeconns), used by lc. */
  readonly rsConns: Uint32Array;
  /** Persistence templates: (VS, client) -> real server offset in the VS, until expiry. */
  readonly affinity: ExpiringTable;
}

/**
 * A virtual service's row in IpvsTables.vs: the fields a first packet reads for its VS (the
 * kernel's struct ip_vs_service holds them together too), one line where separate arrays were a
 * miss each at 10k Services and more. A VS's real-server range has room for every row of its port
 * (ready or not): an update never moves it.
 */
export const enum VsWord {
  RS_START = 0,
  RS_COUNT = 1,
  /** F_* bits. */
  FLAGS = 2,
  /** Its Service port's index in Cluster.ports, -1 for a VS read from a node that no Service has. */
  SERVICE_PORT = 3,
  STRIDE = 4,
}
// Measured with RsWord in place (`kdp bench --services 10000,30000 --modes ipvs --workers 1 --flows
// 1000000`, three runs of each build alternated, 2026-12-06): the service-nat stage took 311 ns a
// first packet at 30k Services against 333 with an array a field, 275 against 277 at 10k.

type Vs = Pick<IpvsTables, 'vs'>;
export const vsRsStart = (t: Vs, v: number): number => t.vs[v * VsWord.STRIDE + VsWord.RS_START];
export const vsRsCount = (t: Vs, v: number): number => t.vs[v * VsWord.STRIDE + VsWord.RS_COUNT];
export const vsFlags = (t: Vs, v: number): number => t.vs[v * VsWord.STRIDE + VsWord.FLAGS];
export const vsServicePort = (t: Vs, v: number): number => t.vs[v * VsWord.STRIDE + VsWord.SERVICE_PORT];

/** Writes VS `v`'s row of `vs`. */
export function writeVirtualService(vs: Int32Array, v: number, rsStart: number, rsCount: number, flags: number, servicePort: number): void {
  const o = v * VsWord.STRIDE;
  vs[o + VsWord.RS_START] = rsStart;
  vs[o + VsWord.RS_COUNT] = rsCount;
  vs[o + VsWord.FLAGS] = flags;
  vs[o + VsWord.SERVICE_PORT] = servicePort;
}

/**
 * A real server's slot in IpvsTables.rs, as the kernel keeps a destination's address, port and
 * weight in one struct ip_vs_dest: a first packet reads the slot its scheduler picks, and at 30k
 * Services (0.5M slots a node, past the cache) separate arrays cost a miss each. 16 bytes: a
 * line holds four, and a slot never straddles two when the array starts on 16 bytes.
 */
export const enum RsWord {
  /** The address's u32 as int32 bits (rsIp reads it back as a u32). */
  IP = 0,
  PORT = 1,
  /** The endpoint row (the backend id), -1 for a slot of room. */
  ROW = 2,
  WEIGHT = 3,
  STRIDE = 4,
}
// The service-nat stage took 340 ns a first packet at 30k Services against 402 with an array a
// field, 289 against 324 at 10k, 142 against 155 at 100 (`kdp bench --services 100,10000,30000
// --modes ipvs --workers 1 --flows 1000000`, three runs of each build alternated, 2026-12-06).

type Rs = Pick<IpvsTables, 'rs'>;
export const rsIp = (t: Rs, s: number): number => t.rs[s * RsWord.STRIDE + RsWord.IP] >>> 0;
export const rsPort = (t: Rs, s: number): number => t.rs[s * RsWord.STRIDE + RsWord.PORT];
export const rsRow = (t: Rs, s: number): number => t.rs[s * RsWord.STRIDE + RsWord.ROW];
export const rsWeight = (t: Rs, s: number): number => t.rs[s * RsWord.STRIDE + RsWord.WEIGHT];

/** Writes real-server slot `s` of `rs`. */
export function writeRealServer(rs: Int32Array, s: number, ip: number, port: number, row: number, weight: number): void {
  const o = s * RsWord.STRIDE;
  rs[o + RsWord.IP] = ip;
  rs[o + RsWord.PORT] = port;
  rs[o + RsWord.ROW] = row;
  rs[o + RsWord.WEIGHT] = weight;
}

/** A VS's real servers as Maglev's population reads them (compile and update time only: copies). */
export function maglevBackendsOf(t: Rs, start: number, count: number): MaglevBackends {
  const ip = new Uint32Array(count);
  const port = new Uint16Array(count);
  const weight = new Uint16Array(count);
  for (let k = 0; k < count; k++) {
    ip[k] = rsIp(t, start + k);
    port[k] = rsPort(t, start + k);
    weight[k] = rsWeight(t, start + k);
  }
  return { ip, port, weight, start: 0, count };
}

/** Real servers in use (what `ipvsadm -Ln` lists). */
export function realServerCount(t: IpvsTables): number {
  let n = 0;
  for (let v = 0; v < t.vsCount; v++) if (vsLive(t, v)) n += vsRsCount(t, v);
  return n;
}

/** Whether VS `v` is in the kernel's table (not one of a Service removed in place). */
export function vsLive(t: IpvsTables, v: number): boolean {
  return (vsFlags(t, v) & F_GONE) === 0;
}

export function tablesBytes(t: IpvsTables): number {
  const arrays = [
    t.generation, t.spVsStart, t.spVsCount, t.vsIp, t.vsPort, t.vsProto, t.vsKind, t.vs, t.vsTimeout,
    t.vsFwStart, t.vsFwCount, t.fwBase, t.fwPrefix, t.vsWrrMw, t.vsWrrDi, t.vsMh, t.mhLuts,
    t.rs, t.rsLoopback, t.nodePortBits, t.loopbackRows,
    t.rrNext, t.wrrCl, t.wrrCw, t.rsConns,
  ];
  let n = t.table.bytes + t.bound.bytes + t.boundRefs.bytes + t.nodePortIps.bytes + t.affinity.bytes;
  for (const a of arrays) n += a.byteLength;
  return n;
}
