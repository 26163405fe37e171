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
import type { CiliumConfig, Cluster, Service, ServicePort } from '../../model/types.js';
import { EP_READY } from '../../model/types.js';
import { prefixMask } from '../../net/ipv4.js';
import { PROTO_SCTP } from '../../net/proto.js';
import { categorizeEndpoints } from '../topology.js';
import { nodeAddresses } from '../node-addresses.js';
import { PairTable } from '../tables/index.js';
import { newGeneration } from '../table-generation.js';
import { kDefaultCiliumConfig } from '../../model/read-config.js';
import { CiliumDataplane } from './dataplane.js';
import { ciliumMaglevTable, maglevSeeds } from './maglev.js';
import {
  BE_STATE_ACTIVE, BE_STATE_TERMINATING, SCOPE_EXT, SCOPE_INT, SVC_FLAG_AFFINITY, SVC_FLAG_EXTERNAL_IP, SVC_FLAG_EXT_LOCAL_SCOPE,
  SVC_FLAG_FWD_MODE_DSR, SVC_FLAG_INT_LOCAL_SCOPE, SVC_FLAG_LOADBALANCER, SVC_FLAG_NODEPORT, SVC_FLAG_ROUTABLE, SVC_FLAG_SOURCE_RANGE,
  SVC_FLAG_TWO_SCOPES, serviceKeyWord, type CiliumTables,
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
  const dsrFlag = config.lbMode === 'dsr' ? SVC_FLAG_FWD_MODE_DSR : 0;
  const entries: FrontendEntry[] = [];
  let revNats = 0;
  const rn: { ip: number; port: number }[] = [{ ip: 0, port: 0 }];
  const add = (svc: Service, port: ServicePort, ip: number, portNo: number, type: number, routable: boolean, srcCheck: boolean): void => {
    const revNat = ++revNats;
    rn.push({ ip, port: portNo });
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
      ip, port: portNo, proto: port.protocol, revNat, affinity: svc.affinity.clientIP ? svc.affinity.timeoutSeconds : 0, servicePort: port.index,
      srcRanges: (flags & SVC_FLAG_SOURCE_RANGE) !== 0 ? svc.loadBalancerSourceRanges : [],
    };
    entries.push({ ...base, scope: SCOPE_EXT, flags, ...backendsOf(cluster, port, node, ownLocal), maglev: config.lbAlgorithm === 'maglev' && routable });
    if (twoScopes) entries.push({ ...base, scope: SCOPE_INT, flags, ...backendsOf(cluster, port, node, intLocal), maglev: false });
  };

  for (const port of cluster.ports) {
    const svc = cluster.services[port.service];
    if (svc.headless || svc.type === 'ExternalName') continue;
    // Without enable-sctp the agent leaves SCTP ports out of the maps.
    if (port.protocol === PROTO_SCTP && !config.enableSctp) continue;
    const allTypes = config.sourceRangeAllTypes;
    for (const ip of svc.clusterIPs) add(svc, port, ip, port.port, 0, config.externalClusterIp, allTypes);
    if (port.nodePort !== 0) {
      add(svc, port, 0, port.nodePort, SVC_FLAG_NODEPORT, false, allTypes);
      for (const ip of hostAddrs) add(svc, port, ip, port.nodePort, SVC_FLAG_NODEPORT, true, allTypes);
    }
    for (const ip of svc.loadBalancerIPs) add(svc, port, ip, port.port, SVC_FLAG_LOADBALANCER, true, true);
    for (const ip of svc.externalIPs) add(svc, port, ip, port.port, SVC_FLAG_EXTERNAL_IP, true, allTypes);
  }

  return packCiliumTables(cluster, node, config, entries, revNats, rn);
}

/** The entries as typed arrays: backend IDs allocated, Maglev tables built (compile and parse share it). */
export function packCiliumTables(
  cluster: Cluster, node: number, config: CiliumConfig, entries: readonly FrontendEntry[], revNats: number, rn: readonly { ip: number; port: number }[],
): CiliumTables {
  const seeds = maglevSeeds(config.maglevHashSeed);
  if (typeof seeds === 'string') throw new InvalidArgumentError(`bpf-lb-maglev-hash-seed: ${seeds}`);
  const hostAddrs = nodeAddresses(cluster, node);
  const allNodeAddrs = [...new Set(cluster.nodes.flatMap((_, n) => nodeAddresses(cluster, n)))];
  // Backend IDs: one per ip:port/proto, in order of first use (the agent's allocator is node-local too).
  const backendId = new Map<string, number>();
  const be: { ip: number; port: number; proto: number; state: number }[] = [{ ip: 0, port: 0, proto: 0, state: 0 }];
  const { ip: epIp, port: epPort, conditions } = cluster.endpoints;
  // The backend ID each endpoint row got (0: none yet), for update.ts to reuse.
  const rowBackend = new Uint32Array(epIp.length);
  const idOf = (row: number, proto: number): number => {
    const key = `${epIp[row]}:${epPort[row]}/${proto}`;
    let id = backendId.get(key);
    if (id === undefined) {
      id = be.length;
      backendId.set(key, id);
      be.push({ ip: epIp[row], port: epPort[row], proto, state: (conditions[row] & EP_READY) !== 0 ? BE_STATE_ACTIVE : BE_STATE_TERMINATING });
    }
    rowBackend[row] = id;
    return id;
  };
  // Room in each frontend's slots for every row of its port, so that an update writes them in place.
  const slotRoom = (e: FrontendEntry): number => Math.max(e.active.length + e.extra.length, e.servicePort >= 0 ? cluster.ports[e.servicePort].endpointCount : 0);

  const f = entries.length;
  const services = new PairTable(Math.max(1, f), 1);
  const slots = entries.reduce((n, e) => n + slotRoom(e), 0);
  const maglevCount = entries.filter((e) => e.maglev).length;
  const m = config.maglevTableSize;
  const t = {
    services,
    feIp: new Uint32Array(f), fePort: new Uint16Array(f), feProto: new Uint8Array(f), feScope: new Uint8Array(f),
    feRevNat: new Uint16Array(f), feFlags: new Uint16Array(f), feCount: new Uint16Array(f), feQCount: new Uint16Array(f),
    feAffinity: new Uint32Array(f), feSlotStart: new Uint32Array(f), feServicePort: new Int32Array(f), feMaglev: new Int32Array(f).fill(-1),
    feSrcStart: new Uint32Array(f), feSrcCount: new Uint16Array(f),
    slotBackend: new Uint32Array(slots), slotRow: new Int32Array(slots),
    maglev: new Uint32Array(maglevCount * m), maglevSize: m,
  };
  const srcBase: number[] = [];
  const srcMask: number[] = [];
  let slot = 0;
  let lut = 0;
  // bpf-lb-map-max bounds the service map (masters and slots together): an upsert past it fails
  // with E2BIG and the agent logs "Error while inserting service in LB map ... You can resize it
  // with the flag --bpf-lb-map-max" (pkg/maps/lbmap, v1.17 pkg/loadbalancer/reconciler
  // updateServiceEndpoint), leaving that frontend without its master entry: the datapath does not
  // know it. kdp upserts in the cluster's port order and leaves out each frontend that does not fit whole.
  const mapMax = config.lbMapMax;
  let mapUsed = 0;
  let needed = 0;
  let unprogrammed = 0;
  entries.forEach((e, i) => {
    const key = serviceKeyWord(e.port, e.proto, e.scope);
    // A second claim on the same address:port/proto (validation refuses it between Services): the first keeps it.
    if (services.find(e.ip, key) >= 0) return;
    const size = 1 + e.active.length + e.extra.length;
    needed += size;
    if (mapUsed + size > mapMax) {
      unprogrammed++;
      return;
    }
    mapUsed += size;
    const s = services.slotFor(e.ip, key);
    services.values[s] = i;
    t.feIp[i] = e.ip;
    t.fePort[i] = e.port;
    t.feProto[i] = e.proto;
    t.feScope[i] = e.scope;
    t.feRevNat[i] = e.revNat;
    t.feFlags[i] = e.flags;
    t.feCount[i] = e.active.length;
    t.feQCount[i] = e.extra.length;
    t.feAffinity[i] = e.affinity;
    t.feServicePort[i] = e.servicePort;
    t.feSlotStart[i] = slot;
    for (const r of [...e.active, ...e.extra]) {
      t.slotBackend[slot] = idOf(r, e.proto);
      t.slotRow[slot] = r;
      slot++;
    }
    for (let k = e.active.length + e.extra.length; k < slotRoom(e); k++) t.slotRow[slot++] = -1;
    t.feSrcStart[i] = srcBase.length;
    t.feSrcCount[i] = e.srcRanges.length;
    for (const c of e.srcRanges) {
      srcBase.push(c.base >>> 0);
      srcMask.push(prefixMask(c.prefix));
    }
    if (e.maglev) {
      t.feMaglev[i] = lut;
      const backends = e.active.map((r) => ({ id: idOf(r, e.proto), ip: epIp[r], port: epPort[r], proto: e.proto as 6 }));
      ciliumMaglevTable(backends, m, seeds.murmur, t.maglev, lut);
      lut += m;
    }
  });
  // The frontends of each service port (a CSR index): what update.ts rewrites for a Service.
  const nPorts = cluster.ports.length;
  const spFeStart = new Uint32Array(nPorts + 1);
  for (let i = 0; i < f; i++) if (t.feRevNat[i] !== 0 && entries[i].servicePort >= 0) spFeStart[entries[i].servicePort + 1]++;
  for (let p = 0; p < nPorts; p++) spFeStart[p + 1] += spFeStart[p];
  const spFe = new Uint32Array(spFeStart[nPorts]);
  const fill = spFeStart.slice(0, nPorts);
  for (let i = 0; i < f; i++) if (t.feRevNat[i] !== 0 && entries[i].servicePort >= 0) spFe[fill[entries[i].servicePort]++] = i;
  // The backend map has room for a backend per endpoint row: an update allocates IDs past `backends`.
  const beRoom = be.length + epIp.length;
  const beArray = <A extends Uint32Array | Uint16Array | Uint8Array>(make: new (n: number) => A, pick: (b: (typeof be)[number]) => number): A => {
    const a = new make(beRoom);
    for (let i = 0; i < be.length; i++) a[i] = pick(be[i]);
    return a;
  };
  return {
    ...t,
    generation: newGeneration(), spFeStart, spFe, rowBackend,
    beIp: beArray(Uint32Array, (b) => b.ip), bePort: beArray(Uint16Array, (b) => b.port),
    beProto: beArray(Uint8Array, (b) => b.proto), beState: beArray(Uint8Array, (b) => b.state),
    rnIp: Uint32Array.from(rn, (r) => r.ip), rnPort: Uint16Array.from(rn, (r) => r.port),
    srcBase: Uint32Array.from(srcBase), srcMask: Uint32Array.from(srcMask),
    hostAddrs: Uint32Array.from(hostAddrs), nodeAddrs: Uint32Array.from(allNodeAddrs),
    frontends: f, backends: be.length - 1, revNats, lbMapEntries: needed, lbMapUsed: mapUsed, lbMapUnprogrammed: unprogrammed,
  };
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
