/**
 * Which packets `kdp verify` sends, and from where: every edge case kdp can derive from the
 * cluster (each service port, a wrong port, NodePorts, load-balancer IPs from inside and outside
 * the source ranges, external IPs, hairpin from an endpoint to its own service, host-network
 * clients, services without endpoints), a seeded random sample of flows, and many flows to one
 * service for the uniformity check.
 *
 * Addresses: a probe comes from one of three client namespaces of the sandbox, and each one's
 * source address lives there: `pods` (this node's pods: a free address of its pod block, and its
 * local endpoints for hairpin), `ext` (clients outside the cluster, inside and outside the
 * loadBalancerSourceRanges) or the node namespace itself (host network, from its InternalIP).
 */
import { HOOK_OUTPUT, HOOK_PREROUTING } from '../compile/dataplane.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD } from '../dataplane/pipeline.js';
import { Prng } from '../model/prng.js';
import { servicePortName, shouldSkipService, type Cluster, type ServicePort } from '../model/types.js';
import { cidrContains, cidrSize, type Cidr } from '../net/ipv4.js';
import { categorizeEndpoints } from '../compile/topology.js';
import { PROTO_SCTP, PROTO_TCP, type Protocol } from '../net/proto.js';

export type ClientNs = 'pods' | 'ext' | 'node';

export interface VerifyProbe {
  readonly id: number;
  /** What the probe checks, for the agreement table: `cluster-ip`, `node-port-external`, … */
  readonly category: string;
  /** The service port it targets (`ns/name:port`), or '' for probes to nothing in particular. */
  readonly service: string;
  readonly proto: Protocol;
  readonly src: number;
  readonly sport: number;
  readonly dst: number;
  readonly dport: number;
  readonly client: ClientNs;
  /** ENTRY_POD / ENTRY_EXTERNAL / ENTRY_HOST, for kdp's trace. */
  readonly entry: number;
}

export function hookOf(entry: number): number {
  return entry === ENTRY_HOST ? HOOK_OUTPUT : HOOK_PREROUTING;
}

/** The addresses the sandbox must hold, decided once for the cluster and node. */
export interface AddressPlan {
  readonly node: number;
  /** The node's InternalIPs (the first is the primary): addresses of the node namespace. */
  readonly nodeIps: readonly number[];
  /** A free address of this node's pod block, used as an ordinary pod client. */
  readonly podClient: number;
  /** Endpoint addresses on this node (their pods are in the `pods` namespace). */
  readonly localEndpoints: readonly number[];
  /** Endpoint addresses elsewhere (in the `remote` namespace). */
  readonly remoteEndpoints: readonly number[];
  /** The node's pod blocks (routed to the `pods` namespace). */
  readonly podBlocks: readonly Cidr[];
  /** A client outside the cluster and outside every source range. */
  readonly externalOut: number;
  /** One client inside each distinct loadBalancerSourceRange, keyed by `base/prefix`. */
  readonly externalIn: ReadonlyMap<string, number>;
  /** Service addresses (ClusterIPs, externalIPs, LB IPs): routed to the `sink` namespace. */
  readonly serviceAddresses: readonly number[];
}

const cidrKey = (c: Cidr): string => `${c.base}/${c.prefix}`;

export function planAddresses(cluster: Cluster, node: number, podBlocks: readonly Cidr[]): AddressPlan {
  const n = cluster.nodes[node];
  const nodeIps = [...n.internalIPs];
  const used = new Set<number>();
  for (const nd of cluster.nodes) for (const ip of [...nd.internalIPs, ...nd.externalIPs]) used.add(ip);
  const ep = cluster.endpoints;
  for (let r = 0; r < ep.count; r++) used.add(ep.ip[r]);
  for (const p of cluster.pods) used.add(p.ip);
  const serviceAddresses = new Set<number>();
  for (const s of cluster.services) for (const ip of [...s.clusterIPs, ...s.externalIPs, ...s.loadBalancerIPs]) serviceAddresses.add(ip);
  for (const ip of serviceAddresses) used.add(ip);

  const inBlocks = (ip: number): boolean => podBlocks.some((b) => cidrContains(b, ip));
  const local = new Set<number>();
  const remote = new Set<number>();
  for (let r = 0; r < ep.count; r++) {
    const ip = ep.ip[r];
    if (nodeIps.includes(ip)) continue; // a host-network endpoint on this node: the node namespace has it
    if (inBlocks(ip) || (ep.node[r] === node && !cluster.nodes.some((m, i) => i !== node && m.internalIPs.includes(ip)))) local.add(ip);
    else remote.add(ip);
  }
  for (const ip of local) remote.delete(ip);

  // A pod client: the highest free address of the first pod block (below broadcast, above .1).
  let podClient = 0;
  const block = podBlocks[0];
  if (block) {
    for (let ip = block.base + cidrSize(block) - 2; ip > block.base + 1; ip--) {
      if (!used.has(ip >>> 0)) {
        podClient = ip >>> 0;
        break;
      }
    }
  }
  if (!podClient) throw new Error(`node ${n.name} has no pod block with a free address for a pod client`);
  used.add(podClient);

  const clusterRanges: Cidr[] = [...cluster.proxy.clusterCIDRs, ...cluster.serviceCIDRs, ...cluster.nodes.flatMap((m) => m.podCIDRs)];
  const ranges = new Map<string, Cidr>();
  for (const s of cluster.services) for (const c of s.loadBalancerSourceRanges) ranges.set(cidrKey(c), c);
  const outside = (ip: number): boolean =>
    !used.has(ip) && !clusterRanges.some((c) => cidrContains(c, ip)) && ![...ranges.values()].some((c) => cidrContains(c, ip)) && ip >>> 24 !== 127 && ip >>> 24 !== 0;
  // TEST-NET-3, CGNAT, TEST-NET-2, TEST-NET-1: documentation ranges, never routed anywhere.
  const outCandidates = [0xcb0071c9, 0x644000c9, 0xc63364c9, 0xc00002c9, 0xac1fffc9];
  const externalOut = outCandidates.find(outside);
  if (externalOut === undefined) throw new Error('no address outside the cluster and its source ranges is free for an external client');
  used.add(externalOut);
  const externalIn = new Map<string, number>();
  for (const [key, c] of ranges) {
    if (externalIn.size >= 32) break;
    const size = cidrSize(c);
    const pick = [Math.floor(size / 2) + 7, 1, 0].map((o) => (c.base + Math.min(o, size - 1)) >>> 0).find((ip) => !used.has(ip));
    if (pick === undefined || clusterRanges.some((cr) => cidrContains(cr, pick))) continue;
    externalIn.set(key, pick);
    used.add(pick);
  }
  return {
    node,
    nodeIps,
    podClient,
    localEndpoints: [...local],
    remoteEndpoints: [...remote],
    podBlocks,
    externalOut,
    externalIn,
    serviceAddresses: [...serviceAddresses],
  };
}

export interface ProbeOptions {
  /** Random flows on top of the edge cases. */
  readonly random: number;
  readonly seed: number;
  /** Flows to one service for the uniformity check (0: none). */
  readonly distribution: number;
}

export interface ProbeSet {
  readonly probes: VerifyProbe[];
  /** The service port the distribution flows go to, or -1. */
  readonly distributionPort: number;
  /** What could not be probed, and why. */
  readonly notProbed: string[];
}

/** Builds every probe for `cluster` at node `plan.node`. */
export function deriveProbes(cluster: Cluster, plan: AddressPlan, options: ProbeOptions): ProbeSet {
  const probes: VerifyProbe[] = [];
  const notProbed: string[] = [];
  const rng = new Prng(options.seed ^ 0x6b647076);
  let sport = 10000;
  const nodeIp = plan.nodeIps[0];
  const localEp = new Set(plan.localEndpoints);
  const add = (category: string, service: string, proto: Protocol, src: number, client: ClientNs, dst: number, dport: number): void => {
    if (sport >= 65000) return;
    const entry = client === 'pods' ? ENTRY_POD : client === 'ext' ? ENTRY_EXTERNAL : ENTRY_HOST;
    probes.push({ id: probes.length, category, service, proto, src, sport: sport++, dst, dport, client, entry });
  };
  const extIn = (svcRanges: readonly Cidr[]): number | undefined => {
    for (const c of svcRanges) {
      const ip = plan.externalIn.get(cidrKey(c));
      if (ip !== undefined) return ip;
    }
    return undefined;
  };
  const usable = (p: ServicePort): boolean => p.protocol !== PROTO_SCTP;
  const ports = cluster.ports.filter((p) => {
    const svc = cluster.services[p.service];
    if (shouldSkipService(svc)) return false;
    if (!usable(p)) {
      notProbed.push(`${servicePortName(cluster, p)}: SCTP (the probe agent sends TCP and UDP only)`);
      return false;
    }
    return true;
  });
  const localEndpointOf = (p: ServicePort): number | undefined => {
    for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if (localEp.has(cluster.endpoints.ip[r])) return cluster.endpoints.ip[r];
    return undefined;
  };

  // Edge cases, per service port.
  const wrongPortDone = new Set<number>();
  for (const p of ports) {
    const svc = cluster.services[p.service];
    const name = servicePortName(cluster, p);
    const cip = svc.clusterIPs[0];
    const none = p.endpointCount === 0 || !categorizeEndpoints(cluster, p, plan.node).hasAnyEndpoints;
    add(none ? 'no-endpoints' : 'cluster-ip', name, p.protocol, plan.podClient, 'pods', cip, p.port);
    add('cluster-ip-from-host', name, p.protocol, nodeIp, 'node', cip, p.port);
    if (!wrongPortDone.has(svc.index)) {
      wrongPortDone.add(svc.index);
      const taken = new Set(svc.ports.map((i) => cluster.ports[i].port));
      let wrong = p.port + 1;
      while (taken.has(wrong) || wrong > 65535) wrong = wrong > 65535 ? 1 : wrong + 1;
      add('wrong-port', name, p.protocol, plan.podClient, 'pods', cip, wrong);
    }
    const hair = localEndpointOf(p);
    if (hair !== undefined) add('hairpin', name, p.protocol, hair, 'pods', cip, p.port);
    if (p.nodePort !== 0 && nodeIp) {
      add('node-port-external', name, p.protocol, plan.externalOut, 'ext', nodeIp, p.nodePort);
      add('node-port-from-pod', name, p.protocol, plan.podClient, 'pods', nodeIp, p.nodePort);
      add('node-port-from-host', name, p.protocol, nodeIp, 'node', nodeIp, p.nodePort);
    }
    for (const lb of svc.loadBalancerIPs.slice(0, 2)) {
      if (svc.loadBalancerSourceRanges.length > 0) {
        const inside = extIn(svc.loadBalancerSourceRanges);
        if (inside !== undefined) add('lb-source-in-range', name, p.protocol, inside, 'ext', lb, p.port);
        add('lb-source-out-of-range', name, p.protocol, plan.externalOut, 'ext', lb, p.port);
      } else {
        add('lb-external', name, p.protocol, plan.externalOut, 'ext', lb, p.port);
      }
      add('lb-from-pod', name, p.protocol, plan.podClient, 'pods', lb, p.port);
    }
    for (const eip of svc.externalIPs.slice(0, 2)) add('external-ip', name, p.protocol, plan.externalOut, 'ext', eip, p.port);
  }
  // A NodePort nobody owns, and the node's address on a port with nothing behind it.
  if (nodeIp) {
    const [lo, hi] = cluster.network.nodePortRange;
    const taken = new Set(cluster.ports.map((p) => p.nodePort));
    for (const proto of [PROTO_TCP, 17] as Protocol[]) {
      for (let np = hi; np >= lo; np--) {
        if (!taken.has(np)) {
          add('node-port-unallocated', '', proto, plan.externalOut, 'ext', nodeIp, np);
          break;
        }
      }
    }
  }

  // The random sample: any service port, any of its addresses, any client.
  for (let k = 0; k < options.random && ports.length > 0; k++) {
    const p = ports[rng.below(ports.length)];
    const svc = cluster.services[p.service];
    const name = servicePortName(cluster, p);
    const targets: [number, number][] = [[svc.clusterIPs[0], p.port]];
    if (p.nodePort !== 0 && nodeIp) targets.push([nodeIp, p.nodePort]);
    for (const lb of svc.loadBalancerIPs) targets.push([lb, p.port]);
    for (const eip of svc.externalIPs) targets.push([eip, p.port]);
    const [dst, dport] = targets[rng.below(targets.length)];
    const clients: [number, ClientNs][] = [[plan.podClient, 'pods'], [plan.externalOut, 'ext']];
    if (nodeIp) clients.push([nodeIp, 'node']);
    const inside = extIn(svc.loadBalancerSourceRanges);
    if (inside !== undefined) clients.push([inside, 'ext']);
    const hair = localEndpointOf(p);
    if (hair !== undefined) clients.push([hair, 'pods']);
    const [src, client] = clients[rng.below(clients.length)];
    add('random', name, p.protocol, src, client, dst, dport);
  }

  // Many flows to one service: the one with the most usable endpoints (no affinity, Cluster policy).
  let distributionPort = -1;
  if (options.distribution > 0) {
    let best = 1;
    for (const p of ports) {
      const svc = cluster.services[p.service];
      if (svc.affinity.clientIP || svc.internalTrafficPolicy === 'Local') continue;
      const n = categorizeEndpoints(cluster, p, plan.node).cluster.length;
      if (n > best) {
        best = n;
        distributionPort = p.index;
      }
    }
    if (distributionPort >= 0) {
      const p = cluster.ports[distributionPort];
      const svc = cluster.services[p.service];
      const name = servicePortName(cluster, p);
      for (let k = 0; k < options.distribution; k++) add('distribution', name, p.protocol, plan.podClient, 'pods', svc.clusterIPs[0], p.port);
    } else {
      notProbed.push('uniformity: no service port without session affinity has two or more endpoints');
    }
  }
  if (sport >= 65000) notProbed.push('probes beyond the 55,000 source ports available were not sent');
  return { probes, distributionPort, notProbed };
}
