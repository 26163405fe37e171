// StrykerJS over kdp's engine core (`npm run test:mutation`; README, "Mutation testing").
//
// The command runner: Stryker builds its instrumented copy of the sources once (all mutants
// compiled in, switched on one at a time by __STRYKER_ACTIVE_MUTANT__) and runs
// dist/test/mutation/bail.js: in the dry run it runs every listed test file once and records
// which mutants each file, and each of its tests, reaches (results/mutation/reach.json); per
// mutant it runs only the files and tests that reach it, the mutated folder's own files first,
// cheapest first, and stops at the first failing one. The files are the engine's own tests: the
// mutated folder's, the packet-flow tables, the property laws, and the Calico policy and DNS tests
// (src/dataplane's policy and DNS stages are theirs to test). Tests of the command line, the
// report, the sweep and the kernel are left out: they exercise the core only through it, and cost
// seconds a file.
//
// KDP_MUTATE picks what to mutate: folders, files or `file.ts:LINE-LINE` ranges of the core,
// comma-separated (default: the whole core, which is many core-hours on a 2-core machine; one
// folder at a time is the habit).
//
// KDP_MUTATE_SAMPLE=N mutates only N code lines of each target, drawn at random (seeded by
// KDP_MUTATE_SEED, default 1) from its lines that are neither blank, comments, imports nor closing
// brackets: a folder whose full run takes hours gets an estimate of its score in minutes. The lines
// are a uniform sample, so killed over tested is an unbiased ratio estimate of the folder's score;
// the mutants of one line are drawn together, which widens its error (the note gives the interval).
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

const kCore = ['src/model', 'src/net', 'src/compile', 'src/dataplane'];
const targets = (process.env.KDP_MUTATE ?? kCore.join(',')).split(',').map((s) => s.trim().replace(/\/$/, '')).filter(Boolean);
for (const t of targets) {
  if (!kCore.some((c) => t === c || t.startsWith(`${c}/`))) throw new Error(`KDP_MUTATE: ${t} is not in the engine core (${kCore.join(', ')})`);
}

/** The files under folder d whose names pass keep, sorted, depth first; none when d does not exist. */
function filesUnder(d, keep) {
  if (!existsSync(d)) return [];
  const out = [];
  for (const n of readdirSync(d).sort()) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, keep));
    else if (keep(n)) out.push(p);
  }
  return out;
}

/** `file:line-line` ranges for n code lines of target t, drawn without replacement by the engine's own seeded Prng. */
async function sampleLines(t, n, seed) {
  if (!existsSync(t)) throw new Error(`KDP_MUTATE: ${t} does not exist`);
  const lines = [];
  for (const f of t.endsWith('.ts') ? [t] : filesUnder(t, (name) => name.endsWith('.ts'))) {
    readFileSync(f, 'utf8')
      .split('\n')
      .forEach((text, i) => {
        const s = text.trim();
        if (s && !/^(\/\/|\/\*|\*|import\b)/.test(s) && !/^[}\])]+[;,)]*$/.test(s)) lines.push(`${f}:${i + 1}-${i + 1}`);
      });
  }
  const { Prng } = await import('./dist/src/model/prng.js');
  const rng = new Prng(seed);
  for (let i = 0; i < Math.min(n, lines.length); i++) {
    const j = i + rng.below(lines.length - i);
    [lines[i], lines[j]] = [lines[j], lines[i]];
  }
  return lines.slice(0, n).sort();
}

/** Compiled test files under dist/test/<dir>, sorted; the kernel and tshark cross-checks excluded. */
const testsUnder = (dir) => filesUnder(join('dist/test', dir), (n) => n.endsWith('.test.js') && !/tshark|nft-check|kernel-referee/.test(n));

// Stryker reads this file in the project, before the sandbox exists; dist/test is the same tree
// there once the build command has run, so the paths are listed from the build of the project.
const own = [...new Set(targets.map((t) => t.split('/')[1]))];
const ownFiles = [...new Set(own.flatMap(testsUnder))];
const order = ['pipeline', 'dataplane', 'compile', 'net', 'model', 'policy', 'dns', 'properties'];
const files = [...new Set([...ownFiles, ...order.flatMap(testsUnder)])];
if (files.length === 0) throw new Error('no compiled tests under dist/test: run `npm run build` first');

const sample = process.env.KDP_MUTATE_SAMPLE === undefined ? undefined : Number(process.env.KDP_MUTATE_SAMPLE);
const seed = Number(process.env.KDP_MUTATE_SEED ?? 1);
if (sample !== undefined && !(Number.isInteger(sample) && sample > 0)) throw new Error(`KDP_MUTATE_SAMPLE: ${process.env.KDP_MUTATE_SAMPLE} is not a positive whole number of lines`);
if (!Number.isInteger(seed)) throw new Error(`KDP_MUTATE_SEED: ${process.env.KDP_MUTATE_SEED} is not a whole number`);
// A file, a folder, or lines of a file as Stryker writes them (`src/x.ts:40-42`: a sample's survivors again, after the laws).
const kLines = /\.ts:\d+(-\d+)?$/;
if (sample !== undefined && targets.some((t) => kLines.test(t))) throw new Error('KDP_MUTATE: give lines or KDP_MUTATE_SAMPLE, not both');
const mutate = sample === undefined ? targets.map((t) => (t.endsWith('.ts') || kLines.test(t) ? t : `${t}/**/*.ts`)) : (await Promise.all(targets.map((t) => sampleLines(t, sample, seed)))).flat();
if (sample !== undefined) process.stderr.write(`KDP_MUTATE_SAMPLE: ${mutate.length} lines of ${targets.join(', ')} (seed ${seed})\n`);

export default {
  $schema: './node_modules/@stryker-mutator/core/schema/stryker-schema.json',
  mutate,
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
