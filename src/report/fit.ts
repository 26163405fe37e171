/**
 * The arithmetic behind the observations: least-squares fits (on linear and on log-log axes)
 * and where one cost curve crosses another. Pure functions over {x, y} points, so they can be
 * tested on exact power laws.
 */

export interface XY {
  readonly x: number;
  readonly y: number;
}

export interface Fit {
  /** dy/dx; on log-log axes, the exponent k of y ∝ x^k. */
  readonly slope: number;
  readonly intercept: number;
  /** Coefficient of determination: 1 when every point is on the line. */
  readonly r2: number;
  readonly points: number;
}

/** Ordinary least squares y = intercept + slope·x; undefined with fewer than two distinct x. */
export function leastSquares(points: readonly XY[]): Fit | undefined {
  const pts = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const n = pts.length;
  if (n < 2) return undefined;
  let sx = 0;
  let sy = 0;
  for (const p of pts) {
    sx += p.x;
    sy += p.y;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (const p of pts) {
    sxx += (p.x - mx) ** 2;
    sxy += (p.x - mx) * (p.y - my);
    syy += (p.y - my) ** 2;
  }
  if (sxx === 0) return undefined;
  const slope = sxy / sxx;
  const r2 = syy === 0 ? 1 : (sxy * sxy) / (sxx * syy);
  return { slope, intercept: my - slope * mx, r2, points: n };
}

/**
 * The fit on log-log axes: slope k means cost ∝ Services^k (0 = flat, as a hash lookup should
 * be; 1 = linear, as a rule scan is). Points with x or y ≤ 0 have no logarithm and are skipped.
 */
export function logLogFit(points: readonly XY[]): Fit | undefined {
  return leastSquares(points.filter((p) => p.x > 0 && p.y > 0).map((p) => ({ x: Math.log10(p.x), y: Math.log10(p.y) })));
}

export type Crossover =
  /** The challenger becomes cheaper between two measured x, at the interpolated `at`. */
  | { readonly kind: 'crosses'; readonly at: number; readonly between: readonly [number, number] }
  /** Already cheaper at the smallest x measured for both, and still at the largest. */
  | { readonly kind: 'always-cheaper'; readonly from: number }
  /** Not cheaper at the largest x measured for both; `ratio` = challenger / incumbent there. */
  | { readonly kind: 'not-cheaper'; readonly at: number; readonly ratio: number }
  /** Fewer than two x values measured for both curves. */
  | { readonly kind: 'insufficient' };

/**
 * Where `challenger` overtakes (becomes cheaper than) `incumbent`: the last crossing before the
 * challenger stays cheaper up to the largest x both were measured at, so that noise at small x
 * does not hide the crossing that matters. Interpolated linearly in log(x) on log(ratio), which is
 * exact for power laws and matches how the curves look on the log-log chart.
 */
export function crossover(challenger: readonly XY[], incumbent: readonly XY[]): Crossover {
  const inc = new Map(incumbent.filter((p) => p.x > 0 && p.y > 0).map((p) => [p.x, p.y]));
  const common = challenger
    .filter((p) => p.x > 0 && p.y > 0 && inc.has(p.x))
    .map((p) => ({ x: p.x, r: Math.log(p.y / inc.get(p.x)!) }))
    .sort((a, b) => a.x - b.x);
  if (common.length < 2) return { kind: 'insufficient' };
  const last = common[common.length - 1]!;
  if (last.r >= 0) return { kind: 'not-cheaper', at: last.x, ratio: Math.exp(last.r) };
  let i = common.length - 1;
  while (i > 0 && common[i - 1]!.r < 0) i--;
  if (i === 0) return { kind: 'always-cheaper', from: common[0]!.x };
  const a = common[i - 1]!;
  const b = common[i]!;
  const t = a.r / (a.r - b.r);
  const at = Math.exp(Math.log(a.x) + t * (Math.log(b.x) - Math.log(a.x)));
  return { kind: 'crosses', at, between: [a.x, b.x] };
}
