/**
 * Which cells go together. A results file mixes sweeps (Services × modes at one CNI and one
 * worker, a workers sweep, other CNIs with --full), so every curve and comparison is drawn from
 * cells that differ in exactly the coordinate being studied and agree on all the others.
 */
import { kModes } from '../compile/modes.js';
import type { CellKey, CellResult } from './result.js';

export const kDefaultCni = 'calico-vxlan';
/** Modes whose lookup is a hash table (ProxyMode.lookup): their first packets should not grow with Services. */
export const kHashModes: readonly string[] = kModes.filter((m) => m.lookup === 'hash').map((m) => m.name);
/** Modes whose decision work is a rule scan (ProxyMode.ruleScan): the results' per-rule figures are theirs. */
export const kRuleScanModes: readonly string[] = kModes.filter((m) => m.ruleScan === true).map((m) => m.name);
const kModeOrder = [...kModes.map((m) => m.name), ...kModes.filter((m) => m.kernel).map((m) => `kernel-${m.name}`)];

/**
 * Whether a cell measured a group of fields. A cell that leaves a group out says so in its
 * counters (`measuredEstablished: 0`, as the kernel baseline does); its fields are then 0 and must
 * be shown as missing, never as a measured 0.
 */
export function measured(cell: CellResult, group: 'NewFlow' | 'FullSync' | 'Established' | 'OneEndpointSync' | 'OneEndpointUpdate' | 'Memory'): boolean {
  return cell.counters?.[`measured${group}`] !== 0;
}

export function isKernel(mode: string): boolean {
  return mode.startsWith('kernel-');
}

/** The kdp mode a kernel baseline is compared with: kernel-iptables → iptables. */
export function kdpModeOf(kernelMode: string): string {
  return kernelMode.slice('kernel-'.length);
}

/** Modes in a stable, familiar order: kdp's modes as src/compile/modes.ts lists them, then kernel baselines, then others. */
export function sortModes(modes: Iterable<string>): string[] {
  const rank = (m: string) => (kModeOrder.includes(m) ? kModeOrder.indexOf(m) : kModeOrder.length);
  return [...new Set(modes)].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

type KeyField = keyof CellKey;
const kKeyFields: readonly KeyField[] = ['mode', 'services', 'endpointsPerService', 'cni', 'workers', 'flows', 'seed', 'zipf', 'conntrack', 'policies', 'dns', 'ndots', 'dnsExternal'];

/** A string of every key field except `omit`: cells with the same one differ only in those. */
export function keyWithout(cell: CellKey, omit: readonly KeyField[]): string {
  // A result from before `conntrack` existed was sized to fit.
  // A result without `policies` had none.
  // A result without `dns` looked nothing up.
  return kKeyFields.filter((f) => !omit.includes(f)).map((f) => String(f === 'conntrack' ? cell.conntrack ?? 'fit' : f === 'policies' ? cell.policies ?? 0 : cell[f] ?? '')).join('|');
}

/** Groups of cells equal on every key field except `vary`, each group with at least two cells. */
export function groupsVarying(results: readonly CellResult[], vary: readonly KeyField[]): CellResult[][] {
  const groups = new Map<string, CellResult[]>();
  for (const r of results) {
    const k = keyWithout(r, vary);
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  return [...groups.values()].filter((g) => g.length > 1);
}

/**
 * The Services sweep: cells at one (endpoints, CNI, workers, seed, zipf, conntrack) context,
 * preferring tables sized to fit, one worker and the default CNI (what the default sweep runs),
 * then the context with most cells.
 * Where a (mode, Services) point was run with several flow counts, the largest run is kept.
 */
export function servicesSweep(results: readonly CellResult[]): CellResult[] {
  const contexts = new Map<string, CellResult[]>();
  for (const r of results) {
    const k = keyWithout(r, ['mode', 'services', 'flows']);
    const c = contexts.get(k);
    if (c) c.push(r);
    else contexts.set(k, [r]);
  }
  // Tables sized to fit first: a kube-proxy-sized cell that drops flows measures the limit, not the proxy.
  // Then clusters without policies: the Services sweep measures the proxy, the policy sweep its own chart.
  const score = (c: CellResult[]) => [(c[0]!.conntrack ?? 'fit') === 'fit' ? 1 : 0, (c[0]!.policies ?? 0) === 0 && !c[0]!.dns ? 1 : 0, c[0]!.workers === 1 ? 1 : 0, c[0]!.cni === kDefaultCni ? 1 : 0, new Set(c.map((r) => `${r.mode}|${r.services}`)).size];
  let best: CellResult[] = [];
  let bestScore = [-1, -1, -1, -1, -1];
  for (const c of contexts.values()) {
    const s = score(c);
    const better = s[0]! - bestScore[0]! || s[1]! - bestScore[1]! || s[2]! - bestScore[2]! || s[3]! - bestScore[3]! || s[4]! - bestScore[4]!;
    if (better > 0) {
      best = c;
      bestScore = s;
    }
  }
  const points = new Map<string, CellResult>();
  for (const r of best) {
    const k = `${r.mode}|${r.services}`;
    const prev = points.get(k);
    if (!prev || r.flows > prev.flows || (r.flows === prev.flows && r.finishedAt > prev.finishedAt)) points.set(k, r);
  }
  return [...points.values()];
}

/** Cells by mode, each list sorted by Services, modes in sortModes order. */
export function byMode(cells: readonly CellResult[]): Map<string, CellResult[]> {
  const out = new Map<string, CellResult[]>();
  for (const mode of sortModes(cells.map((c) => c.mode))) {
    out.set(mode, cells.filter((c) => c.mode === mode).sort((a, b) => a.services - b.services));
  }
  return out;
}

/** Distinct values of a numeric field, ascending. */
export function distinct(values: Iterable<number>): number[] {
  return [...new Set(values)].sort((a, b) => a - b);
}
