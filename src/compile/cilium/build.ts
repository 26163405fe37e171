/**
 * The model -> Cilium's LB maps for one node, as the agent writes them (pkg/loadbalancer and
 * pkg/maps/lbmap, Cilium v1.17):
 *
 * - every Service port gets a frontend per address it answers on: each ClusterIP (type ClusterIP,
 *   not routable from outside unless `bpf-lb-external-clusterip`), for a NodePort the surrogate
 *   0.0.0.0:nodePort (what sockets find by wildcard lookup) and one per node address, each
 *   LoadBalancer ingress IP and each externalIP;
 * - a frontend's backends are the endpoints its traffic policy allows (ClusterIP: internal
 *   policy; the others: external policy), ready ones first, serving-and-terminating ones used
 *   when none is ready and otherwise kept after them as `qcount` (pkg/loadbalancer's graceful
 *   termination); an external frontend whose two policies differ gets a second, internal-scope
 *   entry (SVC_FLAG_TWO_SCOPES) that in-cluster traffic looks up instead;
 * - backend IDs are node-local and shared by every frontend that uses the same ip:port/proto;
 *   rev-NAT indexes number the frontend addresses;
 * - with `bpf-lb-algorithm: maglev`, every routable frontend gets a Maglev table of its backends
 *   (Cilium applies Maglev to north-south traffic only: sockets pick at random).
 */
import { InvalidArgumentError } from '../../errors.js';
import type { CiliumConfig, Cluster, ServicePort } from '../../model/types.js';
import { EP_READY } from '../../model/types.js';
import { prefixMask } from '../../net/ipv4.js';
import { PROTO_SCTP } from '../../net/proto.js';
import { categorizeEndpoints } from '../topology.js';
import { nodeAddresses } from '../node-addresses.js';
import { PairTable, portProtoKey, withRoom } from '../tables/index.js';
import { newGeneration } from '../table-generation.js';
import { kDefaultCiliumConfig } from '../../model/read-config.js';
import { CiliumDataplane } from './dataplane.js';
import { ciliumMaglevTable, maglevSeeds } from './maglev.js';
import {
  BE_STATE_ACTIVE, BE_STATE_TERMINATING, BeWord, FeWord, SCOPE_EXT, SCOPE_INT, SVC_FLAG_AFFINITY, SVC_FLAG_EXTERNAL_IP,
  SVC_FLAG_EXT_LOCAL_SCOPE, SVC_FLAG_FWD_MODE_DSR, SVC_FLAG_INT_LOCAL_SCOPE, SVC_FLAG_LOADBALANCER, SVC_FLAG_NODEPORT,
  SVC_FLAG_ROUTABLE, SVC_FLAG_SOURCE_RANGE, SVC_FLAG_TWO_SCOPES, SlotWord, frontendRows, serviceKeyWord, writeBackend,
  writeSlot, type CiliumTables,
} from './tables.js';

/** A master entry and its slots before packing: what the agent upserts for one frontend and scope. */
export interface FrontendEntry {
  ip: number;
  port: number;
  proto: number;
  scope: number;
  revNat: number;
  flags: number;
  affinity: number;
  servicePort: number;
  active: number[];
  extra: number[];
  maglev: boolean;
  srcRanges: readonly { base: number; prefix: number }[];
}

/** What a frontend of a service port answers with: the rows it may choose and the rows it keeps as terminating. */
export function backendsOf(cluster: Cluster, port: ServicePort, node: number, local: boolean): { active: number[]; extra: number[] } {
  const cats = categorizeEndpoints(cluster, port, node);
  const active = [...(local ? cats.local : cats.cluster)];
  const { conditions, node: epNode } = cluster.endpoints;
  const extra: number[] = [];
  // Terminating backends the agent keeps in the map behind the active ones (qcount).
  for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) {
    if ((conditions[r] & EP_READY) !== 0 || active.includes(r)) continue;
    if ((conditions[r] & 6) !== 6) continue; // serving and terminating
    if (local && epNode[r] !== node) continue;
    extra.push(r);
  }
  return { active, extra };
}

export function compileCiliumTables(cluster: Cluster, node: number, config: CiliumConfig): CiliumTables {
  if (!Number.isInteger(node) || node < 0 || node >= cluster.nodes.length) {
    throw new InvalidArgumentError(`options.node must be an index into cluster.nodes (0..${cluster.nodes.length - 1})`);
  }
  const hostAddrs = nodeAddresses(cluster, node);
  const entries: FrontendEntry[] = [];
  const rn: { ip: number; port: number }[] = [{ ip: 0, port: 0 }];
  for (const port of cluster.ports) {
    for (const e of portFrontends(cluster, port, node, config, hostAddrs, rn.length)) {
      entries.push(e);
      if (e.scope === SCOPE_EXT) rn.push({ ip: e.ip, port: e.port });
    }
  }
  return packCiliumTables(cluster, node, config, entries, rn.length - 1, rn);
}

/**
 * The frontends (master entries) one service port gets on `node`, in the agent's order: each
 * ClusterIP, the NodePort's surrogate and node addresses, LoadBalancer IPs, externalIPs; the
 * rev-NAT indexes from `firstRevNat` on, one per address (an internal-scope twin shares its own).
 */
export function portFrontends(cluster: Cluster, port: ServicePort, node: number, config: CiliumConfig, hostAddrs: Iterable<number>, firstRevNat: number): FrontendEntry[] {
  const svc = cluster.services[port.service];
  if (svc.headless || svc.type === 'ExternalName') return [];
  // Without enable-sctp the agent leaves SCTP ports out of the maps.
  if (port.protocol === PROTO_SCTP && !config.enableSctp) return [];
  const dsrFlag = config.lbMode === 'dsr' ? SVC_FLAG_FWD_MODE_DSR : 0;
  const entries: FrontendEntry[] = [];
  let revNat = firstRevNat;
  const add = (ip: number, portNo: number, type: number, routable: boolean, srcCheck: boolean): void => {
    const clusterIp = type === 0;
    const extLocal = !clusterIp && svc.externalTrafficPolicy === 'Local';
    const intLocal = svc.internalTrafficPolicy === 'Local';
    const ownLocal = clusterIp ? intLocal : extLocal;
    const twoScopes = !clusterIp && extLocal !== intLocal;
    let flags = type | (routable ? SVC_FLAG_ROUTABLE : 0) | (extLocal ? SVC_FLAG_EXT_LOCAL_SCOPE : 0) | (intLocal ? SVC_FLAG_INT_LOCAL_SCOPE : 0);
    if (svc.affinity.clientIP) flags |= SVC_FLAG_AFFINITY;
    if (srcCheck && svc.loadBalancerSourceRanges.length > 0) flags |= SVC_FLAG_SOURCE_RANGE;
    if (twoScopes) flags |= SVC_FLAG_TWO_SCOPES;
    if (routable && !clusterIp) flags |= dsrFlag;
    const base = {
      ip, port: portNo, proto: port.protocol, revNat: revNat++, affinity: svc.affinity.clientIP ? svc.affinity.timeoutSeconds : 0, servicePort: port.index,
      srcRanges: (flags & SVC_FLAG_SOURCE_RANGE) !== 0 ? svc.loadBalancerSourceRanges : [],
    };
    entries.push({ ...base, scope: SCOPE_EXT, flags, ...backendsOf(cluster, port, node, ownLocal), maglev: config.lbAlgorithm === 'maglev' && routable });
    if (twoScopes) entries.push({ ...base, scope: SCOPE_INT, flags, ...backendsOf(cluster, port, node, intLocal), maglev: false });
  };
  const allTypes = config.sourceRangeAllTypes;
  for (const ip of svc.clusterIPs) add(ip, port.port, 0, config.externalClusterIp, allTypes);
  if (port.nodePort !== 0) {
    add(0, port.nodePort, SVC_FLAG_NODEPORT, false, allTypes);
    for (const ip of hostAddrs) add(ip, port.nodePort, SVC_FLAG_NODEPORT, true, allTypes);
  }
  for (const ip of svc.loadBalancerIPs) add(ip, port.port, SVC_FLAG_LOADBALANCER, true, true);
  for (const ip of svc.externalIPs) add(ip, port.port, SVC_FLAG_EXTERNAL_IP, true, allTypes);
  return entries;
}

/** Slots a frontend's range holds: every row of its port, so that an endpoint update writes them in place. */
export function slotRoom(cluster: Cluster, e: FrontendEntry): number {
  return Math.max(e.active.length + e.extra.length, e.servicePort >= 0 ? cluster.ports[e.servicePort].endpointCount : 0);
}

export type MutableTables = { -readonly [K in keyof CiliumTables]: CiliumTables[K] };

/**
 * Upserts one frontend as the agent does, into row `i` past what is used: its master entry, its
 * slots, source ranges and Maglev table. False: bpf-lb-map-max leaves it out (counted), or its
 * key is another frontend's already (the first claim keeps it). The caller checked the room.
 */
export function programFrontend(t: MutableTables, cluster: Cluster, i: number, e: FrontendEntry, idOf: (row: number, proto: number) => number, murmur: number): boolean {
  const key = serviceKeyWord(e.port, e.proto, e.scope);
  // A second claim on the same address:port/proto (validation refuses it between Services): the first keeps it.
  if (t.services.find(e.ip, key) >= 0) return false;
  const size = 1 + e.active.length + e.extra.length;
  t.lbMapEntries += size;
  // bpf-lb-map-max bounds the service map (masters and slots together): an upsert past it fails
  // with E2BIG and the agent logs "Error while inserting service in LB map ... You can resize it
  // with the flag --bpf-lb-map-max" (pkg/maps/lbmap, v1.17 pkg/loadbalancer/reconciler
  // updateServiceEndpoint), leaving that frontend without its master entry: the datapath does not
  // know it. kdp upserts in the cluster's port order and leaves out each frontend that does not fit whole.
  if (t.lbMapUsed + size > t.lbMapMax) {
    t.lbMapUnprogrammed++;
    return false;
  }
  t.lbMapUsed += size;
  t.services.rows[t.services.at(t.services.slotFor(e.ip, key))] = i;
  t.feIp[i] = e.ip;
  t.fePort[i] = e.port;
  t.feProto[i] = e.proto;
  t.feScope[i] = e.scope;
  let slot = t.slotsUsed;
  const o = i * FeWord.STRIDE;
  t.fe[o + FeWord.SLOT_START] = slot;
  t.fe[o + FeWord.COUNT] = e.active.length;
  t.fe[o + FeWord.QCOUNT] = e.extra.length;
  t.fe[o + FeWord.FLAGS] = e.flags;
  t.fe[o + FeWord.REV_NAT] = e.revNat;
  t.fe[o + FeWord.SERVICE_PORT] = e.servicePort;
  t.fe[o + FeWord.MAGLEV] = -1;
  t.fe[o + FeWord.AFFINITY] = e.affinity;
  for (const r of e.active) writeSlot(t.slots, slot++, idOf(r, e.proto), r);
  for (const r of e.extra) writeSlot(t.slots, slot++, idOf(r, e.proto), r);
  const end = t.slotsUsed + slotRoom(cluster, e);
  while (slot < end) writeSlot(t.slots, slot++, 0, -1);
  t.slotsUsed = end;
  t.feSrcStart[i] = t.srcUsed;
  t.feSrcCount[i] = e.srcRanges.length;
  for (const c of e.srcRanges) {
    t.srcBase[t.srcUsed] = c.base >>> 0;
    t.srcMask[t.srcUsed++] = prefixMask(c.prefix);
  }
  if (e.maglev) {
    t.fe[o + FeWord.MAGLEV] = t.maglevUsed;
    const backends = e.active.map((r) => ({ id: idOf(r, e.proto), ip: cluster.endpoints.ip[r], port: cluster.endpoints.port[r], proto: e.proto as 6 }));
    ciliumMaglevTable(backends, t.maglevSize, murmur, t.maglev, t.maglevUsed);
    t.maglevUsed += t.maglevSize;
  }
  return true;
}

/**
 * The entries as typed arrays: backend IDs allocated, Maglev tables built (compile and parse
 * share it). Every table keeps room (withRoom) for Services an update adds in place.
 */
export function packCiliumTables(
  cluster: Cluster, node: number, config: CiliumConfig, entries: readonly FrontendEntry[], revNats: number, rn: readonly { ip: number; port: number }[],
): CiliumTables {
  const seeds = maglevSeeds(config.maglevHashSeed);
  if (typeof seeds === 'string') throw new InvalidArgumentError(`bpf-lb-maglev-hash-seed: ${seeds}`);
  const hostAddrs = nodeAddresses(cluster, node);
  const allNodeAddrs = [...new Set(cluster.nodes.flatMap((_, n) => nodeAddresses(cluster, n)))];
  // Backend IDs: one per ip:port/proto, in order of first use (the agent's allocator is node-local too).
  const be: { ip: number; port: number; proto: number; state: number; local: number }[] = [{ ip: 0, port: 0, proto: 0, state: 0, local: 0 }];
  const { ip: epIp, port: epPort, conditions, node: epNode } = cluster.endpoints;
  // (address, portProtoKey) -> its ID.
  const backendIds = new PairTable(epIp.length, 1);
  // The backend ID each endpoint row got (0: none yet), for update.ts to reuse.
  const rowBackend = new Uint32Array(withRoom(epIp.length));
  const idOf = (row: number, proto: number): number => {
    // A row is asked for by each frontend of its port: its ID is found by key once, then by row
    // (595,000 asks for 336,000 rows at 30,000 Services). Keyed by numbers in a PairTable: the
    // keys as "ip:port/proto" strings in a Map had cost ~0.3 s a compile at 30,000 Services.
    const known = rowBackend[row];
    if (known !== 0 && be[known].proto === proto) return known;
    const before = backendIds.size;
    const slot = backendIds.slotFor(epIp[row], portProtoKey(proto, epPort[row]));
    if (backendIds.size !== before) {
      backendIds.rows[backendIds.at(slot)] = be.length;
      be.push({ ip: epIp[row], port: epPort[row], proto, state: (conditions[row] & EP_READY) !== 0 ? BE_STATE_ACTIVE : BE_STATE_TERMINATING, local: epNode[row] === node ? 1 : 0 });
    }
    const id = backendIds.rows[backendIds.at(slot)];
    rowBackend[row] = id;
    return id;
  };

  const f = withRoom(entries.length);
  const slotCount = withRoom(entries.reduce((n, e) => n + slotRoom(cluster, e), 0));
  const srcs = withRoom(entries.reduce((n, e) => n + e.srcRanges.length, 0));
  const m = config.maglevTableSize;
  const maglevCount = entries.filter((e) => e.maglev).length;
  const nPorts = cluster.ports.length;
  const t: MutableTables = {
    generation: newGeneration(),
    // With the /16 prefix filter: every first packet the server's node sees is to a pod's address,
    // and the filter answers that lookup without a slot (a miss out of cache at 10k Services and
    // more). service-nat took 154 ns a first packet at 30k Services against 222, and 102 against
    // 114 at 100 (`kdp bench --services 100,30000 --modes cilium --workers 1 --flows 500000`,
    // medians of three runs alternated with the build before, 2026-12-06).
    services: new PairTable(f, 1, true),
    feIp: new Uint32Array(f), fePort: new Uint16Array(f), feProto: new Uint8Array(f), feScope: new Uint8Array(f),
    fe: frontendRows(f), feSrcStart: new Uint32Array(f), feSrcCount: new Uint16Array(f),
    slots: new Int32Array(slotCount * SlotWord.STRIDE),
    maglev: new Uint32Array((maglevCount === 0 && config.lbAlgorithm !== 'maglev' ? 0 : withRoom(maglevCount, 2)) * m), maglevSize: m,
    srcBase: new Uint32Array(srcs), srcMask: new Uint32Array(srcs),
    spFeStart: new Uint32Array(withRoom(nPorts) + 1), spFe: new Uint32Array(0), rowBackend,
    be: new Int32Array(0), beProto: new Uint8Array(0),
    rnIp: new Uint32Array(withRoom(rn.length)), rnPort: new Uint16Array(withRoom(rn.length)),
    hostAddrs: Uint32Array.from(hostAddrs), nodeAddrs: Uint32Array.from(allNodeAddrs),
    frontends: entries.length, frontendsGone: 0, backends: 0, revNats, ports: nPorts, slotsUsed: 0, srcUsed: 0, maglevUsed: 0,
    lbMapMax: config.lbMapMax, lbMapEntries: 0, lbMapUsed: 0, lbMapUnprogrammed: 0,
  };
  for (let r = 0; r < rn.length; r++) {
    t.rnIp[r] = rn[r].ip;
    t.rnPort[r] = rn[r].port;
  }
  const programmed = entries.map((e, i) => programFrontend(t, cluster, i, e, idOf, seeds.murmur));
  // The frontends of each service port (a CSR index): what update.ts rewrites for a Service. Ports
  // an update adds append theirs at the end (their indexes come after every known one).
  const counts = new Uint32Array(nPorts + 1);
  entries.forEach((e, i) => { if (programmed[i] && e.servicePort >= 0) counts[e.servicePort + 1]++; });
  for (let p = 0; p < nPorts; p++) counts[p + 1] += counts[p];
  t.spFeStart.set(counts);
  t.spFeStart.fill(counts[nPorts], nPorts + 1);
  t.spFe = new Uint32Array(withRoom(counts[nPorts]));
  const fill = counts.slice(0, nPorts);
  entries.forEach((e, i) => { if (programmed[i] && e.servicePort >= 0) t.spFe[fill[e.servicePort]++] = i; });
  // The backend map has room for a backend per endpoint row: an update allocates IDs past `backends`.
  const beRoom = be.length + rowBackend.length;
  t.be = new Int32Array(beRoom * BeWord.STRIDE);
  t.beProto = new Uint8Array(beRoom);
  for (let i = 0; i < be.length; i++) {
    writeBackend(t.be, i, be[i].ip, be[i].port, be[i].local, be[i].state);
    t.beProto[i] = be[i].proto;
  }
  t.backends = be.length - 1;
  return t;
}

/**
 * The configuration the mode runs with: the cluster's `kube-system/cilium-config`, or, when the
 * file has none, Cilium's defaults with kube-proxy replacement on (which is what asking for this
 * mode means; it turns socket LB on, as the agent's initKubeProxyReplacementOptions does).
 */
export function ciliumConfigOf(cluster: Cluster): CiliumConfig {
  return cluster.cilium ?? { ...kDefaultCiliumConfig, kubeProxyReplacement: true, socketLb: true };
}

export function compileCilium(cluster: Cluster, node: number): CiliumDataplane {
  const config = ciliumConfigOf(cluster);
  return new CiliumDataplane(cluster, node, config, compileCiliumTables(cluster, node, config));
}
