/** --resume's reading of results.jsonl: which cells count as finished, torn last lines, and churn runs. */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { finishedKeys, kChurnKernelNotAsked } from '../../src/replay/sweep.js';
import { cellKeyString, type CellKey } from '../../src/report/result.js';

const key = (services: number): CellKey => ({ mode: 'iptables', services, endpointsPerService: 5, cni: 'calico-vxlan', workers: 1, flows: 1000, seed: 1, zipf: 0 });
const line = (services: number, extra: Record<string, unknown> = {}): string => JSON.stringify({ schema: 1, ...key(services), ...extra });

test('finished cells are the complete lines; a torn last line is named and its cell runs again', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdp-finished-'));
  try {
    const file = join(dir, 'results.jsonl');
    writeFileSync(file, `${line(10)}\n${line(100)}\n{"schema":1,"mode":"ipt`);
    const f = finishedKeys(file);
    assert.deepEqual([...f.keys], [cellKeyString(key(10)), cellKeyString(key(100))]);
    assert.equal(f.tornLine, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('with --churn R, only cells whose result holds the churn benchmark at R are finished', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdp-finished-'));
  try {
    const file = join(dir, 'results.jsonl');
    writeFileSync(file, [line(10), line(100, { churn: { changesPerSecond: 10 } }), line(1000, { churn: { changesPerSecond: 50 } })].join('\n') + '\n');
    assert.deepEqual([...finishedKeys(file, 10).keys], [cellKeyString(key(100))]);
    assert.equal(finishedKeys(file).keys.size, 3, 'without --churn every cell counts');
    // Every cell's last result, finished at R or not: --resume --churn R adds the churn to it.
    assert.deepEqual([...finishedKeys(file, 10).results.values()].map((r) => [r.services, r.churn?.changesPerSecond]), [[10, undefined], [100, 10], [1000, 50]]);
    // --churn-kernel: a churn cell where the kernel's apply was not asked for runs again.
    writeFileSync(file, [
      line(10, { churn: { changesPerSecond: 10, kernelApply: { notIncluded: kChurnKernelNotAsked } } }),
      line(100, { churn: { changesPerSecond: 10, kernelApply: { included: 'nftables' } } }),
      line(1000, { churn: { changesPerSecond: 10, kernelApply: { notIncluded: 'needs root (a network namespace per backend)' } } }),
      line(30000, { churn: { changesPerSecond: 10 } }),
    ].join('\n') + '\n');
    assert.deepEqual([...finishedKeys(file, 10, true).keys], [cellKeyString(key(100)), cellKeyString(key(1000))]);
    assert.equal(finishedKeys(file, 10).keys.size, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
