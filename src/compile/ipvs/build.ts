/**
 * kube-proxy's IPVS mode compiled for one node (pkg/proxy/ipvs/proxier.go, syncProxyRules):
 * one virtual service per ClusterIP, externalIP and LoadBalancer IP port, and one per node
 * address x NodePort, each with its real servers and the node-wide scheduler; plus the ipsets'
 * memberships (as VS flags) and the NodePort bitmaps that the constant iptables rules match.
 * dataplane.ts walks the result.
 */
import { nodeAddresses, resolveNode } from '../node-addresses.js';
import { InvalidArgumentError } from '../../errors.js';
import { cidrContains } from '../../net/ipv4.js';
import { shouldSkipService, type Cluster, type IpvsScheduler, type ServicePort } from '../../model/types.js';
import { localDetector } from '../local-detector.js';
import { categorizeEndpoints, externalPolicyLocal, internalPolicyLocal, type EndpointCategories } from '../topology.js';
import { newGeneration } from '../table-generation.js';
import { isPrime, kMaglevDefaultSize, maglevPopulate } from './maglev.js';
import { AddressSet, PairTable, portProtoKey, withRoom } from '../tables/index.js';
import { PROTO_TCP, PROTO_UDP } from '../../net/proto.js';
import { IpvsDataplaneImpl, ipvsState, type IpvsDataplane } from './dataplane.js';
import {
  F_BOUND, F_CLUSTER_IP, F_EXTERNAL_IP, F_EXTERNAL_IP_LOCAL, F_LB, F_LB_ALLOW_NODE, F_LB_FW, F_LB_LOCAL,
  F_LOCAL_FALLBACK, F_LOCAL_POLICY, F_PERSISTENT, NP_HEALTH_CHECK, NP_SCTP, NP_SCTP_LOCAL, NP_TCP, NP_TCP_LOCAL,
  NP_UDP, NP_UDP_LOCAL, RsWord, VS_CLUSTER_IP, VS_EXTERNAL_IP, VS_LOAD_BALANCER, VS_NODE_PORT, kSchedulerIds,
  VsWord, maglevBackendsOf, rsWeight, writeRealServer, writeVirtualService, type IpvsTables,
} from './tables.js';

export interface IpvsOptions {
  /** Node index or name the rules are compiled for. */
  readonly node: number | string;
  /** Overrides KubeProxyConfiguration ipvs.scheduler (default rr). */
  readonly scheduler?: IpvsScheduler;
  /** Real-server weight per endpoint row. kube-proxy always writes 1; tests use this for wrr. */
  readonly weight?: (row: number) => number;
  /** Maglev table size for mh (prime). Default 65537; Linux's ip_vs_mh default is 4093. */
  readonly mhTableSize?: number;
  /** Persistence templates kept (power of two). Default 65536. */
  readonly affinityCapacity?: number;
  /** Refuse to build mh tables larger than this many bytes in total. Default 1 GiB. */
  readonly mhBudgetBytes?: number;
}

/** kube-proxy's nodeIPs for NodePort virtual services: every node address, or those inside
 * nodePortAddresses, or the primary one (kdp knows a node's addresses from status.addresses). */
export function nodePortAddressesOf(cluster: Cluster, node: number): number[] {
  const ips = nodeAddresses(cluster, node);
  if (cluster.proxy.nodePortPrimaryOnly) return ips.length > 0 ? [ips[0]] : [];
  const cidrs = cluster.proxy.nodePortAddresses;
  if (cidrs.length === 0) return [...ips];
  return ips.filter((ip) => cidrs.some((c) => cidrContains(c, ip)));
}

const kProtoNp = (proto: number, local: boolean): number =>
  proto === PROTO_TCP ? (local ? NP_TCP_LOCAL : NP_TCP) : proto === PROTO_UDP ? (local ? NP_UDP_LOCAL : NP_UDP) : local ? NP_SCTP_LOCAL : NP_SCTP;

/** The real servers a VS gets, with its F_LOCAL_* flags. */
export interface RealServerList {
  readonly rows: readonly number[];
  readonly flags: number;
}

/**
 * syncEndpoint: a Local policy uses the local endpoints, or the cluster ones when there are none
 * (kubernetes PR 97081); a Cluster policy uses the cluster endpoints.
 */
export function realServerList(cats: EndpointCategories, local: boolean): RealServerList {
  if (!local) return { rows: cats.cluster, flags: 0 };
  if (cats.local.length > 0) return { rows: cats.local, flags: F_LOCAL_POLICY };
  return { rows: cats.cluster, flags: F_LOCAL_POLICY | F_LOCAL_FALLBACK };
}

/** Virtual services, real servers and source ranges in the order they are added (see addVs). */
export interface IpvsBuilder {
  ip: number[]; port: number[]; proto: number[]; kind: number[]; flags: number[]; timeout: number[]; sp: number[];
  rsStart: number[]; rsCount: number[]; fwStart: number[]; fwCount: number[]; mhKey: string[];
  rsIp: number[]; rsPort: number[]; rsRow: number[]; rsWeight: number[]; rsLoop: number[];
  fwBase: number[]; fwPrefix: number[];
}

export function newIpvsBuilder(): IpvsBuilder {
  return {
    ip: [], port: [], proto: [], kind: [], flags: [], timeout: [], sp: [], rsStart: [], rsCount: [], fwStart: [], fwCount: [], mhKey: [],
    rsIp: [], rsPort: [], rsRow: [], rsWeight: [], rsLoop: [], fwBase: [], fwPrefix: [],
  };
}

/** ip_vs_wrr_init_svc: the VS's max weight (minus gcd-1) and the gcd of its weights. */
export function wrrInit(t: Pick<IpvsTables, 'rs'>, start: number, count: number, mw: Uint16Array, di: Uint16Array, v: number): void {
  let max = 0;
  let g = 0;
  for (let s = start; s < start + count; s++) {
    const w = rsWeight(t, s);
    if (w > max) max = w;
    let x = g, y = w;
    while (y !== 0) [x, y] = [y, x % y];
    g = x;
  }
  di[v] = g === 0 ? 1 : g;
  mw[v] = max === 0 ? 0 : max - (di[v] - 1);
}

/** The builder's virtual services as IpvsTables.vs rows, `slots` of them (the rest room). */
function virtualServiceRows(b: IpvsBuilder, slots: number): Int32Array {
  const vs = new Int32Array(slots * VsWord.STRIDE);
  for (let v = 0; v < b.ip.length; v++) writeVirtualService(vs, v, b.rsStart[v], b.rsCount[v], b.flags[v], b.sp[v]);
  return vs;
}

/** The builder's real servers as IpvsTables.rs rows, `slots` of them (the rest room). */
export function realServerRows(b: IpvsBuilder, slots: number): Int32Array {
  const rs = new Int32Array(slots * RsWord.STRIDE);
  for (let s = 0; s < b.rsIp.length; s++) writeRealServer(rs, s, b.rsIp[s], b.rsPort[s], b.rsRow[s], b.rsWeight[s]);
  return rs;
}

/** What adding one Service port's virtual services needs besides the builder (compile and update-services.ts share it). */
export interface PortVsContext {
  readonly cluster: Cluster;
  readonly node: number;
  readonly b: IpvsBuilder;
  readonly nodePortBits: Uint8Array;
  readonly loopbackRows: number[];
  readonly weightOf: (row: number) => number;
  readonly npAddrs: readonly number[];
  readonly nodeAddrSet: ReadonlySet<number>;
  readonly nodeIp: number;
  /** Claims (proto, address, port) for a VS; false when another VS has it (the first keeps it). */
  claim(proto: number, ip: number, port: number): boolean;
}

/**
 * One Service port's virtual services, in syncProxyRules' order (ClusterIP, externalIPs,
 * LoadBalancer IPs, NodePorts), appended to the builder, with their ipset bits. Returns how many
 * VSs it added (from the builder's length before the call).
 */
export function addPortVirtualServices(x: PortVsContext, p: ServicePort): number {
  const { cluster, node, b, nodePortBits, npAddrs, nodeAddrSet, nodeIp } = x;
  const svc = cluster.services[p.service];
  if (shouldSkipService(svc)) return 0;
  const { endpoints } = cluster;
  const first = b.ip.length;
  const addVs = (kind: number, ip: number, port: number, flags: number, rows: readonly number[], timeout: number, listTag: string): number => {
    if (!x.claim(p.protocol, ip, port)) return -1;
    const v = b.ip.length;
    b.ip.push(ip >>> 0); b.port.push(port); b.proto.push(p.protocol); b.kind.push(kind); b.flags.push(flags);
    b.timeout.push(timeout); b.sp.push(p.index); b.rsStart.push(b.rsIp.length); b.rsCount.push(rows.length);
    b.fwStart.push(b.fwBase.length); b.fwCount.push(0); b.mhKey.push(`${p.index}:${listTag}`);
    for (const r of rows) {
      b.rsIp.push(endpoints.ip[r]); b.rsPort.push(endpoints.port[r]); b.rsRow.push(r);
      const w = x.weightOf(r);
      if (!Number.isInteger(w) || w < 0 || w > 65535) throw new InvalidArgumentError(`options.weight(${r}) must be an integer in [0, 65535]`);
      b.rsWeight.push(w);
      b.rsLoop.push(endpoints.node[r] === node ? 1 : 0);
    }
    // Room for every row of the port, so that a readiness change rewrites the range in place
    // (update.ts); the spare slots are never read (every walk stops at vsRsCount).
    for (let k = rows.length; k < p.endpointCount; k++) {
      b.rsIp.push(0); b.rsPort.push(0); b.rsRow.push(-1); b.rsWeight.push(0); b.rsLoop.push(0);
    }
    return v;
  };

  const cats = categorizeEndpoints(cluster, p, node);
  const pickList = (local: boolean): RealServerList => realServerList(cats, local);
  const affinity = svc.affinity.clientIP;
  const persist = affinity ? F_PERSISTENT : 0;
  const timeout = affinity ? svc.affinity.timeoutSeconds : 0;
  for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if (endpoints.node[r] === node) x.loopbackRows.push(r);

  const internal = pickList(internalPolicyLocal(svc));
  const extLocal = externalPolicyLocal(svc, p);
  // mh: VSs under the same traffic policy always have the same real servers, whatever the
  // endpoints' conditions, so they share one Maglev table that an update rewrites for them all.
  const samePolicy = internalPolicyLocal(svc) === extLocal;
  const internalTag = samePolicy ? 'x' : 'i';
  const externalTag = samePolicy ? 'x' : 'e';
  addVs(VS_CLUSTER_IP, svc.clusterIPs[0], p.port, F_CLUSTER_IP | F_BOUND | persist | internal.flags, internal.rows, timeout, internalTag);

  const external = pickList(extLocal);
  for (const ip of svc.externalIPs) {
    const bound = nodeAddrSet.has(ip) ? 0 : F_BOUND;
    addVs(VS_EXTERNAL_IP, ip, p.port, (extLocal ? F_EXTERNAL_IP_LOCAL : F_EXTERNAL_IP) | bound | persist | external.flags, external.rows, timeout, externalTag);
  }
  for (const ip of svc.loadBalancerIPs) {
    let flags = F_LB | (extLocal ? F_LB_LOCAL : 0) | (nodeAddrSet.has(ip) ? 0 : F_BOUND) | persist | external.flags;
    const ranges = svc.loadBalancerSourceRanges;
    if (ranges.length > 0) {
      flags |= F_LB_FW;
      if (ranges.some((c) => cidrContains(c, nodeIp))) flags |= F_LB_ALLOW_NODE;
    }
    const v = addVs(VS_LOAD_BALANCER, ip, p.port, flags, external.rows, timeout, externalTag);
    if (v >= 0 && ranges.length > 0) {
      b.fwCount[v] = ranges.length;
      for (const c of ranges) { b.fwBase.push(c.base); b.fwPrefix.push(c.prefix); }
    }
  }
  if (p.nodePort !== 0 && npAddrs.length > 0) {
    nodePortBits[p.nodePort] |= kProtoNp(p.protocol, false) | (extLocal ? kProtoNp(p.protocol, true) : 0);
    for (const ip of npAddrs) addVs(VS_NODE_PORT, ip, p.nodePort, persist | external.flags, external.rows, timeout, externalTag);
  }
  if (svc.healthCheckNodePort !== 0) nodePortBits[svc.healthCheckNodePort] |= NP_HEALTH_CHECK;
  return b.ip.length - first;
}

/** The nodePortBits a port sets for its protocol (both the plain and the Local set). */
export function nodePortProtoBits(proto: number): number {
  return kProtoNp(proto, false) | kProtoNp(proto, true);
}

export function compileIpvs(cluster: Cluster, options: IpvsOptions): IpvsDataplane {
  const node = resolveNode(cluster, options.node);
  const scheduler: IpvsScheduler = options.scheduler ?? cluster.proxy.ipvsScheduler ?? 'rr';
  if (!(scheduler in kSchedulerIds)) throw new InvalidArgumentError(`options.scheduler must be one of rr, wrr, lc, sh, mh, got ${String(scheduler)}`);
  const mhSize = options.mhTableSize ?? kMaglevDefaultSize;
  if (scheduler === 'mh' && !isPrime(mhSize)) throw new InvalidArgumentError(`options.mhTableSize must be prime, got ${mhSize}`);
  const npAddrs = nodePortAddressesOf(cluster, node);
  const keys = new Set<string>();
  let duplicates = 0;
  const x: PortVsContext = {
    cluster, node, b: newIpvsBuilder(), nodePortBits: new Uint8Array(65536), loopbackRows: [], weightOf: options.weight ?? (() => 1), npAddrs,
    nodeAddrSet: new Set<number>(nodeAddresses(cluster, node)), nodeIp: cluster.nodes[node].internalIPs[0] ?? 0,
    claim: (proto, ip, port) => {
      const key = `${proto}/${ip}/${port}`;
      if (keys.has(key)) {
        duplicates++;
        return false;
      }
      keys.add(key);
      return true;
    },
  };
  const spVsStart = new Uint32Array(withRoom(cluster.ports.length));
  const spVsCount = new Uint32Array(spVsStart.length);
  for (const p of cluster.ports) {
    spVsStart[p.index] = x.b.ip.length;
    spVsCount[p.index] = addPortVirtualServices(x, p);
  }
  return assembleIpvs(cluster, node, scheduler, x.b, x.nodePortBits, x.loopbackRows, npAddrs, duplicates, options, { spVsStart, spVsCount });
}

/**
 * The tables over what a builder collected (from the cluster, or from a node's ipvsadm and ipset
 * dumps): the VS hash table, the bound addresses, wrr's weights, mh's Maglev tables.
 */
export function assembleIpvs(
  cluster: Cluster, node: number, scheduler: IpvsScheduler, b: IpvsBuilder, nodePortBits: Uint8Array, loopbackRows: readonly number[],
  npAddrs: readonly number[], duplicates: number, options: Pick<IpvsOptions, 'mhTableSize' | 'mhBudgetBytes' | 'affinityCapacity'>,
  // Each Service port's run of VSs, which an in-place update (update.ts) rewrites; a dump read
  // from a node has none (its VSs are not laid out per port, and nothing updates them).
  spans: { readonly spVsStart: Uint32Array; readonly spVsCount: Uint32Array } = { spVsStart: new Uint32Array(cluster.ports.length), spVsCount: new Uint32Array(cluster.ports.length) },
): IpvsDataplane {
  const { spVsStart, spVsCount } = spans;
  const mhSize = options.mhTableSize ?? kMaglevDefaultSize;
  const detector = localDetector(cluster, node);
  const nodeIp = cluster.nodes[node].internalIPs[0] ?? 0;
  const vsCount = b.ip.length;
  // Every table keeps room (withRoom) for the VSs of Services added in place (update-services.ts).
  const vsRoom = withRoom(vsCount);
  const rsRoom = withRoom(b.rsIp.length);
  // Both with the /16 prefix filter: every first packet the server's node sees is to a pod's
  // address, which neither holds, and the filter answers it without a slot of either (a miss of
  // each out of cache at 10k Services and more). With it, service-nat took 637 ns a first packet
  // at 30k Services against 822, and a new flow 1,417 ns against 1,586 (`kdp bench --services
  // 100,30000 --modes ipvs --workers 1 --flows 500000`, medians of three runs alternated with the
  // build before, 2026-12-06); at 100, 198 against 230 ns.
  const table = new PairTable(vsRoom, 1, true);
  const bound = new AddressSet(vsRoom, true);
  const boundRefs = new PairTable(vsRoom, 1);
  for (let v = 0; v < vsCount; v++) {
    table.rows[table.at(table.slotFor(b.ip[v], portProtoKey(b.proto[v], b.port[v])))] = v; // addVs dropped duplicate keys
    if (b.flags[v] & F_BOUND) {
      bound.add(b.ip[v]);
      boundRefs.rows[boundRefs.at(boundRefs.slotFor(b.ip[v], 1))]++;
    }
  }
  const nodePortIps = AddressSet.of(npAddrs);
  const sized = <A extends Uint8Array | Uint16Array | Uint32Array | Int32Array>(make: new (n: number) => A, values: readonly number[], n: number): A => {
    const a = new make(n);
    a.set(values);
    return a;
  };

  const real = { rs: realServerRows(b, rsRoom) };
  const vsWrrMw = new Uint16Array(vsRoom);
  const vsWrrDi = new Uint16Array(vsRoom);
  for (let v = 0; v < vsCount; v++) {
    wrrInit(real, b.rsStart[v], b.rsCount[v], vsWrrMw, vsWrrDi, v);
  }

  // mh: one Maglev table per distinct real-server list (a port's ClusterIP, LB and NodePort VS
  // usually share one); the kernel keeps one per VS, which is what its memory really costs.
  const vsMh = new Int32Array(vsRoom).fill(-1);
  let mhLuts = new Uint32Array(0);
  let mhUsed = 0;
  if (scheduler === 'mh') {
    const lutOf = new Map<string, number>();
    const firstVs: number[] = [];
    for (let v = 0; v < vsCount; v++) {
      let lut = lutOf.get(b.mhKey[v]);
      if (lut === undefined) {
        lut = firstVs.length;
        lutOf.set(b.mhKey[v], lut);
        firstVs.push(v);
      }
      vsMh[v] = lut;
    }
    const luts = withRoom(firstVs.length, 2);
    const bytes = luts * mhSize * 4;
    const budget = options.mhBudgetBytes ?? 2 ** 30;
    if (bytes > budget) {
      throw new InvalidArgumentError(`options.mhTableSize ${mhSize} needs ${bytes} bytes of Maglev tables for ${firstVs.length} real-server lists (budget ${budget}); use a smaller prime such as 4093 (Linux's default)`);
    }
    mhLuts = new Uint32Array(luts * mhSize);
    for (let l = 0; l < firstVs.length; l++) {
      const v = firstVs[l];
      maglevPopulate(maglevBackendsOf(real, b.rsStart[v], b.rsCount[v]), mhSize, mhLuts, l * mhSize);
    }
    mhUsed = firstVs.length;
  }

  const t: IpvsTables = {
    generation: newGeneration(), spVsStart, spVsCount,
    vsCount, ports: cluster.ports.length, vsGone: 0,
    vsIp: sized(Uint32Array, b.ip, vsRoom), vsPort: sized(Uint16Array, b.port, vsRoom), vsProto: sized(Uint8Array, b.proto, vsRoom),
    vsKind: sized(Uint8Array, b.kind, vsRoom), vs: virtualServiceRows(b, vsRoom), vsTimeout: sized(Uint32Array, b.timeout, vsRoom),
    vsFwStart: sized(Uint32Array, b.fwStart, vsRoom), vsFwCount: sized(Uint16Array, b.fwCount, vsRoom),
    fwCount: b.fwBase.length, fwBase: sized(Uint32Array, b.fwBase, withRoom(b.fwBase.length)), fwPrefix: sized(Uint8Array, b.fwPrefix, withRoom(b.fwBase.length)),
    vsWrrMw, vsWrrDi, vsMh, mhLuts, mhSize, mhUsed, mhGone: 0,
    rsUsed: b.rsIp.length, rsCount: rsRoom, rs: real.rs, rsLoopback: sized(Uint8Array, b.rsLoop, rsRoom),
    table, bound, boundRefs, nodePortIps, nodePortBits, loopbackRows: sized(Int32Array, loopbackRows, withRoom(loopbackRows.length)), loopbackCount: loopbackRows.length,
    // Persistence templates only matter when some service asks for ClientIP affinity.
    ...ipvsState(vsRoom, rsRoom, options.affinityCapacity ?? (b.flags.some((f) => (f & F_PERSISTENT) !== 0) ? 65536 : 16)),
  };
  return new IpvsDataplaneImpl(cluster, node, scheduler, t, detector, npAddrs, nodeIp, duplicates);
}
