/**
 * A worker that never returns fails its cell, not the sweep: the pool's watchdog stops a run whose
 * shards send no heartbeat for stallMs, names the cell, and the pool goes on with fresh threads;
 * the sweep records the cell as failed, keeps every result already written and runs the rest
 * (issue 21, item 10). stallMs is 5 s here: a fresh thread loads its modules and builds its setup
 * before its first heartbeat.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { StalledRunError } from '../../src/errors.js';
import { ReplayPool } from '../../src/replay/pool.js';
import { runSweep, type SweepCell } from '../../src/replay/sweep.js';
import { kHangingServices } from '../helpers/hung-worker.js';

const hung = new URL('../helpers/hung-worker.js', import.meta.url).href;
const dir = mkdtempSync(join(tmpdir(), 'kdp-watchdog-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const cell = (services: number, workers = 1): SweepCell => ({
  mode: 'nftables', services, endpointsPerService: 2, cni: 'calico-vxlan', workers, flows: 3000, seed: 1, zipf: 0, repeats: 1,
});
const limits = () => ({ randomReadNs: 80, independentReadNs: 20, scanNsPerElement: 0.5, randomReadBytes: 1 << 20 });

describe('the per-cell watchdog', () => {
  it('fails a run whose worker hangs, naming the cell and the silence, and the pool runs the next cell', async () => {
    const pool = new ReplayPool({ filename: hung, stallMs: 5000 });
    try {
      const t0 = performance.now();
      await assert.rejects(pool.run(cell(kHangingServices, 2), 2), (e: Error) => {
        assert.ok(e instanceof StalledRunError, String(e));
        assert.match(e.message, /nftables 13 Services x2 calico-vxlan, 2 workers, 3,000 flows: shard \d of 2 made no progress for 5 s/);
        return true;
      });
      assert.ok(performance.now() - t0 < 20_000, 'stopped in bounded time');
      const ok = await pool.run(cell(10, 2), 2);
      assert.equal(ok.run.flows, 3000, 'fresh threads replay the next cell');
    } finally {
      await pool.close();
    }
  });

  it('rejects a nonsensical stallMs by name', () => {
    assert.throws(() => new ReplayPool({ stallMs: 0 }), /options\.stallMs/);
  });

  it('a sweep with a hanging cell records it as failed, keeps the cells before it, and runs the cells after it', async () => {
    const pool = new ReplayPool({ filename: hung, stallMs: 5000 });
    const fails: string[] = [];
    try {
      const summary = await runSweep({
        cells: [cell(10), cell(kHangingServices), cell(12)],
        outDir: dir,
        command: 'test',
        limits,
        runCell: (c) => pool.run(c, c.workers),
        progress: (e) => {
          if (e.kind === 'fail') fails.push(e.error ?? '');
        },
      });
      assert.equal(summary.ran, 2);
      assert.equal(summary.failed, 1);
      assert.equal(fails.length, 1);
      assert.match(fails[0]!, /13 Services.*made no progress/);
      const lines = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { services: number });
      assert.deepEqual(lines.map((l) => l.services), [10, 12]);
    } finally {
      await pool.close();
    }
  });
});
