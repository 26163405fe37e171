/**
 * The test command StrykerJS runs (stryker.config.mjs): once without a mutant (its dry run), then
 * once per mutant, with the mutant's id in __STRYKER_ACTIVE_MUTANT__.
 *
 * Dry run: every given test file, one node process each, with cover.ts preloaded; it records
 * which mutants each file's processes reached, which of the file's tests reached each (cover.ts),
 * and how long the file took, in the reach map (--map). A file that fails there is left out of the
 * run, named on stderr and in the map's `excluded`: the allocation tests (v8.GCProfiler) fail on
 * Stryker's instrumented code, whose counters allocate, and a file that fails without a mutant
 * cannot detect one.
 *
 * Mutant run: only the files that reached the mutant, the mutated folder's own first (the first
 * --own files given), each group cheapest first, stopping at the first that fails; of each file,
 * only the tests that reached the mutant (`--test-name-pattern`), or the whole file when code
 * outside any test reached it. A test that never executes the mutated code cannot fail because of
 * it, so skipping it weakens nothing (as StrykerJS's own perTest coverage analysis argues); a
 * mutant nothing reaches survives at once, as it would after the whole list. A selection that runs
 * no test (a name that changed between runs) falls back to the whole file. Node 20's runner has no
 * bail flag, hence one process per file.
 *
 * A file that runs longer than 5 times its dry-run time plus 20 s is stopped and kills the mutant
 * (an endless loop is a detected mutant, as StrykerJS's own timeout counts it); the reason,
 * "timeout", is in the report's statusReason. Without a reach map (bail.js run by hand) a mutant
 * run takes every file in the order given.
 *
 *   node dist/test/mutation/bail.js --map results/mutation/reach.json --own 2 dist/test/net/a.test.js …
 *
 * Exit status: 0 every file passed, 1 one failed or timed out (the mutant is killed), 2 bad usage.
 */
import { spawn } from 'node:child_process';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

interface Reach {
  file: string;
  ms: number;
  mutants: string[];
  /** Mutants reached outside any test (imports, before() hooks, workers, subprocesses): the whole file runs for them. */
  static: string[];
  /** The tests that reached each other mutant, by the names cover.ts recorded. */
  tests: Record<string, string[]>;
}

function usage(msg: string): never {
  process.stderr.write(`bail: ${msg} (usage: bail.js --map FILE [--own N] TEST_FILE...)\n`);
  process.exit(2);
}

const args = process.argv.slice(2);
let mapPath: string | undefined;
let own = 0;
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--map') mapPath = args[++i];
  else if (args[i] === '--own') own = Number(args[++i]);
  else files.push(args[i]);
}
if (!mapPath) usage('--map is required');
if (!Number.isInteger(own) || own < 0) usage('--own takes a whole number of files');
if (files.length === 0) usage('no test files given');

type Outcome = 'pass' | 'fail' | 'timeout' | 'none';

/** A --test-name-pattern that matches this name and no other. */
const exactName = (name: string): string => `^${name.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`;

/**
 * One test file in its own node process (and process group, so a timeout stops its children
 * too), only the named tests when given; 'none' when the selection ran no test at all (the
 * tests it did not name count as skipped, so none passed and none failed).
 */
function runFile(file: string, env: NodeJS.ProcessEnv, budgetMs: number, tests?: readonly string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const select = (tests ?? []).map((t) => `--test-name-pattern=${exactName(t)}`);
    const child = spawn(process.execPath, [...select, '--test-reporter=tap', file], { stdio: ['ignore', 'pipe', 'inherit'], env, detached: true });
    let tap = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => {
      tap = (tap + d).slice(-4096); // the summary is at the end
    });
    let timedOut = false;
    const timer = Number.isFinite(budgetMs)
      ? setTimeout(() => {
          timedOut = true;
          try {
            process.kill(-child.pid!, 'SIGKILL');
          } catch {
            // already gone
          }
        }, budgetMs)
      : undefined;
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve(timedOut ? 'timeout' : code !== 0 ? 'fail' : tests && /^# pass 0$/m.test(tap) && /^# fail 0$/m.test(tap) ? 'none' : 'pass');
    });
  });
}

const active = process.env.__STRYKER_ACTIVE_MUTANT__;

if (active === undefined) {
  // Dry run: record the reach map.
  const preload = pathToFileURL(join(import.meta.dirname, 'cover.js')).href;
  const reach: Reach[] = [];
  const excluded: string[] = [];
  for (const file of files) {
    const dir = mkdtempSync(join(tmpdir(), 'kdp-reach-'));
    const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload}`.trim(), KDP_MUTATION_COVER_DIR: dir, KDP_MUTATION_TEST_FILE: file };
    const start = performance.now();
    const outcome = await runFile(file, env, Infinity);
    const ms = performance.now() - start;
    const statics = new Set<string>();
    const byMutant = new Map<string, Set<string>>();
    for (const n of readdirSync(dir)) {
      const cov = JSON.parse(readFileSync(join(dir, n), 'utf8')) as { static: string[]; perTest: Record<string, string[]> };
      for (const id of cov.static) statics.add(id);
      for (const [test, ids] of Object.entries(cov.perTest)) for (const id of ids) (byMutant.get(id) ?? byMutant.set(id, new Set()).get(id)!).add(test);
    }
    rmSync(dir, { recursive: true, force: true });
    const tests: Record<string, string[]> = {};
    for (const [id, names] of byMutant) if (!statics.has(id)) tests[id] = [...names];
    const mutants = new Set([...statics, ...byMutant.keys()]);
    if (outcome !== 'pass') {
      // It cannot tell a mutant from the code as it is, so it kills nothing: left out, by name.
      excluded.push(file);
      process.stderr.write(`bail: ${file} fails on the instrumented code without any mutant: left out of this run\n`);
      continue;
    }
    reach.push({ file, ms: Math.round(ms), mutants: [...mutants], static: [...statics], tests });
  }
  if (reach.length === 0) {
    process.stderr.write('bail: every test file fails without any mutant: fix the build or the tests before mutating\n');
    process.exit(1);
  }
  mkdirSync(dirname(mapPath), { recursive: true });
  writeFileSync(`${mapPath}.tmp`, JSON.stringify({ own: files.slice(0, own), excluded, reach }));
  renameSync(`${mapPath}.tmp`, mapPath);
  rmSync(join(dirname(mapPath), 'runs.jsonl'), { force: true });
  const reached = new Set(reach.flatMap((r) => r.mutants)).size;
  process.stderr.write(`bail: ${reach.length} files, ${reached} mutants reached, ${excluded.length} files left out; reach map in ${mapPath}\n`);
  process.exit(0);
}

// Mutant run.
let plan: { file: string; ms: number; tests?: string[] }[];
try {
  const map = JSON.parse(readFileSync(mapPath, 'utf8')) as { own: string[]; reach: Reach[] };
  const ownSet = new Set(map.own);
  const group = (f: string): number => (ownSet.has(f) ? 0 : 1);
  plan = map.reach
    .filter((r) => r.mutants.includes(active))
    .sort((a, b) => group(a.file) - group(b.file) || a.ms - b.ms)
    .map((r) => ({ file: r.file, ms: r.ms, tests: r.tests[active] }));
} catch {
  process.stderr.write(`bail: no reach map at ${mapPath}: running every file\n`);
  plan = files.map((file) => ({ file, ms: Infinity }));
}
// One line per mutant beside the reach map (runs.jsonl), so survivors can be read while the run goes on.
const start = performance.now();
const log = (outcome: string, killer?: string): void =>
  appendFileSync(join(dirname(mapPath), 'runs.jsonl'), `${JSON.stringify({ mutant: active, outcome, killer, files: plan.length, s: Math.round(performance.now() - start) / 1000 })}\n`);
for (const { file, ms, tests } of plan) {
  let outcome = await runFile(file, process.env, 5 * ms + 20_000, tests);
  if (outcome === 'none') outcome = await runFile(file, process.env, 5 * ms + 20_000);
  if (outcome === 'timeout') process.stderr.write(`bail: timeout: ${file} ran over ${Math.round((5 * ms + 20_000) / 1000)} s (5 times its dry run plus 20 s)\n`);
  if (outcome !== 'pass') {
    log(outcome === 'timeout' ? 'timeout' : 'killed', file);
    process.exit(1);
  }
}
if (plan.length === 0) process.stderr.write(`bail: no test file reaches mutant ${active}\n`);
log(plan.length === 0 ? 'no-coverage' : 'survived');
process.exit(0);
