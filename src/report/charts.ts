/**
 * The report's charts, built from the results: cost and throughput against Services (from the
 * Services sweep) and throughput against workers (from cells that differ only in workers). A
 * mode keeps its colour and marker on every chart; a kernel baseline takes its kdp mode's colour,
 * dashed and hollow, so "kdp vs Linux" reads as two lines of one colour. A chart with no data is
 * left out (the Markdown says so) rather than drawn empty.
 */
import { formatCount, formatMs, formatRatio, kMsUnits, kPerSecondUnits, kPpsUnits, kTimeUnits } from './format.js';
import type { CellResult } from './result.js';
import { spreadAsNs, spreadAsRate } from './spread.js';
import { kModes } from '../compile/modes.js';
import { byMode, distinct, groupsVarying, isKernel, kdpModeOf, measured, servicesSweep, sortModes } from './select.js';
import { type ChartPoint, type ChartSeries, type MarkerShape, renderLineChart } from './svg-chart.js';

export interface Chart {
  /** File name inside the charts directory. */
  readonly file: string;
  readonly title: string;
  /** One sentence on how to read it, printed under the chart. */
  readonly caption: string;
  readonly svg: string;
}

/** One style per mode, in src/compile/modes.ts' order; a kernel baseline is its mode's, dashed. */
const kPalette: readonly { color: string; marker: MarkerShape }[] = [
  { color: '#d62728', marker: 'circle' },
  { color: '#1f77b4', marker: 'square' },
  { color: '#2ca02c', marker: 'triangle' },
  { color: '#9467bd', marker: 'diamond' },
  { color: '#ff7f0e', marker: 'circle' },
  { color: '#8c564b', marker: 'square' },
];
const kStyles: Record<string, { color: string; marker: MarkerShape }> = Object.fromEntries(kModes.map((m, i) => [m.name, kPalette[i % kPalette.length]!]));

function style(mode: string): Partial<ChartSeries> {
  const base = kStyles[isKernel(mode) ? kdpModeOf(mode) : mode];
  return { ...(base ?? {}), dashed: isKernel(mode) };
}

function seriesBy(cells: Map<string, CellResult[]>, point: (c: CellResult) => ChartPoint): ChartSeries[] {
  return [...cells].map(([mode, cs]) => ({ name: isKernel(mode) ? `${mode} (Linux)` : mode, points: cs.map(point), ...style(mode) }));
}

/** The cells of each mode that measured `group`; a mode left with none draws no series. */
function measuredOnly(modes: Map<string, CellResult[]>, group: Parameters<typeof measured>[1], also: (c: CellResult) => boolean = () => true): Map<string, CellResult[]> {
  const out = new Map<string, CellResult[]>();
  for (const [mode, cs] of modes) {
    const kept = cs.filter((c) => measured(c, group) && also(c));
    if (kept.length > 0) out.set(mode, kept);
  }
  return out;
}

function withBar(x: number, y: number, bar: { min: number; max: number } | undefined): ChartPoint {
  return bar ? { x, y, yMin: bar.min, yMax: bar.max } : { x, y };
}

/** Every file buildCharts can produce, so a rerun can remove the ones it no longer draws. */
export const kChartFiles = [
  'first-packet-cost.svg',
  'established-throughput.svg',
  'sync-time.svg',
  'sync-one-endpoint.svg',
  'churn-p99.svg',
  'workers-established.svg',
  'workers-new-flows.svg',
  'policies-first-packet.svg',
  'policies-established.svg',
  'policies-stage.svg',
] as const;

export function buildCharts(results: readonly CellResult[]): Chart[] {
  const sweep = servicesSweep(results);
  const modes = byMode(sweep);
  const charts: Chart[] = [];
  const ctx = sweep[0] ? `${sweep[0].cni}, ${sweep[0].endpointsPerService} endpoints per Service, ${sweep[0].workers} worker${sweep[0].workers === 1 ? '' : 's'}` : '';
  const enough = distinct(sweep.map((c) => c.services)).length >= 2;
  const bars = 'error bars: min–max over repeats';

  if (enough) {
    charts.push(chart('first-packet-cost.svg', 'First-packet cost vs Services', `The cost of a new flow's first packet (service lookup and NAT) for each mode; ${bars}. Log-log axes: a straight line of slope 1 is linear growth, a flat line is constant cost.`, {
      subtitle: ctx,
      x: { title: 'Services', scale: 'log' },
      y: { title: 'time per new flow', scale: 'log', unit: kTimeUnits },
      series: seriesBy(modes, (c) => withBar(c.services, c.newFlow.nsPerFlow, spreadAsNs(c.newFlow.spread, c.newFlow.nsPerFlow, c.newFlow.perSecond))),
    }));
    charts.push(chart('established-throughput.svg', 'Established throughput vs Services', `Packets per second on flows already in conntrack; ${bars}.`, {
      subtitle: ctx,
      x: { title: 'Services', scale: 'log' },
      y: { title: 'established throughput', scale: 'linear', includeZero: true, unit: kPpsUnits },
      series: seriesBy(measuredOnly(modes, 'Established'), (c) => withBar(c.services, c.established.packetsPerSecond, spreadAsRate(c.established.spread, c.established.nsPerPacket, c.established.packetsPerSecond))),
    }));
    charts.push(chart('sync-time.svg', 'Full rule sync time vs Services', 'Time to compile and publish every Service\'s rules from scratch (log-log).', {
      subtitle: ctx,
      x: { title: 'Services', scale: 'log' },
      y: { title: 'full sync time', scale: 'log', unit: kMsUnits },
      series: seriesBy(modes, (c) => ({ x: c.services, y: c.sync.fullMs })),
    }));
    charts.push(chart('sync-one-endpoint.svg', 'One-endpoint update time vs Services', 'Time for kdp to write a change of one endpoint of one Service into its compiled tables in place (log-log; flat when the update is proportional to the change); a (Linux) series is the kernel applying kube-proxy\'s payload for the same change into a table of that size.', {
      subtitle: ctx,
      x: { title: 'Services', scale: 'log' },
      y: { title: 'one-endpoint table update', scale: 'log', unit: kMsUnits },
      // A cell whose change the mode could not write in place timed a recompile: not this chart's figure.
      series: seriesBy(measuredOnly(measuredOnly(modes, 'OneEndpointSync'), 'OneEndpointUpdate', (c) => !c.counters?.oneEndpointRecompiled), (c) => ({ x: c.services, y: c.sync.oneEndpointMs })),
    }));
    // `kdp bench --churn R`: p99 programming latency per mode, at the first churn rate in the results.
    const rate = sweep.find((c) => c.churn)?.churn?.changesPerSecond;
    const churned = new Map<string, CellResult[]>();
    for (const [mode, cs] of modes) {
      const kept = cs.filter((c) => c.churn !== undefined && c.churn.changesPerSecond === rate && Number.isFinite(c.churn.programmingLatencyMs.p99));
      if (kept.length > 0) churned.set(mode, kept);
    }
    if (rate !== undefined && churned.size > 0) {
      // The figures the chart shows, in words: whether each mode's latency grows with Services.
      const p99 = (c: CellResult) => c.churn!.programmingLatencyMs.p99;
      // A mode's cells of one kind: those whose latency includes the kernel's apply when any does
      // (a ratio never mixes a latency with the kernel and one without), else all of them.
      const withKernel = (c: CellResult): boolean => c.churn!.kernelApply?.included !== undefined;
      const consistent = (cs: readonly CellResult[]): CellResult[] => (cs.some(withKernel) ? cs.filter(withKernel) : [...cs]);
      const ends = new Map([...churned].map(([mode, cs]) => {
        const by = consistent(cs).sort((a, b) => a.services - b.services);
        return [mode, { lo: by[0]!, hi: by[by.length - 1]!, points: by.length }] as const;
      }));
      const p99Growth = (mode: string): number | undefined => {
        const e = ends.get(mode);
        return e && e.points >= 2 ? p99(e.hi) / p99(e.lo) : undefined;
      };
      const growth = [...ends].map(([mode, { lo, hi, points }]) => {
        // Syncs applied by a recompile: every one without an in-place update, else those it could not write in place.
        const fallbacks = hi.counters?.churnRecompiles ?? 0;
        const recompiles = hi.counters?.measuredOneEndpointUpdate === 0
          ? '; each sync recompiles the node: no in-place update'
          : fallbacks > 0 ? `; ${formatCount(fallbacks)} of its syncs at ${formatCount(hi.services)} recompiled the node` : '';
        return points < 2 ? `${mode} ${formatMs(p99(lo))} at ${formatCount(lo.services)} only` : `${mode} ${formatMs(p99(lo))} at ${formatCount(lo.services)} to ${formatMs(p99(hi))} at ${formatCount(hi.services)} (${formatRatio(p99Growth(mode)!)}${recompiles})`;
      });
      // The kernel's apply, per mode: in the latency (--churn-kernel: which backend), or measured apart by --kernel.
      const inKernel = new Map([...churned].map(([mode, cs]) => [mode, churnKernelOf(cs)] as const));
      const included = [...inKernel].filter(([, k]) => k.backend !== undefined).map(([mode, k]) => `${mode}: ${k.text}`);
      const notIncluded = [...inKernel].filter(([, k]) => k.backend === undefined && k.text !== '').map(([mode, k]) => `${mode}: ${k.text}`);
      const applies = [...churned].filter(([mode]) => inKernel.get(mode)!.backend === undefined)
        .map(([mode, cs]) => kernelApplyText(modes.get(`kernel-${mode}`) ?? [], cs.map((c) => c.services))).filter((t) => t !== '');
      // The backends a cell ran beside the one its latency includes (iptables: legacy and nf_tables).
      const otherBackends: ChartSeries[] = [];
      for (const [mode, cs] of churned) {
        const runs = new Map<string, ChartPoint[]>();
        for (const c of cs) {
          const k = c.churn!.kernelApply;
          for (const b of k?.backends ?? []) if (b.backend !== k?.included && Number.isFinite(b.programmingLatencyMs.p99)) (runs.get(b.backend) ?? runs.set(b.backend, []).get(b.backend)!).push({ x: c.services, y: b.programmingLatencyMs.p99 });
        }
        for (const [backend, points] of runs) otherBackends.push({ ...style(mode), name: `${mode} (with ${backend} apply)`, points, marker: 'triangle-down' });
      }
      const kernelWords = included.length > 0
        ? ` plus the kernel's measured apply of each sync's payload into a table of that size where a mode has one (its sync lasting that long in the sync loop): ${included.join('; ')}${notIncluded.length > 0 ? `; not included: ${notIncluded.join('; ')}` : ''}`
        : ' (the kernel\'s apply not included)';
      // The KEPs' claim (KEP-3453, KEP-3866): iptables mode's latency grows with Services, nftables' does not.
      const ipt = p99Growth('iptables');
      const nft = p99Growth('nftables');
      // Each backend's own run across the counts it was measured at (the included one's and the others').
      const backendGrowth: string[] = [];
      for (const [mode, cs] of churned) {
        const runs = new Map<string, { services: number; p99: number }[]>();
        for (const c of cs) for (const b of c.churn!.kernelApply?.backends ?? []) if (Number.isFinite(b.programmingLatencyMs.p99)) (runs.get(b.backend) ?? runs.set(b.backend, []).get(b.backend)!).push({ services: c.services, p99: b.programmingLatencyMs.p99 });
        for (const [backend, pts] of runs) {
          if (pts.length < 2) continue;
          pts.sort((a, b) => a.services - b.services);
          const lo = pts[0]!;
          const hi = pts[pts.length - 1]!;
          backendGrowth.push(`${mode} with ${backend} ${formatMs(lo.p99)} at ${formatCount(lo.services)} to ${formatMs(hi.p99)} at ${formatCount(hi.services)} (${formatRatio(hi.p99 / lo.p99)})`);
        }
      }
      const kep = ipt !== undefined && nft !== undefined
        ? ` KEP-3453 and KEP-3866 expect iptables mode's latency to grow with Services and nftables' not; ${included.length > 0 ? 'the latency above' : 'kdp\'s side of it'} ${ipt > 1.1 ? 'grows' : 'does not grow'} in iptables (${formatRatio(ipt)}) and ${nft > 1.1 ? 'grows' : 'does not grow'} in nftables (${formatRatio(nft)}) over these counts (within 1.1× counts as not growing; each ratio over cells of one kind, with the kernel's apply where any cell has it).${backendGrowth.length > 0 ? ` Per backend: ${backendGrowth.join('; ')}.` : ''}`
        : '';
      charts.push(chart('churn-p99.svg', 'Network programming latency (p99) vs Services under churn', `Time from an endpoint change to the rule in effect at ${rate} changes per second shaped like rolling updates: the wait for the mode's sync loop plus kdp's apply${kernelWords}; log-log. p99: ${growth.join('; ')}.${kep}${applies.length > 0 ? ` The kernel's apply of one sync's payload into a table of that size, measured beside it by \`kdp bench --kernel\` (median; not in the latency above): ${applies.join('; ')}.` : ''}${otherBackends.length > 0 ? ' Each other backend\'s run is drawn beside its mode (in its mode\'s colour, downward triangles).' : ''}`, {
        subtitle: ctx,
        x: { title: 'Services', scale: 'log' },
        y: { title: 'p99 programming latency', scale: 'log', unit: kMsUnits },
        series: [
          ...seriesBy(new Map([...churned].map(([mode, cs]) => [mode, consistent(cs)] as const)), (c) => ({ x: c.services, y: c.churn!.programmingLatencyMs.p99 })).map((sr) => {
            const b = inKernel.get(sr.name)?.backend;
            return b === undefined ? sr : { ...sr, name: `${sr.name} (with ${b} apply)` };
          }),
          // Cells of a kernel-inclusive mode whose latency could not include it: a series apart, square markers.
          ...seriesBy(new Map([...churned].filter(([, cs]) => cs.some(withKernel)).map(([mode, cs]) => [mode, cs.filter((c) => !withKernel(c))] as const).filter(([, cs]) => cs.length > 0)), (c) => ({ x: c.services, y: c.churn!.programmingLatencyMs.p99 }))
            .map((sr) => ({ ...sr, name: `${sr.name} (kernel apply not measured)`, marker: 'square' as const })),
          ...otherBackends,
        ],
      }));
    }
  }

  const scaling = workersSeries(results);
  if (scaling.series.length > 0) {
    const wx = { title: 'workers', scale: 'linear' as const, ticks: scaling.workers };
    charts.push(chart('workers-established.svg', 'Established throughput vs workers', `Packets per second on established flows as workers are added; ${bars}.`, {
      subtitle: scaling.context,
      x: wx,
      y: { title: 'established throughput', scale: 'linear', includeZero: true, unit: kPpsUnits },
      series: scaling.series.map((s) => ({ ...s.style, name: s.name, points: s.cells.map((c) => withBar(c.workers, c.established.packetsPerSecond, spreadAsRate(c.established.spread, c.established.nsPerPacket, c.established.packetsPerSecond))) })),
    }));
    charts.push(chart('workers-new-flows.svg', 'New flows per second vs workers', `New flows (first packets) per second as workers are added; ${bars}.`, {
      subtitle: scaling.context,
      x: wx,
      y: { title: 'new flows', scale: 'linear', includeZero: true, unit: kPerSecondUnits },
      series: scaling.series.map((s) => ({ ...s.style, name: s.name, points: s.cells.map((c) => withBar(c.workers, c.newFlow.perSecond, spreadAsRate(c.newFlow.spread, c.newFlow.nsPerFlow, c.newFlow.perSecond))) })),
    }));
  }
  const policy = policiesSeries(results);
  if (policy.series.length > 0) {
    const px = { title: 'network policies (0 drawn at 1)', scale: 'log' as const };
    const at = (c: CellResult): number => Math.max(1, c.policies ?? 0);
    charts.push(chart('policies-first-packet.svg', 'First-packet cost vs network policies', `The cost of a new flow's first packet as Calico's policies are added (kdp generate --policies mix; the policy stage evaluates the policies that select each workload); ${bars}.`, {
      subtitle: policy.context,
      x: px,
      y: { title: 'time per new flow', scale: 'linear', includeZero: true, unit: kTimeUnits },
      series: policy.series.map((s) => ({ ...s.style, name: s.name, points: s.cells.map((c) => withBar(at(c), c.newFlow.nsPerFlow, spreadAsNs(c.newFlow.spread, c.newFlow.nsPerFlow, c.newFlow.perSecond))) })),
    }));
    // The policy stage's own time per new flow: the stage timer over every packet, per first packet (only those enter it).
    const perFlow = (c: CellResult): number => ((c.stages?.policy ?? 0) * c.packets) / (c.counters?.firstPackets ?? c.flows);
    charts.push(chart('policies-stage.svg', 'Policy stage time per new flow vs network policies', 'The policy stage alone: its stage timer over the whole run (its passes over batches of established packets included, which it only skips) divided by the new flows, the only packets it evaluates, on each node of their path: what the policies add to a first packet, apart from the rest of the path\'s noise.', {
      subtitle: policy.context,
      x: px,
      y: { title: 'policy stage time per new flow', scale: 'linear', includeZero: true, unit: kTimeUnits },
      series: policy.series.map((s) => ({ ...s.style, name: s.name, points: s.cells.filter((c) => c.stages?.policy !== undefined).map((c) => ({ x: at(c), y: perFlow(c) })) })),
    }));
    charts.push(chart('policies-established.svg', 'Established throughput vs network policies', `Packets per second on flows already in conntrack, which no policy looks at again; ${bars}.`, {
      subtitle: policy.context,
      x: px,
      y: { title: 'established throughput', scale: 'linear', includeZero: true, unit: kPpsUnits },
      series: policy.series.map((s) => ({ ...s.style, name: s.name, points: s.cells.filter((c) => measured(c, 'Established')).map((c) => withBar(at(c), c.established.packetsPerSecond, spreadAsRate(c.established.spread, c.established.nsPerPacket, c.established.packetsPerSecond))) })),
    }));
  }
  return charts;
}

/** One series per group of cells that differ only in their number of policies (at least two counts). */
function policiesSeries(results: readonly CellResult[]): { series: { name: string; style: Partial<ChartSeries>; cells: CellResult[] }[]; context: string } {
  const groups = groupsVarying(results, ['policies'])
    .map((g) => [...g].sort((a, b) => (a.policies ?? 0) - (b.policies ?? 0)))
    .filter((g) => distinct(g.map((c) => c.policies ?? 0)).length >= 2);
  const manyServices = distinct(groups.map((g) => g[0]!.services)).length > 1;
  const order = sortModes(groups.map((g) => g[0]!.mode));
  groups.sort((a, b) => order.indexOf(a[0]!.mode) - order.indexOf(b[0]!.mode) || a[0]!.services - b[0]!.services);
  const series = groups.map((g) => {
    const c = g[0]!;
    const unique = groups.filter((o) => o[0]!.mode === c.mode).length === 1;
    return { name: manyServices ? `${c.mode} (${formatCount(c.services)} Services)` : c.mode, style: unique ? style(c.mode) : {}, cells: g };
  });
  const c0 = groups[0]?.[0];
  const context = !c0 ? '' : [manyServices ? '' : `${formatCount(c0.services)} Services`, c0.cni, `${c0.endpointsPerService} endpoints per Service`, `${c0.workers} worker${c0.workers === 1 ? '' : 's'}`].filter(Boolean).join(', ');
  return { series, context };
}

function chart(file: string, title: string, caption: string, spec: Omit<Parameters<typeof renderLineChart>[0], 'title'>): Chart {
  return { file, title, caption, svg: renderLineChart({ title, ...spec }) };
}

/** One series per group of cells that differ only in workers; named by mode, plus what else varies. */
function workersSeries(results: readonly CellResult[]): { workers: number[]; series: { name: string; style: Partial<ChartSeries>; cells: CellResult[] }[]; context: string } {
  const groups = groupsVarying(results, ['workers'])
    .map((g) => [...g].sort((a, b) => a.workers - b.workers))
    .filter((g) => distinct(g.map((c) => c.workers)).length >= 2);
  const manyServices = distinct(groups.map((g) => g[0]!.services)).length > 1;
  const manyCnis = new Set(groups.map((g) => g[0]!.cni)).size > 1;
  const order = sortModes(groups.map((g) => g[0]!.mode));
  groups.sort((a, b) => order.indexOf(a[0]!.mode) - order.indexOf(b[0]!.mode) || a[0]!.services - b[0]!.services);
  const series = groups.map((g) => {
    const c = g[0]!;
    const extra = [manyServices ? `${formatCount(c.services)} Services` : '', manyCnis ? c.cni : ''].filter(Boolean).join(', ');
    // A mode's own colour only when it has one line here; otherwise the palette tells them apart.
    const unique = groups.filter((o) => o[0]!.mode === c.mode).length === 1;
    return { name: extra ? `${c.mode} (${extra})` : c.mode, style: unique ? style(c.mode) : { dashed: isKernel(c.mode) }, cells: g };
  });
  const c0 = groups[0]?.[0];
  const context = !c0 ? '' : [manyServices ? '' : `${formatCount(c0.services)} Services`, manyCnis ? '' : c0.cni, `${c0.endpointsPerService} endpoints per Service`].filter(Boolean).join(', ');
  return { workers: distinct(groups.flat().map((c) => c.workers)), series, context };
}

/**
 * Whether a mode's churn cells include the kernel's apply (--churn-kernel), in words: the backend
 * and its median apply per sync with the latency without it, at the fewest and most Services; or
 * why not. `backend` is undefined when no cell includes one (then the caption says the kernel is
 * left out); a mode whose cells disagree names each cell's.
 */
function churnKernelOf(cs: readonly CellResult[]): { backend?: string; text: string } {
  const by = [...cs].sort((a, b) => a.services - b.services);
  const withKernel = by.filter((c) => c.churn!.kernelApply?.included !== undefined);
  if (withKernel.length === 0) {
    const why = [...new Set(by.map((c) => c.churn!.kernelApply?.notIncluded).filter((w): w is string => w !== undefined))];
    return { text: why.join('; ') };
  }
  const backends = [...new Set(withKernel.map((c) => c.churn!.kernelApply!.included!))];
  // Each backend's median apply per sync and p99, the included one first, then the p99 without the kernel.
  const at = (c: CellResult): string => {
    const k = c.churn!.kernelApply!;
    const b = k.backends?.find((x) => x.backend === k.included);
    const others = (k.backends ?? []).filter((x) => x !== b).map((x) => `; ${x.backend} (drawn apart) ${formatMs(x.applyMs)} per sync, p99 ${formatMs(x.programmingLatencyMs.p99)}`).join('');
    return `${formatCount(c.services)} Services: ${b ? `${formatMs(b.applyMs)} per sync` : 'apply not reported'}, p99 ${formatMs(c.churn!.programmingLatencyMs.p99)} with it${others}; p99 ${k.withoutKernelMs ? formatMs(k.withoutKernelMs.p99) : 'not measured'} without the kernel`;
  };
  const lo = withKernel[0]!;
  const hi = withKernel[withKernel.length - 1]!;
  // Cells whose latency could not include the kernel's apply, and why (a load that never finished).
  const without = by.filter((c) => c.churn!.kernelApply?.included === undefined)
    .map((c) => `at ${formatCount(c.services)}: ${[c.churn!.kernelApply?.notIncluded, ...(c.churn!.kernelApply?.missing ?? [])].filter(Boolean).join('; ') || 'not asked for'}`);
  return {
    backend: backends.join(' or '),
    text: `${backends.join(' or ')} apply (median) at ${at(lo)}${hi !== lo ? `; at ${at(hi)}` : ''}${without.length > 0 ? ` (without the kernel's apply ${without.join('; ')})` : ''}`,
  };
}

/**
 * The kernel's apply of a one-endpoint sync (counters apply<Backend>PartialMs of the kernel cells,
 * src/verify/kernel-bench.ts) at the smallest and largest of `services` it measured, per backend:
 * what the churn latency leaves out, where kube-proxy's modes differ most.
 */
function kernelApplyText(kernel: readonly CellResult[], services: readonly number[]): string {
  const at = kernel.filter((k) => services.includes(k.services)).sort((a, b) => a.services - b.services);
  if (at.length === 0) return '';
  const lo = at[0]!;
  const hi = at[at.length - 1]!;
  const backends = Object.keys(lo.counters ?? {}).filter((k) => /^apply[A-Za-z]+PartialMs$/.test(k));
  const name = (k: string) => k.slice('apply'.length, -'PartialMs'.length).replace(/([a-z])([A-Z])/g, '$1-$2').toLowerCase();
  return backends
    .map((k) => {
      const a = lo.counters![k]!;
      const b = hi.counters?.[k];
      return lo === hi || b === undefined ? `${name(k)} ${formatMs(a)} at ${formatCount(lo.services)}` : `${name(k)} ${formatMs(a)} at ${formatCount(lo.services)} to ${formatMs(b)} at ${formatCount(hi.services)} (${formatRatio(b / a)})`;
    })
    .join(', ');
}
