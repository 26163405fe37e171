/**
 * `kdp bench --conntrack kube-proxy`: a sweep cell whose nodes' tables are nf_conntrack_max as
 * kube-proxy leaves it fills them and drops new flows, where the same cell sized to fit drops
 * none (issue 21 item 7). The oracle for the size is written from the sources, not from the code:
 * the synthetic Nodes give no status.capacity, so the kernel's default on a node with more than
 * 4 GiB (nf_conntrack_core.c, Linux 5.15+: 262144) is above kube-proxy's max(32768 x 1 CPU,
 * 131072) and stays (kube-proxy only raises it); the replay's two nodes, split over W workers as
 * RSS splits one table's flows over cores, hold 2 x 262144 entries in all.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kReplayNodes } from '../../src/replay/replay.js';
import { planSweep, runSweep } from '../../src/replay/sweep.js';
import { cellProblem } from '../../src/report/parse-results.js';
import { cellKeyString, type CellResult } from '../../src/report/result.js';
import { renderReport } from '../../src/report/markdown.js';
import { servicesSweep } from '../../src/report/select.js';
import { runHere } from './run-here.js';

const kKernelDefaultAbove4GiB = 262144;
const limits = () => ({ randomReadNs: 80, independentReadNs: 20, scanNsPerElement: 0.5, randomReadBytes: 1 << 20 });

test("a sweep cell with kube-proxy's conntrack sizing fills its tables and drops; the same cell sized to fit drops nothing", async () => {
  // Arrange: 450,000 flows over 2 nodes (about 1.5 entries per flow) overflow 2 x 262144 entries.
  const dir = mkdtempSync(join(tmpdir(), 'kdp-ct-'));
  try {
    const plan = { cores: 1, services: [10], modes: ['iptables' as const], flows: 450_000, workers: [2] };
    const [fit] = planSweep(plan);
    const [kubeProxy] = planSweep({ ...plan, conntrack: 'kube-proxy' });
    assert.notEqual(cellKeyString(fit!), cellKeyString(kubeProxy!), 'the sizing is part of the key');
    // Act: the fit cell, then a resumed sweep of both (only the kube-proxy cell is new).
    await runSweep({ cells: [fit!], outDir: dir, command: 'test', runCell: async (c) => runHere(c, { stageTiming: false }), limits });
    const resumed = await runSweep({ cells: [fit!, kubeProxy!], outDir: dir, command: 'test', resume: true, runCell: async (c) => runHere(c, { stageTiming: false }), limits });
    // Assert
    assert.deepEqual([resumed.skipped, resumed.ran], [1, 1], '--resume keeps the two sizings apart');
    const results = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CellResult);
    for (const r of results) assert.equal(cellProblem(r), undefined);
    const byHow = new Map(results.map((r) => [r.conntrack, r]));
    const k = byHow.get('kube-proxy')!.counters!;
    const f = byHow.get('fit')!.counters!;
    assert.equal(k.conntrackCapacity, kReplayNodes * kKernelDefaultAbove4GiB, "each worker holds 1/W of each node's table");
    // A drop for want of room happens only with the node's table at nf_conntrack_max; the tables end
    // (nearly) full: flows closed after the last drop free their entries.
    assert.ok((k['drop:conntrack-full'] ?? 0) > 0, `table full, dropping packet: ${JSON.stringify(k)}`);
    assert.ok(k.conntrackEntries! > 0.99 * k.conntrackCapacity!, `the tables ended full: ${k.conntrackEntries} of ${k.conntrackCapacity}`);
    assert.equal(f['drop:conntrack-full'], undefined, 'sized to fit, no flow finds the table full');
    assert.ok(f.conntrackEntries! < f.conntrackCapacity!);
    // The report keeps them apart and shows the drops.
    const rows = renderReport(results, undefined).markdown.split('\n').filter((l) => l.startsWith('| ')).map((l) => l.split('|').slice(1, -1).map((c) => c.trim()));
    const head = rows.find((r) => r.includes('dropped: conntrack full'))!;
    assert.ok(head, 'the mode table has a drops column');
    const [how, drops] = [head.indexOf('Conntrack'), head.indexOf('dropped: conntrack full')];
    const shown = new Map(rows.filter((r) => r.length === head.length && r !== head).map((r) => [r[how], r[drops]]));
    assert.equal(shown.get('fit'), '0');
    assert.ok(shown.has('kube-proxy') && !['0', '—'].includes(shown.get('kube-proxy')!), JSON.stringify([...shown]));
    // The Services sweep (charts, observations) draws the cells sized to fit, whichever line came last.
    assert.deepEqual(servicesSweep([...results].reverse()).map((r) => r.conntrack), ['fit']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
