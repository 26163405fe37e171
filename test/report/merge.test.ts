/**
 * Merging results sources: cells grouped by the machine that measured them and never compared
 * across machines; planned cells without results listed with the reason; logs of `kdp bench
 * --stdout` read back run by run.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { renderMerged, renderReport } from '../../src/report/markdown.js';
import { machineClass, mergeSources, parseResultsLog, type ResultSource } from '../../src/report/merge.js';
import { shardOfKey, type PlanLine } from '../../src/report/plan.js';
import { cellKeyString, type CellResult, type MachineInfo } from '../../src/report/result.js';
import { kSyntheticMachine, syntheticCell, syntheticSweep } from './synthetic.js';

function planOf(cells: readonly CellResult[], shards?: number): PlanLine[] {
  return cells.map((c) => {
    const key = cellKeyString(c);
    return { key, mode: c.mode, services: c.services, endpointsPerService: c.endpointsPerService, cni: c.cni, workers: c.workers, flows: c.flows, seed: c.seed, zipf: c.zipf, repeats: 1, estimateSeconds: 1, estimateBasis: 'model' as const, ...(shards ? { shard: shardOfKey(key, shards), shards } : {}) };
  });
}

const other: MachineInfo = { ...kSyntheticMachine, cpuModel: 'Another CPU (test data)' };

describe('machineClass', () => {
  it('tells machines apart by hardware, runtime and commit, not by date, command, node name or a few kB of memory', () => {
    const m = kSyntheticMachine;
    assert.equal(machineClass({ ...m, date: 'later', command: 'kdp bench --shard 3/8', kubernetesNode: 'node-7', shard: { index: 3, count: 8 }, memoryBytes: m.memoryBytes - 400_000 }), machineClass(m));
    for (const change of [{ cpuModel: 'x' }, { cores: 4 }, { memoryBytes: m.memoryBytes * 2 }, { node: 'v22.0.0' }, { platform: 'darwin' }, { kernel: '6.1' }, { gitCommit: '1111111' }]) {
      assert.notEqual(machineClass({ ...m, ...change }), machineClass(m), JSON.stringify(change));
    }
    assert.equal(machineClass(undefined), 'unknown');
  });
});

describe('mergeSources', () => {
  const sweep = syntheticSweep();

  it('keeps like machines in one group and unlike ones apart, the newer of two measurements of a cell winning', () => {
    const older = syntheticCell({ mode: 'ipvs', services: 10, nsPerFlow: 1, finishedAt: '2000-01-01T00:00:00.000Z' });
    const newer = syntheticCell({ mode: 'ipvs', services: 10, nsPerFlow: 2, finishedAt: '2000-01-02T00:00:00.000Z' });
    const m = mergeSources([
      { label: 'a', results: [newer, ...sweep.slice(2, 5)], machine: { ...kSyntheticMachine, shard: { index: 0, count: 2 } } },
      { label: 'b', results: [older, ...sweep.slice(5, 9)], machine: { ...kSyntheticMachine, date: 'x', shard: { index: 1, count: 2 } } },
      { label: 'c', results: sweep.slice(9, 12), machine: other },
    ]);
    assert.equal(m.groups.length, 2);
    assert.deepEqual(m.groups[0]!.sources, ['a', 'b']);
    assert.equal(m.groups[0]!.results.length, 1 + 3 + 4);
    assert.equal(m.groups[0]!.results.find((r) => r.mode === 'ipvs' && r.services === 10)!.newFlow.nsPerFlow, 2);
    assert.deepEqual(m.groups[1]!.sources, ['c']);
    assert.equal(m.groups[1]!.results.length, 3);
  });

  it('lists planned cells no source holds, saying whether their shard left nothing or did not finish them', () => {
    const plan = planOf(sweep, 4);
    const byShard = (i: number) => sweep.filter((c) => shardOfKey(cellKeyString(c), 4) === i);
    assert.ok([0, 1, 2, 3].every((i) => byShard(i).length > 0), 'this sweep puts cells in every shard');
    const sources: ResultSource[] = [0, 1, 2].map((i) => ({
      label: `shard-${i}`,
      // Shard 1 lost its first cell; shard 3 left nothing at all.
      results: i === 1 ? byShard(1).slice(1) : byShard(i),
      machine: { ...kSyntheticMachine, shard: { index: i, count: 4 } },
      plan,
    }));
    const m = mergeSources(sources);
    assert.equal(m.planned, sweep.length);
    assert.deepEqual(m.missing.map((x) => x.cell.key).sort(), [cellKeyString(byShard(1)[0]!), ...byShard(3).map(cellKeyString)].sort());
    for (const x of m.missing) assert.match(x.why, x.cell.shard === 3 ? /^shard 3\/4 left no results/ : /^shard 1\/4 did not finish it.*--shard 1\/4 --resume/);
    assert.deepEqual(m.warnings, []);
  });

  it('with an unsharded plan, a missing cell is one the sweep did not finish; plans that differ are a warning', () => {
    const m = mergeSources([
      { label: 'x', results: sweep.slice(1), machine: kSyntheticMachine, plan: planOf(sweep) },
      { label: 'y', results: [], machine: kSyntheticMachine, plan: planOf(sweep.slice(0, 3)) },
    ]);
    assert.deepEqual(m.missing.map((x) => x.cell.key), [cellKeyString(sweep[0]!)]);
    assert.match(m.missing[0]!.why, /^not finished/);
    assert.match(m.warnings.join('\n'), /the plans of x and y differ/);
    assert.deepEqual(mergeSources([{ label: 'z', results: sweep }]).missing, [], 'no plan, nothing to call missing');
  });
});

describe('renderMerged', () => {
  const sweep = syntheticSweep();

  it('reports each unlike machine on its own: each section is exactly that machine\'s report alone', () => {
    const a = sweep.filter((c) => c.mode !== 'userspace');
    const b = sweep.filter((c) => c.mode === 'userspace' || c.mode === 'iptables').map((c) => ({ ...c, newFlow: { ...c.newFlow, nsPerFlow: c.newFlow.nsPerFlow * 3 } }));
    const merged = mergeSources([{ label: 'one', results: a, machine: kSyntheticMachine }, { label: 'two', results: b, machine: other }]);
    const r = renderMerged(merged, { chartsPath: 'charts' });
    assert.match(r.markdown, /measured on 2 unlike machines.*does not put cells from unlike machines into one ratio/);
    const sections = r.markdown.split(/^## Machine \d: .*$/m).slice(1);
    assert.equal(sections.length, 2);
    for (const [i, [cells, machine]] of ([[a, kSyntheticMachine], [b, other]] as const).entries()) {
      const alone = renderReport(cells, machine, { chartsPath: `charts/machine-${i + 1}`, source: i === 0 ? 'one' : 'two' });
      const shifted = alone.markdown.split('\n').slice(4).map((l) => (l.startsWith('#') ? `#${l}` : l)).join('\n');
      assert.equal(sections[i]!.trim(), shifted.trim());
    }
    assert.ok(r.charts.length > 0 && r.charts.every((c) => /^machine-[12]\//.test(c.file)));
  });

  it('one machine: the report of its cells, with the missing cells listed first', () => {
    const plan = planOf(sweep);
    const merged = mergeSources([{ label: 'one', results: sweep.slice(2), machine: kSyntheticMachine, plan }]);
    const r = renderMerged(merged);
    assert.match(r.markdown, /## Missing cells\n\n2 planned cells have no result/);
    assert.equal(r.markdown.replace(/## Missing cells[\s\S]*?\n\n(?=Every figure)/, ''), renderReport(sweep.slice(2), kSyntheticMachine).markdown);
  });
});

describe('parseResultsLog', () => {
  it('reads each run of a kubectl log: machine line, plan, results; skips progress, prefixes and torn lines', () => {
    const [c1, c2, c3] = syntheticSweep();
    const plan = planOf([c1!, c2!, c3!], 2);
    const log = [
      'kdp bench: shard 0/2: 2 of the sweep\'s 3 cells',
      JSON.stringify({ machine: { ...kSyntheticMachine, shard: { index: 0, count: 2 } } }),
      ...plan.map((p) => JSON.stringify({ plan: p })),
      '[##########..............]  40% cell 1/2',
      JSON.stringify(c1),
      `[pod/kdp-bench-0-abcde/kdp] ${JSON.stringify(c2)}`,
      JSON.stringify({ machine: { ...kSyntheticMachine, shard: { index: 1, count: 2 } } }),
      JSON.stringify({ plan: { ...plan[0], shard: (plan[0]!.shard! + 1) % 2 } }),
      JSON.stringify(c3).slice(0, 40),
    ].join('\n');
    const { sources, warnings } = parseResultsLog(log, 'kdp.log');
    assert.equal(sources.length, 2);
    assert.deepEqual(sources[0]!.results.map(cellKeyString), [c1, c2].map((c) => cellKeyString(c!)));
    assert.equal(sources[0]!.plan!.length, 3);
    assert.deepEqual(sources[0]!.machine!.shard, { index: 0, count: 2 });
    assert.equal(sources[1]!.results.length, 0);
    assert.equal(sources[1]!.plan, undefined);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /kdp\.log line 10: plan line skipped, shard \d is not the key's shard of 2/);
    assert.match(warnings[1]!, /kdp\.log line 11: not JSON/);
  });
});
