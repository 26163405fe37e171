/**
 * A pod's name lookup as the packets it really is. Each query the resolver model sends (kubelet's
 * resolv.conf, glibc's search order: src/dns) becomes a UDP datagram carrying a real DNS message,
 * traced from the pod through the mode's rules (service NAT of the kube-dns ClusterIP, routing,
 * overlay) to the nameserver; when it reaches a CoreDNS endpoint, CoreDNS's answer is traced back
 * through conntrack, and the resolver reads the answer from the bytes that arrived. A query that
 * is dropped, rejected or delivered where nothing answers DNS gets no answer, and the lookup
 * stops there as glibc's does on an error that is not a DNS answer.
 *
 * glibc's sockets (resolv/res_send.c): A and AAAA of one name go out together on one UDP socket,
 * so they share a 5-tuple and one conntrack entry (the pair behind the well-known conntrack insert
 * race); each further name opens a new socket from a new ephemeral port. kdp numbers those ports
 * from `kFirstResolverPort` and the query IDs from 1, where glibc draws both at random, so that a
 * trace repeats.
 *
 * Cost: one traced packet pair per query (a trace, not the benchmark's path).
 */
import { decodeMessage, encodeQuery, encodeResponse, resolveName, type DnsRecord, type DnsResponse, type QueryType, type Rcode, type Resolution } from '../dns/index.js';
import type { Pod } from '../model/types.js';
import { formatIp } from '../net/ipv4.js';
import { PROTO_TCP, PROTO_UDP } from '../net/proto.js';
import type { PipelineContext } from './context.js';
import { ENTRY_HOST, ENTRY_POD } from './pipeline.js';
import { tracePacket, type TraceResult } from './trace.js';
import type { CapturedFrame, TraceHop } from './trace-recorder.js';

/** The first source port of the resolver's sockets (inside Linux's default 32768-60999 ephemeral range). */
export const kFirstResolverPort = 50000;
/** The first source port of node-local-dns's upstream connections (numbered, as the resolver's are). */
export const kFirstUpstreamPort = 45000;
const kDnsPort = 53;

/** One query on the wire and its answer, as `kdp trace --json` writes it under `dns`. */
export interface DnsExchangeTrace {
  readonly qname: string;
  readonly qtype: QueryType;
  /** As the answer that reached the pod says; null when none did (see `why`). */
  readonly rcode: Rcode | null;
  readonly answers: readonly DnsRecord[];
  /** The nameserver the query was sent to, `10.96.0.10:53`. */
  readonly server: string;
  /** The resolver socket's source port: A and AAAA of one name share it, hence one conntrack entry. */
  readonly sourcePort: number;
  /** Where the query was delivered (a CoreDNS pod, `10.244.1.3:53`), null when it was not delivered. */
  readonly deliveredTo: string | null;
  /** The answer came back with TC set (over 512 bytes): glibc asks again over TCP, which kdp does not trace. */
  readonly truncated: boolean;
  /** Why no answer reached the pod, when none did. */
  readonly why?: string;
  /** The query's hops, then the answer's. */
  readonly hops: readonly TraceHop[];
  /**
   * NodeLocal DNSCache only: the cache's own query upstream on a miss (node-cache's Corefile:
   * `forward . <kube-dns-upstream> { force_tcp }` for the cluster domain), traced as the first
   * packet of its TCP connection from the node to kube-dns-upstream's ClusterIP.
   */
  readonly upstream?: { readonly server: string; readonly deliveredTo: string | null; readonly hops: readonly TraceHop[] };
}

export interface LookupTrace {
  readonly resolution: Resolution;
  readonly dns: readonly DnsExchangeTrace[];
  /** Every hop's bytes, query and answer after query, when capture was asked for; `hop` counts through every exchange's `hops` in turn. */
  readonly frames: readonly CapturedFrame[];
}

const ipPort = (ip: number, port: number): string => `${formatIp(ip)}:${port}`;

/**
 * Addresses (`ip:port`) of every endpoint of the Services in front of CoreDNS: kube-system/kube-dns,
 * any Service whose ClusterIP is a cluster DNS server, and NodeLocal DNSCache's kube-dns-upstream.
 */
function corednsEndpoints(ctx: PipelineContext): Set<string> {
  const cluster = ctx.world.cluster;
  const servers = new Set([...cluster.dns.servers, cluster.dns.nodeLocal?.upstream ?? 0]);
  const out = new Set<string>();
  for (const svc of cluster.services) {
    const kubeDns = svc.namespace === 'kube-system' && svc.name === 'kube-dns';
    if (!kubeDns && !svc.clusterIPs.some((ip) => servers.has(ip))) continue;
    for (const p of svc.ports) {
      const port = cluster.ports[p];
      for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) out.add(ipPort(cluster.endpoints.ip[r], cluster.endpoints.port[r]));
    }
  }
  return out;
}

/** A cache miss that found no upstream: the forward plugin answers SERVFAIL. */
const kServfail: DnsResponse = { rcode: 'SERVFAIL', answers: [], additional: [] };

function noAnswer(why: string): DnsResponse {
  return { rcode: null, answers: [], additional: [], unknownBecause: why };
}

/** Why a query that got no answer got none, from its trace. */
function whyNoAnswer(r: TraceResult, answer: DnsResponse, coredns: boolean, arrivedAt: string): string {
  if (r.verdict === 'dropped' || r.verdict === 'rejected') return `the query was ${r.verdict}${r.dropReason ? ` (${r.dropReason})` : ''}`;
  if (!coredns) return `the query was delivered to ${arrivedAt}, where no CoreDNS endpoint of the cluster (nor node-local-dns) listens`;
  if (answer.rcode === null) return answer.unknownBecause ?? 'the answer comes from outside the cluster file';
  if (!r.reply) return 'no answer was sent back';
  return `the answer was ${r.reply.verdict}${r.reply.dropReason ? ` (${r.reply.dropReason})` : ''} on its way back`;
}

/**
 * Resolves `name` from `pod` with every query sent through `ctx`'s dataplane (whose conntrack
 * keeps the entries, as a node would for the connection that follows).
 */
export function traceLookup(ctx: PipelineContext, pod: Pod, name: string, options: { capture?: boolean } = {}): LookupTrace {
  const capture = options.capture ?? false;
  const listening = corednsEndpoints(ctx);
  const nodeLocal = ctx.world.cluster.dns.nodeLocal;
  const cacheAt = new Set((nodeLocal?.listenIps ?? []).map((ip) => ipPort(ip, kDnsPort)));
  const dns: DnsExchangeTrace[] = [];
  const frames: CapturedFrame[] = [];
  let socketName = '';
  let port = kFirstResolverPort - 1;
  // Hops of the exchanges so far: where this exchange's frames count from in `frames`.
  let hopsBefore = 0;

  const exchange = (qname: string, qtype: QueryType, server: number, answer: DnsResponse): DnsResponse => {
    if (qname !== socketName) {
      socketName = qname;
      port++;
    }
    const query = encodeQuery(dns.length + 1, qname, qtype);
    let coredns = false;
    let arrivedAt = '';
    let upstream: DnsExchangeTrace['upstream'];
    // node-local-dns answers what CoreDNS answers, once its own upstream query came back; a trace
    // starts with an empty cache, so every question is a miss.
    const fromCache = (): DnsResponse | undefined => {
      if (answer.rcode === null) return undefined;
      if (!nodeLocal!.upstream) return undefined;
      const up = tracePacket(ctx, {
        proto: PROTO_TCP, srcIp: ctx.world.plan.nodes[pod.node].primaryIp, srcPort: kFirstUpstreamPort + dns.length, dstIp: nodeLocal!.upstream, dstPort: kDnsPort, node: pod.node, entry: ENTRY_HOST,
      }).result;
      const reached = up.verdict === 'delivered' ? up.hops.at(-1)!.dst : null;
      upstream = { server: ipPort(nodeLocal!.upstream, kDnsPort), deliveredTo: reached, hops: up.hops };
      return reached !== null && listening.has(reached) ? answer : kServfail;
    };
    const out = tracePacket(
      ctx,
      { proto: PROTO_UDP, srcIp: pod.ip, srcPort: port, dstIp: server, dstPort: kDnsPort, node: pod.node, entry: pod.hostNetwork ? ENTRY_HOST : ENTRY_POD, payloadBytes: query },
      {
        reply: true,
        capture,
        answer: (arrived, at) => {
          arrivedAt = ipPort(at.ip, at.port);
          if (cacheAt.has(arrivedAt)) {
            coredns = true;
            const cached = fromCache();
            return cached ? encodeResponse(arrived, cached) : undefined;
          }
          coredns = listening.has(arrivedAt);
          return coredns && answer.rcode !== null ? encodeResponse(arrived, answer) : undefined;
        },
      },
    );
    const r = out.result;
    const got = out.answered ? decodeMessage(out.answered) : undefined;
    // A truncated answer sends glibc back over TCP, which brings the whole answer: the lookup goes on with it.
    const whyNot =
      cacheAt.has(arrivedAt) && answer.rcode !== null && !nodeLocal!.upstream
        ? 'node-local-dns has no upstream for the cluster domain: the file has no kube-system/kube-dns-upstream Service (the NodeLocal DNSCache manifest creates it)'
        : whyNoAnswer(r, answer, coredns, arrivedAt);
    const received: DnsResponse = got ? (got.truncated ? answer : { rcode: got.rcode, answers: got.answers, additional: got.additional }) : noAnswer(whyNot);
    frames.push(...out.frames.map((f) => ({ ...f, hop: f.hop + hopsBefore })));
    dns.push({
      qname,
      qtype,
      rcode: got ? got.rcode : null,
      answers: got ? got.answers : [],
      server: ipPort(server, kDnsPort),
      sourcePort: port,
      deliveredTo: arrivedAt || null,
      truncated: got?.truncated ?? false,
      ...(got ? {} : { why: received.unknownBecause ?? 'no answer' }),
      hops: [...r.hops, ...(r.reply?.hops ?? [])],
      ...(upstream ? { upstream } : {}),
    });
    hopsBefore += dns[dns.length - 1].hops.length;
    return received;
  };

  const resolution = resolveName(ctx.world.cluster, name, `${pod.namespace}/${pod.name}`, undefined, undefined, exchange);
  return { resolution, dns, frames };
}
