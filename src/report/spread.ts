/**
 * A cell's repeats as a median and its spread, and error bars from a `Spread`. result.ts does not
 * say which unit a spread is in (the time per item or the rate), so it is recognised by its median:
 * the one that matches the cell's ns figure or its rate figure. Time and rate are inverse, so either
 * converts into the other; a spread whose median matches neither is not drawn rather than drawn wrong.
 */
import type { Spread } from './result.js';

export interface Range {
  readonly min: number;
  readonly max: number;
  readonly runs: number;
}

/** The median of `values` (NaN for none): what every repeated figure of kdp reports. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Repeats as a `Spread`: their median, extremes and count. */
export function spreadOf(values: readonly number[]): Spread {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), runs: values.length };
}

const kTolerance = 0.02;

function near(a: number, b: number): boolean {
  return Number.isFinite(a) && Number.isFinite(b) && b !== 0 && Math.abs(a - b) / Math.abs(b) <= kTolerance;
}

/** The spread as a range of ns per item, given the cell's median ns and its median rate. */
export function spreadAsNs(spread: Spread | undefined, ns: number, rate: number): Range | undefined {
  if (!spread || !(spread.min > 0) || !(spread.max >= spread.min)) return undefined;
  if (near(spread.median, ns)) return { min: ns * (spread.min / spread.median), max: ns * (spread.max / spread.median), runs: spread.runs };
  if (near(spread.median, rate)) return { min: ns * (spread.median / spread.max), max: ns * (spread.median / spread.min), runs: spread.runs };
  return undefined;
}

/** The spread as a range of the rate (per second), given the same two medians. */
export function spreadAsRate(spread: Spread | undefined, ns: number, rate: number): Range | undefined {
  const r = spreadAsNs(spread, ns, rate);
  if (!r) return undefined;
  return { min: rate * (ns / r.max), max: rate * (ns / r.min), runs: r.runs };
}
