import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { crossover, leastSquares, logLogFit } from '../../src/report/fit.js';

const kXs = [10, 100, 1000, 10000, 30000];
const close = (a: number, b: number, eps = 1e-9) => assert.ok(Math.abs(a - b) <= eps * Math.max(1, Math.abs(b)), `${a} is not ${b}`);

describe('least-squares fits', () => {
  it('recovers the exponent of exact power laws on log-log axes', () => {
    for (const k of [0, 0.5, 1, 2]) {
      const fit = logLogFit(kXs.map((x) => ({ x, y: 3 * x ** k })))!;
      close(fit.slope, k);
      close(fit.intercept, Math.log10(3));
      close(fit.r2, 1);
      assert.equal(fit.points, 5);
    }
  });

  it('recovers ns per added Service from an exact line', () => {
    const fit = leastSquares(kXs.map((x) => ({ x, y: 200 + 1.5 * x })))!;
    close(fit.slope, 1.5);
    close(fit.intercept, 200);
  });

  it('needs two distinct x, and skips points that have no logarithm', () => {
    assert.equal(leastSquares([{ x: 1, y: 1 }]), undefined);
    assert.equal(leastSquares([{ x: 5, y: 1 }, { x: 5, y: 2 }]), undefined);
    close(logLogFit([{ x: 0, y: 5 }, { x: 10, y: 0 }, { x: 10, y: 10 }, { x: 100, y: 100 }])!.slope, 1);
  });
});

describe('crossover', () => {
  it('interpolates a power-law crossing exactly (log-log)', () => {
    // iptables ∝ N, hash flat at 316.2: they cross at N = 316.2, between 100 and 1000.
    const iptables = kXs.map((x) => ({ x, y: x }));
    const hash = kXs.map((x) => ({ x, y: 316.2 }));
    const c = crossover(hash, iptables);
    assert.equal(c.kind, 'crosses');
    if (c.kind !== 'crosses') return;
    close(c.at, 316.2, 1e-9);
    assert.deepEqual(c.between, [100, 1000]);
  });

  it('says when the challenger is cheaper everywhere, or nowhere, in the measured range', () => {
    const iptables = kXs.map((x) => ({ x, y: 1000 + x }));
    assert.deepEqual(crossover(kXs.map((x) => ({ x, y: 500 })), iptables), { kind: 'always-cheaper', from: 10 });
    const never = crossover(kXs.map((x) => ({ x, y: 100_000 })), iptables);
    assert.equal(never.kind, 'not-cheaper');
    if (never.kind === 'not-cheaper') {
      assert.equal(never.at, 30000);
      close(never.ratio, 100_000 / 31_000);
    }
  });

  it('takes the crossing after which the challenger stays cheaper, and ignores unshared x', () => {
    // Noise: cheaper at 10, dearer at 100, cheaper from 1000 on; 50 exists for one side only.
    const incumbent = [10, 50, 100, 1000, 10000].map((x) => ({ x, y: 100 }));
    const challenger = [{ x: 10, y: 90 }, { x: 100, y: 110 }, { x: 1000, y: 90 }, { x: 10000, y: 80 }, { x: 20000, y: 1 }];
    const c = crossover(challenger, incumbent);
    assert.equal(c.kind, 'crosses');
    if (c.kind === 'crosses') assert.deepEqual(c.between, [100, 1000]);
    assert.deepEqual(crossover([{ x: 10, y: 1 }], incumbent), { kind: 'insufficient' });
  });
});
