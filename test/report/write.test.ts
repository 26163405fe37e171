import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { parseResultsJsonl } from '../../src/report/parse-results.js';
import { writeReport } from '../../src/report/write.js';
import { kSyntheticMachine, syntheticCell, syntheticSweep } from './synthetic.js';

const root = mkdtempSync(join(tmpdir(), 'kdp-report-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
function dir(lines: string[], machine?: string): string {
  const d = join(root, `case-${n++}`);
  mkdirSync(join(d, 'results'), { recursive: true });
  writeFileSync(join(d, 'results', 'results.jsonl'), lines.map((l) => `${l}\n`).join(''));
  if (machine !== undefined) writeFileSync(join(d, 'results', 'machine.json'), machine);
  return d;
}

describe('parseResultsJsonl', () => {
  it('keeps the last line for each cell key', () => {
    const a = syntheticCell({ mode: 'ipvs', services: 100, nsPerFlow: 111 });
    const b = syntheticCell({ mode: 'ipvs', services: 100, nsPerFlow: 222 });
    const other = syntheticCell({ mode: 'ipvs', services: 100, seed: 2 });
    const p = parseResultsJsonl([a, other, b].map((c) => JSON.stringify(c)).join('\n'));
    assert.equal(p.results.length, 2);
    assert.equal(p.results.find((r) => r.seed === 1)!.newFlow.nsPerFlow, 222);
    assert.equal(p.superseded, 1);
  });

  it('reports malformed lines with their line numbers and skips blank ones', () => {
    const good = JSON.stringify(syntheticCell({ mode: 'ipvs', services: 100 }));
    const { services: _s, ...noServices } = syntheticCell({ mode: 'ipvs', services: 10 });
    const text = [good, '', '{"schema":1,"mode":"ipv', JSON.stringify(noServices), '[1,2]', JSON.stringify({ ...JSON.parse(good), schema: 2 }), good].join('\n');
    const p = parseResultsJsonl(text);
    assert.equal(p.results.length, 1);
    assert.deepEqual(p.malformed.map((m) => m.line), [3, 4, 5, 6]);
    assert.match(p.malformed[0]!.reason, /^not JSON/);
    assert.equal(p.malformed[1]!.reason, 'services is not a number');
    assert.equal(p.malformed[2]!.reason, 'not a JSON object');
    assert.match(p.malformed[3]!.reason, /schema 2 is not supported/);
  });
});

describe('writeReport', () => {
  it('writes the Markdown and charts, last line winning, and warns about malformed lines', () => {
    const cells = syntheticSweep();
    const stale = syntheticCell({ mode: 'iptables', services: 30000, nsPerFlow: 1 });
    const d = dir([JSON.stringify(stale), ...cells.map((c) => JSON.stringify(c)), 'garbage'], JSON.stringify(kSyntheticMachine));
    const out = join(d, 'BENCHMARKS.md');
    const charts = join(d, 'bench', 'charts');
    const r = writeReport({ resultsDir: join(d, 'results'), outFile: out, chartsDir: charts });
    assert.equal(r.cells, cells.length);
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /skipped 1 malformed line \(line 24: not JSON/);
    const md = readFileSync(out, 'utf8');
    assert.match(md, /\| 30k \| 1 \| 45\.2 µs/, 'the later line for the 30k iptables cell wins');
    assert.match(md, /line 24: not JSON/);
    assert.match(md, /\]\(bench\/charts\/first-packet-cost\.svg\)/);
    assert.deepEqual(readdirSync(charts).sort(), r.chartFiles.map((f) => f.slice(charts.length + 1)).sort());
    assert.ok(readdirSync(d).every((f) => !f.includes('.tmp-')), 'no temporary file is left behind');
  });

  it('says why a kernel point is missing, from kernel-missing.jsonl, and that it does not know when nothing was recorded', () => {
    const kernel = [10, 100, 1000].map((services) => syntheticCell({ mode: 'kernel-nftables', services, nsPerFlow: 2000 }));
    const d = dir([...syntheticSweep(), ...kernel].map((c) => JSON.stringify(c)), JSON.stringify(kSyntheticMachine));
    const gone = { mode: 'kernel-nftables', services: 30000, endpointsPerService: 10, seed: 1, why: 'failed: nft -f timed out after 600 s', at: '2026-12-02T16:00:00.000Z' };
    writeFileSync(join(d, 'results', 'kernel-missing.jsonl'), `${JSON.stringify(gone)}\nnot json\n`);
    const out = join(d, 'B.md');
    const r = writeReport({ resultsDir: join(d, 'results'), outFile: out, chartsDir: join(d, 'charts') });
    const md = readFileSync(out, 'utf8');
    assert.match(md, /### Kernel points not measured/);
    assert.match(md, /\*\*kernel-nftables\*\* at 30k Services: not measured, failed: nft -f timed out after 600 s\./);
    assert.match(md, /\*\*kernel-nftables\*\* at 10k Services: not measured, not asked for by the `kdp bench --kernel` runs/);
    assert.doesNotMatch(md, /kernel-nftables\*\* at (10|100|1k) Services/, 'measured points are not listed');
    assert.ok(r.warnings.some((w) => /kernel-missing\.jsonl line 2: skipped/.test(w)), r.warnings.join('; '));
    const without = dir(syntheticSweep().map((c) => JSON.stringify(c)), JSON.stringify(kSyntheticMachine));
    writeReport({ resultsDir: join(without, 'results'), outFile: join(without, 'B.md'), chartsDir: join(without, 'charts') });
    assert.doesNotMatch(readFileSync(join(without, 'B.md'), 'utf8'), /Kernel points not measured/, 'no kernel baseline asked for, no gap to explain');
  });

  it('removes its own charts that a new report no longer draws', () => {
    const d = dir(syntheticSweep().map((c) => JSON.stringify(c)));
    const charts = join(d, 'charts');
    writeReport({ resultsDir: join(d, 'results'), outFile: join(d, 'B.md'), chartsDir: charts });
    assert.ok(existsSync(join(charts, 'workers-established.svg')));
    writeFileSync(join(charts, 'mine.svg'), '<svg/>');
    writeFileSync(join(d, 'results', 'results.jsonl'), syntheticSweep().filter((c) => c.workers === 1).map((c) => JSON.stringify(c)).join('\n'));
    writeReport({ resultsDir: join(d, 'results'), outFile: join(d, 'B.md'), chartsDir: charts });
    assert.ok(!existsSync(join(charts, 'workers-established.svg')));
    assert.ok(existsSync(join(charts, 'mine.svg')));
    assert.match(readFileSync(join(d, 'B.md'), 'utf8'), /\]\(charts\/first-packet-cost\.svg\)/);
  });

  it('writes "no results yet" for an empty results file, and ignores a broken machine.json with a warning', () => {
    const d = dir([], '{"cpuModel": 5}');
    const r = writeReport({ resultsDir: join(d, 'results'), outFile: join(d, 'B.md'), chartsDir: join(d, 'charts') });
    assert.match(readFileSync(join(d, 'B.md'), 'utf8'), /No results yet/);
    assert.deepEqual(r.chartFiles, []);
    assert.match(r.warnings.join('\n'), /machine\.json: ignored, cpuModel is not a string/);
  });
});

describe('kdp report', () => {
  const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const report = (...args: string[]) => spawnSync(process.execPath, [kdp, 'report', ...args], { encoding: 'utf8' });

  it('writes where it was told and says so', () => {
    const d = dir(syntheticSweep().map((c) => JSON.stringify(c)));
    const r = report('--results', join(d, 'results'), '--out', join(d, 'out.md'), '--charts', join(d, 'c'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^Wrote .*out\.md \(22 cells\) and 6 charts/);
    assert.ok(existsSync(join(d, 'out.md')));
  });

  it('with --out and no --charts, puts the charts beside the report, never in the project\'s bench/charts', () => {
    const d = dir(syntheticSweep().map((c) => JSON.stringify(c)));
    // Run from a directory that holds a bench/charts of its own, as the project does.
    mkdirSync(join(d, 'bench', 'charts'), { recursive: true });
    writeFileSync(join(d, 'bench', 'charts', 'first-packet-cost.svg'), '<svg>the project\'s</svg>');
    const r = spawnSync(process.execPath, [kdp, 'report', '--results', join(d, 'results'), '--out', join(d, 'elsewhere', 'B.md')], { encoding: 'utf8', cwd: d });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(join(d, 'bench', 'charts', 'first-packet-cost.svg'), 'utf8'), '<svg>the project\'s</svg>');
    assert.ok(existsSync(join(d, 'elsewhere', 'charts', 'first-packet-cost.svg')));
    assert.match(readFileSync(join(d, 'elsewhere', 'B.md'), 'utf8'), /\]\(charts\/first-packet-cost\.svg\)/);
  });

  it('exits 2 for bad usage and unreadable input, 0 for --help', () => {
    let r = report('--nope');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--help/);
    r = report('positional');
    assert.equal(r.status, 2);
    r = report('--results', join(root, 'does-not-exist'), '--out', join(root, 'x.md'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no results file at .*does-not-exist/);
    assert.ok(!existsSync(join(root, 'x.md')));
    r = report('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage: kdp report/);
  });
});
