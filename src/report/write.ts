/**
 * The report's file edge: reads `DIR/results.jsonl` and `DIR/machine.json`, renders, and writes
 * BENCHMARKS.md and the chart SVGs. Every file is written to a temporary name and renamed into
 * place, so a reader (or GitHub) never sees half a report; the charts go first and the Markdown
 * last, so the Markdown never links a chart that is not there yet.
 */
import type { ProfileSummary } from './profile-section.js';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileSystemError, ReportInputError } from '../errors.js';
import { makeDirectory } from '../make-directory.js';
import { kChartFiles } from './charts.js';
import { renderReport } from './markdown.js';
import { parseMachineJson } from './parse-machine.js';
import { parseResultsJsonl } from './parse-results.js';
import type { MachineInfo } from './result.js';

export interface WriteReportOptions {
  /** Directory holding results.jsonl and machine.json. */
  readonly resultsDir: string;
  readonly outFile?: string;
  readonly chartsDir?: string;
}

export interface WriteReportResult {
  readonly outFile: string;
  readonly chartFiles: string[];
  /** Cells reported (after last-line-wins). */
  readonly cells: number;
  /** Human-readable problems with the input: malformed lines, an unusable machine.json. */
  readonly warnings: string[];
}

export function writeReport(options: WriteReportOptions): WriteReportResult {
  const outFile = options.outFile ?? 'BENCHMARKS.md';
  const chartsDir = options.chartsDir ?? 'bench/charts';
  const resultsFile = join(options.resultsDir, 'results.jsonl');
  let text: string;
  try {
    text = readFileSync(resultsFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ReportInputError(code === 'ENOENT' ? `no results file at ${resultsFile}: run \`npm run bench\` first, or pass --results DIR` : `cannot read ${resultsFile}: ${(err as Error).message}`);
  }
  const parsed = parseResultsJsonl(text);
  const warnings: string[] = [];
  if (parsed.malformed.length > 0) {
    const shown = parsed.malformed.slice(0, 20).map((m) => `line ${m.line}: ${m.reason}`);
    const more = parsed.malformed.length > shown.length ? `; and ${parsed.malformed.length - shown.length} more` : '';
    warnings.push(`${resultsFile}: skipped ${parsed.malformed.length} malformed line${parsed.malformed.length === 1 ? '' : 's'} (${shown.join('; ')}${more})`);
  }

  let machine: MachineInfo | undefined;
  const machineFile = join(options.resultsDir, 'machine.json');
  let machineText: string | undefined;
  try {
    machineText = readFileSync(machineFile, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warnings.push(`cannot read ${machineFile}: ${(err as Error).message}`);
  }
  if (machineText !== undefined) {
    const m = parseMachineJson(machineText);
    if ('machine' in m) machine = m.machine;
    else warnings.push(`${machineFile}: ignored, ${m.problem}`);
  }

  const chartsPath = relative(dirname(resolve(outFile)), resolve(chartsDir)).split(sep).join('/') || '.';
  const profile = readProfile(join(options.resultsDir, 'profile', 'summary.json'), warnings);
  const report = renderReport(parsed.results, machine, { chartsPath, source: toPosix(resultsFile), warnings, ...(profile ? { profile } : {}) });

  const chartFiles: string[] = [];
  if (report.charts.length > 0) makeDirectory(chartsDir);
  for (const c of report.charts) {
    const file = join(chartsDir, c.file);
    writeAtomic(file, c.svg);
    chartFiles.push(file);
  }
  // Charts this report used to draw but no longer does (e.g. the workers sweep was dropped)
  // would otherwise linger beside the new ones; only kdp's own chart names are touched.
  const written = new Set(report.charts.map((c) => c.file));
  for (const name of kChartFiles) if (!written.has(name)) rmSync(join(chartsDir, name), { force: true });

  makeDirectory(dirname(resolve(outFile)));
  writeAtomic(outFile, report.markdown);
  return { outFile, chartFiles, cells: parsed.results.length, warnings };
}

function writeAtomic(file: string, content: string): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    writeFileSync(tmp, content, 'utf8');
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fileSystemError(err, 'write', file);
  }
}

function toPosix(p: string): string {
  return p.split(sep).join('/');
}

/** `npm run profile`'s summary, if one was taken; a malformed one is a warning, not a failure. */
function readProfile(file: string, warnings: string[]): ProfileSummary | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const value = JSON.parse(text) as ProfileSummary;
    if (!Array.isArray(value.profiles)) throw new Error('no "profiles" list');
    return value;
  } catch (err) {
    warnings.push(`${toPosix(file)}: not a profile summary (${(err as Error).message}); the profile section is left out`);
    return undefined;
  }
}
