import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { axisFraction, makeAxis, niceStep } from '../../src/report/axis.js';
import { formatBytes, formatCount, formatNs, formatPerSecond, formatPps, sig3 } from '../../src/report/format.js';

describe('log axis', () => {
  it('puts ticks on powers of ten around the data', () => {
    const a = makeAxis('log', [10, 100, 1000, 10000, 30000]);
    assert.deepEqual(a.ticks, [10, 100, 1000, 10000, 100000]);
    assert.equal(a.lo, 10);
    assert.equal(a.hi, 100000);
    assert.equal(a.ticks.map(formatCount).join(' '), '10 100 1k 10k 100k');
    assert.equal(axisFraction(a, 1000), 0.5);
  });

  it('labels ns ticks in ns and µs', () => {
    const a = makeAxis('log', [215, 45_000]);
    assert.deepEqual(a.ticks.map(formatNs), ['100 ns', '1 µs', '10 µs', '100 µs']);
  });

  it('uses 1-2-5 steps within about a decade, and ignores values ≤ 0', () => {
    const a = makeAxis('log', [0, -5, 80, 120]);
    assert.deepEqual(a.ticks, [50, 100, 200]);
    const one = makeAxis('log', [1000]);
    assert.ok(one.lo <= 1000 && one.hi >= 1000 && one.hi > one.lo);
  });

  it('thins very wide ranges to every other decade', () => {
    const a = makeAxis('log', [1, 1e9]);
    assert.deepEqual(a.ticks, [1, 100, 1e4, 1e6, 1e8, 1e10]);
  });
});

describe('linear axis', () => {
  it('uses round steps and can start at zero', () => {
    const a = makeAxis('linear', [9.5e6, 10.5e6], true);
    assert.equal(a.lo, 0);
    assert.ok(a.hi >= 10.5e6);
    assert.deepEqual(a.ticks, [0, 5e6, 1e7, 1.5e7]);
    assert.equal(niceStep(0.3), 0.5);
    assert.equal(niceStep(7), 10);
    const flat = makeAxis('linear', [5]);
    assert.ok(flat.lo < 5 && flat.hi > 5);
  });
});

describe('number formatting', () => {
  it('prints figures for people', () => {
    assert.equal(formatNs(1234), '1.23 µs');
    assert.equal(formatNs(999.97), '1 µs');
    assert.equal(formatNs(12.34), '12.3 ns');
    assert.equal(formatNs(0.85), '0.85 ns');
    assert.equal(formatPps(3.4e6), '3.4 Mpps');
    assert.equal(formatPerSecond(12_300), '12.3 k/s');
    assert.equal(formatPerSecond(950), '950/s');
    assert.equal(formatBytes(1536), '1.5 KiB');
    assert.equal(formatCount(100_000), '100k');
    assert.equal(sig3(-1e-17), '0');
  });
});
