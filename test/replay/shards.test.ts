/**
 * A sharded sweep run as the Job's pods run it: four `kdp bench --shard I/4` processes, each with
 * its own results directory (and two of them printing to stdout, as `kubectl logs` would collect
 * them), merged by `kdp report`, give exactly the cells, decision checksums and packet counts of
 * one process running the whole sweep. A lost shard's cells are listed as missing (exit 1), and
 * `--resume` of a shard runs only the cells it lacks.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'kdp-shards-'));
after(() => rmSync(root, { recursive: true, force: true }));

const kSweep = ['--services', '10,100', '--modes', 'iptables,ipvs', '--flows', '3000', '--cores', '2'];
const kShards = 4;

function runSync(args: string[]) {
  return spawnSync(process.execPath, [kdp, ...args], { encoding: 'utf8', env: { ...process.env, JOB_COMPLETION_INDEX: '' } });
}

/** A process per shard, all at once, as the Job's pods run; resolves with each one's exit status and stdout. */
function runShards(args: (i: number) => string[]): Promise<{ status: number | null; stdout: string; stderr: string }[]> {
  return Promise.all(
    Array.from({ length: kShards }, (_, i) => new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [kdp, ...args(i)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      p.on('close', (status) => resolve({ status, stdout, stderr }));
    })),
  );
}

interface Line {
  key: string;
  mode: string;
  services: number;
  endpointsPerService: number;
  cni: string;
  workers: number;
  flows: number;
  seed: number;
  zipf: number;
  decisionChecksum: string;
  packets: number;
  wireBytes: number;
}

function results(dir: string): Map<string, Line> {
  const out = new Map<string, Line>();
  let text = '';
  try {
    text = readFileSync(join(dir, 'results.jsonl'), 'utf8');
  } catch {
    return out; // a shard with no cell writes no results file
  }
  for (const l of text.trim().split('\n').filter((x) => x !== '')) {
    const r = JSON.parse(l) as Line;
    const key = [r.mode, r.services, r.endpointsPerService, r.cni, r.workers, r.flows, r.seed, r.zipf].join('|');
    out.set(key, { ...r, key });
  }
  return out;
}

/** What must not depend on how the sweep was split: per cell, its checksum and what it counted. */
function decisions(m: Map<string, Line>): string[] {
  return [...m.values()].map((r) => `${r.key} ${r.decisionChecksum} ${r.packets} ${r.wireBytes}`).sort();
}

/** The rows of the report's per-mode tables, first column and heading only (timings differ run to run). */
function reportShape(md: string): string[] {
  const start = md.indexOf('## Results by mode');
  return md.slice(start).split('\n').filter((l) => l.startsWith('### ') || /^\| [0-9]/.test(l)).map((l) => (l.startsWith('|') ? l.split('|')[1]!.trim() : l));
}

describe('a sharded sweep', () => {
  const whole = join(root, 'whole');
  const sharded = join(root, 'sharded');
  const logged = join(root, 'logged');

  it('four shard processes give the cells and decision checksums of one process, and one report', async () => {
    // Arrange: the whole sweep in one process.
    const one = runSync(['bench', ...kSweep, '--out', whole, '--no-report']);
    assert.equal(one.status, 0, one.stderr);
    const wholeResults = results(whole);
    assert.equal(wholeResults.size, 6, 'Services 10, 100 x two modes at one worker, and the workers sweep at 2 workers');

    // Act: four shards at once; shards 2 and 3 also print their lines, as in a pod whose log is the result.
    const runs = await runShards((i) => ['bench', ...kSweep, '--shard', `${i}/${kShards}`, '--out', i < 2 ? sharded : logged, ...(i < 2 ? [] : ['--stdout'])]);
    runs.forEach((r, i) => assert.equal(r.status, 0, `shard ${i}: ${r.stderr}`));
    // `kubectl logs` without --follow prints one pod's log after another, progress (stderr) included.
    const log = join(root, 'kdp.log');
    writeFileSync(log, runs.slice(2).map((r) => `${r.stderr}${r.stdout}`).join(''));

    // Assert: every cell in exactly one shard, decided as in the whole sweep.
    const perShard = Array.from({ length: kShards }, (_, i) => results(join(i < 2 ? sharded : logged, `shard-${i}-of-${kShards}`)));
    const merged = new Map<string, Line>();
    for (const s of perShard) for (const [k, v] of s) {
      assert.ok(!merged.has(k), `${k} ran in two shards`);
      merged.set(k, v);
    }
    assert.deepEqual(decisions(merged), decisions(wholeResults));
    for (let i = 0; i < kShards; i++) {
      const machine = JSON.parse(readFileSync(join(i < 2 ? sharded : logged, `shard-${i}-of-${kShards}`, 'machine.json'), 'utf8')) as { shard: { index: number; count: number } };
      assert.deepEqual(machine.shard, { index: i, count: kShards });
      const plan = readFileSync(join(i < 2 ? sharded : logged, `shard-${i}-of-${kShards}`, 'plan.jsonl'), 'utf8').trim().split('\n');
      assert.equal(plan.length, 6, 'each shard stores the whole plan');
    }
    assert.ok(perShard.some((s) => s.size === 0) && perShard.some((s) => s.size > 1), 'this split has an empty shard and a shard of several cells');

    // The report merges the two directories and the log into the whole sweep's report.
    const mergedMd = join(root, 'merged.md');
    const r = runSync(['report', '--results', join(sharded, 'shard-0-of-4'), join(sharded, 'shard-1-of-4'), log, '--out', mergedMd, '--charts', join(root, 'merged-charts')]);
    assert.equal(r.status, 0, r.stderr);
    const wholeMd = join(root, 'whole.md');
    assert.equal(runSync(['report', '--results', whole, '--out', wholeMd, '--charts', join(root, 'whole-charts')]).status, 0);
    const a = readFileSync(mergedMd, 'utf8');
    const b = readFileSync(wholeMd, 'utf8');
    assert.deepEqual(reportShape(a), reportShape(b));
    assert.equal(reportShape(a).length, 2 + 6);
    const cellsLine = (md: string) => md.split('\n').find((l) => l.startsWith('- **Cells:**'));
    assert.equal(cellsLine(a), cellsLine(b));
    assert.doesNotMatch(a, /Missing cells|unlike machines/);
    assert.match(a, /- \*\*Results:\*\* merged from 4 results directories or logs/);
    assert.deepEqual(readdirSync(join(root, 'merged-charts')).sort(), readdirSync(join(root, 'whole-charts')).sort());
  });

  it('lists a lost shard\'s cells as missing (exit 1), and --resume of a shard runs only what it lacks', () => {
    // Arrange: shard 0 of the directory-backed shards holds several cells; lose one of its lines.
    const dir0 = join(sharded, 'shard-0-of-4');
    const before = results(dir0);
    assert.ok(before.size >= 2);
    const lines = readFileSync(join(dir0, 'results.jsonl'), 'utf8').trim().split('\n');
    writeFileSync(join(dir0, 'results.jsonl'), `${lines.slice(1).join('\n')}\n`);
    const dropped = JSON.parse(lines[0]!) as Line;

    // Act and assert: the report names the dropped cell, and the cells of shards 2 and 3 that no path holds.
    const md = join(root, 'missing.md');
    const r = runSync(['report', '--results', sharded, '--out', md, '--charts', join(root, 'missing-charts')]);
    assert.equal(r.status, 1, r.stderr);
    const text = readFileSync(md, 'utf8');
    const missingRows = text.split('\n').filter((l) => l.startsWith('| `'));
    const expectedMissing = 1 + results(join(logged, 'shard-2-of-4')).size + results(join(logged, 'shard-3-of-4')).size;
    assert.equal(missingRows.length, expectedMissing);
    assert.match(r.stderr, new RegExp(`${expectedMissing} planned cells are missing`));
    assert.match(text, new RegExp(`\\| \`${dropped.mode}\\\\\\|${dropped.services}\\\\\\|.*\` \\| shard 0/4 did not finish it`));
    assert.match(text, /shard [23]\/4 left no results/);

    // --resume of shard 0 runs the one lost cell and skips the rest, deciding as before.
    const resumed = runSync(['bench', ...kSweep, '--shard', '0/4', '--out', sharded, '--resume']);
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`1 cells run, ${before.size - 1} skipped, 0 failed`));
    assert.deepEqual(decisions(results(dir0)), decisions(before));
  });

  it('refuses a shard outside 0..N-1, and --shards without JOB_COMPLETION_INDEX', () => {
    for (const [args, env, message] of [
      [['--shard', '4/4'], {}, /--shard takes I\/N with 0 <= I < N/],
      [['--shards', '4'], {}, /--shards 4 takes the shard from JOB_COMPLETION_INDEX, which is not set/],
      [['--shards', '4'], { JOB_COMPLETION_INDEX: '4' }, /JOB_COMPLETION_INDEX=4 is not a shard of --shards 4/],
      [['--shard', '1/4', '--shards', '3'], {}, /disagree on the number of shards/],
    ] as [string[], Record<string, string>, RegExp][]) {
      const r = spawnSync(process.execPath, [kdp, 'bench', ...kSweep, ...args, '--out', join(root, 'never')], { encoding: 'utf8', env: { ...process.env, JOB_COMPLETION_INDEX: '', ...env } });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, message);
    }
  });
});
