/**
 * The report's file edge: reads `DIR/results.jsonl`, `DIR/machine.json` and `DIR/plan.jsonl` of
 * every results directory (or log) given, merges them (merge.ts), renders, and writes
 * BENCHMARKS.md and the chart SVGs. Every file is written to a temporary name and renamed into
 * place, so a reader (or GitHub) never sees half a report; the charts go first and the Markdown
 * last, so the Markdown never links a chart that is not there yet.
 */
import type { ProfileSummary } from './profile-section.js';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { ReportInputError } from '../errors.js';
import { makeDirectory } from '../make-directory.js';
import { writeAtomic } from '../write-atomic.js';
import { kChartFiles } from './charts.js';
import { renderMerged } from './markdown.js';
import { mergeSources, parseResultsLog, type ResultSource } from './merge.js';
import { parseMachineJson } from './parse-machine.js';
import { parseResultsJsonl } from './parse-results.js';
import { kPlanFile, parsePlanJsonl, shardOfDirName, type PlanLine } from './plan.js';
import { kKernelMissingFile, type KernelMissing, type MachineInfo } from './result.js';

export interface WriteReportOptions {
  /** Directory holding results.jsonl and machine.json. */
  readonly resultsDir: string;
  /**
   * Several results to merge (replaces resultsDir): directories (a sweep's, a shard's, or one
   * holding `shard-I-of-N/` directories) and logs (`kubectl logs` of `kdp bench --stdout` shards).
   */
  readonly resultsPaths?: readonly string[];
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
  /** Planned cells that no source holds (each listed in the report). */
  readonly missing: number;
  /** Unlike machines the cells came from (each reported on its own). */
  readonly machines: number;
}

export function writeReport(options: WriteReportOptions): WriteReportResult {
  const outFile = options.outFile ?? 'BENCHMARKS.md';
  const chartsDir = options.chartsDir ?? 'bench/charts';
  const paths = options.resultsPaths ?? [options.resultsDir];
  const warnings: string[] = [];
  const sources = paths.flatMap((p) => readSources(p, warnings));
  const merged = mergeSources(sources);
  warnings.push(...merged.warnings);

  const chartsPath = relative(dirname(resolve(outFile)), resolve(chartsDir)).split(sep).join('/') || '.';
  const firstDir = paths.length === 1 && isDirectory(paths[0]!) ? paths[0]! : undefined;
  const profile = firstDir !== undefined ? readProfile(join(firstDir, 'profile', 'summary.json'), warnings) : undefined;
  const source = sources.length === 1 && firstDir !== undefined && existsSync(join(firstDir, 'results.jsonl')) ? toPosix(join(firstDir, 'results.jsonl')) : sources.map((s) => toPosix(s.label)).join(', ');
  const report = renderMerged(merged, { chartsPath, source, warnings, ...(profile ? { profile } : {}) });

  const chartFiles: string[] = [];
  for (const c of report.charts) {
    const file = join(chartsDir, c.file);
    makeDirectory(dirname(file));
    writeAtomic(file, c.svg);
    chartFiles.push(file);
  }
  // Charts this report used to draw but no longer does (e.g. the workers sweep was dropped, or the
  // results now come from one machine) would otherwise linger beside the new ones; only kdp's own
  // chart names are touched, in the charts directory and its machine-N/ folders.
  const written = new Set(report.charts.map((c) => c.file));
  for (const sub of ['', ...machineChartDirs(chartsDir)]) {
    for (const name of kChartFiles) {
      const rel = sub ? `${sub}/${name}` : name;
      if (!written.has(rel)) rmSync(join(chartsDir, rel), { force: true });
    }
  }

  makeDirectory(dirname(resolve(outFile)));
  writeAtomic(outFile, report.markdown);
  return { outFile, chartFiles, cells: merged.groups.reduce((a, g) => a + g.results.length, 0), warnings, missing: merged.missing.length, machines: merged.groups.length };
}

/** machine-N folders of an earlier report's charts. */
function machineChartDirs(chartsDir: string): string[] {
  try {
    return readdirSync(chartsDir).filter((n) => /^machine-\d+$/.test(n));
  } catch {
    return [];
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * The sources a path holds: a results directory (results.jsonl, machine.json, plan.jsonl), plus
 * the `shard-I-of-N/` directories in it; or a log file. A directory with neither results nor a
 * plan nor shards is an error (exit 2), as a missing path is.
 */
function readSources(path: string, warnings: string[]): ResultSource[] {
  if (!existsSync(path)) throw new ReportInputError(`no results file at ${join(path, 'results.jsonl')}: run \`npm run bench\` first, or pass --results DIR`);
  if (!isDirectory(path)) {
    const parsed = parseResultsLog(readText(path), toPosix(path));
    warnings.push(...parsed.warnings);
    if (parsed.sources.length === 0) throw new ReportInputError(`${path} holds no kdp results: a results directory, or the log of \`kdp bench --stdout\` shards, was expected`);
    return parsed.sources;
  }
  const shardDirs = readdirSync(path, { withFileTypes: true })
    .filter((e) => e.isDirectory() && shardOfDirName(e.name) !== undefined)
    .map((e) => e.name)
    .sort((a, b) => shardOfDirName(a)!.index - shardOfDirName(b)!.index || a.localeCompare(b));
  const own = readDirectory(path, warnings, shardDirs.length === 0);
  return [...(own ? [own] : []), ...shardDirs.flatMap((d) => {
    const s = readDirectory(join(path, d), warnings, false);
    return s ? [s] : [];
  })];
}

/** One results directory, or undefined when it holds neither results nor a plan (and `required` is false). */
function readDirectory(dir: string, warnings: string[], required: boolean): ResultSource | undefined {
  const resultsFile = join(dir, 'results.jsonl');
  const planText = readOptional(join(dir, kPlanFile), warnings);
  let text: string | undefined;
  try {
    text = readFileSync(resultsFile, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') throw new ReportInputError(`cannot read ${resultsFile}: ${(err as Error).message}`);
    // A shard with no cell to run, or one that failed before its first, has a plan and no results.
    if (planText === undefined) {
      if (required) throw new ReportInputError(`no results file at ${resultsFile}: run \`npm run bench\` first, or pass --results DIR`);
      return undefined;
    }
  }
  const parsed = parseResultsJsonl(text ?? '');
  if (parsed.malformed.length > 0) {
    const shown = parsed.malformed.slice(0, 20).map((m) => `line ${m.line}: ${m.reason}`);
    const more = parsed.malformed.length > shown.length ? `; and ${parsed.malformed.length - shown.length} more` : '';
    warnings.push(`${resultsFile}: skipped ${parsed.malformed.length} malformed line${parsed.malformed.length === 1 ? '' : 's'} (${shown.join('; ')}${more})`);
  }
  let machine: MachineInfo | undefined;
  const machineFile = join(dir, 'machine.json');
  const machineText = readOptional(machineFile, warnings);
  if (machineText !== undefined) {
    const m = parseMachineJson(machineText);
    if ('machine' in m) machine = m.machine;
    else warnings.push(`${machineFile}: ignored, ${m.problem}`);
  }
  let plan: PlanLine[] | undefined;
  if (planText !== undefined) {
    const p = parsePlanJsonl(planText);
    if (p.malformed.length > 0) warnings.push(`${join(dir, kPlanFile)}: skipped ${p.malformed.length} malformed line(s) (${p.malformed.slice(0, 5).map((m) => `line ${m.line}: ${m.reason}`).join('; ')})`);
    plan = p.lines;
  }
  const kernelMissing = parseKernelMissing(readOptional(join(dir, kKernelMissingFile), warnings), join(dir, kKernelMissingFile), warnings);
  return { label: toPosix(dir), results: parsed.results, ...(machine ? { machine } : {}), ...(plan ? { plan } : {}), ...(kernelMissing.length ? { kernelMissing } : {}) };
}

/** kernel-missing.jsonl's lines; a malformed one is a warning. */
function parseKernelMissing(text: string | undefined, file: string, warnings: string[]): KernelMissing[] {
  const out: KernelMissing[] = [];
  (text ?? '').split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      const v = JSON.parse(line) as KernelMissing;
      if (typeof v.mode !== 'string' || typeof v.services !== 'number' || typeof v.why !== 'string') throw new Error('mode, services or why missing');
      out.push(v);
    } catch (err) {
      warnings.push(`${toPosix(file)} line ${i + 1}: skipped (${(err as Error).message})`);
    }
  });
  return out;
}

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ReportInputError(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/** A file's text, undefined when it does not exist; another failure is a warning. */
function readOptional(file: string, warnings: string[]): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') warnings.push(`cannot read ${file}: ${(err as Error).message}`);
    return undefined;
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
