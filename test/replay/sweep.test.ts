import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cellProblem, parseResultsJsonl } from '../../src/report/parse-results.js';
import { cellKeyString, type MachineInfo } from '../../src/report/result.js';
import { kInCacheFlows, kInCacheRuns, kWarmUpFlows, planSweep, runSweep, warmUpFlowsOf, type SweepCell } from '../../src/replay/sweep.js';
import { kModes, modeNamed } from '../../src/compile/index.js';
import { progressPrinter } from '../../src/cli/bench.js';
import { runHere } from './run-here.js';

const limits = () => ({ randomReadNs: 80, independentReadNs: 20, scanNsPerElement: 0.5, randomReadBytes: 1 << 20 });

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'kdp-sweep-'));
}

function lines(dir: string): unknown[] {
  return readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as unknown);
}

describe('sweep', () => {
  it('plans the default sweep: Services x modes at 1 worker, each workers-sweep cell right after its 1-worker twin', () => {
    const cells = planSweep({ cores: 3 });
    assert.equal(cells.length, 5 * kModes.length + 2 * kModes.length);
    assert.ok(cells.filter((c) => c.workers === 1).every((c) => c.cni === 'calico-vxlan' && c.endpointsPerService === 10));
    for (const w of [2, 3]) assert.deepEqual(cells.filter((c) => c.workers === w).map((c) => `${c.mode} ${c.services}`), kModes.map((m) => `${m.name} 1000`));
    // Target (d)'s pairs are measured back to back: each cell of W > 1 workers comes right after its twin of W - 1.
    cells.forEach((c, i) => {
      if (c.workers > 1) assert.deepEqual({ ...cells[i - 1]!, workers: c.workers }, c, `${c.mode} at ${c.workers} workers follows its cell of ${c.workers - 1}`);
    });
    assert.deepEqual(cells.filter((c) => c.workers === 1).map((c) => c.services), [...cells.filter((c) => c.workers === 1).map((c) => c.services)].sort((a, b) => a - b), 'Services counts ascend');
    assert.equal(cells.find((c) => c.mode === 'nftables' && c.services === 30000)!.flows, 1_000_000);
    assert.ok(cells.every((c) => c.flows >= 1_000_000), 'at least 1,000,000 flows in every cell of the default sweep');
    assert.equal(planSweep({ cores: 2, flows: 500 }).every((c) => c.flows === 500), true);
    const skipped: string[] = [];
    const big = planSweep({ cores: 1, services: [modeNamed('userspace').serviceLimit!.services + 1], onSkip: (w) => skipped.push(w) });
    assert.deepEqual(big.map((c) => c.mode).sort(), ['cilium', 'iptables', 'ipvs', 'nftables']);
    assert.match(skipped[0], /userspace at 50001 Services is left out/);
    const grid = planSweep({ cores: 2, services: [10], modes: ['iptables', 'ipvs'], workers: [1, 2], cnis: ['kubenet', 'calico-bgp'] });
    assert.deepEqual(grid.map((c) => `${c.cni} ${c.mode} ${c.workers}`), ['kubenet iptables 1', 'kubenet iptables 2', 'kubenet ipvs 1', 'kubenet ipvs 2', 'calico-bgp iptables 1', 'calico-bgp iptables 2', 'calico-bgp ipvs 1', 'calico-bgp ipvs 2']);
  });

  it('warms a cell up on kWarmUpFlows a worker, or, where the cost model prices a flow above twice a hash mode\'s, on what that budget buys, never under 16,384', () => {
    // The specification: a warm-up may cost at most what 2 x kWarmUpFlows flows of 12 µs cost in
    // the modes' cost model (a flow's µs: the mode's flowUs or 12, plus the Services times its
    // firstPacketUsPerService), capped at kWarmUpFlows, floored at 16,384, a worker each, and never past the cell's flows.
    const budgetUs = 2 * kWarmUpFlows * 12;
    const expected = (c: SweepCell): number => {
      const { cost } = modeNamed(c.mode);
      const flowUs = (cost.flowUs ?? 12) + c.services * cost.firstPacketUsPerService;
      return Math.min(c.flows, Math.min(kWarmUpFlows, Math.max(16_384, Math.floor(budgetUs / flowUs))) * c.workers);
    };
    const cells = planSweep({ cores: 2 });
    for (const c of cells) assert.equal(warmUpFlowsOf(c), expected(c), cellKeyString(c));
    const of = (mode: string, services: number) => warmUpFlowsOf(cells.find((c) => c.mode === mode && c.services === services && c.workers === 1)!);
    // What the budget does in the default sweep: the hash modes and the linear ones up to 1k keep the full warm-up.
    for (const m of ['ipvs', 'nftables', 'cilium']) for (const s of [10, 100, 1000, 10000, 30000]) assert.equal(of(m, s), kWarmUpFlows, `${m} at ${s}`);
    for (const m of ['iptables', 'userspace']) {
      assert.equal(of(m, 1000), kWarmUpFlows, `${m} at 1k`);
      assert.ok(of(m, 30000) < of(m, 10000) || of(m, 10000) === 16_384, `${m}: fewer at 30k than at 10k`);
      assert.ok(of(m, 30000) < kWarmUpFlows && of(m, 30000) >= 16_384, `${m} at 30k: ${of(m, 30000)}`);
    }
    assert.equal(warmUpFlowsOf({ ...cells[0]!, flows: 500 }), 500, 'never past the cell\'s flows');
    assert.equal(warmUpFlowsOf({ ...cells.find((c) => c.mode === 'ipvs')!, workers: 2 }), 2 * kWarmUpFlows, 'a worker each');
  });

  it('a cell of several runs gives each stage\'s time as the median over its runs, not the first run\'s', async () => {
    const dir = tmp();
    try {
      const cells = planSweep({ cores: 1, services: [10], modes: ['ipvs'], flows: 300, workers: [1], repeats: 3 });
      const base = runHere(cells[0]!);
      const scaled = (m: Record<string, number>, f: number) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v * f]));
      // Runs whose stages took 1x, 3x and 2x the base run's: the median is 2x (the first run's is 1x, the mean 2x too, so the mean is ruled out by the second cell below).
      const factors = [1, 3, 2];
      await runSweep({ cells, outDir: dir, command: 'test', limits, runCell: async (_c, r) => ({ ...base, run: { ...base.run, stageNs: scaled(base.run.stageNs, factors[r]!), establishedStageNs: scaled(base.run.establishedStageNs, factors[r]!) } }) });
      const [r] = lines(dir) as { packets: number; stages: Record<string, number>; establishedStages: Record<string, number> }[];
      for (const [k, v] of Object.entries(base.run.stageNs)) assert.ok(Math.abs(r!.stages[k]! - (2 * v) / r!.packets) < 1e-9, `${k}: the median of the three runs`);
      for (const [k, v] of Object.entries(base.run.establishedStageNs)) assert.ok(Math.abs(r!.establishedStages[k]! - (2 * v) / base.run.establishedPackets) < 1e-9, `${k} (established)`);
      // 1x, 1x, 4x: the median 1x, where the mean would be 2x.
      const dir2 = tmp();
      try {
        const skew = [1, 4, 1];
        await runSweep({ cells, outDir: dir2, command: 'test', limits, runCell: async (_c, r) => ({ ...base, run: { ...base.run, stageNs: scaled(base.run.stageNs, skew[r]!) } }) });
        const [q] = lines(dir2) as { packets: number; stages: Record<string, number> }[];
        assert.ok(Math.abs(q!.stages['service-nat']! - base.run.stageNs['service-nat']! / q!.packets) < 1e-9);
      } finally {
        rmSync(dir2, { recursive: true, force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--churn adds the churn benchmark to each cell: the contract\'s fields, and whether the kernel\'s apply is in them', async () => {
    const dir = tmp();
    try {
      const cells = planSweep({ cores: 1, services: [20], modes: ['ipvs', 'cilium'], flows: 300, workers: [1] });
      const summary = await runSweep({ cells, outDir: dir, command: 'test', runCell: async (c) => runHere(c), limits, churn: 6 });
      assert.equal(summary.ran, 2);
      for (const r of lines(dir) as { mode: string; churn: Record<string, unknown>; counters: Record<string, number> }[]) {
        assert.deepEqual(Object.keys(r.churn).sort(), ['bytesWrittenPerSecond', 'changesPerSecond', 'kernelApply', 'packetsToGoneEndpoints', 'programmingLatencyMs', 'syncs']);
        // Not asked for: said so, never a 0 figure.
        assert.deepEqual(Object.keys(r.churn.kernelApply as object), ['notIncluded']);
        assert.match((r.churn.kernelApply as { notIncluded: string }).notIncluded, /not asked for/);
        assert.deepEqual(Object.keys(r.churn.programmingLatencyMs as object).sort(), ['p50', 'p90', 'p99']);
        assert.deepEqual(Object.keys(r.churn.syncs as object).sort(), ['full', 'partial']);
        assert.equal(r.churn.changesPerSecond, 6);
        assert.ok(r.counters.churnChanges > 0 && r.counters.churnPackets > 0, `${r.mode}: the churn run changed endpoints and sent packets`);
        assert.equal(cellProblem(r), undefined, `${r.mode}: the report reads the line`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--resume --churn R adds the churn benchmark to a cell measured before and keeps its figures, without running it again', async () => {
    const dir = tmp();
    try {
      // Arrange: a sweep without churn, then the same cells with --resume --churn 6.
      const cells = planSweep({ cores: 1, services: [20], modes: ['ipvs', 'nftables'], flows: 300, workers: [1] });
      await runSweep({ cells, outDir: dir, command: 'test', runCell: async (c) => runHere(c), limits });
      const before = lines(dir) as Record<string, unknown>[];
      let runs = 0;
      // Act
      const summary = await runSweep({ cells, outDir: dir, command: 'test', runCell: async (c) => (runs++, runHere(c)), limits, churn: 6, resume: true, log: () => undefined });
      // Assert: no replay ran; each cell's last line is its first one's figures with churn added.
      assert.equal(runs, 0);
      assert.equal(summary.ran, 2);
      const after = (lines(dir) as Record<string, unknown>[]).slice(before.length);
      assert.equal(after.length, 2);
      after.forEach((r, k) => {
        const { churn, counters, ...figures } = r as { churn: { changesPerSecond: number }; counters: Record<string, number> };
        const { counters: countersBefore, ...figuresBefore } = before[k] as { counters: Record<string, number> };
        assert.deepEqual(figures, figuresBefore, 'the cell\'s figures and finishedAt kept');
        assert.equal(churn.changesPerSecond, 6);
        assert.deepEqual(Object.fromEntries(Object.entries(counters).filter(([c]) => !c.startsWith('churn'))), countersBefore);
        assert.ok(counters.churnChanges! > 0, 'the churn benchmark ran');
      });
      // A third run at another rate replaces the churn, not the figures; at the same rate, nothing runs.
      await runSweep({ cells, outDir: dir, command: 'test', runCell: async (c) => (runs++, runHere(c)), limits, churn: 3, resume: true, log: () => undefined });
      const third = (lines(dir) as { churn: { changesPerSecond: number }; newFlow: unknown }[]).slice(-2);
      assert.deepEqual(third.map((r) => r.churn.changesPerSecond), [3, 3]);
      assert.deepEqual(third.map((r) => r.newFlow), before.map((r) => r.newFlow));
      const again = await runSweep({ cells, outDir: dir, command: 'test', runCell: async (c) => (runs++, runHere(c)), limits, churn: 3, resume: true, log: () => undefined });
      assert.equal(again.skipped, 2);
      assert.equal(runs, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes one CellResult per line and machine.json, and --resume skips finished cells', async () => {
    const dir = tmp();
    try {
      const cells = planSweep({ cores: 1, services: [10, 20], modes: ['iptables', 'nftables'], flows: 300, workers: [1] });
      let runs = 0;
      const runCell = async (c: SweepCell) => {
        runs++;
        return runHere(c);
      };
      const first = await runSweep({ cells: cells.slice(0, 2), outDir: dir, command: 'test', runCell, limits, defaultSweep: true });
      assert.equal(first.ran, 2);
      assert.equal(runs, 2);
      const written = lines(dir);
      assert.equal(written.length, 2);
      for (const l of written) assert.equal(cellProblem(l), undefined);
      const machine = JSON.parse(readFileSync(join(dir, 'machine.json'), 'utf8')) as MachineInfo;
      assert.equal(typeof machine.cpuModel, 'string');
      assert.equal(machine.command, 'test');
      // How the run ended, as it ended: its wall time (target (h)) and its cells.
      const { elapsedMs, ...run } = machine.sweep!;
      assert.deepEqual(run, { cells: 2, ran: 2, skipped: 0, failed: 0, stopped: false, defaultSweep: true });
      assert.equal(elapsedMs, first.elapsedMs);

      const second = await runSweep({ cells, outDir: dir, command: 'test --resume', resume: true, runCell, limits });
      assert.equal(second.skipped, 2);
      assert.equal(second.ran, 2);
      assert.equal(runs, 4, 'only the two new cells ran');
      const keys = lines(dir).map((l) => cellKeyString(l as SweepCell));
      assert.deepEqual(keys, cells.map(cellKeyString));
      const resumed = JSON.parse(readFileSync(join(dir, 'machine.json'), 'utf8')) as MachineInfo;
      assert.deepEqual(resumed.sweep, machine.sweep, 'the first run keeps its own record');
      assert.equal(resumed.resumes?.length, 1);
      assert.equal(resumed.resumes![0]!.command, 'test --resume');
      assert.deepEqual({ ...resumed.resumes![0]!.sweep!, elapsedMs: 0 }, { elapsedMs: 0, cells: 4, ran: 2, skipped: 2, failed: 0, stopped: false, defaultSweep: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--resume --repeats N measures again a cell of fewer runs, whose new line wins, and skips one of N or more', async () => {
    const dir = tmp();
    try {
      // Arrange: the cells run once (no spread), as the default sweep runs them.
      const once = planSweep({ cores: 1, services: [10], modes: ['ipvs', 'nftables'], flows: 300, workers: [1] });
      await runSweep({ cells: once, outDir: dir, command: 'test', runCell: async (c) => runHere(c), limits });
      let runs = 0;
      const runCell = async (c: SweepCell) => (runs++, runHere(c));
      const logged: string[] = [];
      const thrice = planSweep({ cores: 1, services: [10], modes: ['ipvs', 'nftables'], flows: 300, workers: [1], repeats: 3 });
      // Act
      const again = await runSweep({ cells: thrice, outDir: dir, command: 'test --repeats 3 --resume', resume: true, runCell, limits, log: (l) => logged.push(l) });
      // Assert: both cells ran three times each, and each key's last line is the median of three.
      assert.deepEqual([again.ran, again.skipped, runs], [2, 0, 6]);
      assert.equal(logged.filter((l) => /measured again, with 3 runs \(its result in .* has 1\)/.test(l)).length, 2);
      const written = lines(dir) as { newFlow: { spread?: { runs: number } } }[];
      assert.deepEqual(written.map((r) => r.newFlow.spread?.runs ?? 1), [1, 1, 3, 3]);
      const { results } = parseResultsJsonl(readFileSync(join(dir, 'results.jsonl'), 'utf8'));
      assert.deepEqual(results.map((r) => r.newFlow.spread?.runs), [3, 3], 'the report reads the three-run lines');
      // A resume asking fewer runs than a cell has, or as many, skips it.
      const fewer = await runSweep({ cells: once, outDir: dir, command: 'test --resume', resume: true, runCell, limits, log: () => undefined });
      assert.deepEqual([fewer.ran, fewer.skipped, runs], [0, 2, 6]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('moves the progress within a cell by the flows its workers report, and the terminal bar shows them', async () => {
    const dir = tmp();
    try {
      const cells = planSweep({ cores: 1, services: [10, 20], modes: ['ipvs'], flows: 400, workers: [1] });
      const events: { kind: string; fraction: number; flowsDone?: number }[] = [];
      await runSweep({
        cells,
        outDir: dir,
        command: 'test',
        limits,
        progress: (e) => events.push({ kind: e.kind, fraction: e.fraction, ...(e.flowsDone !== undefined ? { flowsDone: e.flowsDone } : {}) }),
        runCell: async (c, _r, onFlows) => {
          for (const done of [100, 250, 400]) onFlows?.(done, 400);
          return runHere(c);
        },
      });
      assert.deepEqual(events.map((e) => e.kind), ['start', 'flows', 'flows', 'flows', 'done', 'start', 'flows', 'flows', 'flows', 'done']);
      const fractions = events.map((e) => e.fraction);
      assert.deepEqual(fractions, [...fractions].sort((a, b) => a - b), 'the bar never goes back');
      assert.ok(events[1]!.fraction > events[0]!.fraction && events[2]!.fraction > events[1]!.fraction, 'it moves within the first cell');
      assert.equal(events[3]!.fraction, events[4]!.fraction, 'all flows replayed is the cell done');

      let out = '';
      const tty = { isTTY: true, write: (s: string) => ((out += s), true) } as unknown as NodeJS.WriteStream;
      const print = progressPrinter(tty);
      print({ kind: 'flows', cell: cells[0]!, index: 0, total: 2, fraction: 0.25, etaMs: 1000, elapsedMs: 500, flowsDone: 250_000, flowsTotal: 1_065_536, repeat: 0 });
      assert.match(out, / 25%.*\(250k\/1\.07M flows\)$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops after the current cell when the signal aborts (Ctrl-C), keeping it', async () => {
    const dir = tmp();
    try {
      const cells = planSweep({ cores: 1, services: [10], modes: ['iptables', 'ipvs', 'nftables'], flows: 200, workers: [1] });
      const controller = new AbortController();
      const events: string[] = [];
      const summary = await runSweep({
        cells,
        outDir: dir,
        command: 'test',
        signal: controller.signal,
        limits,
        progress: (e) => events.push(`${e.kind} ${e.cell.mode}`),
        runCell: async (c) => {
          controller.abort(); // Ctrl-C arrives while the first cell runs
          return runHere(c);
        },
      });
      assert.equal(summary.stopped, true);
      assert.equal(summary.ran, 1);
      assert.deepEqual(events, ['start iptables', 'done iptables']);
      assert.equal(lines(dir).length, 1);
      const machine = JSON.parse(readFileSync(join(dir, 'machine.json'), 'utf8')) as MachineInfo;
      assert.deepEqual({ ...machine.sweep!, elapsedMs: 0 }, { elapsedMs: 0, cells: 3, ran: 1, skipped: 0, failed: 0, stopped: true, defaultSweep: false });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('records a failed cell and goes on', async () => {
    const dir = tmp();
    try {
      const cells = planSweep({ cores: 1, services: [10], modes: ['iptables', 'nftables'], flows: 200, workers: [1] });
      const summary = await runSweep({
        cells, outDir: dir, command: 'test', limits,
        runCell: async (c) => {
          if (c.mode === 'iptables') throw new Error('boom');
          return runHere(c);
        },
      });
      assert.equal(summary.failed, 1);
      assert.equal(summary.ran, 1);
      assert.ok(existsSync(join(dir, 'results.jsonl')));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('measures the machine\'s scaling beside cells of more than one worker, once per thread count and size, and records none where it failed', async () => {
    const dir = tmp();
    try {
      const cells = planSweep({ cores: 1, services: [10], modes: ['iptables', 'nftables'], flows: 200, workers: [1, 2] });
      const asked: string[] = [];
      const logged: string[] = [];
      let fail = false;
      const scaling = async (threads: number, bytes: number) => {
        asked.push(`${threads}|${bytes}`);
        if (fail) throw new Error('the gate timed out');
        return { threads, readSpeedup: 1.5, writeSpeedup: 1.3, computeSpeedup: 1.9 };
      };
      await runSweep({ cells, outDir: dir, command: 'test', runCell: async (c) => runHere(c), limits, scaling, log: (l) => logged.push(l) });
      const rs = lines(dir) as { mode: string; workers: number; limits: { parallel?: unknown } }[];
      for (const r of rs) {
        if (r.workers === 1) assert.equal(r.limits.parallel, undefined, `${r.mode}: one worker, no scaling`);
        else assert.deepEqual(r.limits.parallel, { threads: 2, readSpeedup: 1.5, writeSpeedup: 1.3, computeSpeedup: 1.9 });
        assert.equal(cellProblem(r), undefined);
      }
      // Two 2-worker cells with tables of one size class: measured once.
      assert.equal(asked.length, 1);
      assert.match(asked[0]!, /^2\|\d+$/);
      const again = tmp();
      try {
        fail = true;
        await runSweep({ cells: cells.filter((c) => c.workers === 2), outDir: again, command: 'test', runCell: async (c) => runHere(c), limits, scaling, log: (l) => logged.push(l) });
        assert.ok((lines(again) as { limits: { parallel?: unknown } }[]).every((r) => r.limits.parallel === undefined), 'a failed measurement is missing, never a figure');
        assert.ok(logged.some((l) => /scaling on 2 threads was not measured: the gate timed out/.test(l)));
      } finally {
        rmSync(again, { recursive: true, force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('replays each 1-worker cell once more with few flows, its tables in cache, and records none where it failed', async () => {
    const dir = tmp();
    try {
      // kube-proxy's conntrack sizing in the cells: the replay in cache sizes its tables to its flows.
      const cells = planSweep({ cores: 1, services: [10], modes: ['iptables', 'ipvs'], flows: kInCacheFlows + 400, workers: [1, 2], conntrack: 'kube-proxy' });
      const asked: SweepCell[] = [];
      let fail = false;
      const logged: string[] = [];
      const inCacheRun = async (c: SweepCell) => {
        asked.push(c);
        if (fail) throw new Error('the worker died');
        return runHere(c);
      };
      await runSweep({ cells, outDir: dir, command: 'test', runCell: async (c) => runHere(c), limits, scaling: async (threads) => ({ threads, readSpeedup: 1, writeSpeedup: 1, computeSpeedup: 1 }), inCacheRun, log: (l) => logged.push(l) });
      // The 1-worker cells only, each its own key with kInCacheFlows flows.
      assert.deepEqual([...new Set(asked.map((c) => `${c.mode} ${c.workers} ${c.flows}`))].sort(), [`iptables 1 ${kInCacheFlows}`, `ipvs 1 ${kInCacheFlows}`]);
      assert.equal(asked.length, 2 * kInCacheRuns);
      assert.ok(asked.every((c) => c.conntrack === 'fit'), 'tables sized to the few flows');
      const rs = lines(dir) as { mode: string; workers: number; established: { nsPerPacket: number; inCache?: { flows: number; nsPerPacket: number; conntrackBytes: number } } }[];
      for (const r of rs) {
        assert.equal(cellProblem(r), undefined);
        if (r.workers !== 1) {
          assert.equal(r.established.inCache, undefined, `${r.mode}: two workers, no in-cache figure`);
          continue;
        }
        const ic = r.established.inCache!;
        assert.equal(ic.flows, kInCacheFlows);
        assert.ok(ic.nsPerPacket > 0 && ic.conntrackBytes > 0, JSON.stringify(ic));
      }
      const again = tmp();
      try {
        fail = true;
        await runSweep({ cells: cells.filter((c) => c.workers === 1), outDir: again, command: 'test', runCell: async (c) => runHere(c), limits, inCacheRun, log: (l) => logged.push(l) });
        assert.ok((lines(again) as { established: { inCache?: unknown } }[]).every((r) => r.established.inCache === undefined), 'a failed replay is missing, never a figure');
        assert.ok(logged.some((l) => /the replay with 2000 flows failed, its figure is missing: the worker died/.test(l)));
      } finally {
        rmSync(again, { recursive: true, force: true });
      }
      assert.match(cellProblem({ ...(rs[0] as object), established: { ...rs[0]!.established, inCache: { flows: 2000 } } }) ?? '', /established.inCache is not/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the report refuses a malformed machine scaling figure', () => {
    const cell = { schema: 1, mode: 'ipvs', cni: 'calico-vxlan', finishedAt: 'x', decisionChecksum: 'x', services: 1, endpointsPerService: 1, workers: 2, flows: 1, seed: 1, zipf: 0, packets: 1, wireBytes: 1, gbitPerSecond: 1,
      newFlow: { nsPerFlow: 1, perSecond: 1 }, established: { packetsPerSecond: 1, nsPerPacket: 1 }, sync: { fullMs: 1, oneEndpointMs: 1, oneEndpointRewrittenBytes: 1 }, memory: { tableBytes: 1, conntrackBytesPerEntry: 1 } };
    assert.equal(cellProblem({ ...cell, limits: { randomReadNs: 1, scanNsPerElement: 1, parallel: { threads: 2, readSpeedup: 1.5, writeSpeedup: 1.3, computeSpeedup: 2 } } }), undefined);
    assert.match(cellProblem({ ...cell, limits: { randomReadNs: 1, scanNsPerElement: 1, parallel: { threads: 2, readSpeedup: '1.5', writeSpeedup: 1.3, computeSpeedup: 2 } } }) ?? '', /limits\.parallel is not/);
    assert.match(cellProblem({ ...cell, limits: { randomReadNs: 1, scanNsPerElement: 1, parallel: { threads: 2, readSpeedup: 1.5, computeSpeedup: 2 } } }) ?? '', /limits\.parallel is not/);
  });
});
