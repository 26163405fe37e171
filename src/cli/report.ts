/**
 * `kdp report`: results/ → BENCHMARKS.md + bench/charts/*.svg, through src/report/write.ts.
 * `kdp bench` calls `writeReportAndSay` at the end of a sweep.
 */
import { dirname, join } from 'node:path';
import { UsageError } from '../errors.js';
import { writeReport, type WriteReportOptions, type WriteReportResult } from '../report/write.js';
import { EXIT_FAILED, EXIT_OK, parse, type Command } from './command.js';

const help = `Usage: kdp report [--results PATH...] [--out FILE] [--charts DIR]

Writes the benchmark report from a sweep's results: a Markdown file with the targets,
observations and tables, and SVG charts it links to. Every figure is computed from the
results; an empty results file gives an honest "no results yet" report.

Several results are merged into one report: a sharded sweep's directories (kdp bench --shard,
or the Job kdp job prints), or a directory holding them (DIR/shard-I-of-N/), or the logs of
shards that ran with --stdout (kubectl logs ... > FILE). Cells are grouped by the machine record
that measured them: cells from unlike machines (CPU, cores, memory, Node.js, OS, kdp commit) are
never put into one ratio, fit or chart; each machine gets its own section and charts/machine-N/.
Cells the sweep planned (plan.jsonl) that no results hold are listed as missing, with the shard
that should have run them, and left out of every figure.

Options:
  --results PATH... directories with results.jsonl, machine.json and plan.jsonl, directories of
                    shard-I-of-N/ directories, or shard logs (default: results/); every argument
                    after --results is one more PATH, so a shell glob works: --results out/shard-*
  --out FILE        Markdown file to write (default: BENCHMARKS.md)
  --charts DIR      directory for the SVG charts, whose older charts it replaces (default:
                    bench/charts; with --out FILE, charts/ beside FILE, so that a report
                    written elsewhere leaves the project's charts alone)
  -h, --help        show this help

Exit status: 0 written; 1 written, but planned cells are missing (listed in the report and on
stderr); 2 bad usage or unreadable results; 3 a directory or file cannot be created or written
(procfs, permissions, a read-only or full disk).
`;

/** Writes the report, warns about skipped input on stderr and says what it wrote on stdout.
 * Throws ReportInputError when the results cannot be read at all. */
export function writeReportAndSay(options: WriteReportOptions): WriteReportResult {
  const r = writeReport(options);
  for (const w of r.warnings) process.stderr.write(`kdp report: warning: ${w}\n`);
  if (r.machines > 1) process.stderr.write(`kdp report: the cells come from ${r.machines} unlike machines; each is reported on its own, never in one ratio\n`);
  if (r.missing > 0) process.stderr.write(`kdp report: ${r.missing} planned cell${r.missing === 1 ? ' is' : 's are'} missing (listed under "Missing cells" in ${r.outFile})\n`);
  const charts = r.chartFiles.length ? ` and ${r.chartFiles.length} chart${r.chartFiles.length === 1 ? '' : 's'}: ${r.chartFiles.join(', ')}` : ', no charts';
  process.stdout.write(`Wrote ${r.outFile} (${r.cells} cell${r.cells === 1 ? '' : 's'})${charts}.\n`);
  return r;
}

export const reportCommand: Command = {
  name: 'report',
  summary: 'turn benchmark results (results/results.jsonl) into BENCHMARKS.md with SVG charts',
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, { results: { type: 'string' }, out: { type: 'string' }, charts: { type: 'string' } });
    if (positionals.length > 0 && values.results === undefined) throw new UsageError(`unexpected argument "${positionals[0]}"; results paths follow --results, e.g. --results out/shard-*`);
    const paths = values.results === undefined ? ['results'] : [values.results, ...positionals];
    const chartsDir = values.charts ?? (values.out === undefined ? 'bench/charts' : join(dirname(values.out), 'charts'));
    const r = writeReportAndSay({ resultsDir: paths[0]!, resultsPaths: paths, outFile: values.out ?? 'BENCHMARKS.md', chartsDir });
    return r.missing > 0 ? EXIT_FAILED : EXIT_OK;
  },
};
