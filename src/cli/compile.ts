import { performance } from 'node:perf_hooks';
import { renderFelix } from '../compile/calico-policy/render.js';
import { CompiledCluster } from '../dataplane/compiled-cluster.js';
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
  iptables    iptables-save (nat and filter tables, kube-proxy's comments), iptables-restore
              (what kube-proxy hands iptables-restore --noflush on a full sync, in its own word order)
  ipvs        ipvsadm (ipvsadm -S -n), ipvsadm-list (ipvsadm -Ln), ipset (ipset save),
              iptables-save (IPVS mode's rules)
  nftables    nft (nft list table ip kube-proxy), nft-json (nft -j list table ip kube-proxy),
              nft-transaction (the nft -f transaction of kube-proxy's full sync, one add/flush
              statement a line, in kube-proxy's spelling)
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
  --format F     one of the mode's formats above, or json   [default: the mode's first]
                 (with --from: the dump's format)
  --policy F     instead of the Services, Calico's network policy on the node as felix programs
                 it: iptables-save (the filter table's cali-fw-/cali-tw-/cali-pi-/cali-po-
                 chains) or ipset (the sets its rules match), for iptables-restore / ipset restore
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
      policy: { type: 'string' },
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
    if (values.policy !== undefined) {
      const which = choiceOption(values.policy, 'policy', ['iptables-save', 'ipset'] as const, 'iptables-save');
      const tables = new CompiledCluster(cluster, mode).policy;
      if (!tables) throw new UsageError(`--policy: nothing to render: ${cluster.policies.length === 0 ? 'the file has no network policy' : `the pod network is ${cluster.network.cni}, which enforces no policy`}`);
      const r = renderFelix(tables, cluster, node);
      await writeOutput(values.output, [which === 'ipset' ? r.ipset : r.iptables]);
      return EXIT_OK;
    }
    const formats = formatsOf(m);
    const format = values.format ?? formats[0];
    if (format !== 'json' && !formats.includes(format)) {
      throw new UsageError(`--format for ${mode} mode takes ${[...formats, 'json'].join(', ')}, not "${format}"`);
    }
    if (values.stats || format === 'json') {
      const t0 = performance.now();
      const dp = compileDataplane(cluster, mode, node);
      const compileMs = performance.now() - t0;
      warn(dp.warnings);
      const stats = dp.stats();
      const record = { ...stats, node: cluster.nodes[node].name, compileMs: Math.round(compileMs * 10) / 10 };
      await writeOutput(values.output, [format === 'json' ? `${JSON.stringify(record, null, 2)}\n` : renderStats(record)]);
      return EXIT_OK;
    }
    // What the mode's agent would log while programming the node (a full BPF map), before its listing.
    if (m.warns) warn(compileDataplane(cluster, mode, node).warnings);
    await writeOutput(values.output, renderRuleChunks(cluster, mode, node, format));
    return EXIT_OK;
  },
};

function warn(warnings: readonly string[] | undefined): void {
  for (const w of warnings ?? []) process.stderr.write(`kdp compile: warning: ${w}\n`);
}

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
