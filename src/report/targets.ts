/**
 * The project's performance targets, judged from the results: each is met, missed, or not
 * measured (the cells it needs are absent), and always comes with the figure it was judged on,
 * so a reader can see by how much. Kernel baselines are never judged: they measure Linux, not kdp.
 */
import { cellLabel, formatCount, formatNs, formatPerSecond, formatPps, formatRatio } from './format.js';
import type { CellResult } from './result.js';
import { groupsVarying, isKernel, kHashModes, servicesSweep } from './select.js';

export type Verdict = 'met' | 'missed' | 'not measured';

export interface TargetResult {
  readonly id: string;
  readonly target: string;
  readonly verdict: Verdict;
  /** The numbers the verdict rests on, in words. */
  readonly figure: string;
}

export const kMaxNsPerRule = 2;
export const kMaxHashGrowth = 1.5;
export const kHashBaseServices = 100;
export const kMinEstablishedPpsPerWorker = 5e6;
export const kMaxMemoryLatencyFactor = 2;
export const kMinTwoWorkerSpeedup = 1.8;

export function evaluateTargets(results: readonly CellResult[]): TargetResult[] {
  const sweep = servicesSweep(results);
  return [iptablesScan(sweep, results), hashFlat(sweep), ...established(results), ...workers(results)];
}

function iptablesScan(sweep: readonly CellResult[], all: readonly CellResult[]): TargetResult {
  const target = `(a) iptables scan ≤ ${kMaxNsPerRule} ns per rule traversed, at the largest Services count`;
  const withRules = (cs: readonly CellResult[]) => cs.filter((c) => c.mode === 'iptables' && c.iptables && c.iptables.nsPerRule > 0);
  const cells = withRules(sweep).length > 0 ? withRules(sweep) : withRules(all);
  if (cells.length === 0) return { id: 'a', target, verdict: 'not measured', figure: 'no iptables cell has a per-rule figure' };
  const largest = cells.reduce((a, b) => (b.services > a.services ? b : a));
  const ns = largest.iptables!.nsPerRule;
  const all_ = cells.map((c) => c.iptables!.nsPerRule);
  const range = cells.length > 1 ? `; ${formatNs(Math.min(...all_))} to ${formatNs(Math.max(...all_))} over all ${cells.length} iptables points` : '';
  return {
    id: 'a',
    target,
    verdict: ns <= kMaxNsPerRule ? 'met' : 'missed',
    figure: `${formatNs(ns)}/rule at ${formatCount(largest.services)} Services (${formatCount(largest.iptables!.rulesPerFirstPacket)} rules per first packet)${range}`,
  };
}

function hashFlat(sweep: readonly CellResult[]): TargetResult {
  const target = `(b) ipvs and nftables first-packet cost at the largest Services count within ${kMaxHashGrowth}× of its cost at ${kHashBaseServices} Services`;
  const parts: string[] = [];
  const verdicts: Verdict[] = [];
  for (const mode of kHashModes) {
    const cells = sweep.filter((c) => c.mode === mode && c.newFlow.nsPerFlow > 0);
    const base = cells.find((c) => c.services === kHashBaseServices);
    const top = cells.reduce<CellResult | undefined>((a, b) => (!a || b.services > a.services ? b : a), undefined);
    if (!base || !top || top.services <= kHashBaseServices) {
      parts.push(`${mode}: not measured${!base ? ` (no ${kHashBaseServices}-Service point)` : ' (nothing above 100 Services)'}`);
      verdicts.push('not measured');
      continue;
    }
    const ratio = top.newFlow.nsPerFlow / base.newFlow.nsPerFlow;
    verdicts.push(ratio <= kMaxHashGrowth ? 'met' : 'missed');
    parts.push(`${mode}: ${formatRatio(ratio)} (${formatNs(top.newFlow.nsPerFlow)} at ${formatCount(top.services)} vs ${formatNs(base.newFlow.nsPerFlow)} at ${kHashBaseServices})`);
  }
  return { id: 'b', target, verdict: combine(verdicts), figure: parts.join('; ') };
}

function established(all: readonly CellResult[]): TargetResult[] {
  const cells = all.filter((c) => !isKernel(c.mode) && c.workers === 1 && c.established.packetsPerSecond > 0);
  const t1 = `(c) established ≥ ${formatPps(kMinEstablishedPpsPerWorker)} per worker, at every 1-worker cell`;
  const t2 = `(c) established ns/packet within ${kMaxMemoryLatencyFactor}× of the measured memory-latency limit (one random read), at every 1-worker cell`;
  if (cells.length === 0) {
    return [
      { id: 'c1', target: t1, verdict: 'not measured', figure: 'no 1-worker kdp cell' },
      { id: 'c2', target: t2, verdict: 'not measured', figure: 'no 1-worker kdp cell' },
    ];
  }
  const pps = (c: CellResult) => c.established.packetsPerSecond / c.workers;
  const worst = cells.reduce((a, b) => (pps(b) < pps(a) ? b : a));
  const best = cells.reduce((a, b) => (pps(b) > pps(a) ? b : a));
  const r1: TargetResult = {
    id: 'c1',
    target: t1,
    verdict: pps(worst) >= kMinEstablishedPpsPerWorker ? 'met' : 'missed',
    figure: `lowest ${formatPps(pps(worst))} (${cellLabel(worst)}); highest ${formatPps(pps(best))} (${cellLabel(best)})`,
  };
  const withLimit = cells.filter((c) => c.limits.randomReadNs > 0 && c.established.nsPerPacket > 0);
  if (withLimit.length === 0) return [r1, { id: 'c2', target: t2, verdict: 'not measured', figure: 'no cell has both limits.randomReadNs and established.nsPerPacket' }];
  const factor = (c: CellResult) => c.established.nsPerPacket / c.limits.randomReadNs;
  const far = withLimit.reduce((a, b) => (factor(b) > factor(a) ? b : a));
  return [
    r1,
    {
      id: 'c2',
      target: t2,
      verdict: factor(far) <= kMaxMemoryLatencyFactor ? 'met' : 'missed',
      figure: `farthest ${formatRatio(factor(far))}: ${formatNs(far.established.nsPerPacket)}/packet vs ${formatNs(far.limits.randomReadNs)} per random read (${cellLabel(far)})`,
    },
  ];
}

function workers(all: readonly CellResult[]): TargetResult[] {
  const pairs: { one: CellResult; two: CellResult }[] = [];
  for (const g of groupsVarying(all.filter((c) => !isKernel(c.mode)), ['workers'])) {
    const one = g.find((c) => c.workers === 1);
    const two = g.find((c) => c.workers === 2);
    if (one && two) pairs.push({ one, two });
  }
  const metrics = [
    { id: 'd1', name: 'new flows/s', get: (c: CellResult) => c.newFlow.perSecond, fmt: formatPerSecond },
    { id: 'd2', name: 'established packets/s', get: (c: CellResult) => c.established.packetsPerSecond, fmt: formatPps },
  ];
  return metrics.map((m) => {
    const target = `(d) 2 workers ≥ ${kMinTwoWorkerSpeedup}× 1 worker, ${m.name}`;
    const usable = pairs.filter((p) => m.get(p.one) > 0 && m.get(p.two) > 0);
    if (usable.length === 0) return { id: m.id, target, verdict: 'not measured' as const, figure: 'no pair of cells differing only in workers (1 and 2)' };
    const speedup = (p: { one: CellResult; two: CellResult }) => m.get(p.two) / m.get(p.one);
    const worst = usable.reduce((a, b) => (speedup(b) < speedup(a) ? b : a));
    const others = usable.length > 1 ? `; best ${formatRatio(Math.max(...usable.map(speedup)))} over ${usable.length} pairs` : '';
    return {
      id: m.id,
      target,
      verdict: speedup(worst) >= kMinTwoWorkerSpeedup ? ('met' as const) : ('missed' as const),
      figure: `${usable.length > 1 ? 'worst ' : ''}${formatRatio(speedup(worst))}: ${m.fmt(m.get(worst.two))} vs ${m.fmt(m.get(worst.one))} (${worst.one.mode}, ${formatCount(worst.one.services)} Services, ${worst.one.cni})${others}`,
    };
  });
}

/**
 * Any part missed → missed; every part measured and met → met; otherwise not measured (a target
 * about two modes is not met on the strength of one).
 */
function combine(vs: readonly Verdict[]): Verdict {
  if (vs.includes('missed')) return 'missed';
  if (vs.length > 0 && vs.every((v) => v === 'met')) return 'met';
  return 'not measured';
}
