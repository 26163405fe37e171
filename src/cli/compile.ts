import { performance } from 'node:perf_hooks';
import { compileDataplane, formatsOf, modeNames, modeOf, modeNamed, renderRuleChunks } from '../compile/index.js';
import { findNode } from '../compile/node-addresses.js';
import type { DataplaneStats } from '../compile/dataplane.js';
import { UsageError } from '../errors.js';
import type { ProxyMode } from '../compile/mode.js';
import { nodeStateFormats, splitFormatSuffix } from '../compile/node-state.js';
import { nodeStateOrReport, readNodeStateFile } from './node-state.js';
import type { Cluster } from '../model/types.js';
import { choiceOption, EXIT_INVALID, EXIT_OK, parse, type Command } from './command.js';
import { requireCluster } from './cluster-file.js';
import { writeOutput } from './output.js';

const help = `Usage: kdp compile FILE --mode MODE [--node NAME] [--format FORMAT] [--stats] [-o OUT]
       kdp compile --from DUMP [--format F] [--mode M] [FILE] [--node NAME] [--stats]

Compiles the cluster's Services for one node the way kube-proxy would, and prints the tables in
the mode's own text format, so they can be diffed against a real node:
  iptables    iptables-save (nat and filter tables, kube-proxy's comments)
  ipvs        ipvsadm (ipvsadm -S -n), ipset (ipset save), iptables-save (IPVS mode's rules)
  nftables    nft (nft list table ip kube-proxy)
  userspace   iptables-save (the portal rules)

--from reads a real node's dump (- reads standard input) into the same representation, with
the reader of the mode that reads its format (${nodeStateFormats().join(', ')}; detected from
the text when --format is not given, --mode picks the mode), and prints what it holds; with
FILE its DNAT targets are mapped to the cluster's endpoints. Every problem is listed as
DUMP:LINE. Rules of other owners (Docker, Calico, firewalld) are read too; what kdp cannot
evaluate is kept opaque and counted. --from-iptables-save DUMP is --from DUMP --format iptables-save.

Options:
  --mode M       ${modeNames().join(' | ')}    [default: the file's KubeProxyConfiguration]
  --node NAME    the node to compile for (Local policies and node addresses differ per node)
                 [default: the first node]
  --format F     iptables-save | ipvsadm | ipset | nft | json   [default: the mode's own]
                 (with --from: the dump's format)
  --stats        print rule counts, chain counts, table memory and compile time instead
  -o, --output   write to a file (atomically) instead of standard output
  -h, --help     this text

Exit status: 0 compiled; 2 bad usage, an invalid cluster file or dump (file and line), or -o names
a directory; 3 a file cannot be read or written (permissions, a read-only or full disk).
`;

export const compileCommand: Command = {
  name: 'compile',
  summary: "compile a cluster's Services for a node and print the rules in the mode's own format",
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      mode: { type: 'string' },
      node: { type: 'string' },
      format: { type: 'string' },
      stats: { type: 'boolean' },
      output: { type: 'string', short: 'o' },
      'from-iptables-save': { type: 'string' },
      from: { type: 'string' },
    });
    if (positionals.length > 1) throw new UsageError('give at most one cluster file');
    if (values.from !== undefined && values['from-iptables-save'] !== undefined) throw new UsageError('give --from or --from-iptables-save, not both');
    if (values['from-iptables-save'] !== undefined && values.format !== undefined && values.format !== 'iptables-save') throw new UsageError('--from-iptables-save reads iptables-save; use --from DUMP --format F for another format');
    const dump = values.from ?? values['from-iptables-save'];
    if (dump !== undefined) {
      const format = values['from-iptables-save'] !== undefined ? 'iptables-save' : values.format;
      const mode = values.mode === undefined ? undefined : modeNamed(choiceOption(values.mode, 'mode', modeNames(), ''));
      return fromDump(dump, format, mode, positionals[0], values.node, values.stats ?? false, values.output);
    }
    if (positionals.length === 0) throw new UsageError('a cluster file is required');
    const named = values.mode === undefined ? undefined : modeNamed(choiceOption(values.mode, 'mode', modeNames(), ''));
    const cluster = await requireCluster(positionals[0], true);
    if (!cluster) return EXIT_INVALID;
    const m = named ?? modeOf(cluster);
    const mode = m.name;
    const node = nodeIndex(cluster, values.node);
    const formats = formatsOf(m);
    const format = values.format ?? formats[0];
    if (format !== 'json' && !formats.includes(format)) {
      throw new UsageError(`--format for ${mode} mode takes ${[...formats, 'json'].join(', ')}, not "${format}"`);
    }
    if (values.stats || format === 'json') {
      const t0 = performance.now();
      const stats = compileDataplane(cluster, mode, node).stats();
      const compileMs = performance.now() - t0;
      const record = { ...stats, node: cluster.nodes[node].name, compileMs: Math.round(compileMs * 10) / 10 };
      await writeOutput(values.output, [format === 'json' ? `${JSON.stringify(record, null, 2)}\n` : renderStats(record)]);
      return EXIT_OK;
    }
    await writeOutput(values.output, renderRuleChunks(cluster, mode, node, format));
    return EXIT_OK;
  },
};

function nodeIndex(cluster: Cluster, name: string | undefined): number {
  const known = cluster.nodes.filter((n) => n.known);
  if (known.length === 0) throw new UsageError('the cluster has no Node objects; kube-proxy runs on a node');
  if (name === undefined) return known[0].index;
  const n = findNode(cluster, name);
  if (n < 0 || !cluster.nodes[n].known) throw new UsageError(`--node ${name}: no such Node (nodes: ${known.map((k) => k.name).join(', ')})`);
  return n;
}

function renderStats(s: DataplaneStats & { node: string; compileMs: number }): string {
  const extra = Object.entries(s)
    .filter(([k]) => !['mode', 'node', 'compileMs', 'rules', 'chains', 'tableBytes'].includes(k))
    .map(([k, v]) => `  ${k}: ${typeof v === 'number' ? v.toLocaleString('en-US') : v}\n`)
    .join('');
  return `${s.mode} mode, node ${s.node}\n  rules: ${s.rules.toLocaleString('en-US')}\n  chains: ${s.chains.toLocaleString('en-US')}\n  table memory: ${s.tableBytes.toLocaleString('en-US')} bytes\n  compile time: ${s.compileMs} ms\n${extra}`;
}

async function fromDump(dump: string, format: string | undefined, mode: ProxyMode | undefined, file: string | undefined, nodeName: string | undefined, stats: boolean, output: string | undefined): Promise<number> {
  if (format !== undefined && !nodeStateFormats().includes(format)) throw new UsageError(`--format with --from takes ${nodeStateFormats().join(', ')}, not "${format}"`);
  const suffix = splitFormatSuffix(dump);
  const read = await readNodeStateFile(suffix.path, format ?? suffix.format);
  let cluster: Cluster | undefined;
  if (file) {
    cluster = await requireCluster(file, true);
    if (!cluster) return EXIT_INVALID;
  }
  const dp = nodeStateOrReport('compile', [read], cluster, cluster ? nodeIndex(cluster, nodeName) : undefined, mode);
  if (!dp) return EXIT_INVALID;
  const s = dp.stats();
  await writeOutput(output, [stats ? renderStats({ ...s, node: nodeName ?? '(from the dump)', compileMs: 0 }) : `${JSON.stringify(s, null, 2)}\n`]);
  return EXIT_OK;
}
