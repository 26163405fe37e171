/**
 * kube-proxy's userspace mode (pkg/proxy/userspace/proxier.go, removed in Kubernetes 1.26),
 * compiled for one node: every service port gets a proxy socket on a port allocated from a range,
 * and portal rules that send its traffic there (openPortal, openNodePort), in the order the
 * proxier opens them.
 */
import { nodeAddresses, resolveNode } from '../node-addresses.js';
import { InvalidArgumentError } from '../../errors.js';
import { protocolName, shouldSkipService, type Cluster, type Service, type ServicePort } from '../../model/types.js';
import { AddressSet, withRoom } from '../tables/index.js';
import { newGeneration } from '../table-generation.js';
import { writeReadyRows } from './update.js';
import { userspaceDataplaneOver, type UserspaceDataplane } from './dataplane.js';
import { freeProxyPort, kEphemeralPortRange, M_DST_LOCAL, M_PHYSDEV_NOT_IN, NODEPORT_CONTAINER, NODEPORT_HOST, PORTAL_CONTAINER, PORTAL_HOST, protoBit, X_EP_ROWS, X_PORTS } from './tables.js';

export interface UserspaceOptions {
  readonly node: number | string;
  /** --proxy-port-range; default: the kernel's ephemeral range (ports handed out in order). */
  readonly proxyPortRange?: readonly [number, number];
  /** --bind-address; 0 (0.0.0.0, the default) makes container portals REDIRECT, else DNAT. */
  readonly listenIp?: number;
  /** Affinity entries kept (power of two). Default 65536. */
  readonly affinityCapacity?: number;
}

export function compileUserspace(cluster: Cluster, options: UserspaceOptions): UserspaceDataplane {
  const node = resolveNode(cluster, options.node);
  const range = options.proxyPortRange ?? kEphemeralPortRange;
  if (range[0] < 1 || range[1] > 65535 || range[0] > range[1]) throw new InvalidArgumentError('options.proxyPortRange must be [first, last] within 1..65535');
  const nodeInfo = cluster.nodes[node];
  const nodeIp = nodeInfo.internalIPs[0] ?? 0;
  const listenIp = options.listenIp ?? 0;
  const nPorts = cluster.ports.length;
  // Per-port arrays and every chain have room past what the cluster needs, so that Services
  // added later are written in place (update-services.ts).
  const portRoom = withRoom(nPorts);
  const proxyPort = new Uint16Array(portRoom);
  const epStart = new Uint32Array(portRoom);
  const epCount = new Uint32Array(portRoom);
  const affinitySeconds = new Uint32Array(portRoom);
  const rows: number[] = [];
  const kinds: number[][] = [[], [], [], []];
  const spFirst: number[][] = [[], [], [], []];
  // Ports already taken on the node: NodePorts are claimed by kube-proxy itself. TCP, UDP and
  // SCTP ports are separate spaces, so each protocol allocates from the whole range.
  const ports = { nodePortBits: new Uint8Array(range[1] - range[0] + 1), proxyPortFirst: range[0], proxyPortLast: range[1] };
  for (const p of cluster.ports) if (p.nodePort >= range[0] && p.nodePort <= range[1]) ports.nodePortBits[p.nodePort - range[0]] |= protoBit(p.protocol);
  const nextProxyPort = new Uint32Array(256).fill(range[0]);
  const rule = (kind: number, ip: number, port: number, proto: number, match: number, sp: number): void => {
    if (spFirst[kind][sp] === undefined) spFirst[kind][sp] = kinds[kind].length / 5;
    kinds[kind].push(ip >>> 0, port, proto, match, sp);
  };

  for (const p of cluster.ports) {
    const svc = cluster.services[p.service];
    epStart[p.index] = rows.length;
    if (shouldSkipService(svc)) continue;
    const nextPort = freeProxyPort(ports, p.protocol, nextProxyPort[p.protocol]);
    if (nextPort === 0) {
      const wanted = cluster.ports.filter((q) => q.protocol === p.protocol).length;
      throw new InvalidArgumentError(
        `userspace mode needs a proxy socket per service port: ${wanted} ${protocolName(p.protocol)} ports do not fit the proxy port range ${range[0]}-${range[1]} (kube-proxy's userspace mode could not serve this many services on one node either)`,
      );
    }
    proxyPort[p.index] = nextPort;
    affinitySeconds[p.index] = affinityOf(svc);
    nextProxyPort[p.protocol] = nextPort + 1;
    // The Endpoints API's addresses: ready endpoints only; no topology, no traffic policy, no
    // terminating fallback (the userspace proxier predates all of them).
    // The range has room for every row the slice lists, so a readiness change is written in
    // place (update.ts) and never moves it.
    epCount[p.index] = writeReadyRows(cluster, p.index, rows, epStart[p.index]);
    rows.length = epStart[p.index] + p.endpointCount;
    portalRules(svc, p, rule);
  }
  const chainStart = new Uint32Array(5);
  const chainEnd = new Uint32Array(4);
  for (let k = 0; k < 4; k++) {
    chainEnd[k] = chainStart[k] + kinds[k].length / 5;
    chainStart[k + 1] = chainStart[k] + withRoom(kinds[k].length / 5);
  }
  const room = chainStart[4];
  const ruleKind = new Uint8Array(room);
  const ruleIp = new Uint32Array(room);
  const rulePort = new Uint16Array(room);
  const ruleProto = new Uint8Array(room);
  const ruleMatch = new Uint8Array(room);
  const ruleServicePort = new Int32Array(room);
  const spRule = new Int32Array(portRoom * 4).fill(-1);
  for (let k = 0; k < 4; k++) {
    const a = kinds[k];
    for (let j = 0, i = chainStart[k]; j < a.length; j += 5, i++) {
      ruleKind[i] = k; ruleIp[i] = a[j]; rulePort[i] = a[j + 1]; ruleProto[i] = a[j + 2]; ruleMatch[i] = a[j + 3]; ruleServicePort[i] = a[j + 4];
    }
    spFirst[k].forEach((first, sp) => { spRule[sp * 4 + k] = chainStart[k] + first; });
  }
  const epRows = new Int32Array(withRoom(rows.length)).fill(-1);
  for (let i = 0; i < rows.length; i++) if (rows[i] !== undefined) epRows[i] = rows[i];
  const extent = new Uint32Array(2);
  extent[X_PORTS] = nPorts;
  extent[X_EP_ROWS] = rows.length;
  const own = nodeAddresses(cluster, node);
  const localAddrs = new AddressSet(own.length + 1);
  for (const ip of own) localAddrs.add(ip);
  const anyAffinity = cluster.services.some((s) => s.affinity.clientIP);
  const tables = {
    generation: newGeneration(),
    proxyPort, epStart, epCount, epRows, affinitySeconds,
    ruleKind, ruleIp, rulePort, ruleProto, ruleMatch, ruleServicePort, chainStart, chainEnd, chainGone: new Uint32Array(4), spRule,
    extent, nextProxyPort, ...ports, localAddrs, nodeIp, listenIp,
  };
  return userspaceDataplaneOver(cluster, node, tables, options.affinityCapacity ?? (anyAffinity ? kAffinityEntries : 16));
}

/** A Service's ClientIP affinity timeout (sessionAffinityConfig, at least 1 s), 0 without affinity. */
export function affinityOf(svc: Service): number {
  return svc.affinity.clientIP ? Math.max(1, svc.affinity.timeoutSeconds) : 0;
}

/** Affinity entries a node with a ClientIP Service keeps (16 without one). */
export const kAffinityEntries = 65536;

type Rule = (kind: number, ip: number, port: number, proto: number, match: number, sp: number) => void;

/** The proxier's openPortal then openNodePort for one service port, as the rules they append, in order. */
export function portalRules(svc: Service, p: ServicePort, rule: Rule): void {
  // openPortal: the ClusterIP, then each externalIP (isExternal), then each LB ingress IP.
  rule(PORTAL_CONTAINER, svc.clusterIPs[0], p.port, p.protocol, 0, p.index);
  rule(PORTAL_HOST, svc.clusterIPs[0], p.port, p.protocol, 0, p.index);
  for (const ip of svc.externalIPs) {
    rule(PORTAL_CONTAINER, ip, p.port, p.protocol, M_PHYSDEV_NOT_IN, p.index);
    rule(PORTAL_CONTAINER, ip, p.port, p.protocol, M_DST_LOCAL, p.index);
    rule(PORTAL_HOST, ip, p.port, p.protocol, M_DST_LOCAL, p.index);
  }
  for (const ip of svc.loadBalancerIPs) {
    rule(PORTAL_CONTAINER, ip, p.port, p.protocol, 0, p.index);
    rule(PORTAL_HOST, ip, p.port, p.protocol, 0, p.index);
  }
  if (p.nodePort !== 0) {
    rule(NODEPORT_CONTAINER, 0, p.nodePort, p.protocol, 0, p.index);
    rule(NODEPORT_HOST, 0, p.nodePort, p.protocol, 0, p.index);
  }
}
