/**
 * What the numbers say, computed from the results and never written by hand: how each mode's
 * cost scales with Services, where the hash modes overtake iptables, what each CNI's
 * encapsulation costs, how kdp compares with the kernel, and whether the targets hold. Each
 * figure states the cells it comes from; where the cells are missing, it says so instead.
 */
import { type Crossover, crossover, type Fit, leastSquares, logLogFit, type XY } from './fit.js';
import { formatBytes, formatCount, formatNs, formatExponent, formatRatio, formatSigned } from './format.js';
import type { CellResult, MachineInfo } from './result.js';
import { byMode, groupsVarying, isKernel, kdpModeOf, kHashModes, kRuleScanModes, servicesSweep, sortModes } from './select.js';
import { median } from './spread.js';
import { evaluateTargets, type TargetResult } from './targets.js';

export interface ModeSlope {
  readonly mode: string;
  readonly fit: Fit;
  /** The Services range the fit covers. */
  readonly from: number;
  readonly to: number;
  /**
   * The log-log slope between the two largest counts alone (with three or more points): fixed
   * per-packet costs flatten the whole-range fit at small counts, this shows where it is heading.
   */
  readonly topSlope: number | undefined;
}

export interface LinearCost {
  readonly mode: string;
  /** ns of first-packet cost per added Service (least-squares slope). */
  readonly nsPerService: number;
  readonly fit: Fit;
}

export interface HashCrossover {
  readonly mode: string;
  readonly crossover: Crossover;
}

export interface CniOverhead {
  readonly cni: string;
  readonly reference: string;
  /** Median over matched cells of the difference in wire bytes per packet. */
  readonly bytesPerPacket: number;
  /** Median difference in established ns/packet, when both cells measured it. */
  readonly nsPerPacket: number | undefined;
  readonly pairs: number;
}

export interface KernelPoint {
  readonly mode: string;
  readonly kernelMode: string;
  readonly services: number;
  readonly cni: string;
  readonly workers: number;
  /** kdp ÷ kernel first-packet ns: below 1, kdp is faster. */
  readonly firstPacketRatio: number | undefined;
  readonly establishedRatio: number | undefined;
}

export interface Observations {
  readonly cells: number;
  readonly firstPacketSlopes: readonly ModeSlope[];
  readonly syncSlopes: readonly ModeSlope[];
  readonly linearCosts: readonly LinearCost[];
  readonly crossovers: readonly HashCrossover[];
  readonly cnisMeasured: readonly string[];
  readonly cniOverheads: readonly CniOverhead[];
  readonly kernelMeasured: boolean;
  readonly kernel: readonly KernelPoint[];
  /** Groups of cells differing only in workers, and those whose decision checksums differ. */
  readonly decisionGroups: number;
  readonly decisionMismatches: readonly string[];
  readonly targets: readonly TargetResult[];
}

/** A mode counts as linear when its log-log slope is at least this (or it is an iptables mode). */
const kLinearSlope = 0.5;

export function computeObservations(all: readonly CellResult[], machine?: MachineInfo): Observations {
  // Observations are about the proxy modes; a policy sweep's cells are read in their own charts, --dns cells in their section.
  const results = all.filter((c) => (c.policies ?? 0) === 0 && !c.dns);
  const sweep = byMode(servicesSweep(results));
  const slopes = (get: (c: CellResult) => number) => {
    const out: ModeSlope[] = [];
    for (const [mode, cells] of sweep) {
      const pts = cells.map((c) => ({ x: c.services, y: get(c) })).filter((p) => p.x > 0 && p.y > 0);
      const fit = logLogFit(pts);
      const top = pts.length >= 3 ? logLogFit(pts.slice(-2)) : undefined;
      if (fit) out.push({ mode, fit, from: pts[0]!.x, to: pts[pts.length - 1]!.x, topSlope: top?.slope });
    }
    return out;
  };
  const firstPacketSlopes = slopes((c) => c.newFlow.nsPerFlow);
  const syncSlopes = slopes((c) => c.sync.fullMs);

  const linearCosts: LinearCost[] = [];
  for (const s of firstPacketSlopes) {
    if (!(kRuleScanModes.includes(isKernel(s.mode) ? kdpModeOf(s.mode) : s.mode) || s.fit.slope >= kLinearSlope)) continue;
    const fit = leastSquares(firstPacketPoints(sweep.get(s.mode)!));
    if (fit) linearCosts.push({ mode: s.mode, nsPerService: fit.slope, fit });
  }

  // Where each hash mode overtakes the (first) rule-scanning mode.
  const scan = firstPacketPoints(sweep.get(kRuleScanModes[0] ?? '') ?? []);
  const crossovers = scan.length === 0 ? [] : kHashModes.filter((m) => sweep.has(m)).map((mode) => ({ mode, crossover: crossover(firstPacketPoints(sweep.get(mode)!), scan) }));

  const cnisMeasured = [...new Set(results.map((r) => r.cni))].sort();
  const kernel = kernelPoints(results);
  const checks = decisionChecks(results);
  return {
    cells: results.length,
    firstPacketSlopes,
    syncSlopes,
    linearCosts,
    crossovers,
    cnisMeasured,
    cniOverheads: cniOverheads(results),
    kernelMeasured: results.some((r) => isKernel(r.mode)),
    kernel,
    decisionGroups: checks.groups,
    decisionMismatches: checks.mismatches,
    targets: evaluateTargets(results, machine),
  };
}

function firstPacketPoints(cells: readonly CellResult[]): XY[] {
  return cells.filter((c) => c.newFlow.nsPerFlow > 0).map((c) => ({ x: c.services, y: c.newFlow.nsPerFlow }));
}

const bytesPerPacket = (c: CellResult) => (c.packets > 0 ? c.wireBytes / c.packets : Number.NaN);

/**
 * Encapsulation overhead: each CNI against the one with the fewest bytes per packet (no
 * encapsulation), over cells equal in every other key, so that only the CNI differs.
 */
function cniOverheads(results: readonly CellResult[]): CniOverhead[] {
  const groups = groupsVarying(results.filter((r) => r.packets > 0), ['cni']);
  if (groups.length === 0) return [];
  const perCni = new Map<string, number[]>();
  for (const g of groups) for (const c of g) perCni.set(c.cni, [...(perCni.get(c.cni) ?? []), bytesPerPacket(c)]);
  const reference = [...perCni.entries()].sort((a, b) => median(a[1]) - median(b[1]) || a[0].localeCompare(b[0]))[0]![0];
  const diffs = new Map<string, { bytes: number[]; ns: number[] }>();
  for (const g of groups) {
    const ref = g.find((c) => c.cni === reference);
    if (!ref) continue;
    for (const c of g) {
      if (c.cni === reference) continue;
      const d = diffs.get(c.cni) ?? { bytes: [], ns: [] };
      d.bytes.push(bytesPerPacket(c) - bytesPerPacket(ref));
      if (c.established.nsPerPacket > 0 && ref.established.nsPerPacket > 0) d.ns.push(c.established.nsPerPacket - ref.established.nsPerPacket);
      diffs.set(c.cni, d);
    }
  }
  return [...diffs.entries()]
    .sort((a, b) => a[0].localeCompare(b[0]))
    .map(([cni, d]) => ({ cni, reference, bytesPerPacket: median(d.bytes), nsPerPacket: d.ns.length ? median(d.ns) : undefined, pairs: d.bytes.length }));
}

/**
 * The kernel cells are matched to kdp's one-worker cell of the same mode, Services, endpoints and
 * seed: the kernel measurement has no flow count, overlay or worker pool of kdp's sweep, so those
 * coordinates cannot match and are not asked to.
 */
function kernelPoints(results: readonly CellResult[]): KernelPoint[] {
  const pointKey = (mode: string, r: CellResult) => `${mode}|${r.services}|${r.endpointsPerService}|${r.seed}`;
  const kdp = new Map<string, CellResult>();
  for (const r of results) if (!isKernel(r.mode) && r.workers === 1 && !kdp.has(pointKey(r.mode, r))) kdp.set(pointKey(r.mode, r), r);
  const out: KernelPoint[] = [];
  for (const k of results.filter((r) => isKernel(r.mode))) {
    const mode = kdpModeOf(k.mode);
    const r = kdp.get(pointKey(mode, k));
    if (!r) continue;
    const ratio = (a: number, b: number) => (a > 0 && b > 0 ? a / b : undefined);
    out.push({
      mode,
      kernelMode: k.mode,
      services: k.services,
      cni: k.cni,
      workers: k.workers,
      firstPacketRatio: ratio(r.newFlow.nsPerFlow, k.newFlow.nsPerFlow),
      establishedRatio: ratio(r.established.nsPerPacket, k.established.nsPerPacket),
    });
  }
  return out.sort((a, b) => a.mode.localeCompare(b.mode) || a.cni.localeCompare(b.cni) || a.workers - b.workers || a.services - b.services);
}

/** The same seed must pick the same endpoints whatever the worker count (result.ts). */
function decisionChecks(results: readonly CellResult[]): { groups: number; mismatches: string[] } {
  const groups = groupsVarying(results, ['workers']);
  const mismatches = groups
    .filter((g) => new Set(g.map((c) => c.decisionChecksum)).size > 1)
    .map((g) => `${g[0]!.mode}, ${formatCount(g[0]!.services)} Services, ${g[0]!.cni}: workers ${g.map((c) => c.workers).join(', ')}`);
  return { groups: groups.length, mismatches };
}

function shape(k: number): string {
  if (Math.abs(k) < 0.15) return 'flat (about constant cost)';
  if (k >= 0.8 && k <= 1.2) return 'linear (cost proportional to Services)';
  if (k > 1.2) return 'worse than linear';
  return k > 0 ? 'sub-linear' : 'falling';
}

/** The observations as Markdown bullet points, in the order a reader would ask the questions. */
export function describeObservations(o: Observations): string[] {
  const out: string[] = [];
  for (const s of o.firstPacketSlopes) {
    const top = s.topSlope === undefined || shape(s.topSlope) === shape(s.fit.slope) ? '' : `; between the two largest counts the slope is ${formatExponent(s.topSlope)}: ${shape(s.topSlope)}`;
    out.push(`**${s.mode}** first-packet cost grows as Services^${formatExponent(s.fit.slope)} (log-log least-squares slope over ${formatCount(s.from)}–${formatCount(s.to)} Services, ${s.fit.points} points, R² ${s.fit.r2.toFixed(2)}): ${shape(s.fit.slope)}${top}.`);
  }
  if (o.firstPacketSlopes.length === 0) out.push('First-packet cost could not be fitted: no mode has two or more Services counts measured.');
  for (const l of o.linearCosts) {
    out.push(`**${l.mode}**: each added Service costs ${formatNs(l.nsPerService)} on a new flow's first packet (least-squares line, intercept ${formatNs(l.fit.intercept)}).`);
  }
  for (const c of o.crossovers) out.push(describeCrossover(c));
  if (o.crossovers.length === 0) out.push('Crossover with iptables: not measured (needs iptables and a hash mode in the Services sweep).');
  for (const s of o.syncSlopes) out.push(`**${s.mode}** full sync time grows as Services^${formatExponent(s.fit.slope)} (${formatCount(s.from)}–${formatCount(s.to)} Services).`);

  if (o.cniOverheads.length > 0) {
    for (const c of o.cniOverheads) {
      const ns = c.nsPerPacket === undefined ? 'no established time to compare' : `${formatSigned(c.nsPerPacket, formatNs)} per established packet`;
      out.push(`**${c.cni}** carries ${formatSigned(c.bytesPerPacket, formatBytes)} per packet on the wire compared with ${c.reference}, and ${ns} (median over ${c.pairs} matched cell${c.pairs === 1 ? '' : 's'}).`);
    }
  } else {
    out.push(`Encapsulation overhead: not measured. It needs cells that differ only in CNI; ${o.cnisMeasured.length === 1 ? `only ${o.cnisMeasured[0]} was measured` : `the CNIs measured (${o.cnisMeasured.join(', ') || 'none'}) have no such pairs`} (\`npm run bench -- --full\` adds the other CNIs).`);
  }

  if (!o.kernelMeasured) out.push('The kernel baseline was not measured (needs root).');
  else if (o.kernel.length === 0) out.push('Kernel baselines were measured, but no kdp cell has the same coordinates to compare with.');
  else {
    for (const mode of sortModes(o.kernel.map((k) => k.mode))) {
      const rs = o.kernel.filter((k) => k.mode === mode).map((k) => k.firstPacketRatio).filter((r): r is number => r !== undefined);
      const [lo, hi] = [formatRatio(Math.min(...rs)), formatRatio(Math.max(...rs))];
      if (rs.length) out.push(`kdp ${mode} vs kernel: first-packet cost ${lo === hi ? lo : `${lo} to ${hi}`} the kernel's over ${rs.length} point${rs.length === 1 ? '' : 's'} (below 1× kdp is faster; per point in the table below).`);
    }
  }

  if (o.decisionGroups > 0) {
    out.push(o.decisionMismatches.length === 0
      ? `Decisions agree across worker counts: every one of ${o.decisionGroups} group${o.decisionGroups === 1 ? '' : 's'} of cells differing only in workers has one decision checksum.`
      : `**Decision checksums differ across worker counts** (the same seed must choose the same endpoints): ${o.decisionMismatches.join('; ')}.`);
  }
  return out;
}

function describeCrossover(h: HashCrossover): string {
  const c = h.crossover;
  switch (c.kind) {
    case 'crosses':
      return `**${h.mode}** overtakes iptables on first-packet cost at about ${formatCount(Math.round(c.at))} Services (between the measured ${formatCount(c.between[0])} and ${formatCount(c.between[1])}, interpolated on log-log axes).`;
    case 'always-cheaper':
      return `**${h.mode}** is cheaper than iptables on first-packet cost at every measured count from ${formatCount(c.from)} Services: the crossover is not within the measured range (it lies below it).`;
    case 'not-cheaper':
      return `**${h.mode}** does not overtake iptables on first-packet cost within the measured range: at ${formatCount(c.at)} Services it still costs ${formatRatio(c.ratio)} iptables.`;
    case 'insufficient':
      return `**${h.mode}** vs iptables crossover: not measured (fewer than two Services counts measured for both).`;
  }
}
