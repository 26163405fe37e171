/**
 * The name lookups of `kdp bench --dns`: which names a client pod's resolver asks before it
 * connects, and which of them a node's NodeLocal DNSCache has to ask upstream, so that the flow
 * generator can send each as the UDP (and TCP) flow it is.
 *
 * - The name an application uses: `svc` for a Service of its own namespace, `svc.ns` for another
 *   namespace's, and for the external share (`--dns-external`) `api-K.example.com` (one of
 *   kExternalNames; RFC 2606's reserved domain).
 * - The queries: kubelet's resolv.conf for the client's namespace (src/dns/resolv-conf.ts) with the
 *   cell's ndots (what a pod's `dnsConfig.options: [{name: ndots}]` sets), walked by glibc's search
 *   order (src/dns/search.ts, A and AAAA on one socket per name). Answers come from CoreDNS's zone
 *   (src/dns/zone.ts); for the names CoreDNS forwards out of the cluster kdp cannot know the answer,
 *   so the bench assumes what the Internet answers: the `example.com` names resolve (an A record),
 *   to 151.101.0.0/16, anything else (`svc.ns.`, whose last label is no top-level domain) is
 *   NXDOMAIN.
 * - Each query's size is the real message's (src/dns/wire.ts): the replay carries payload as a
 *   length, so a lookup's packets are UDP datagrams (TCP segments upstream) of exactly the size
 *   of the query and of CoreDNS's answer.
 * - NodeLocal DNSCache: each node's cache holds a name for the answer's TTL. CoreDNS's kubernetes
 *   plugin gives its records and its negative answers (the SOA minimum) a TTL of 5 s, under
 *   node-cache's caps for the cluster zone (`cache { success 9984 30; denial 9984 5 }`,
 *   nodelocaldns.yaml); forwarded names are capped at 30 s (`cache 30` in its `.:53` block). A miss
 *   on a cluster name goes over TCP to kube-dns-upstream (`forward . <upstream> { force_tcp }`), one
 *   connection per miss as `kdp trace` sends it (CoreDNS's forward plugin reuses connections for up
 *   to 10 s, `expire`, so a real node opens fewer: kdp's upstream entries are an upper bound). A miss
 *   on an external name goes to the node's own nameservers, outside what kdp replays, as does
 *   CoreDNS's forward of such names without the cache.
 *
 * The cache sees every flow id in order, whatever shard replays it (FlowSet.fillShard walks every
 * id), so misses are the same whatever the number of workers. Not a hot loop: names are planned
 * once per (namespace, target) and cached; a flow costs a Map lookup per name.
 */
import { InvalidArgumentError } from '../errors.js';
import { ClusterZone, encodeQuery, encodeResponse, podResolvConf, searchQueries, type DnsResponse, type QueryType } from '../dns/index.js';
import type { Cluster } from '../model/types.js';
import { formatIp } from '../net/ipv4.js';
import { PROTO_TCP, PROTO_UDP } from '../net/proto.js';

/** Distinct external names the external share draws from. */
export const kExternalNames = 256;
/** TTLs node-local-dns keeps answers for (see the header). */
const kClusterTtlSeconds = 5;
const kExternalTtlSeconds = 30;
/** Linux's default ephemeral ports (ip_local_port_range 32768-60999): resolver sockets and upstream connections. */
export const kEphemeralFirst = 32768;
export const kEphemeralSpan = 28232;

export interface DnsFlowOptions {
  /** The pods' ndots (kubelet writes 5; `dnsConfig` can set 1). */
  readonly ndots: number;
  /** Share of the looked-up connections that call an external name instead of a Service, 0..1. */
  readonly external: number;
  /**
   * Whether pods' queries reach NodeLocal DNSCache (false without it, and where the mode balances
   * at the socket, as Cilium does, which bypasses the cache).
   */
  readonly cacheReached: boolean;
  /** Virtual seconds between two flow ids (the replay's clock), for the cache's TTLs. */
  readonly secondsPerFlow: number;
}

/** The UDP/TCP port DNS uses. */
export const kDnsPort = 53;

export class LookupPlan {
  readonly options: DnsFlowOptions;
  /** The pods' nameserver (resolv.conf's first): kube-dns's ClusterIP, or node-local-dns's address. */
  readonly server: number;
  /** The Service port (index into Cluster.ports) the queries go to, -1 when the server is no ClusterIP. */
  readonly serverPort: number;
  /** kube-dns-upstream's ClusterIP and TCP port index, 0 / -1 when queries do not reach a cache. */
  readonly upstream: number;
  readonly upstreamPort: number;
  /** Most names one lookup asks (bounds a connection's flows). */
  readonly maxNames: number;
  /** Every name asked, absolute, by id; the wire sizes of its A query and of the answers to A and AAAA. */
  readonly names: string[] = [];
  readonly queryBytes: number[] = [];
  readonly answerBytes: number[] = [];
  readonly answer6Bytes: number[] = [];
  readonly #external: boolean[] = [];
  readonly #nameIds = new Map<string, number>();
  readonly #cluster: Cluster;
  readonly #zone: ClusterZone;
  readonly #searches = new Map<string, readonly string[]>();
  readonly #plans = new Map<number, Int32Array>();
  readonly #namespaces: string[] = [];
  #cache: Map<number, number>[] = [];
  #upstreamConnections: Int32Array;

  constructor(cluster: Cluster, options: DnsFlowOptions) {
    if (!Number.isInteger(options.ndots) || options.ndots < 0 || options.ndots > 15) throw new InvalidArgumentError(`options.dns.ndots must be a whole number from 0 to 15 (glibc's RES_MAXNDOTS), not ${options.ndots}`);
    if (!(options.external >= 0 && options.external <= 1)) throw new InvalidArgumentError(`options.dns.external must be a share from 0 to 1, not ${options.external}`);
    this.options = options;
    this.#cluster = cluster;
    this.#zone = new ClusterZone(cluster);
    const server = cluster.dns.servers[0];
    if (server === undefined) throw new InvalidArgumentError(`--dns needs cluster DNS, and the cluster has none (${cluster.dns.serversFrom})`);
    this.server = server;
    this.serverPort = this.#portOf(server, PROTO_UDP);
    const nodeLocal = cluster.dns.nodeLocal;
    const cache = options.cacheReached && nodeLocal !== undefined && nodeLocal.listenIps.includes(server);
    this.upstream = cache ? nodeLocal!.upstream : 0;
    this.upstreamPort = this.upstream ? this.#portOf(this.upstream, PROTO_TCP) : -1;
    if (cache && !this.upstream) throw new InvalidArgumentError('NodeLocal DNSCache has no upstream: the cluster has no kube-system/kube-dns-upstream Service');
    this.#upstreamConnections = new Int32Array(cluster.nodes.length);
    this.reset();
    // The longest walk: an external name through every search domain, then as it is.
    let most = 1;
    for (const ns of cluster.dns.namespaces) most = Math.max(most, this.#searchesOf(ns).length + 1);
    this.maxNames = most;
  }

  /** Forgets what the caches hold (a new run starts cold). */
  reset(): void {
    this.#cache = this.#cluster.nodes.map(() => new Map<number, number>());
    this.#upstreamConnections.fill(0);
  }

  /** A namespace's index for `lookup` (its resolv.conf is planned once). */
  namespaceIndex(namespace: string): number {
    let k = this.#namespaces.indexOf(namespace);
    if (k < 0) k = this.#namespaces.push(namespace) - 1;
    return k;
  }

  /**
   * The name ids a pod of namespace `ns` (namespaceIndex) asks, in order, to reach Service
   * `service` (an index into Cluster.services) or, with `external` K >= 0, the external name K.
   * The last one answers. Planned once per (namespace, target); then a Map get, no allocation.
   */
  lookup(ns: number, service: number, external = -1): Int32Array {
    const key = ns * (this.#cluster.services.length + kExternalNames) + (external >= 0 ? this.#cluster.services.length + external : service);
    let plan = this.#plans.get(key);
    if (plan) return plan;
    const namespace = this.#namespaces[ns];
    let name: string;
    if (external >= 0) name = `api-${external}.example.com`;
    else {
      const svc = this.#cluster.services[service];
      name = svc.namespace === namespace ? svc.name : `${svc.name}.${svc.namespace}`;
    }
    const settings = { searches: this.#searchesOf(namespace), ndots: this.options.ndots };
    const search = searchQueries(settings, name, ['A', 'AAAA'], (q, t) => this.#answer(q, t));
    const ids: number[] = [];
    for (let k = 0; k < search.queries.length; k += 2) ids.push(this.#nameId(search.queries[k].qname, search.queries[k + 1].response, search.queries[k].response));
    plan = Int32Array.from(ids);
    this.#plans.set(key, plan);
    return plan;
  }

  /** Whether `node`'s cache misses name `id` at virtual time `now` (and then holds it). */
  cacheMiss(node: number, id: number, now: number): boolean {
    const cache = this.#cache[node];
    const until = cache.get(id);
    if (until !== undefined && until > now) return false;
    cache.set(id, now + (this.#external[id] ? kExternalTtlSeconds : kClusterTtlSeconds));
    return true;
  }

  /** Whether name `id` is forwarded out of the cluster (node-local-dns sends it to the node's nameservers). */
  external(id: number): boolean {
    return this.#external[id];
  }

  /** The source port of `node`'s next upstream connection (numbered in the ephemeral range). */
  nextUpstreamPort(node: number): number {
    return kEphemeralFirst + (this.#upstreamConnections[node]++ % kEphemeralSpan);
  }

  #searchesOf(namespace: string): readonly string[] {
    let s = this.#searches.get(namespace);
    if (!s) {
      s = podResolvConf(this.#cluster, namespace).searches;
      this.#searches.set(namespace, s);
    }
    return s;
  }

  /** CoreDNS's answer; for what it forwards, the Internet's as the header assumes. */
  #answer(qname: string, qtype: QueryType): DnsResponse {
    const r = this.#zone.answer(qname, qtype);
    if (r.rcode !== null) return r;
    if (/^api-\d+\.example\.com\.$/.test(qname)) {
      const k = Number(qname.slice(4, qname.indexOf('.')));
      const answers = qtype === 'A' ? [{ name: qname, type: 'A' as const, ttl: kExternalTtlSeconds, data: formatIp(externalAddress(k)) }] : [];
      return { rcode: 'NOERROR', answers, additional: [] };
    }
    return { rcode: 'NXDOMAIN', answers: [], additional: [] };
  }

  #nameId(qname: string, aaaa: DnsResponse, a: DnsResponse): number {
    let id = this.#nameIds.get(qname);
    if (id !== undefined) return id;
    id = this.names.length;
    this.#nameIds.set(qname, id);
    this.names.push(qname);
    const qA = encodeQuery(1, qname, 'A');
    this.queryBytes.push(qA.length);
    this.answerBytes.push(encodeResponse(qA, a).length);
    this.answer6Bytes.push(encodeResponse(encodeQuery(1, qname, 'AAAA'), aaaa).length);
    this.#external.push(this.#zone.answer(qname, 'A').rcode === null);
    return id;
  }

  /** The index in Cluster.ports of a ClusterIP's port 53 of protocol `proto`, -1 when none. */
  #portOf(ip: number, proto: number): number {
    const cluster = this.#cluster;
    for (const svc of cluster.services) {
      if (!svc.clusterIPs.includes(ip)) continue;
      for (const p of svc.ports) if (cluster.ports[p].port === kDnsPort && cluster.ports[p].protocol === proto) return p;
    }
    return -1;
  }
}

/** 151.101.0.0/16: CDN-like destinations of the replay's egress flows, and of the external names. */
export const kExternalBase = 0x97650000;

/** The address external name K resolves to. */
export function externalAddress(k: number): number {
  return (kExternalBase + k) >>> 0;
}

/** kube-system's DNS Services (kube-dns, kube-dns-upstream): not called by the replay's applications when --dns sends real lookups. */
export function isClusterDnsService(cluster: Cluster, service: number): boolean {
  const svc = cluster.services[service];
  return svc.namespace === 'kube-system' && (svc.name === 'kube-dns' || svc.name === 'kube-dns-upstream');
}
