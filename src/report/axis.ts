/**
 * Chart axes: the domain an axis spans and where its ticks go, for linear and log scales. An axis
 * spans the data and no more; its ticks sit on round values (powers of ten on log axes, 1-2-5 steps on linear ones) so that a reader
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
 * An axis that ends at the data: from the smallest value to the largest (non-finite values, and
 * non-positive ones on a log axis, are ignored: the caller drops those points too), with round
 * ticks inside that range, so that no stretch of the axis is empty of data. `includeZero` starts
 * a linear axis at 0, as throughput axes should, so that heights are not exaggerated.
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
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  // One value: a factor of two either side, so that it has an axis to sit on.
  if (hi === lo) [lo, hi] = [lo / 2, hi * 2];
  const loDecade = Math.floor(Math.log10(lo) + 1e-9);
  const hiDecade = Math.floor(Math.log10(hi) + 1e-9);
  // Whole decades inside the data (every other one when the range is very wide); within about
  // one decade, 1-2-5 steps, so that at least two labels are left to read a point off.
  const step = hiDecade - loDecade > 7 ? 2 : 1;
  let ticks: number[] = [];
  for (let d = loDecade; d <= hiDecade; d += step) ticks.push(clean(10 ** d));
  ticks = ticks.filter((t) => inside(t, lo, hi));
  if (ticks.length < 3) {
    const steps: number[] = [];
    for (let d = loDecade; d <= hiDecade; d++) for (const m of [1, 2, 5]) steps.push(clean(m * 10 ** d));
    const within = steps.filter((t) => inside(t, lo, hi));
    if (within.length > ticks.length) ticks = within;
  }
  // Too narrow a range for two round values: the data's own ends are the labels.
  if (ticks.length < 2) ticks = [...new Set([lo, ...ticks, hi])];
  return { kind: 'log', lo, hi, ticks };
}

function linearAxis(values: readonly number[], includeZero: boolean): Axis {
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  if (includeZero) {
    lo = Math.min(0, lo);
    hi = Math.max(0, hi);
  }
  if (hi === lo) {
    // One value: centre it in a range rather than dividing by zero.
    const pad = lo === 0 ? 1 : Math.abs(lo) / 2;
    if (!(includeZero && lo >= 0)) lo -= pad;
    hi += pad;
  }
  const step = niceStep((hi - lo) / 5);
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi * (1 + 1e-9) + 1e-12; t += step) ticks.push(clean(t));
  return { kind: 'linear', lo: clean(lo), hi: clean(hi), ticks };
}

/** Whether a tick lies within the data's range (float noise forgiven). */
function inside(t: number, lo: number, hi: number): boolean {
  return t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9);
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
