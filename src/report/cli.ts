/**
 * `kdp report`: results/ → BENCHMARKS.md + bench/charts/*.svg. The lead wires this into the CLI;
 * it takes argv after the command name and returns the exit status (0 written, 2 bad usage or
 * unreadable input; the same codes as src/cli/command.ts).
 */
import { parseArgs } from 'node:util';
import { ReportInputError } from '../errors.js';
import { writeReport } from './write.js';

export const kReportHelp = `Usage: kdp report [--results DIR] [--out FILE] [--charts DIR]

Writes the benchmark report from a sweep's results: a Markdown file with the targets,
observations and tables, and SVG charts it links to. Every figure is computed from the
results; an empty results file gives an honest "no results yet" report.

Options:
  --results DIR   directory with results.jsonl and machine.json (default: results/)
  --out FILE      Markdown file to write (default: BENCHMARKS.md)
  --charts DIR    directory for the SVG charts (default: bench/charts)
  -h, --help      show this help

Exit status: 0 written, 2 bad usage or unreadable results.`;

export interface ReportIo {
  readonly out: (line: string) => void;
  readonly err: (line: string) => void;
}

const kConsole: ReportIo = { out: (l) => console.log(l), err: (l) => console.error(l) };

export async function reportCommandMain(argv: string[], io: ReportIo = kConsole): Promise<number> {
  let values: { results?: string; out?: string; charts?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { results: { type: 'string' }, out: { type: 'string' }, charts: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: false,
      strict: true,
    }));
  } catch (err) {
    io.err(`kdp report: ${(err as Error).message}\nRun kdp report --help for usage.`);
    return 2;
  }
  if (values.help) {
    io.out(kReportHelp);
    return 0;
  }
  for (const name of ['results', 'out', 'charts'] as const) {
    if (values[name] === '') {
      io.err(`kdp report: --${name} needs a value\nRun kdp report --help for usage.`);
      return 2;
    }
  }
  try {
    const r = writeReport({ resultsDir: values.results ?? 'results', outFile: values.out ?? 'BENCHMARKS.md', chartsDir: values.charts ?? 'bench/charts' });
    for (const w of r.warnings) io.err(`kdp report: warning: ${w}`);
    io.out(`Wrote ${r.outFile} (${r.cells} cell${r.cells === 1 ? '' : 's'})${r.chartFiles.length ? ` and ${r.chartFiles.length} chart${r.chartFiles.length === 1 ? '' : 's'}: ${r.chartFiles.join(', ')}` : ', no charts'}.`);
    return 0;
  } catch (err) {
    if (err instanceof ReportInputError) {
      io.err(`kdp report: ${err.message}`);
      return 2;
    }
    throw err;
  }
}
