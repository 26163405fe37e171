// StrykerJS over kdp's engine core (`npm run test:mutation`; README, "Mutation testing").
//
// The command runner: Stryker builds its instrumented copy of the sources once (all mutants
// compiled in, switched on one at a time by __STRYKER_ACTIVE_MUTANT__) and runs
// dist/test/mutation/bail.js: in the dry run it runs every listed test file once and records
// which mutants each file reaches (results/mutation/reach.json); per mutant it runs only the files
// that reach it, the mutated folder's own first, cheapest first, and stops at the first failing
// one. The files are the engine's own tests: the mutated folder's, the packet-flow tables, the
// property laws. Tests of the command line, the report, the sweep and the kernel are left out:
// they exercise the core only through it, and cost seconds a file.
//
// KDP_MUTATE picks what to mutate: folders or files of the core, comma-separated (default: the
// whole core, which is many core-hours on a 2-core machine; one folder at a time is the habit).
import { readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const kCore = ['src/model', 'src/net', 'src/compile', 'src/dataplane'];
const targets = (process.env.KDP_MUTATE ?? kCore.join(',')).split(',').map((s) => s.trim().replace(/\/$/, '')).filter(Boolean);
for (const t of targets) {
  if (!kCore.some((c) => t === c || t.startsWith(`${c}/`))) throw new Error(`KDP_MUTATE: ${t} is not in the engine core (${kCore.join(', ')})`);
}

/** Compiled test files under dist/test/<dir>, sorted; the kernel and tshark cross-checks excluded. */
function testsUnder(dir) {
  const out = [];
  const walk = (d) => {
    let names;
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const n of names.sort()) {
      const p = join(d, n);
      if (statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.test.js') && !/tshark|nft-check/.test(n)) out.push(p);
    }
  };
  walk(join('dist/test', dir));
  return out;
}

// Stryker reads this file in the project, before the sandbox exists; dist/test is the same tree
// there once the build command has run, so the paths are listed from the build of the project.
const own = [...new Set(targets.map((t) => t.split('/')[1]))];
const ownFiles = [...new Set(own.flatMap(testsUnder))];
const order = ['pipeline', 'dataplane', 'compile', 'net', 'model', 'properties'];
const files = [...new Set([...ownFiles, ...order.flatMap(testsUnder)])];
if (files.length === 0) throw new Error('no compiled tests under dist/test: run `npm run build` first');

export default {
  $schema: './node_modules/@stryker-mutator/core/schema/stryker-schema.json',
  mutate: targets.map((t) => (t.endsWith('.ts') ? t : `${t}/**/*.ts`)),
  testRunner: 'command',
  commandRunner: { command: `node dist/test/mutation/bail.js --map ${resolve('results/mutation/reach.json')} --own ${ownFiles.length} ${files.join(' ')}` },
  buildCommand: 'npx tsc -p tsconfig.json',
  coverageAnalysis: 'off',
  concurrency: 2,
  timeoutMS: 120_000,
  ignorePatterns: ['dist', 'results/mutation', 'results/profile', 'bench/charts', '.clinic', '*.cpuprofile'],
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'results/mutation/index.html' },
  jsonReporter: { fileName: 'results/mutation/mutation.json' },
};
