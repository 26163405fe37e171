/**
 * What one pod's lookup of one name does, from the cluster file alone: its resolv.conf (kubelet),
 * the queries its resolver sends in order (glibc), and each answer (CoreDNS's kubernetes plugin
 * for cluster DNS; unknown for anything answered outside the cluster). A pure function of
 * (cluster, name, pod, type): the DNS-on-the-dataplane work turns each query into a packet.
 */
import { InvalidArgumentError } from '../errors.js';
import { formatIp } from '../net/ipv4.js';
import type { Cluster, Pod } from '../model/types.js';
import { hasAnswer, type DnsRecord, type DnsResponse, type QueryType, type Rcode } from './message.js';
import { podResolvConf, type ResolvConf } from './resolv-conf.js';
import { searchQueries } from './search.js';
import { ClusterZone } from './zone.js';

/** `kdp resolve --json`: the contract other tools read. */
export interface ResolveReport {
  readonly name: string;
  /** `NS/POD` or `NS`, as asked. */
  readonly from: string;
  readonly queries: readonly {
    readonly qname: string;
    readonly qtype: QueryType;
    /** null: answered outside the cluster file (CoreDNS's upstream, or a nameserver that is not cluster DNS). */
    readonly rcode: Rcode | null;
    readonly answers: readonly DnsRecord[];
    readonly additional: readonly DnsRecord[];
  }[];
  /** The address the application gets (for SRV the first target's, for PTR and CNAME the name); null when none. */
  readonly address: string | null;
}

export interface Resolution {
  readonly report: ResolveReport;
  readonly resolvConf: ResolvConf;
  /** The nameserver the queries go to (glibc asks the first; the others only on timeouts). */
  readonly nameserver: string | null;
  /** Whether that nameserver is cluster DNS (clusterDNS / kube-dns), which kdp can answer for. */
  readonly clusterDns: boolean;
  /** Why the last query has no known answer, when it has none. */
  readonly unknownBecause?: string;
}

/** `NS/POD` or `NS` to a namespace and an optional pod; throws naming what is not in the cluster. */
export function podFrom(cluster: Cluster, from: string): { namespace: string; pod?: Pod } {
  const parts = from.split('/');
  if (parts.length > 2 || parts.some((p) => p === '')) throw new InvalidArgumentError(`--from takes NAMESPACE/POD or NAMESPACE, not "${from}"`);
  const [namespace, name] = parts;
  if (!cluster.dns.namespaces.includes(namespace)) {
    throw new InvalidArgumentError(`unknown namespace "${namespace}": the file has ${cluster.dns.namespaces.join(', ')}`);
  }
  if (name === undefined) return { namespace };
  const pod = cluster.pods.find((p) => p.namespace === namespace && p.name === name);
  if (!pod) {
    const inNs = cluster.pods.filter((p) => p.namespace === namespace).map((p) => p.name);
    throw new InvalidArgumentError(`unknown pod ${namespace}/${name}: ${inNs.length ? `pods with an IP in ${namespace}: ${inNs.join(', ')}` : `no pod with an IP in ${namespace}`}`);
  }
  return { namespace, pod };
}

/**
 * How one query travels: given the nameserver and what it would answer, what the resolver gets
 * back (the dataplane may lose the query, or deliver it somewhere that does not answer).
 */
export type Exchange = (qname: string, qtype: QueryType, server: number, answer: DnsResponse) => DnsResponse;

/**
 * Resolves `name` as the pod (or an ordinary pod of the namespace) named by `from` would; with
 * `exchange`, each query goes through it (`kdp trace` sends them as packets), else straight to
 * the nameserver's answer.
 */
export function resolveName(cluster: Cluster, name: string, from: string, type?: QueryType, zone = new ClusterZone(cluster), exchange?: Exchange): Resolution {
  if (name === '' || name === '.' || name.includes('..')) throw new InvalidArgumentError(`"${name}" is not a DNS name`);
  const { namespace, pod } = podFrom(cluster, from);
  const resolvConf = podResolvConf(cluster, namespace, pod);
  const server = resolvConf.nameservers[0];
  const clusterDns = server !== undefined && cluster.dns.servers.includes(server);
  const nameserver = server === undefined ? null : formatIp(server);
  const notCluster = nameserver
    ? `the nameserver ${nameserver} is not cluster DNS: kdp does not know its answers`
    : 'no nameserver: glibc then asks 127.0.0.1 on the pod, which the cluster file does not describe';
  const serverAnswer = (qname: string, qtype: QueryType): DnsResponse =>
    clusterDns ? zone.answer(qname, qtype) : { rcode: null, answers: [], additional: [], unknownBecause: notCluster };
  const ask = (qname: string, qtype: QueryType): DnsResponse =>
    exchange && server !== undefined ? exchange(qname, qtype, server, serverAnswer(qname, qtype)) : serverAnswer(qname, qtype);

  const qtypes: readonly QueryType[] = type ? [type] : ['A', 'AAAA'];
  const search = searchQueries(resolvConf, name, qtypes, ask);
  const queries = search.queries.map((q) => ({ qname: q.qname, qtype: q.qtype, rcode: q.response.rcode, answers: q.response.answers, additional: q.response.additional }));
  const answered = search.answeredAt < 0 ? [] : search.queries.slice(search.answeredAt, search.answeredAt + qtypes.length).map((q) => q.response);
  const last = search.queries[search.queries.length - 1];
  return {
    report: { name, from, queries, address: addressOf(answered) },
    resolvConf,
    nameserver,
    clusterDns,
    ...(search.stoppedUnknown && last.response.unknownBecause ? { unknownBecause: last.response.unknownBecause } : {}),
  };
}

/** What getaddrinfo / res_search hands the application from the answering candidate's responses. */
function addressOf(responses: readonly DnsResponse[]): string | null {
  const answers = responses.filter(hasAnswer);
  for (const type of ['A', 'AAAA'] as const) {
    for (const r of answers) {
      const rec = r.answers.find((a) => a.type === type);
      if (rec) return rec.data;
    }
  }
  for (const r of answers) {
    const srv = r.answers.find((a) => a.type === 'SRV');
    if (srv) {
      const target = srv.data.split(' ')[3];
      return r.additional.find((a) => a.name === target && (a.type === 'A' || a.type === 'AAAA'))?.data ?? null;
    }
    const named = r.answers.find((a) => a.type === 'PTR' || a.type === 'CNAME');
    if (named) return named.data;
  }
  return null;
}
