import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { buildCharts } from '../../src/report/charts.js';
import { formatCount, formatMs, formatRatio, kPpsUnits, kTimeUnits } from '../../src/report/format.js';
import { renderLineChart } from '../../src/report/svg-chart.js';
import { syntheticCell, syntheticSweep } from './synthetic.js';
import { checkXml } from './xml.js';

function assertValidSvg(svg: string): void {
  const check = checkXml(svg);
  assert.ok(check.ok, check.problem);
  assert.equal(check.root, 'svg');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="\d+" height="\d+" viewBox="0 0 \d+ \d+"/);
  assert.doesNotMatch(svg, /<script|@import|url\(|NaN|undefined|Infinity/);
}

describe('renderLineChart', () => {
  const spec = {
    title: 'Cost <test> & "quotes"',
    x: { title: 'Services', scale: 'log' as const },
    y: { title: 'time', scale: 'log' as const, unit: kTimeUnits },
    series: [
      { name: 'iptables', points: [{ x: 10, y: 200, yMin: 180, yMax: 240 }, { x: 1000, y: 1700 }, { x: 100, y: 350 }] },
      { name: 'kernel-iptables', dashed: true, points: [{ x: 10, y: 150 }, { x: 1000, y: 1200 }] },
      { name: 'a&b <c>', points: [{ x: 100, y: 900 }] },
      { name: 'empty', points: [{ x: 0, y: 5 }] },
    ],
  };

  it('is a well-formed standalone SVG with a white background and system fonts', () => {
    const svg = renderLineChart(spec);
    assertValidSvg(svg);
    assert.match(svg, /<rect x="0" y="0" width="760" height="440" fill="#ffffff"\/>/);
    assert.match(svg, /font-family="[^"]*sans-serif"/);
    assert.match(svg, /Cost &lt;test&gt; &amp; &quot;quotes&quot;/);
  });

  it('draws each series once in the plot and once in the legend', () => {
    const svg = renderLineChart(spec);
    for (const name of ['iptables', 'kernel-iptables', 'a&amp;b &lt;c&gt;', 'empty']) {
      assert.ok(svg.includes(`data-series="${name}"`), `series ${name}`);
      assert.ok(svg.includes(`>${name}`), `legend ${name}`);
    }
    assert.equal((svg.match(/<polyline/g) ?? []).length, 2, 'one line per series with two or more points');
    assert.match(svg, />empty \(no data\)</);
  });

  it('sorts points by x, dashes reference series and draws error bars', () => {
    const svg = renderLineChart(spec);
    const iptables = svg.slice(svg.indexOf('data-series="iptables"'), svg.indexOf('data-series="kernel-iptables"'));
    const xs = /<polyline points="([^"]+)"/.exec(iptables)![1]!.split(' ').map((p) => Number(p.split(',')[0]));
    assert.deepEqual(xs, [...xs].sort((a, b) => a - b));
    assert.equal((iptables.match(/<path d="M[\d.]+ [\d.]+V/g) ?? []).length, 1, 'one error bar, for the one point with a spread');
    const kernel = svg.slice(svg.indexOf('data-series="kernel-iptables"'));
    assert.match(kernel, /<polyline[^>]*stroke-dasharray="6 4"/);
    assert.doesNotMatch(iptables, /stroke-dasharray/);
  });

  it('labels ticks with round values in the unit the axis title names', () => {
    const svg = renderLineChart(spec);
    const texts = [...svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
    for (const t of ['10', '100', '1k', '0.2', '0.5', '1']) assert.ok(texts.includes(t), t);
    assert.ok(texts.includes('Services (log scale)'));
    assert.ok(texts.includes('time (µs, log scale)'), texts.join(' | '));
    assert.ok(!texts.some((t) => /ns|µs/.test(t!) && !t!.includes('scale')), 'no tick carries its own unit');
  });

  it('ends its axes at the data: the extreme points sit at the plot\'s inner edges', () => {
    const svg = renderLineChart({ title: 't', x: { title: 'Services', scale: 'log' }, y: { title: 'throughput', scale: 'linear', includeZero: true, unit: kPpsUnits }, series: [{ name: 'a', points: [{ x: 10, y: 2e6 }, { x: 30000, y: 7.3e6 }] }] });
    const frame = /<rect x="(\d+)" y="(\d+)" width="(\d+)" height="(\d+)" fill="none"/.exec(svg)!.slice(1).map(Number);
    const pts = /<polyline points="([^"]+)"/.exec(svg)![1]!.split(' ').map((p) => p.split(',').map(Number));
    assert.equal(pts[1]![0], frame[0]! + frame[2]! - 8, 'the largest Services count is the x axis\' end');
    assert.equal(pts[1]![1], frame[1]! + 8, 'the highest throughput is the y axis\' end');
    assert.match(svg, />throughput \(Mpps\)</);
  });

  it('survives no data at all', () => {
    assertValidSvg(renderLineChart({ title: 't', x: { title: 'x', scale: 'log' }, y: { title: 'y', scale: 'linear' }, series: [] }));
  });
});

describe('the report charts', () => {
  it('are valid SVGs with every mode, kernel baselines dashed', () => {
    const cells = [...syntheticSweep()];
    for (const services of [10, 1000, 30000]) cells.push(syntheticCell({ mode: 'kernel-iptables', services, nsPerFlow: 100 + services }));
    const charts = buildCharts(cells);
    assert.deepEqual(charts.map((c) => c.file), ['first-packet-cost.svg', 'established-throughput.svg', 'sync-time.svg', 'sync-one-endpoint.svg', 'workers-established.svg', 'workers-new-flows.svg']);
    for (const c of charts) assertValidSvg(c.svg);
    const first = charts[0]!.svg;
    for (const mode of ['iptables', 'ipvs', 'nftables', 'userspace']) assert.ok(first.includes(`data-series="${mode}"`), mode);
    const kernel = first.slice(first.indexOf('data-series="kernel-iptables (Linux)"'));
    assert.match(kernel, /stroke-dasharray="6 4"/);
  });

  it('leave out what was not measured', () => {
    assert.deepEqual(buildCharts([syntheticCell({ mode: 'iptables', services: 10 })]), []);
  });
});

describe('the churn chart', () => {
  it('draws p99 programming latency against Services for the cells with churn at the first rate', () => {
    const churn = (p99: number, rate = 10) => ({ changesPerSecond: rate, programmingLatencyMs: { p50: p99 / 3, p90: p99 / 2, p99 }, syncs: { full: 0, partial: 9 }, bytesWrittenPerSecond: 1000, packetsToGoneEndpoints: 3 });
    const cells = syntheticSweep().map((c) => (c.mode === 'iptables' ? { ...c, churn: churn(c.services) } : c.mode === 'ipvs' ? { ...c, churn: churn(7, 99) } : c));
    const charts = buildCharts(cells);
    const chart = charts.find((c) => c.file === 'churn-p99.svg');
    assert.ok(chart, 'the churn chart is drawn');
    assertValidSvg(chart.svg);
    assert.ok(chart.svg.includes('data-series="iptables"'));
    assert.ok(!chart.svg.includes('data-series="ipvs"'), 'a cell at another rate is left out');
    assert.ok(!chart.svg.includes('data-series="nftables"'), 'a mode without churn draws no series');
    assert.equal(buildCharts(syntheticSweep()).some((c) => c.file === 'churn-p99.svg'), false, 'no churn, no chart');
    // The caption says it in words: iptables' p99 here is its Services count in ms.
    const first = Math.min(...cells.filter((c) => c.mode === 'iptables').map((c) => c.services));
    const last = Math.max(...cells.filter((c) => c.mode === 'iptables').map((c) => c.services));
    assert.ok(chart.caption.includes(`p99: iptables ${formatMs(first)} at ${formatCount(first)} to ${formatMs(last)} at ${formatCount(last)} (${formatRatio(last / first)})`), chart.caption);
  });
  it("adds the kernel's measured apply of one sync at the churned counts, per backend, and nothing without it", () => {
    const churn = { changesPerSecond: 10, programmingLatencyMs: { p50: 300, p90: 600, p99: 900 }, syncs: { full: 0, partial: 9 }, bytesWrittenPerSecond: 1000, packetsToGoneEndpoints: 0 };
    const kernel = (services: number, legacy: number, nft: number) =>
      syntheticCell({ mode: 'kernel-iptables', services, counters: { applyIptablesLegacyPartialMs: legacy, applyIptablesNftPartialMs: nft } });
    const cells = [
      ...syntheticSweep().map((c) => (c.mode === 'iptables' && (c.services === 100 || c.services === 1000) ? { ...c, churn } : c)),
      kernel(100, 4, 30),
      kernel(1000, 40, 33),
      kernel(10000, 400, 40),
    ];
    const chart = buildCharts(cells).find((c) => c.file === 'churn-p99.svg');
    assert.ok(chart);
    assert.match(chart.caption, /not in the latency above\): iptables-legacy 4 ms at 100 to 40 ms at 1k \(10×\), iptables-nft 30 ms at 100 to 33 ms at 1k \(1\.1×\)\.$/);
    assert.doesNotMatch(chart.caption, /KEP-3866/, 'no nftables churn cells: no comparison with the KEPs');
    const both = cells.map((c) => (c.mode === 'nftables' && (c.services === 100 || c.services === 1000) ? { ...c, churn: { ...churn, programmingLatencyMs: { ...churn.programmingLatencyMs, p99: c.services * 2 } } } : c));
    const kep = buildCharts(both).find((c) => c.file === 'churn-p99.svg')!.caption;
    assert.match(kep, /expect iptables mode's latency to grow with Services and nftables' not; kdp's side of it does not grow in iptables \(1×\) and grows in nftables \(10×\) over these counts/);
    const without = buildCharts(cells.filter((c) => c.mode !== 'kernel-iptables')).find((c) => c.file === 'churn-p99.svg');
    assert.doesNotMatch(without!.caption, /kernel's apply of one sync/);
  });
  it("with --churn-kernel: says which backend's apply the latency includes, with and without it, and draws the other backend beside it", () => {
    const latency = (p99: number) => ({ p50: p99 / 3, p90: p99 / 2, p99 });
    const backend = (name: string, p99: number, applyMs: number) => ({ backend: name, programmingLatencyMs: latency(p99), syncs: { full: 0, partial: 5 }, applyMs, applies: 5, loadMs: 9 });
    const churn = (services: number) => ({
      changesPerSecond: 10, programmingLatencyMs: latency(services * 3), syncs: { full: 0, partial: 5 }, bytesWrittenPerSecond: 1000, packetsToGoneEndpoints: 0,
      kernelApply: { included: 'iptables-legacy', withoutKernelMs: latency(1000 + services), backends: [backend('iptables-legacy', services * 3, services / 10), backend('iptables-nft', 1500, 20)] },
    });
    const plain = { changesPerSecond: 10, programmingLatencyMs: latency(1100), syncs: { full: 0, partial: 9 }, bytesWrittenPerSecond: 1000, packetsToGoneEndpoints: 0, kernelApply: { notIncluded: 'nftables: needs root' } };
    const cells = syntheticSweep().map((c) => ((c.services === 100 || c.services === 1000) ? (c.mode === 'iptables' ? { ...c, churn: churn(c.services) } : c.mode === 'nftables' ? { ...c, churn: plain } : c) : c));
    const chart = buildCharts(cells).find((c) => c.file === 'churn-p99.svg')!;
    assertValidSvg(chart.svg);
    assert.ok(chart.svg.includes('data-series="iptables (with iptables-legacy apply)"'), 'the included backend is named on its series');
    assert.ok(chart.svg.includes('data-series="iptables (with iptables-nft apply)"'), 'the other backend drawn beside it');
    assert.ok(chart.svg.includes('data-series="nftables"'));
    assert.match(chart.caption, /plus the kernel's measured apply of each sync's payload/);
    assert.match(chart.caption, /iptables: iptables-legacy apply \(median\) at 100 Services: 10 ms per sync, p99 300 ms with it; iptables-nft \(drawn apart\) 20 ms per sync, p99 1\.5 s; p99 1\.1 s without the kernel; at 1k Services: 100 ms per sync, p99 3 s with it; iptables-nft \(drawn apart\) 20 ms per sync, p99 1\.5 s; p99 2 s without the kernel/);
    assert.match(chart.caption, /not included: nftables: nftables: needs root/);
    assert.doesNotMatch(chart.caption, /the kernel's apply not included/);
    // A cell whose node backend could not be measured (a full load past its timeout) is not in the
    // kernel-inclusive line or its ratio: drawn apart, with the reason, and each backend's own growth told.
    const big = { ...churn(10000), programmingLatencyMs: latency(900), kernelApply: { notIncluded: 'the node\'s own backend iptables-legacy was not measured (see missing)', missing: ['iptables-legacy: load did not finish within 180 s (stopped)'], backends: [backend('iptables-nft', 7000, 3000)] } };
    const mixed = cells.map((c) => (c.mode === 'iptables' && c.services === 10000 ? { ...c, churn: big } : c));
    const m = buildCharts(mixed).find((c) => c.file === 'churn-p99.svg')!;
    assertValidSvg(m.svg);
    assert.ok(m.svg.includes('data-series="iptables (kernel apply not measured)"'), 'the cell without the kernel is a series apart');
    assert.match(m.caption, /p99: iptables 300 ms at 100 to 3 s at 1k \(10×\)/, 'the ratio is over the kernel-inclusive cells only');
    assert.match(m.caption, /without the kernel's apply at 10k: the node's own backend iptables-legacy was not measured \(see missing\); iptables-legacy: load did not finish within 180 s \(stopped\)/);
    assert.match(m.caption, /Per backend: iptables with iptables-legacy 300 ms at 100 to 3 s at 1k \(10×\); iptables with iptables-nft 1\.5 s at 100 to 7 s at 10k \(4\.67×\)/);
    // Without any kernel-inclusive cell the caption says the kernel is left out.
    const none = buildCharts(cells.map((c) => (c.churn ? { ...c, churn: plain } : c))).find((c) => c.file === 'churn-p99.svg')!;
    assert.match(none.caption, /the kernel's apply not included/);
  });
});
