/**
 * A pod's /etc/resolv.conf as kubelet writes it (kubernetes pkg/kubelet/network/dns/dns.go,
 * Configurer.GetPodDNS, with ExpandedDNSConfig's limits, GA in 1.28):
 *
 * - ClusterFirst (the API default), and ClusterFirstWithHostNet: `nameserver` the clusterDNS
 *   addresses; `search <ns>.svc.<domain> svc.<domain> <domain>` then the node's search list,
 *   duplicates dropped; `options ndots:5` (the node's options are replaced, not merged). A
 *   hostNetwork pod with ClusterFirst gets Default instead; with no clusterDNS kubelet falls back
 *   to Default too (event MissingClusterDNS).
 * - Default: the node's resolv.conf as it is (kubelet's `resolvConf`, /etc/resolv.conf).
 * - None: nothing but the pod's `dnsConfig`.
 * - Then `dnsConfig` is appended: nameservers and searches added after, duplicates dropped;
 *   options merged by name, the pod's value winning (kubelet builds them from a Go map, in no
 *   fixed order; kdp sorts them by name).
 * - Limits: 3 nameservers, 32 search domains, each at most 253 characters, 2048 for the line.
 *
 * kdp cannot read a node's /etc/resolv.conf: a ClusterNetwork's `spec.nodeResolvConf` stands for
 * it, and without one the node's file counts as empty (no search domains, no nameserver).
 */
import type { Cluster, DnsPolicy, Pod } from '../model/types.js';

export interface ResolvConf {
  /** The pod's dnsPolicy, and the kind kubelet applied (getPodDNSType plus its fallbacks). */
  readonly policy: DnsPolicy;
  readonly applied: 'cluster' | 'host' | 'none';
  readonly nameservers: readonly number[];
  readonly searches: readonly string[];
  readonly options: readonly string[];
  /** glibc's ndots: the last `ndots:N` option, capped at 15 (RES_MAXNDOTS); 1 when absent. */
  readonly ndots: number;
  /** What a reader should know: fallbacks taken, limits applied, the node's file unknown. */
  readonly notes: readonly string[];
}

const kMaxNameservers = 3;
const kMaxSearchPaths = 32;
const kMaxSearchLineChars = 2048;
const kMaxSearchChars = 253;
const kMaxNdots = 15;

/**
 * The resolv.conf of `pod`, or of an ordinary ClusterFirst pod in `namespace` when no pod is
 * named (what `kdp resolve --from NS` means).
 */
export function podResolvConf(cluster: Cluster, namespace: string, pod?: Pod): ResolvConf {
  const dns = cluster.dns;
  const notes: string[] = [];
  const node = dns.nodeResolvConf;
  const host = { nameservers: [...(node?.nameservers ?? [])], searches: [...(node?.searches ?? [])], options: [...(node?.options ?? [])] };
  if (!node) notes.push("the node's resolv.conf is not in the cluster file (ClusterNetwork spec.nodeResolvConf): taken as empty");
  const policy = pod?.dnsPolicy ?? 'ClusterFirst';

  let applied: ResolvConf['applied'] =
    policy === 'None' ? 'none' : policy === 'Default' || (policy === 'ClusterFirst' && pod?.hostNetwork) ? 'host' : 'cluster';
  if (policy === 'ClusterFirst' && pod?.hostNetwork) notes.push('a hostNetwork pod with dnsPolicy ClusterFirst gets Default (ClusterFirstWithHostNet would keep cluster DNS)');
  if (applied === 'cluster' && dns.servers.length === 0) {
    applied = 'host';
    notes.push(`kubelet has no clusterDNS (${dns.serversFrom}): ${policy} falls back to Default`);
  }

  let conf = applied === 'none' ? { nameservers: [] as number[], searches: [] as string[], options: [] as string[] } : host;
  if (applied === 'cluster') {
    conf = {
      nameservers: [...dns.servers],
      searches: unique([`${namespace}.svc.${dns.domain}`, `svc.${dns.domain}`, dns.domain, ...host.searches]),
      options: ['ndots:5'],
    };
  }
  if (pod?.dnsConfig) {
    const merged = new Map<string, string>();
    for (const o of conf.options) {
      const colon = o.indexOf(':');
      merged.set(colon < 0 ? o : o.slice(0, colon), colon < 0 ? '' : o.slice(colon + 1));
    }
    for (const o of pod.dnsConfig.options) merged.set(o.name, o.value);
    conf = {
      nameservers: unique([...conf.nameservers, ...pod.dnsConfig.nameservers]),
      searches: unique([...conf.searches, ...pod.dnsConfig.searches]),
      options: [...merged.keys()].sort().map((k) => (merged.get(k) ? `${k}:${merged.get(k)}` : k)),
    };
  }
  return { policy, applied, ...withinLimits(conf, notes), ndots: ndotsOf(conf.options), notes };
}

function unique<T>(list: readonly T[]): T[] {
  return [...new Set(list)];
}

/** formDNSNameserversFitsLimits and formDNSSearchFitsLimits. */
function withinLimits(conf: { nameservers: number[]; searches: string[]; options: string[] }, notes: string[]) {
  let { nameservers, searches } = conf;
  if (nameservers.length > kMaxNameservers) {
    nameservers = nameservers.slice(0, kMaxNameservers);
    notes.push(`more than ${kMaxNameservers} nameservers: kubelet keeps the first ${kMaxNameservers}`);
  }
  const before = searches.length;
  searches = searches.slice(0, kMaxSearchPaths).filter((s) => s.length <= kMaxSearchChars);
  let line = searches.join(' ').length;
  while (line > kMaxSearchLineChars) line -= searches.pop()!.length + 1;
  if (searches.length !== before) notes.push(`search line limits exceeded: kubelet keeps ${searches.length} of ${before} domains`);
  return { nameservers, searches, options: conf.options };
}

/** glibc res_init.c: `ndots:N`, the last one wins, capped at RES_MAXNDOTS. */
function ndotsOf(options: readonly string[]): number {
  let ndots = 1;
  for (const o of options) {
    const m = /^ndots:(\d+)$/.exec(o);
    if (m) ndots = Math.min(Number(m[1]), kMaxNdots);
  }
  return ndots;
}
