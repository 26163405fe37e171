/**
 * `kdp diff` for an nftables node: its `nft list table ip kube-proxy` (text or JSON) against kdp's
 * compilation of the cluster, through kube-proxy's own object names (names.ts): a chain
 * `service-|local-|external-|firewall-|endpoint-HASH-ns/svc/proto/port[__ip/port]` belongs to that
 * Service port (pkg/proxy/nftables/proxier.go servicePortChainNameBase, servicePortEndpointChainNameBase).
 *
 *  - a Service port is present when some chain of it exists; its endpoints are the `dnat to`
 *    targets of the endpoint chains its service/local/external/firewall chains reach (numgen, jump,
 *    goto): an endpoint chain nothing reaches any more is one kube-proxy deletes on a later sync;
 *  - a stale Service is a service-ips / service-nodeports element still sending to a chain of a
 *    Service port the cluster no longer has;
 *  - an orphan chain is a Service-port chain no Service port of the cluster owns.
 */
import type { Cluster } from '../../model/types.js';
import { formatIp } from '../../net/ipv4.js';
import { diffViews, type NodeDiff, type ServiceView } from '../node-diff.js';
import { buildRuleset } from './build.js';
import { kPrefixEndpoint, servicePortKey, servicePortKeyOfName } from './names.js';
import { chainIndex, type Chain, type Ruleset, type Verdict } from './ruleset.js';

/** "ns/svc/proto/port" (a chain name's key) as kdp names a Service port: "ns/svc:port". */
function keyAsServiceName(key: string): string {
  const [ns, svc, , port] = key.split('/');
  return `${ns}/${svc}${port ? `:${port}` : ''}`;
}

function view(cluster: Cluster, rs: Ruleset): ServiceView & { unowned: string[] } {
  const portOfKey = new Map(cluster.ports.map((p, i) => [servicePortKey(cluster, p), i]));
  const byName = chainIndex(rs);
  const present = new Set<number>();
  const owned = new Map<number, Chain[]>();
  const unowned: string[] = [];
  for (const c of rs.chains) {
    const key = servicePortKeyOfName(c.name);
    if (key === '') continue;
    const p = portOfKey.get(key);
    if (p === undefined) {
      unowned.push(c.name);
      continue;
    }
    present.add(p);
    owned.set(p, [...(owned.get(p) ?? []), c]);
  }
  const targets = new Map<number, Set<string>>();
  for (const [p, chains] of owned) {
    const t = new Set<string>();
    const seen = new Set<string>();
    const todo = chains.filter((c) => !c.name.startsWith(kPrefixEndpoint));
    const follow = (v: Verdict): void => {
      if ((v.k !== 'goto' && v.k !== 'jump') || seen.has(v.chain)) return;
      const i = byName.get(v.chain);
      todo.push(i === undefined ? { name: v.chain, rules: [] } : rs.chains[i]);
    };
    while (todo.length > 0) {
      const c = todo.pop()!;
      if (seen.has(c.name)) continue;
      seen.add(c.name);
      for (const r of c.rules) {
        const a = r.action;
        if (a.k === 'dnat') t.add(`${formatIp(a.ip)}:${a.port}`);
        else if (a.k === 'numgen') a.targets.forEach(follow);
        else if (a.k === 'goto' || a.k === 'jump') follow(a);
      }
    }
    targets.set(p, t);
  }
  return { present, targets, unowned };
}

/** The node's nftables ruleset (`actual`) against kdp's compilation of `cluster` for `node`. */
export function diffNftNode(cluster: Cluster, node: number, actual: Ruleset): NodeDiff {
  const want = view(cluster, buildRuleset(cluster, { node }));
  const have = view(cluster, actual);
  const unowned = new Set(have.unowned);
  const stale: string[] = [];
  for (const m of actual.maps) {
    for (const e of m.elements) {
      const v = e.verdict;
      if ((v.k === 'goto' || v.k === 'jump') && unowned.has(v.chain)) stale.push(keyAsServiceName(servicePortKeyOfName(v.chain)));
    }
  }
  return diffViews(cluster, node, 'nftables', want, have, stale, have.unowned);
}
