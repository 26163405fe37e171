/**
 * Preloaded (NODE_OPTIONS=--import) into every process of bail.ts's coverage pass: at exit it
 * writes the ids of the mutants this process reached, read from the counters StrykerJS's
 * instrumented code keeps in globalThis.__stryker__ (the instrumenter's stryCov calls, which count
 * whether or not a mutant is active). A process that loaded no instrumented code (a tool) writes
 * nothing. A subprocess of a test inherits NODE_OPTIONS, so what the CLI reaches when a test
 * spawns it counts for that test file too.
 *
 * In the test file's own process (KDP_MUTATION_TEST_FILE) it also names the test that reached
 * each mutant: root-level beforeEach/afterEach hooks set the instrumenter's
 * `__stryker__.currentTestId`, which makes stryCov count into `perTest[id]` instead of `static`.
 * The id is the outermost test the hooks see: a top-level `test()` (its subtests run under it, and
 * `--test-name-pattern` of its name runs them all) or an `it()` in a `describe()` (the hooks do not
 * fire for suites, and a pattern of the `it`'s name alone runs it). Code outside any test
 * (imports, before() hooks, worker threads, subprocesses) counts as static: the whole file.
 */
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach } from 'node:test';
import { threadId } from 'node:worker_threads';

interface StrykerNamespace {
  currentTestId?: string;
  mutantCoverage?: { static: Record<string, number>; perTest: Record<string, Record<string, number>> };
}

const dir = process.env.KDP_MUTATION_COVER_DIR;
const file = process.env.KDP_MUTATION_TEST_FILE;
const g = globalThis as { __stryker__?: StrykerNamespace };
if (dir && file && process.argv[1] && resolve(process.argv[1]) === resolve(file) && threadId === 0) {
  const open: string[] = [];
  beforeEach((t) => {
    open.push(t.name);
    (g.__stryker__ ??= {}).currentTestId = open[0];
  });
  afterEach(() => {
    open.pop();
    g.__stryker__!.currentTestId = open[0];
  });
}
if (dir) {
  process.on('exit', () => {
    const cov = g.__stryker__?.mutantCoverage;
    if (!cov) return;
    const perTest: Record<string, string[]> = {};
    for (const [test, ids] of Object.entries(cov.perTest)) perTest[test] = Object.keys(ids);
    writeFileSync(join(dir, `${process.pid}-${threadId}.json`), JSON.stringify({ static: Object.keys(cov.static), perTest }));
  });
}
