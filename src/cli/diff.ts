import { modeOf } from '../compile/index.js';
import { IptablesDataplane } from '../compile/iptables/index.js';
import { diffNode, type NodeDiff } from '../compile/iptables/diff.js';
import { nodeStateFormats } from '../compile/node-state.js';
import { UsageError } from '../errors.js';
import { EXIT_FAILED, EXIT_INVALID, EXIT_OK, parse, type Command } from './command.js';
import { requireCluster } from './cluster-file.js';
import { nodeStateOrReport, readNodeStateFiles } from './node-state.js';
import { nodeOfState } from './trace-node.js';

const help = `Usage: kdp diff FILE --node-state DIR|FILE[:FORMAT]... [--node NAME] [--json]

Is the node in sync with its Services? Compares what kube-proxy should have written for the node
(kdp's compilation of the cluster FILE) with what the node has (its iptables-save, as
\`iptables-save\` or \`iptables-save -c\` prints it, with \`ipset save\` beside it if it has sets):

  missing services   Service ports the node has no rules for
  stale services     Services the node's KUBE-SERVICES still sends to, gone from the cluster
  endpoints          per Service port: endpoints missing from the node, and stale ones it still DNATs to
  orphan chains      KUBE-SVC/SVL/EXT/FW/SEP chains no Service of the cluster owns

Options:
  --node-state PATH  the node's files (repeatable; a directory gives all its files; - reads
                     standard input); formats: ${nodeStateFormats().join(', ')} (kdp diff compares
                     iptables-save so far)
  --node NAME        the node the files came from              [default: the first node]
  --json             one JSON object (fields: node, mode, inSync, missingServices, staleServices,
                     endpoints [{service, missing, stale}], orphanChains)
  -h, --help         this text

Exit status: 0 the node is in sync; 1 it differs; 2 bad usage, an invalid cluster file or a node
file kdp cannot read (every problem listed as FILE:LINE); 3 a file cannot be read.
`;

export const diffCommand: Command = {
  name: 'diff',
  summary: "compare a node's rules (iptables-save) with what its Services need: missing, stale, orphaned",
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      'node-state': { type: 'string', multiple: true },
      node: { type: 'string' },
      json: { type: 'boolean' },
    });
    if (positionals.length !== 1) throw new UsageError('give one cluster file (the Services the node should serve)');
    const paths = values['node-state'];
    if (!paths) throw new UsageError('--node-state is required: the node\'s iptables-save (and ipset save)');
    const cluster = await requireCluster(positionals[0], true);
    if (!cluster) return EXIT_INVALID;
    const mode = modeOf(cluster).name;
    if (mode !== 'iptables') throw new UsageError(`the cluster's kube-proxy runs in ${mode} mode; kdp diff compares iptables mode's rules so far`);
    const node = nodeOfState(cluster, values.node);
    const files = await readNodeStateFiles(paths);
    const dp = nodeStateOrReport('diff', files, cluster, node.index);
    if (!dp) return EXIT_INVALID;
    if (!(dp instanceof IptablesDataplane)) throw new UsageError(`kdp diff compares iptables-save so far, not ${dp.mode} mode's rules`);
    const d = diffNode(cluster, node.index!, dp.rules);
    process.stdout.write(values.json ? `${JSON.stringify(d, null, 2)}\n` : renderDiff(d));
    return d.inSync ? EXIT_OK : EXIT_FAILED;
  },
};

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
