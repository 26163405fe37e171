import type { ServiceDataplane } from '../compile/dataplane.js';
import { IptablesDataplane } from '../compile/iptables/index.js';
import { diffNode } from '../compile/iptables/diff.js';
import type { IpvsDataplane } from '../compile/ipvs/dataplane.js';
import { diffIpvsNode } from '../compile/ipvs/diff.js';
import type { NodeDiff } from '../compile/node-diff.js';
import { detectFormat, nodeStateFormats, type NodeStateFile } from '../compile/node-state.js';
import { IpvsNodeDataplane } from '../compile/ipvs/node-state.js';
import { diffNftNode } from '../compile/nftables/diff.js';
import { parseRulesetJson } from '../compile/nftables/json.js';
import { parseRuleset } from '../compile/nftables/parse.js';
import type { Cluster } from '../model/types.js';
import { UsageError } from '../errors.js';
import { EXIT_FAILED, EXIT_INVALID, EXIT_OK, parse, type Command } from './command.js';
import { requireCluster } from './cluster-file.js';
import { nodeStateOrReport, readNodeStateFiles } from './node-state.js';
import { nodeOfState } from './trace-node.js';

const help = `Usage: kdp diff FILE --node-state DIR|FILE[:FORMAT]... [--node NAME] [--json]

Is the node in sync with its Services? Compares what kube-proxy should have written for the node
(kdp's compilation of the cluster FILE, in the mode the node's files are in) with what the node has:
  iptables mode  its iptables-save (\`iptables-save\` or \`iptables-save -c\`, \`ipset save\` beside it)
  nftables mode  \`nft list table ip kube-proxy\` or \`nft -j list ruleset\`
  IPVS mode      \`ipvsadm -S -n\` or \`ipvsadm -Ln\` with \`ipset save\` (and its iptables-save, if given)

  missing services   Service ports the node has no rules (IPVS: virtual services) for
  stale services     Services the node still sends to, gone from the cluster (IPVS: as ipvsadm
                     lists the virtual service, "TCP 10.96.0.99:80")
  endpoints          per Service port: endpoints missing from the node, and stale ones it still DNATs to
  orphan chains      chains of Service ports no Service of the cluster owns (iptables:
                     KUBE-SVC/SVL/EXT/FW/SEP; nftables: service-/local-/external-/firewall-/endpoint-;
                     IPVS has no such chains)

Options:
  --node-state PATH  the node's files (repeatable; a directory gives all its files; - reads
                     standard input); formats: ${nodeStateFormats().join(', ')} (kdp diff compares
                     iptables, nftables and IPVS nodes)
  --node NAME        the node the files came from              [default: the first node]
  --json             one JSON object (fields: node, mode, inSync, missingServices, staleServices,
                     endpoints [{service, missing, stale}], orphanChains)
  -h, --help         this text

Exit status: 0 the node is in sync; 1 it differs; 2 bad usage, an invalid cluster file or a node
file kdp cannot read (every problem listed as FILE:LINE); 3 a file cannot be read.
`;

export const diffCommand: Command = {
  name: 'diff',
  summary: "compare a node's rules (iptables-save, nft, ipvsadm) with what its Services need: missing, stale, orphaned",
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      'node-state': { type: 'string', multiple: true },
      node: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('give one cluster file (the Services the node should serve)');
    const paths = values['node-state'];
    if (!paths) throw new UsageError('--node-state is required: the node\'s iptables-save, nft listing or ipvsadm (and ipset save)');
    const cluster = await requireCluster(positionals[0], true);
    if (!cluster) return EXIT_INVALID;
    const node = nodeOfState(cluster, values.node);
    const files = await readNodeStateFiles(paths);
    const dp = nodeStateOrReport('diff', files, cluster, node.index);
    if (!dp) return EXIT_INVALID;
    const d = diffOf(cluster, node.index!, dp, files);
    process.stdout.write(values.json ? `${JSON.stringify(d, null, 2)}\n` : renderDiff(d));
    return d.inSync ? EXIT_OK : EXIT_FAILED;
  },
};

/** The diff in the node's own mode: its files were read (and checked) into `dp` already. */
function diffOf(cluster: Cluster, node: number, dp: ServiceDataplane, files: readonly NodeStateFile[]): NodeDiff {
  if (dp instanceof IptablesDataplane) return diffNode(cluster, node, dp.rules);
  if (dp instanceof IpvsNodeDataplane) return diffIpvsNode(cluster, node, dp.ipvs);
  if (dp.mode === 'ipvs') return diffIpvsNode(cluster, node, dp as IpvsDataplane);
  if (dp.mode === 'nftables') {
    // The dataplane holds the compiled program, not the chains by name: read the listing again.
    const f = files.find((x) => (x.format ?? detectFormat(x.text))?.startsWith('nft'))!;
    return diffNftNode(cluster, node, (f.format ?? detectFormat(f.text)) === 'nft-json' ? parseRulesetJson(f.text) : parseRuleset(f.text));
  }
  throw new UsageError(`kdp diff compares iptables, nftables and IPVS nodes, not ${dp.mode} mode's state`);
}

function renderDiff(d: NodeDiff): string {
  if (d.inSync) return `${d.node}: in sync with the cluster's Services\n`;
  let out = `${d.node}: differs from the cluster's Services\n`;
  const list = (title: string, items: readonly string[]): void => {
    if (items.length > 0) out += `${title} (${items.length}):\n${items.map((i) => `  ${i}\n`).join('')}`;
  };
  list('missing services', d.missingServices);
  list('stale services', d.staleServices);
  if (d.endpoints.length > 0) {
    out += `endpoints (${d.endpoints.length} services):\n`;
    for (const e of d.endpoints) out += `  ${e.service}${e.missing.length ? `  missing ${e.missing.join(', ')}` : ''}${e.stale.length ? `  stale ${e.stale.join(', ')}` : ''}\n`;
  }
  list('orphan chains', d.orphanChains);
  return out;
}
