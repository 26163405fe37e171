/**
 * Two sweeps into one --out (issue 21, item 6): the second refuses with a message naming the
 * first (exit 3), a lock left by a sweep that is gone is taken over, and a finished sweep leaves
 * no lock behind.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { EnvironmentError } from '../../src/errors.js';
import { planSweep, runSweep, type SweepCell } from '../../src/replay/sweep.js';
import { runHere } from './run-here.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const limits = () => ({ randomReadNs: 80, independentReadNs: 20, scanNsPerElement: 0.5, randomReadBytes: 1 << 20 });
const root = mkdtempSync(join(tmpdir(), 'kdp-lock-'));
const sleeper = spawn('sleep', ['60']);
after(() => {
  sleeper.kill();
  rmSync(root, { recursive: true, force: true });
});
let n = 0;
const tmp = (): string => mkdtempSync(join(root, `case-${n++}-`));
const cells = planSweep({ cores: 1, services: [10], modes: ['iptables'], flows: 200, workers: [1] });

const runCell = async (c: SweepCell) => runHere(c);

function startTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

const lock = (dir: string, pid: number, ticks: number): void =>
  writeFileSync(join(dir, 'results.lock'), JSON.stringify({ pid, startTicks: ticks, host: hostname(), command: 'kdp bench --first', startedAt: '2026-01-01T00:00:00.000Z' }));

describe('the results directory lock', () => {
  it('a second sweep refuses while the first runs, naming it', async () => {
    const dir = tmp();
    lock(dir, sleeper.pid!, startTicks(sleeper.pid!));
    await assert.rejects(runSweep({ cells, outDir: dir, command: 'test', runCell, limits }), (err: unknown) => {
      assert.ok(err instanceof EnvironmentError, String(err));
      assert.match(err.message, new RegExp(`in use by another sweep \\(pid ${sleeper.pid}.*kdp bench --first`));
      return true;
    });
    assert.ok(!existsSync(join(dir, 'results.jsonl')), 'nothing written');
    const cli = spawnSync(process.execPath, [kdp, 'bench', '--out', dir, '--services', '10', '--modes', 'iptables', '--flows', '200', '--no-report'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(cli.status, 3, cli.stderr);
    assert.match(cli.stderr, /in use by another sweep/);
  });

  it('a lock whose owner is gone, or whose pid now belongs to another process, is taken over', async () => {
    const gone = spawnSync('true').pid!;
    for (const [pid, ticks] of [[gone, 1], [process.pid, 1]] as const) {
      const dir = tmp();
      lock(dir, pid, ticks);
      const logged: string[] = [];
      const s = await runSweep({ cells, outDir: dir, command: 'test', runCell, limits, log: (l) => logged.push(l) });
      assert.equal(s.ran, 1);
      assert.ok(logged.some((l) => l.includes(`took over`) && l.includes(`pid ${pid}`)), logged.join('\n'));
      assert.ok(!existsSync(join(dir, 'results.lock')), 'released at the end');
    }
  });

  it('a finished or failed sweep leaves no lock', async () => {
    const dir = tmp();
    await runSweep({ cells, outDir: dir, command: 'test', runCell, limits });
    assert.ok(!existsSync(join(dir, 'results.lock')));
    await runSweep({ cells, outDir: dir, command: 'test', runCell: async () => { throw new Error('boom'); }, limits });
    assert.ok(!existsSync(join(dir, 'results.lock')));
  });
});
