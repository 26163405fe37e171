/**
 * Synthetic flows for the replay, deterministic for (seed, flow id), sharded the way a NIC's RSS
 * shards them: every flow is a pure function of the run's seed and its global id, and a worker
 * keeps the flows whose Toeplitz hash sends them to its queue. The flow set is therefore the
 * same whatever the number of workers; only who replays which flow changes.
 *
 * The mix (`kDefaultFlowMix`): pods calling ClusterIP Services (most traffic), pods calling pods
 * on the same node and on another node, external clients calling NodePorts and LoadBalancer
 * IPs, and pods calling out of the cluster. Service popularity is uniform or Zipf(s) over a seeded
 * permutation of the Services (so that the popular ones are not simply the first rules of the
 * iptables chain). Each flow carries its packet schedule (see `packetCount`/`packetAt`):
 *   TCP: SYN, SYN/ACK (reply), ACK, request data (1+), response data (1+), FIN/ACK, FIN/ACK
 *        (reply), ACK: 6 + request + response packets, 9.4 on average
 *   UDP: request/response pairs (1+)
 * and payload sizes from a request/response distribution bounded by the pod MTU.
 *
 * Client addresses and ports are derived from the flow id (client = id mod clients, port =
 * 1024 + floor(id / clients) mod 64512), so no two flows share a 5-tuple below
 * clients x 64512 flows: every first packet really is a new connection.
 *
 * With `dns` (`kdp bench --dns`, src/replay/lookups.ts), each connection a pod opens to a name
 * (ClusterIP connections, and the share of them that calls an external name instead) is preceded
 * in the flow list by its lookup: one UDP flow per name the resolver asks, from the pod to its
 * nameserver on port 53 (A and AAAA on one socket, as glibc sends them: the two queries, then the
 * two answers), and behind NodeLocal DNSCache, on each cache miss, the cache's TCP connection to
 * kube-dns-upstream. They share the connection's id; `lookup` tells them apart.
 *
 * This module has no Node.js imports: it runs in workers, tests and the browser alike.
 */
import { InvalidArgumentError } from '../errors.js';
import { Prng } from '../model/prng.js';
import type { Cluster } from '../model/types.js';
import type { PodNetworkPlan } from '../dataplane/pod-network.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD } from '../dataplane/pipeline.js';
import { PROTO_TCP, PROTO_UDP } from '../net/proto.js';
import { mix32 } from '../net/hash.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_SYN } from '../net/l4.js';
import { rssHash, rssQueue } from '../net/rss.js';
import { externalAddress, isClusterDnsService, kEphemeralFirst, kExternalBase, kEphemeralSpan, kExternalNames, LookupPlan, type DnsFlowOptions } from './lookups.js';

/** Flow kinds, as `as const` labels and ids. */
export const kFlowKinds = ['cluster-ip', 'pod-same-node', 'pod-cross-node', 'node-port', 'load-balancer', 'egress'] as const;
export type FlowKind = (typeof kFlowKinds)[number];
export const FLOW_CLUSTER_IP = 0;
export const FLOW_POD_SAME_NODE = 1;
export const FLOW_POD_CROSS_NODE = 2;
export const FLOW_NODE_PORT = 3;
export const FLOW_LOAD_BALANCER = 4;
export const FLOW_EGRESS = 5;

/** Share of each flow kind (sums to 1), in `kFlowKinds` order. */
export type FlowMix = readonly [number, number, number, number, number, number];
export const kDefaultFlowMix: FlowMix = [0.7, 0.08, 0.08, 0.05, 0.04, 0.05];

export interface FlowOptions {
  readonly seed: number;
  /** Zipf exponent of Service popularity; 0 is uniform. */
  readonly zipf?: number;
  readonly mix?: FlowMix;
  /** Name lookups before connections (`kdp bench --dns`); absent: none. */
  readonly dns?: DnsFlowOptions;
}

/** What a flow of the chunk is: a connection, one name of a lookup (pod to nameserver), or node-local-dns's upstream query. */
export const LOOKUP_NONE = 0;
export const LOOKUP_QUERY = 1;
export const LOOKUP_UPSTREAM = 2;

/** Samples ranks 0..n-1 with P(k) proportional to 1/(k+1)^s (s = 0: uniform). */
export class ZipfSampler {
  readonly n: number;
  readonly s: number;
  readonly #cdf: Float64Array | null;

  constructor(n: number, s: number) {
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`a Zipf sampler needs at least one item, not ${n}`);
    if (!(s >= 0) || !Number.isFinite(s)) throw new InvalidArgumentError(`options.zipf must be a number >= 0, not ${s}`);
    this.n = n;
    this.s = s;
    if (s === 0) {
      this.#cdf = null;
      return;
    }
    const cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) {
      sum += 1 / Math.pow(k + 1, s);
      cdf[k] = sum;
    }
    for (let k = 0; k < n; k++) cdf[k] /= sum;
    cdf[n - 1] = 1;
    this.#cdf = cdf;
  }

  /** The rank for a uniform u32. */
  sample(u32: number): number {
    const u = u32 / 4294967296;
    const cdf = this.#cdf;
    if (cdf === null) return Math.floor(u * this.n);
    let lo = 0;
    let hi = this.n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/**
 * A chunk of flows, struct-of-arrays, preallocated and refilled (`count = 0`), never reallocated.
 */
export class FlowChunk {
  readonly capacity: number;
  count = 0;
  /** Global flow id (the same whatever the worker count). */
  readonly id: Float64Array;
  readonly kind: Uint8Array;
  readonly proto: Uint8Array;
  readonly srcIp: Uint32Array;
  readonly dstIp: Uint32Array;
  readonly srcPort: Uint16Array;
  readonly dstPort: Uint16Array;
  /** Node where the first packet enters, and how (ENTRY_POD / ENTRY_EXTERNAL). */
  readonly node: Uint16Array;
  readonly entry: Uint8Array;
  /** The Service port (index into Cluster.ports) the flow calls, -1 for pod/egress flows. */
  readonly servicePort: Int32Array;
  /** Request (client to server) and response data packets; UDP: request/response pairs in `request`. */
  readonly request: Uint8Array;
  readonly response: Uint8Array;
  /** Per-flow randomness for payload sizes and sequence numbers. */
  readonly rand: Uint32Array;
  /** RSS hash of the first packet's tuple. */
  readonly rss: Uint32Array;
  /** LOOKUP_NONE for a connection, LOOKUP_QUERY / LOOKUP_UPSTREAM for a lookup's flow. */
  readonly lookup: Uint8Array;
  /** On a connection: how many names its lookup asked (0: it looked nothing up). */
  readonly names: Uint8Array;
  /** On a lookup's flow: the wire size of the query, and of the answers to A and to AAAA. */
  readonly queryBytes: Uint16Array;
  readonly answerBytes: Uint16Array;
  readonly answer6Bytes: Uint16Array;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new InvalidArgumentError('options.capacity must be a positive integer');
    this.capacity = capacity;
    this.id = new Float64Array(capacity);
    this.kind = new Uint8Array(capacity);
    this.proto = new Uint8Array(capacity);
    this.srcIp = new Uint32Array(capacity);
    this.dstIp = new Uint32Array(capacity);
    this.srcPort = new Uint16Array(capacity);
    this.dstPort = new Uint16Array(capacity);
    this.node = new Uint16Array(capacity);
    this.entry = new Uint8Array(capacity);
    this.servicePort = new Int32Array(capacity);
    this.request = new Uint8Array(capacity);
    this.response = new Uint8Array(capacity);
    this.rand = new Uint32Array(capacity);
    this.rss = new Uint32Array(capacity);
    this.lookup = new Uint8Array(capacity);
    this.names = new Uint8Array(capacity);
    this.queryBytes = new Uint16Array(capacity);
    this.answerBytes = new Uint16Array(capacity);
    this.answer6Bytes = new Uint16Array(capacity);
  }

  /** Copies slot `j` of `from` into slot `k` (every column). */
  copySlot(from: FlowChunk, j: number, k: number): void {
    this.id[k] = from.id[j];
    this.kind[k] = from.kind[j];
    this.proto[k] = from.proto[j];
    this.srcIp[k] = from.srcIp[j];
    this.dstIp[k] = from.dstIp[j];
    this.srcPort[k] = from.srcPort[j];
    this.dstPort[k] = from.dstPort[j];
    this.node[k] = from.node[j];
    this.entry[k] = from.entry[j];
    this.servicePort[k] = from.servicePort[j];
    this.request[k] = from.request[j];
    this.response[k] = from.response[j];
    this.rand[k] = from.rand[j];
    this.rss[k] = from.rss[j];
    this.lookup[k] = from.lookup[j];
    this.names[k] = from.names[j];
    this.queryBytes[k] = from.queryBytes[j];
    this.answerBytes[k] = from.answerBytes[j];
    this.answer6Bytes[k] = from.answer6Bytes[j];
  }
}

// Packet schedule directions.
export const DIR_FORWARD = 0;
export const DIR_REPLY = 1;

/** Packets of flow j of the chunk (first packet included). */
export function packetCount(chunk: FlowChunk, j: number): number {
  return chunk.proto[j] === PROTO_TCP ? 6 + chunk.request[j] + chunk.response[j] : 2 * chunk.request[j];
}

/** One packet of a flow's schedule, written into `out` (preallocated, reused). */
export interface PacketSpec {
  dir: number;
  flags: number;
  payload: number;
}

export function newPacketSpec(): PacketSpec {
  return { dir: DIR_FORWARD, flags: 0, payload: 0 };
}

/**
 * Packet p (0 = the first) of flow j: its direction, TCP flags and payload length, for a pod MTU
 * of `podMtu` bytes (IPv4 + L4 + payload must fit it).
 */
export function packetAt(chunk: FlowChunk, j: number, p: number, podMtu: number, out: PacketSpec): void {
  // An int32 pattern: requestSize and responseSize get no boxed double (PacketBatch.push).
  const r = chunk.rand[j] | 0;
  const lookup = chunk.lookup[j];
  if (lookup === LOOKUP_QUERY) {
    // glibc's A and AAAA on one socket: both queries, then both answers.
    out.flags = 0;
    out.dir = p < 2 ? DIR_FORWARD : DIR_REPLY;
    out.payload = p < 2 ? chunk.queryBytes[j] : p === 2 ? chunk.answerBytes[j] : chunk.answer6Bytes[j];
    return;
  }
  if (chunk.proto[j] !== PROTO_TCP) {
    // UDP request/response: DNS-like requests, responses up to the MTU.
    out.flags = 0;
    out.dir = p & 1;
    out.payload = out.dir === DIR_FORWARD ? requestSize(r, p, podMtu - 28) : responseSize(r, p, podMtu - 28, 512);
    return;
  }
  const req = chunk.request[j];
  const resp = chunk.response[j];
  const mss = podMtu - 40;
  out.payload = 0;
  if (p === 0) {
    out.dir = DIR_FORWARD;
    out.flags = TCP_SYN;
  } else if (p === 1) {
    out.dir = DIR_REPLY;
    out.flags = TCP_SYN | TCP_ACK;
  } else if (p === 2) {
    out.dir = DIR_FORWARD;
    out.flags = TCP_ACK;
  } else if (p < 3 + req) {
    out.dir = DIR_FORWARD;
    out.flags = TCP_PSH | TCP_ACK;
    // DNS over TCP: each message after its 2-byte length (RFC 1035 4.2.2).
    out.payload = lookup === LOOKUP_UPSTREAM ? 2 + chunk.queryBytes[j] : requestSize(r, p, mss);
  } else if (p < 3 + req + resp) {
    out.dir = DIR_REPLY;
    out.flags = p === 2 + req + resp ? TCP_PSH | TCP_ACK : TCP_ACK;
    out.payload = lookup === LOOKUP_UPSTREAM ? 2 + (p === 3 + req ? chunk.answerBytes[j] : chunk.answer6Bytes[j]) : responseSize(r, p, mss, mss);
  } else {
    const k = p - (3 + req + resp);
    out.dir = k === 1 ? DIR_REPLY : DIR_FORWARD;
    out.flags = k === 2 ? TCP_ACK : TCP_FIN | TCP_ACK;
  }
}

/** Requests: 64 to 1024 bytes, log-uniform (headers, small RPCs), bounded by `max`. */
function requestSize(r: number, p: number, max: number): number {
  const u = mix32(r, p) / 4294967296;
  const s = Math.round(64 * Math.pow(16, u));
  return s < max ? s : max;
}

/** Responses: 45% full segments (bulk), the rest log-uniform from 64 bytes to `cap`, bounded by `max`. */
function responseSize(r: number, p: number, max: number, cap: number): number {
  const h = mix32(r ^ 0x5bd1e995, p);
  if (h % 100 < 45) return max;
  const u = (h >>> 8) / 16777216;
  const s = Math.round(64 * Math.pow(cap / 64, u));
  return s < max ? s : max;
}

/** Geometric count >= 1 with continuation probability q, from a u32, capped at 32. */
function geometric(u32: number, q: number): number {
  let n = 1;
  let u = u32 / 4294967296;
  while (u < q && n < 32) {
    n++;
    u = u / q;
  }
  return n;
}

const kEgressTcpBase = kExternalBase; // TCP 443
const kEgressDns = [0x08080808, 0x08080404]; // 8.8.8.8, 8.8.4.4: UDP 53
const kAllowedClients = 0xc6336400; // 198.51.100.0/24 (the synthetic LoadBalancers' source range)
const kOtherClients = 0x64400000; // 100.64.0.0/10 (CGNAT): clients outside that range
const kPortSpan = 64512; // ports 1024..65535

/**
 * Everything a flow is drawn from, derived once per cluster and seed: the pods that act as
 * clients, per-node pod lists, and Service ports by kind in popularity order.
 */
export class FlowSet {
  readonly seed: number;
  readonly zipf: number;
  readonly mix: FlowMix;
  readonly nodes: number;
  readonly podMtu: number;
  /** Client pods: address, node, and a port they serve (their endpoint port). */
  readonly podIp: Uint32Array;
  readonly podNode: Uint16Array;
  readonly podPort: Uint16Array;
  /** Pods of each node, as indexes into podIp. */
  readonly podsOfNode: readonly Uint32Array[];
  readonly nodeIp: Uint32Array;
  /** Service ports callable by kind, in popularity order (most popular first). */
  readonly clusterIpPorts: Int32Array;
  readonly nodePorts: Int32Array;
  readonly lbPorts: Int32Array;
  readonly #cumMix: Float64Array;
  readonly #zClusterIp: ZipfSampler | null;
  readonly #zNodePort: ZipfSampler | null;
  readonly #zLb: ZipfSampler | null;
  /**
   * Per Service port, what generate() sends a flow to: its Service's first ClusterIP and first
   * LoadBalancer address (0 when none), port, nodePort, protocol and Service. Flat copies of the
   * cluster's objects: at 30k Services, reading a port's and its Service's objects for every flow
   * was a few dependent cache misses a flow (~1 µs a flow, a second a cell, untimed).
   */
  readonly #portClusterIp: Uint32Array;
  readonly #portLbIp: Uint32Array;
  readonly #portNumber: Uint16Array;
  readonly #portNodePort: Uint16Array;
  readonly #portProto: Uint8Array;
  readonly #portService: Int32Array;
  /** Name lookups (null without --dns), the namespace of each client pod, and generate()'s lookup target. */
  readonly lookups: LookupPlan | null;
  readonly #podNamespace: Uint16Array;
  readonly #scratch = new FlowChunk(1);
  #target = -1;
  #externalTarget = -1;

  constructor(cluster: Cluster, plan: PodNetworkPlan, options: FlowOptions) {
    const seed = options.seed >>> 0;
    const zipf = options.zipf ?? 0;
    const mix = options.mix ?? kDefaultFlowMix;
    if (mix.length !== kFlowKinds.length || mix.some((m) => !(m >= 0)) || Math.abs(mix.reduce((a, b) => a + b, 0) - 1) > 1e-9) {
      throw new InvalidArgumentError(`options.mix must give ${kFlowKinds.length} shares >= 0 that sum to 1`);
    }
    this.seed = seed;
    this.zipf = zipf;
    this.mix = mix;
    this.nodes = cluster.nodes.length;
    this.podMtu = plan.podMtu;
    this.nodeIp = Uint32Array.from(plan.nodes.map((n) => n.primaryIp));

    // One client pod per endpoint address: the rows of each Service's first port.
    const eps = cluster.endpoints;
    const ips: number[] = [];
    const nodesOf: number[] = [];
    const ports: number[] = [];
    const namespaces: string[] = [];
    this.lookups = options.dns ? new LookupPlan(cluster, options.dns) : null;
    // With real lookups, kube-dns is reached by them, not called as an application Service.
    const app = (s: number): boolean => !options.dns || !isClusterDnsService(cluster, s);
    for (let s = 0; s < cluster.services.length; s++) {
      const svc = cluster.services[s];
      if (svc.ports.length === 0 || !app(s)) continue;
      const port = cluster.ports[svc.ports[0]];
      for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) {
        if (eps.node[r] < 0) continue;
        ips.push(eps.ip[r]);
        nodesOf.push(eps.node[r]);
        ports.push(eps.port[r]);
        namespaces.push(svc.namespace);
      }
    }
    if (ips.length === 0) {
      // A cluster without endpoints still has pods to send from: one per node, at its block's .2.
      plan.nodes.forEach((n, i) => {
        const block = n.podBlocks[0];
        if (block) {
          ips.push((block.base + 2) >>> 0);
          nodesOf.push(i);
          ports.push(8080);
          namespaces.push('default');
        }
      });
    }
    if (ips.length === 0) throw new InvalidArgumentError('the cluster has no pod addresses to send flows from');
    this.podIp = Uint32Array.from(ips);
    this.podNode = Uint16Array.from(nodesOf);
    this.podPort = Uint16Array.from(ports);
    const lookups = this.lookups;
    this.#podNamespace = Uint16Array.from(namespaces, (ns) => (lookups ? lookups.namespaceIndex(ns) : 0));
    const byNode: number[][] = cluster.nodes.map(() => []);
    for (let p = 0; p < ips.length; p++) byNode[nodesOf[p]].push(p);
    this.podsOfNode = byNode.map((l) => Uint32Array.from(l));

    // Popularity: a seeded permutation of the Services; ports of one Service stay together.
    const order = Array.from({ length: cluster.services.length }, (_, i) => i).filter(app);
    const rng = new Prng(mix32(seed, 0x706f7075));
    for (let i = order.length - 1; i > 0; i--) {
      const j = rng.below(i + 1);
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    const cip: number[] = [];
    const np: number[] = [];
    const lb: number[] = [];
    for (const s of order) {
      const svc = cluster.services[s];
      for (const p of svc.ports) {
        const port = cluster.ports[p];
        if (svc.clusterIPs.length > 0 && !svc.headless) cip.push(p);
        if (port.nodePort > 0) np.push(p);
        if (svc.loadBalancerIPs.length > 0) lb.push(p);
      }
    }
    const n = cluster.ports.length;
    this.#portClusterIp = new Uint32Array(n);
    this.#portLbIp = new Uint32Array(n);
    this.#portNumber = new Uint16Array(n);
    this.#portNodePort = new Uint16Array(n);
    this.#portProto = new Uint8Array(n);
    this.#portService = new Int32Array(n);
    for (let p = 0; p < n; p++) {
      const port = cluster.ports[p];
      const svc = cluster.services[port.service];
      this.#portClusterIp[p] = svc.clusterIPs[0] ?? 0;
      this.#portLbIp[p] = svc.loadBalancerIPs[0] ?? 0;
      this.#portNumber[p] = port.port;
      this.#portNodePort[p] = port.nodePort;
      this.#portProto[p] = port.protocol;
      this.#portService[p] = port.service;
    }
    this.clusterIpPorts = Int32Array.from(cip);
    this.nodePorts = Int32Array.from(np);
    this.lbPorts = Int32Array.from(lb);
    this.#zClusterIp = cip.length ? new ZipfSampler(cip.length, zipf) : null;
    this.#zNodePort = np.length ? new ZipfSampler(np.length, zipf) : null;
    this.#zLb = lb.length ? new ZipfSampler(lb.length, zipf) : null;
    const cum = new Float64Array(mix.length);
    let acc = 0;
    for (let k = 0; k < mix.length; k++) cum[k] = acc += mix[k];
    cum[mix.length - 1] = 1;
    this.#cumMix = cum;
  }

  /** Writes flow `id` into slot j of `out` (no allocation). */
  generate(id: number, out: FlowChunk, j: number): void {
    const h0 = mix32(this.seed, id >>> 0) ^ Math.floor(id / 4294967296);
    const r1 = mix32(h0, 1);
    const r2 = mix32(h0, 2);
    const r3 = mix32(h0, 3);
    const r4 = mix32(h0, 4);
    const r5 = mix32(h0, 5);
    this.#target = -1;
    this.#externalTarget = -1;
    let kind = 0;
    const u = r1 / 4294967296;
    const cum = this.#cumMix;
    while (kind < cum.length - 1 && u >= cum[kind]) kind++;
    if (kind === FLOW_NODE_PORT && this.#zNodePort === null) kind = FLOW_CLUSTER_IP;
    if (kind === FLOW_LOAD_BALANCER && this.#zLb === null) kind = FLOW_CLUSTER_IP;
    if (kind === FLOW_CLUSTER_IP && this.#zClusterIp === null) kind = FLOW_POD_CROSS_NODE;
    if (kind === FLOW_POD_CROSS_NODE && this.nodes < 2) kind = FLOW_POD_SAME_NODE;

    let proto = PROTO_TCP;
    let srcIp = 0;
    let srcPort = 0;
    let dstIp = 0;
    let dstPort = 0;
    let node = 0;
    let entry = ENTRY_POD;
    let sp = -1;
    if (kind === FLOW_NODE_PORT || kind === FLOW_LOAD_BALANCER) {
      // External clients: 70% from the LoadBalancers' allowed source range.
      entry = ENTRY_EXTERNAL;
      const allowed = r4 % 10 < 7;
      const clients = allowed ? 254 : 65536;
      srcIp = allowed ? kAllowedClients + 1 + (id % 254) : kOtherClients + (id % 65536);
      srcPort = 1024 + (Math.floor(id / clients) % kPortSpan);
      node = r3 % this.nodes;
      if (kind === FLOW_NODE_PORT) {
        sp = this.nodePorts[this.#zNodePort!.sample(r2)];
        dstIp = this.nodeIp[node];
        dstPort = this.#portNodePort[sp];
      } else {
        sp = this.lbPorts[this.#zLb!.sample(r2)];
        dstIp = this.#portLbIp[sp];
        dstPort = this.#portNumber[sp];
      }
      proto = this.#portProto[sp];
    } else {
      const pods = this.podIp.length;
      const client = id % pods;
      srcIp = this.podIp[client];
      srcPort = 1024 + (Math.floor(id / pods) % kPortSpan);
      node = this.podNode[client];
      if (kind === FLOW_CLUSTER_IP && this.lookups !== null && mix32(h0, 6) / 4294967296 < this.lookups.options.external) {
        // The external share: the application calls an API outside the cluster by name.
        kind = FLOW_EGRESS;
        this.#externalTarget = mix32(h0, 7) % kExternalNames;
        dstIp = externalAddress(this.#externalTarget);
        dstPort = 443;
      } else if (kind === FLOW_CLUSTER_IP) {
        sp = this.clusterIpPorts[this.#zClusterIp!.sample(r2)];
        dstIp = this.#portClusterIp[sp];
        dstPort = this.#portNumber[sp];
        proto = this.#portProto[sp];
        this.#target = this.#portService[sp];
      } else if (kind === FLOW_EGRESS) {
        if (r3 % 5 === 0) {
          proto = PROTO_UDP;
          dstIp = kEgressDns[r3 & 1];
          dstPort = 53;
        } else {
          dstIp = (kEgressTcpBase + (r3 >>> 16)) >>> 0;
          dstPort = 443;
        }
      } else {
        let list = this.podsOfNode[node];
        if (kind === FLOW_POD_CROSS_NODE) {
          const other = (node + 1 + (r3 % (this.nodes - 1))) % this.nodes;
          list = this.podsOfNode[other];
          if (list.length === 0) list = this.podsOfNode[node];
        }
        const server = list[r2 % list.length];
        dstIp = this.podIp[server];
        dstPort = this.podPort[server];
        proto = r3 % 10 === 0 ? PROTO_UDP : PROTO_TCP;
      }
    }
    out.id[j] = id;
    out.kind[j] = kind;
    out.proto[j] = proto;
    out.srcIp[j] = srcIp;
    out.dstIp[j] = dstIp;
    out.srcPort[j] = srcPort;
    out.dstPort[j] = dstPort;
    out.node[j] = node;
    out.entry[j] = entry;
    out.servicePort[j] = sp;
    // TCP: 1 + Geom(0.3) request and 1 + Geom(0.5) response segments; UDP: 1 + Geom(0.25) exchanges.
    out.request[j] = proto === PROTO_TCP ? geometric(r4, 0.3) : geometric(r4, 0.25);
    out.response[j] = proto === PROTO_TCP ? geometric(r5, 0.5) : 0;
    out.rand[j] = r5;
    out.rss[j] = rssHash(srcIp, dstIp, srcPort, dstPort);
    out.lookup[j] = LOOKUP_NONE;
    out.names[j] = 0;
  }

  /**
   * The names connection `id` looks up, in order (empty when it looks nothing up), as ids into
   * `lookups.names`. Call right after generate(id).
   */
  #lookupOf(id: number): Int32Array | null {
    const plan = this.lookups;
    if (plan === null || (this.#target < 0 && this.#externalTarget < 0)) return null;
    return plan.lookup(this.#podNamespace[id % this.podIp.length], this.#target, this.#externalTarget);
  }

  /** The names connection `id` looks up, absolute, in the order its resolver asks them ([] when none). */
  lookupNames(id: number): string[] {
    this.generate(id, this.#scratch, 0);
    const ids = this.#lookupOf(id);
    return ids ? Array.from(ids, (n) => this.lookups!.names[n]) : [];
  }

  /**
   * Cost: generation, outside the timed runBatch (counted in rxNs): a Map get per connection
   * for its planned names, one per name for the node's cache, and ~20 column writes per flow;
   * no allocation once every (namespace, target) has been planned.
   *
   * Writes connection `id`'s lookup flows, then the connection, from slot out.count on, keeping
   * those RSS sends to queue `shard` of `shards`. Every id must be written once, in order: the
   * node caches remember what earlier ids asked.
   */
  #writeWithLookups(id: number, out: FlowChunk, shard: number, shards: number): void {
    const plan = this.lookups!;
    const conn = this.#scratch;
    this.generate(id, conn, 0);
    const ids = this.#lookupOf(id);
    let j = out.count;
    if (ids !== null) {
      conn.names[0] = ids.length;
      const pods = this.podIp.length;
      const client = id % pods;
      const node = this.podNode[client];
      const sockets = Math.floor(id / pods) * plan.maxNames;
      const now = id * plan.options.secondsPerFlow;
      for (let q = 0; q < ids.length; q++) {
        const name = ids[q];
        const sport = kEphemeralFirst + ((sockets + q) % kEphemeralSpan);
        this.#lookupFlow(out, j, id, LOOKUP_QUERY, PROTO_UDP, this.podIp[client], sport, plan.server, node, ENTRY_POD, plan.serverPort, name, 2, 0);
        if (rssQueue(out.rss[j], shards) === shard) j++;
        if (plan.upstream !== 0 && !plan.external(name) && plan.cacheMiss(node, name, now)) {
          this.#lookupFlow(out, j, id, LOOKUP_UPSTREAM, PROTO_TCP, this.nodeIp[node], plan.nextUpstreamPort(node), plan.upstream, node, ENTRY_HOST, plan.upstreamPort, name, 2, 2);
          if (rssQueue(out.rss[j], shards) === shard) j++;
        }
      }
    }
    if (rssQueue(conn.rss[0], shards) === shard) out.copySlot(conn, 0, j++);
    out.count = j;
  }

  #lookupFlow(out: FlowChunk, j: number, id: number, lookup: number, proto: number, srcIp: number, srcPort: number, dstIp: number, node: number, entry: number, sp: number, name: number, request: number, response: number): void {
    const plan = this.lookups!;
    out.id[j] = id;
    out.kind[j] = FLOW_CLUSTER_IP;
    out.proto[j] = proto;
    out.srcIp[j] = srcIp;
    out.dstIp[j] = dstIp;
    out.srcPort[j] = srcPort;
    out.dstPort[j] = 53;
    out.node[j] = node;
    out.entry[j] = entry;
    out.servicePort[j] = sp;
    out.request[j] = request;
    out.response[j] = response;
    out.rand[j] = mix32(id, srcPort);
    out.rss[j] = rssHash(srcIp, dstIp, srcPort, 53);
    out.lookup[j] = lookup;
    out.names[j] = 0;
    out.queryBytes[j] = plan.queryBytes[name];
    out.answerBytes[j] = plan.answerBytes[name];
    out.answer6Bytes[j] = plan.answer6Bytes[name];
  }

  /** Flows one id can write at most: its connection, and with lookups each name's query and upstream connection. */
  get flowsPerIdMax(): number {
    return this.lookups ? 1 + 2 * this.lookups.maxNames : 1;
  }

  /** Forgets per-run state (the node caches): call before replaying from id 0 again. */
  reset(): void {
    this.lookups?.reset();
  }

  /**
   * Fills `out` with the flows among ids [first, first + count) that RSS sends to queue `shard`
   * of `shards`, in id order. Returns the number of ids consumed (stops early when `out` is full).
   */
  fillShard(first: number, count: number, shard: number, shards: number, out: FlowChunk): number {
    out.count = 0;
    let k = 0;
    if (this.lookups !== null) {
      const most = this.flowsPerIdMax;
      for (; k < count && out.count + most <= out.capacity; k++) this.#writeWithLookups(first + k, out, shard, shards);
      return k;
    }
    for (; k < count && out.count < out.capacity; k++) {
      const j = out.count;
      this.generate(first + k, out, j);
      if (rssQueue(out.rss[j], shards) === shard) out.count = j + 1;
    }
    return k;
  }
}
