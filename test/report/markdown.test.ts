import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { renderReport } from '../../src/report/index.js';
import { kSyntheticMachine, syntheticCell, syntheticSweep } from './synthetic.js';

describe('renderReport', () => {
  it('renders an honest "no results yet" document for no results', () => {
    const r = renderReport([], undefined, {});
    assert.match(r.markdown, /^# kdp benchmarks/);
    assert.match(r.markdown, /No results yet/);
    assert.match(r.markdown, /the kernel baseline was not measured \(needs root\)/);
    assert.doesNotMatch(r.markdown, /## Targets|✅|❌/);
    assert.deepEqual(r.charts, []);
  });

  it('shows a field group a cell did not measure as missing, not as 0 (the kernel baseline)', () => {
    const kernel = syntheticCell({ mode: 'kernel-iptables', services: 100, nsPerFlow: 900 });
    const unmeasured = { ...kernel, established: { packetsPerSecond: 0, nsPerPacket: 0 }, gbitPerSecond: 0, counters: { ...kernel.counters, measuredEstablished: 0, measuredOneEndpointSync: 0, measuredMemory: 0 } };
    const row = renderReport([unmeasured], undefined, {}).markdown.split('\n').find((l) => l.startsWith('| 100 |'))!;
    assert.ok(row, 'no row for the kernel cell');
    assert.doesNotMatch(row, /\b0 pps\b|\| 0 ns \||\| 0 B \|/);
    assert.equal(row.split('|').filter((c) => c.trim() === '—').length, 7, row);
    const measuredRow = renderReport([kernel], undefined, {}).markdown.split('\n').find((l) => l.startsWith('| 100 |'))!;
    assert.equal(measuredRow.split('|').filter((c) => c.trim() === '—').length, 0, measuredRow);
  });

  it('marks a cilium cell past bpf-lb-map-max, or past Cilium\'s default of it, in the mode table', () => {
    const figures = (entries: number, max: number, unprogrammed: number) => ({ maglevBuildUsPerService: 900, maglevTableBytesPerService: 65524, lbMapEntries: entries, lbMapMax: max, lbMapUnprogrammed: unprogrammed });
    const md = renderReport([
      syntheticCell({ mode: 'cilium', services: 1000, modeFigures: figures(21683, 65536, 0) }),
      syntheticCell({ mode: 'cilium', services: 10000, modeFigures: figures(219640, 262144, 0) }),
      syntheticCell({ mode: 'cilium', services: 30000, modeFigures: figures(660000, 65536, 27000) }),
    ], undefined, {}).markdown.split('\n');
    const row = (s: string) => md.find((l) => l.startsWith(`| ${s} |`))!;
    assert.match(row('1k'), /\| 21\.7k \(65\.5k\) \|$/);
    assert.match(row('10k'), /\| 220k \(262k\): beyond Cilium's default 65\.5k, bpf-lb-map-max raised \|$/);
    assert.match(row('30k'), /\| 660k \(65\.5k\): beyond bpf-lb-map-max, 27k frontends not programmed \|$/);
  });

  it('has every section, with the machine, targets and charts linked from the repo root', () => {
    const r = renderReport(syntheticSweep(), kSyntheticMachine, {});
    for (const h of ['## How it was measured', '## The machine', '## Targets', '## Observations', '## Charts', '## Results by mode', '### iptables', '### ipvs', '### nftables', '### userspace']) {
      assert.ok(r.markdown.includes(`\n${h}\n`), h);
    }
    assert.match(r.markdown, /`npm run bench`/);
    assert.match(r.markdown, /\| CPU \| Synthetic CPU \(test data\) \|/);
    assert.match(r.markdown, /kdp cells: medians of [0-9, ]*5 runs/);
    assert.match(r.markdown, /## Where the time goes \(profile\)\n\nNo profile was taken/);
    assert.match(r.markdown, /the kernel baseline was not measured \(needs root\)/);
    assert.match(r.markdown, /\| \(a\) iptables scan ≤ 1 ns per rule traversed[^|]*\| ❌ missed \| 1\.6 ns\/rule at 30k Services/);
    for (const c of r.charts) assert.ok(r.markdown.includes(`](bench/charts/${c.file})`), c.file);
    assert.equal(r.charts.length, 6);
  });

  it('says where the time goes from a profile summary', () => {
    const profile = {
      command: 'npm run profile',
      date: '2026-01-01T00:00:00Z',
      profiles: [{ mode: 'nftables', services: 10000, flows: 200000, scope: 'replay only', totalMs: 2000, byFile: [{ name: 'src/dataplane/prerouting.js', ms: 340, share: 0.17 }], byFunction: [{ name: 'prerouting src/dataplane/prerouting.js:6', ms: 340, share: 0.17 }] }],
    };
    const r = renderReport(syntheticSweep(), kSyntheticMachine, { profile });
    assert.match(r.markdown, /### nftables, 10,000 Services, 200,000 flows \(replay only\)/);
    assert.match(r.markdown, /\| `src\/dataplane\/prerouting\.js` \| 340 ms \| 17\.0 % \|/);
  });

  it('formats numbers for people and shows spreads in the tables', () => {
    const r = renderReport(syntheticSweep(), kSyntheticMachine, {});
    assert.match(r.markdown, /\| 30k \| 1 \| 45\.2 µs \(40\.7 µs–54\.2 µs\) \| 22\.1 k\/s \| 10 Mpps \(9\.5 Mpps–10\.5 Mpps\) \| 100 ns \|/);
    assert.doesNotMatch(r.markdown, /NaN|undefined|Infinity/);
  });

  it('names a missing machine, and prints reading warnings', () => {
    const r = renderReport([syntheticCell({ mode: 'ipvs', services: 100 })], undefined, { warnings: ['line 3: not JSON'], chartsPath: 'charts/' });
    assert.match(r.markdown, /`machine\.json` was not found/);
    assert.match(r.markdown, /> - line 3: not JSON/);
    assert.match(r.markdown, /Throughput vs workers: not measured/);
  });

  it('adds a kdp/kernel table when kernel baselines exist', () => {
    const cells = [...syntheticSweep(), ...[10, 1000].map((services) => syntheticCell({ mode: 'kernel-iptables', services, nsPerFlow: 100 + services }))];
    const r = renderReport(cells, kSyntheticMachine, {});
    assert.match(r.markdown, /### kdp vs the kernel, per point/);
    assert.match(r.markdown, /### kernel-iptables \(Linux kernel baseline\)/);
    assert.doesNotMatch(r.markdown, /not measured \(needs root\)/);
  });

  it('says how the workers got the compiled tables, from the cells\' counters', () => {
    const shared = (workerCompiledNodes: number) => syntheticSweep().map((c) => ({ ...c, counters: { ...c.counters, workerCompiledNodes, packMs: 12.5, attachMs: 0.4 } }));
    assert.match(renderReport(shared(0), kSyntheticMachine, {}).markdown, /\*\*Compiled tables:\*\* each cell's rules compiled once per node on the main thread .*at most 12\.5 ms a cell\).*at most 400 µs\); no worker compiled a rule\./);
    assert.match(renderReport(shared(1), kSyntheticMachine, {}).markdown, /\*\*Compiled tables:\*\* workers compiled \d+ node\(s\) themselves/);
    assert.match(renderReport(syntheticSweep(), kSyntheticMachine, {}).markdown, /\*\*Compiled tables:\*\* not recorded/);
    const warmed = syntheticSweep().map((c) => ({ ...c, counters: { ...c.counters, warmUpFlows: 65536 } }));
    assert.match(renderReport(warmed, kSyntheticMachine, {}).markdown, /\*\*Warm-up:\*\* before its first timed run, each kdp cell replayed 65\.5k flows untimed/);
    assert.doesNotMatch(renderReport(warmed, kSyntheticMachine, {}).markdown, /of them again/);
    const revisited = syntheticSweep().map((c) => ({ ...c, counters: { ...c.counters, warmUpFlows: 131072, warmUpRevisitFlows: 16384 } }));
    assert.match(renderReport(revisited, kSyntheticMachine, {}).markdown, /replayed 131k flows untimed on the same worker threads, then the first 16\.4k of them again with conntrack emptied and the rules' state kept/);
    assert.doesNotMatch(renderReport(syntheticSweep(), kSyntheticMachine, {}).markdown, /Warm-up/);
    const built = syntheticSweep().map((c, i) => ({ ...c, counters: { ...c.counters, fullBuilds: i === 0 ? 2 : 3 } }));
    assert.match(renderReport(built, kSyntheticMachine, {}).markdown, /\*\*Full build:\*\* each kdp cell's "sync full" is the median of 2 to 3 builds of node 0's rules/);
    assert.doesNotMatch(renderReport(syntheticSweep(), kSyntheticMachine, {}).markdown, /Full build:/);
  });

  it('is deterministic', () => {
    assert.equal(renderReport(syntheticSweep(), kSyntheticMachine, {}).markdown, renderReport(syntheticSweep(), kSyntheticMachine, {}).markdown);
  });
});
