/**
 * Chart axes: the domain an axis spans and where its ticks go, for linear and log scales. Ticks
 * sit on round values (powers of ten on log axes, 1-2-5 steps on linear ones) so that a reader
 * can read a point off the chart without interpolating between odd labels.
 */

export type ScaleKind = 'linear' | 'log';

export interface Axis {
  readonly kind: ScaleKind;
  /** The domain, in data units; log axes have lo > 0. */
  readonly lo: number;
  readonly hi: number;
  readonly ticks: readonly number[];
}

/**
 * An axis covering `values` (non-finite values, and non-positive ones on a log axis, are ignored:
 * the caller drops those points too). `includeZero` starts a linear axis at 0, as throughput
 * axes should, so that bar heights are not exaggerated.
 */
export function makeAxis(kind: ScaleKind, values: readonly number[], includeZero = false): Axis {
  const usable = values.filter((v) => Number.isFinite(v) && (kind === 'linear' || v > 0));
  return kind === 'log' ? logAxis(usable) : linearAxis(usable, includeZero);
}

/** Position of `v` on the axis as a fraction 0..1 of its length. */
export function axisFraction(axis: Axis, v: number): number {
  if (axis.kind === 'log') return (Math.log10(v) - Math.log10(axis.lo)) / (Math.log10(axis.hi) - Math.log10(axis.lo));
  return (v - axis.lo) / (axis.hi - axis.lo);
}

function logAxis(values: readonly number[]): Axis {
  if (values.length === 0) return { kind: 'log', lo: 1, hi: 10, ticks: [1, 10] };
  const min = Math.min(...values);
  const max = Math.max(...values);
  const loDecade = Math.floor(Math.log10(min) + 1e-9);
  let hiDecade = Math.ceil(Math.log10(max) - 1e-9);
  if (hiDecade === loDecade) hiDecade += 1;
  if (Math.log10(max / min) >= 1.5) {
    // Whole decades: 10, 100, 1k, ... (every other one when the range is very wide).
    const step = hiDecade - loDecade > 7 ? 2 : 1;
    const ticks: number[] = [];
    for (let d = loDecade; ; d += step) {
      ticks.push(clean(10 ** d));
      if (d >= hiDecade) break;
    }
    return { kind: 'log', lo: ticks[0]!, hi: ticks[ticks.length - 1]!, ticks };
  }
  // Within about one decade, powers of ten alone would leave one or two labels: use 1-2-5 steps,
  // and shrink the domain to the 1-2-5 values around the data.
  const candidates: number[] = [];
  for (let d = loDecade - 1; d <= hiDecade; d++) for (const m of [1, 2, 5]) candidates.push(clean(m * 10 ** d));
  candidates.push(clean(10 ** (hiDecade + 1)));
  let lo = candidates[0]!;
  for (const c of candidates) if (c <= min * (1 + 1e-9)) lo = c;
  let hi = candidates[candidates.length - 1]!;
  for (let i = candidates.length - 1; i >= 0; i--) if (candidates[i]! >= max * (1 - 1e-9)) hi = candidates[i]!;
  if (hi <= lo) hi = candidates[candidates.indexOf(lo) + 1]!;
  return { kind: 'log', lo, hi, ticks: candidates.filter((c) => c >= lo && c <= hi) };
}

function linearAxis(values: readonly number[], includeZero: boolean): Axis {
  let min = values.length ? Math.min(...values) : 0;
  let max = values.length ? Math.max(...values) : 1;
  if (includeZero) {
    min = Math.min(0, min);
    max = Math.max(0, max);
  }
  if (max === min) {
    // One value: centre it in a range of round numbers rather than dividing by zero.
    const pad = min === 0 ? 1 : Math.abs(min) / 2;
    if (!(includeZero && min >= 0)) min -= pad;
    max += pad;
  }
  const step = niceStep((max - min) / 5);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let t = lo; t <= hi + step / 2; t += step) ticks.push(clean(t));
  return { kind: 'linear', lo: clean(lo), hi: clean(hi), ticks };
}

/** The 1-2-5 × 10^k step at or above `rough`. */
export function niceStep(rough: number): number {
  const decade = 10 ** Math.floor(Math.log10(rough));
  for (const m of [1, 2, 5, 10]) if (m * decade >= rough * (1 - 1e-9)) return clean(m * decade);
  return clean(10 * decade);
}

/** Removes float noise: 0.1 * 3 prints as 0.3, 10 ** -1 * 5 as 0.5. */
function clean(x: number): number {
  return Number.parseFloat(x.toPrecision(12));
}
