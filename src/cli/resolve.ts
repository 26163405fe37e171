import { kQueryTypes, resolveName, type DnsRecord, type QueryType, type Resolution } from '../dns/index.js';
import { EngineError, UsageError } from '../errors.js';
import { formatIp } from '../net/ipv4.js';
import { choiceOption, EXIT_FAILED, EXIT_INVALID, EXIT_OK, parse, type Command } from './command.js';
import { requireCluster } from './cluster-file.js';

const help = `Usage: kdp resolve FILE NAME --from NS/POD|NS [--type T] [--json]

Looks NAME up the way a pod's resolver does, from the cluster file alone: the pod's resolv.conf
as kubelet writes it (dnsPolicy, dnsConfig, search <ns>.svc.<domain> svc.<domain> <domain>,
ndots:5), every query glibc sends in order (the name as it is when it has ndots dots or more or
ends in a dot, each search domain, A and AAAA together), each answer as CoreDNS's kubernetes
plugin gives it (kubeadm's Corefile: pods insecure, ttl 30), and the address the application
gets. Answers from outside the cluster (CoreDNS's upstream, a nameserver that is not cluster
DNS) are unknown and shown so; the query list stops there.

The cluster domain and DNS address come from a KubeletConfiguration (clusterDomain, clusterDNS),
else kube-system's kube-dns Service; the domain defaults to cluster.local. A node's resolv.conf
is a ClusterNetwork's spec.nodeResolvConf {nameservers, searches, options}, else empty.

Options:
  --from NS/POD|NS    the pod that asks (it needs an IP), or an ordinary ClusterFirst pod
                      of namespace NS                                        [required]
  --type T            ${kQueryTypes.join(' | ')}: one query type, as res_search sends it
                      [default: A and AAAA, as getaddrinfo sends them]
  --json              one JSON object: {name, from, queries: [{qname, qtype, rcode,
                      answers: [{name, type, ttl, data}], additional}], address};
                      rcode null where the answer comes from outside the cluster
  -h, --help          this text

Exit status: 0 the name resolved, or its answer comes from outside the cluster (unknown);
1 every query failed (NXDOMAIN or NODATA throughout); 2 bad usage, an invalid cluster file,
an unknown namespace or pod; 3 the file cannot be read.
`;

export const resolveCommand: Command = {
  name: 'resolve',
  summary: "list the DNS queries a pod sends for a name, and CoreDNS's answers",
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, { from: { type: 'string' }, type: { type: 'string' }, json: { type: 'boolean' } });
    if (positionals.length !== 2) throw new UsageError(`give a cluster file and a name, not ${positionals.length} argument${positionals.length === 1 ? '' : 's'}`);
    if (!values.from) throw new UsageError('--from NS/POD or --from NS is required: the pod whose resolver asks');
    const type = values.type === undefined ? undefined : choiceOption(values.type.toUpperCase(), 'type', kQueryTypes, 'A');
    const cluster = await requireCluster(positionals[0], true);
    if (!cluster) return EXIT_INVALID;
    let resolution: Resolution;
    try {
      resolution = resolveName(cluster, positionals[1], values.from, type as QueryType | undefined);
    } catch (err) {
      if (err instanceof EngineError) throw new UsageError(err.message);
      throw err;
    }
    process.stdout.write(values.json ? `${JSON.stringify(resolution.report, null, 2)}\n` : render(resolution, type));
    const { queries, address } = resolution.report;
    const unknown = queries.length > 0 && queries[queries.length - 1].rcode === null;
    return address !== null || unknown || queries.some((q) => q.rcode === 'NOERROR' && q.answers.length > 0) ? EXIT_OK : EXIT_FAILED;
  },
};

function recordLine(r: DnsRecord): string {
  return `${r.name}\t${r.ttl}\tIN\t${r.type}\t${r.data}`;
}

function render(res: Resolution, type: QueryType | undefined): string {
  const { report, resolvConf: rc } = res;
  const who = report.from.includes('/') ? `pod ${report.from}` : `a pod in namespace ${report.from}`;
  let out = `${who}: dnsPolicy ${rc.policy}${rc.applied === 'host' && rc.policy !== 'Default' ? ' (applied as Default)' : ''}\n`;
  out += 'resolv.conf:\n';
  for (const ns of rc.nameservers) out += `  nameserver ${formatIp(ns)}\n`;
  if (rc.searches.length) out += `  search ${rc.searches.join(' ')}\n`;
  if (rc.options.length) out += `  options ${rc.options.join(' ')}\n`;
  for (const n of rc.notes) out += `  note: ${n}\n`;
  const server = res.nameserver ? `${res.nameserver}${res.clusterDns ? ' (cluster DNS)' : ''}` : 'none';
  const dots = (report.name.match(/\./g) ?? []).length;
  const order = report.name.endsWith('.')
    ? 'absolute: asked as it is, once'
    : dots >= rc.ndots
      ? `${dots} dots >= ndots ${rc.ndots}: as it is first, then the search list`
      : `${dots} dots < ndots ${rc.ndots}: the search list first, then as it is`;
  out += `\nlookup ${report.name} (${order}), ${type ?? 'A and AAAA'}, to ${server}:\n`;
  const width = Math.max(0, ...report.queries.map((q) => q.qname.length));
  report.queries.forEach((q, i) => {
    const rcode = q.rcode ?? 'unknown';
    const what = q.rcode === 'NOERROR' && q.answers.length === 0 ? 'NODATA' : '';
    out += `  ${String(i + 1).padStart(2)}. ${q.qname.padEnd(width)}  ${q.qtype.padEnd(5)} ${rcode}${what ? ` (${what})` : ''}\n`;
    for (const a of q.answers) out += `        ${recordLine(a)}\n`;
    for (const a of q.additional) out += `        additional: ${recordLine(a)}\n`;
  });
  if (res.unknownBecause) out += `stopped: ${res.unknownBecause}\n`;
  out += `address: ${report.address ?? (res.unknownBecause ? 'unknown' : 'none (the name does not resolve)')}\n`;
  return out;
}
