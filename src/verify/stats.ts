/**
 * Pearson's chi-square goodness-of-fit test against the uniform distribution, with the p-value
 * from the regularized upper incomplete gamma function (Numerical Recipes' gser/gcf), so no
 * dependency is needed.
 */

export interface UniformityTest {
  readonly counts: readonly number[];
  readonly samples: number;
  readonly chiSquare: number;
  readonly degreesOfFreedom: number;
  /** P(X >= chiSquare) under uniformity: small means "not uniform". */
  readonly pValue: number;
}

export function chiSquareUniform(counts: readonly number[]): UniformityTest {
  const k = counts.length;
  const n = counts.reduce((a, b) => a + b, 0);
  if (k < 2 || n === 0) return { counts, samples: n, chiSquare: 0, degreesOfFreedom: Math.max(0, k - 1), pValue: 1 };
  const expected = n / k;
  let chi = 0;
  for (const c of counts) chi += ((c - expected) * (c - expected)) / expected;
  const df = k - 1;
  return { counts, samples: n, chiSquare: chi, degreesOfFreedom: df, pValue: gammaQ(df / 2, chi / 2) };
}

function logGamma(x: number): number {
  const c = [76.18009172947146, -86.50532032941677, 24.01409824083091, -1.231739572450155, 0.1208650973866179e-2, -0.5395239384953e-5];
  let y = x;
  const tmp = x + 5.5 - (x + 0.5) * Math.log(x + 5.5);
  let ser = 1.000000000190015;
  for (const cj of c) ser += cj / ++y;
  return -tmp + Math.log((2.5066282746310005 * ser) / x);
}

/** Regularized upper incomplete gamma Q(a, x). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  if (x < a + 1) {
    // Series for P, then Q = 1 - P.
    let sum = 1 / a;
    let del = sum;
    let ap = a;
    for (let i = 0; i < 1000; i++) {
      ap++;
      del *= x / ap;
      sum += del;
      if (Math.abs(del) < Math.abs(sum) * 1e-15) break;
    }
    return Math.max(0, 1 - sum * Math.exp(-x + a * Math.log(x) - logGamma(a)));
  }
  // Continued fraction for Q (modified Lentz).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.min(1, Math.exp(-x + a * Math.log(x) - logGamma(a)) * h);
}
