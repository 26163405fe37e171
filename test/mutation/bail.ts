/**
 * The test command StrykerJS runs (stryker.config.mjs): once without a mutant (its dry run), then
 * once per mutant, with the mutant's id in __STRYKER_ACTIVE_MUTANT__.
 *
 * Dry run: every given test file, one `node --test` process each, with cover.ts preloaded; it
 * records which mutants each file's processes reached and how long the file took, in the reach
 * map (--map). A file that fails there is left out of the run, named on stderr and in the map's
 * `excluded`: the allocation tests (v8.GCProfiler) fail on Stryker's instrumented code, whose
 * counters allocate, and a file that fails without a mutant cannot detect one.
 *
 * Mutant run: only the files that reached the mutant, the mutated folder's own first (the first
 * --own files given), each group cheapest first, stopping at the first that fails. A file that
 * never executes the mutated code cannot fail because of it, so skipping it weakens nothing; a
 * mutant no file reaches survives at once, as it would after the whole list. Node 20's runner has
 * no bail flag, hence one process per file.
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

type Outcome = 'pass' | 'fail' | 'timeout';

/** One test file in its own `node --test` process (and process group, so a timeout stops its children too). */
function runFile(file: string, env: NodeJS.ProcessEnv, budgetMs: number): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--test', '--test-reporter=dot', file], { stdio: ['ignore', 'ignore', 'inherit'], env, detached: true });
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
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve(timedOut ? 'timeout' : code === 0 ? 'pass' : 'fail');
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
    const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${preload}`.trim(), KDP_MUTATION_COVER_DIR: dir };
    const start = performance.now();
    const outcome = await runFile(file, env, Infinity);
    const ms = performance.now() - start;
    const mutants = new Set<string>();
    for (const n of readdirSync(dir)) for (const id of JSON.parse(readFileSync(join(dir, n), 'utf8')) as string[]) mutants.add(id);
    rmSync(dir, { recursive: true, force: true });
    if (outcome !== 'pass') {
      // It cannot tell a mutant from the code as it is, so it kills nothing: left out, by name.
      excluded.push(file);
      process.stderr.write(`bail: ${file} fails on the instrumented code without any mutant: left out of this run\n`);
      continue;
    }
    reach.push({ file, ms: Math.round(ms), mutants: [...mutants] });
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
let plan: { file: string; ms: number }[];
try {
  const map = JSON.parse(readFileSync(mapPath, 'utf8')) as { own: string[]; reach: Reach[] };
  const ownSet = new Set(map.own);
  const group = (f: string): number => (ownSet.has(f) ? 0 : 1);
  plan = map.reach.filter((r) => r.mutants.includes(active)).sort((a, b) => group(a.file) - group(b.file) || a.ms - b.ms);
} catch {
  process.stderr.write(`bail: no reach map at ${mapPath}: running every file\n`);
  plan = files.map((file) => ({ file, ms: Infinity }));
}
// One line per mutant beside the reach map (runs.jsonl), so survivors can be read while the run goes on.
const start = performance.now();
const log = (outcome: string, killer?: string): void =>
  appendFileSync(join(dirname(mapPath), 'runs.jsonl'), `${JSON.stringify({ mutant: active, outcome, killer, files: plan.length, s: Math.round(performance.now() - start) / 1000 })}\n`);
for (const { file, ms } of plan) {
  const outcome = await runFile(file, process.env, 5 * ms + 20_000);
  if (outcome === 'timeout') process.stderr.write(`bail: timeout: ${file} ran over ${Math.round((5 * ms + 20_000) / 1000)} s (5 times its dry run plus 20 s)\n`);
  if (outcome !== 'pass') {
    log(outcome === 'timeout' ? 'timeout' : 'killed', file);
    process.exit(1);
  }
}
if (plan.length === 0) process.stderr.write(`bail: no test file reaches mutant ${active}\n`);
log(plan.length === 0 ? 'no-coverage' : 'survived');
process.exit(0);
