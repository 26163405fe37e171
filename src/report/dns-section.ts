/**
 * BENCHMARKS.md's DNS section: the cells of `kdp bench --dns` (CellResult.lookups), one row per
 * cell, so that NodeLocal DNSCache off and on, and ndots 5 and 1, read side by side for each mode
 * and Services count. Every figure is the cell's own; a cell without `lookups` is not a DNS cell.
 */
import { formatCount, formatNs, sig3 } from './format.js';
import type { CellResult } from './result.js';
import { sortModes } from './select.js';

/** `kube-dns`, `NodeLocal DNSCache`: how a DNS cell's queries are served. */
export function dnsLabel(c: CellResult): string {
  return c.dns === 'nodelocal' ? 'NodeLocal DNSCache' : c.dns === 'kube-dns' ? 'kube-dns' : '';
}

export function dnsSection(results: readonly CellResult[]): string[] {
  const cells = results.filter((c) => c.dns && c.lookups);
  if (cells.length === 0) return [];
  const modes = sortModes(cells.map((c) => c.mode));
  cells.sort(
    (a, b) =>
      modes.indexOf(a.mode) - modes.indexOf(b.mode) || a.services - b.services || a.flows - b.flows || (b.ndots ?? 5) - (a.ndots ?? 5) || (a.dns === 'nodelocal' ? 1 : 0) - (b.dns === 'nodelocal' ? 1 : 0),
  );
  const externals = [...new Set(cells.map((c) => c.dnsExternal ?? 0))];
  const out = [
    '## DNS lookups',
    '',
    '`kdp bench --dns`: before each connection to a ClusterIP, the client pod resolves the Service\'s name (`svc` in its own namespace, `svc.ns` across; ' +
      `${externals.map((e) => `${sig3(e * 100)}%`).join(', ')} of these connections call an external name \`api-K.example.com\` instead) as its resolver would: kubelet's resolv.conf for its namespace with the cell's ndots, glibc's search order, A and AAAA on one UDP socket per name, each query and answer the size of the real DNS message. ` +
      'Each name is a UDP flow through the mode\'s rules and conntrack to a CoreDNS pod (kube-system/kube-dns, one per node) and back. With NodeLocal DNSCache the raw table\'s NOTRACK rules send the queries to the cache on the pod\'s node, untracked; a name the node\'s cache does not hold (CoreDNS\'s 5 s TTL; the caches start empty, and a run lasts a microsecond of virtual time per flow, so each name misses once per node and the misses\' share falls as the flows grow) opens a TCP connection to kube-dns-upstream, one per miss (CoreDNS\'s forward plugin would reuse one for up to 10 s, so these counts are an upper bound); external names it forwards out of the cluster are not replayed, nor is CoreDNS\'s own forward of them.',
    '',
    'Columns: **queries / connection**, DNS queries per connection that looked its name up; **upstream**, the cache\'s connections to kube-dns-upstream; **DNS entries**, conntrack entries DNS left on both nodes, counted in the tables after the run, and their share of every entry the run created; **lookup**, the lookup\'s packets through the pipeline per looked-up connection; **first packet + lookup**, that plus the connection\'s own first packet (**first packet**).',
    '',
    '| Mode | Services | Flows | DNS | ndots | queries / connection | upstream | DNS entries | share of entries | lookup | first packet | first packet + lookup |',
    '|---|--:|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|',
  ];
  for (const c of cells) {
    const l = c.lookups!;
    out.push(
      `| ${c.mode} | ${formatCount(c.services)} | ${formatCount(c.flows)} | ${dnsLabel(c)} | ${c.ndots ?? 5} | ${sig3(l.queriesPerConnection)} | ${c.dns === 'nodelocal' ? formatCount(l.upstreamConnections) : '—'} | ${formatCount(l.conntrackEntries)} | ${sig3(l.conntrackShare * 100)}% | ${formatNs(l.lookupNsPerConnection)} | ${formatNs(c.newFlow.nsPerFlow)} | ${formatNs(l.firstPacketNs)} |`,
    );
  }
  out.push('');
  const failed = cells.filter((c) => c.lookups!.failedLookups > 0);
  if (failed.length > 0) out.push(`Lookup flows not delivered: ${failed.map((c) => `${c.mode} ${formatCount(c.services)} Services ${dnsLabel(c)} ndots ${c.ndots ?? 5}: ${formatCount(c.lookups!.failedLookups)}`).join('; ')}.`, '');
  return out;
}
