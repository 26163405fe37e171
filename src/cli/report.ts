/**
 * `kdp report`: results/ → BENCHMARKS.md + bench/charts/*.svg, through src/report/write.ts.
 * `kdp bench` calls `writeReportAndSay` at the end of a sweep.
 */
import { writeReport, type WriteReportOptions } from '../report/write.js';
import { EXIT_OK, parse, type Command } from './command.js';

const help = `Usage: kdp report [--results DIR] [--out FILE] [--charts DIR]

Writes the benchmark report from a sweep's results: a Markdown file with the targets,
observations and tables, and SVG charts it links to. Every figure is computed from the
results; an empty results file gives an honest "no results yet" report.

Options:
  --results DIR   directory with results.jsonl and machine.json (default: results/)
  --out FILE      Markdown file to write (default: BENCHMARKS.md)
  --charts DIR    directory for the SVG charts (default: bench/charts)
  -h, --help      show this help

Exit status: 0 written; 2 bad usage or unreadable results; 3 a directory or file cannot be
created or written (procfs, permissions, a read-only or full disk).
`;

/** Writes the report, warns about skipped input on stderr and says what it wrote on stdout.
 * Throws ReportInputError when the results cannot be read at all. */
export function writeReportAndSay(options: WriteReportOptions): void {
  const r = writeReport(options);
  for (const w of r.warnings) process.stderr.write(`kdp report: warning: ${w}\n`);
  const charts = r.chartFiles.length ? ` and ${r.chartFiles.length} chart${r.chartFiles.length === 1 ? '' : 's'}: ${r.chartFiles.join(', ')}` : ', no charts';
  process.stdout.write(`Wrote ${r.outFile} (${r.cells} cell${r.cells === 1 ? '' : 's'})${charts}.\n`);
}

export const reportCommand: Command = {
  name: 'report',
  summary: 'turn benchmark results (results/results.jsonl) into BENCHMARKS.md with SVG charts',
  help,
  async run(argv) {
    const { values } = parse(argv, { results: { type: 'string' }, out: { type: 'string' }, charts: { type: 'string' } }, false);
    writeReportAndSay({ resultsDir: values.results ?? 'results', outFile: values.out ?? 'BENCHMARKS.md', chartsDir: values.charts ?? 'bench/charts' });
    return EXIT_OK;
  },
};
