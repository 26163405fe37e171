import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { axisFraction, makeAxis, niceStep } from '../../src/report/axis.js';
import { axisUnit, formatBytes, formatCount, formatNs, formatPerSecond, formatPps, kPpsUnits, kTimeUnits, sig3 } from '../../src/report/format.js';

describe('log axis', () => {
  it('ends at the data, with ticks on the powers of ten inside it', () => {
    const a = makeAxis('log', [10, 100, 1000, 10000, 30000]);
    assert.deepEqual(a.ticks, [10, 100, 1000, 10000]);
    assert.equal(a.lo, 10);
    assert.equal(a.hi, 30000, 'no empty decade past the largest Services count');
    assert.equal(a.ticks.map(formatCount).join(' '), '10 100 1k 10k');
    assert.equal(axisFraction(a, 10), 0);
    assert.equal(axisFraction(a, 30000), 1);
  });

  it('fills a range with fewer than three decades by 1-2-5 steps, labelled in ns and µs', () => {
    const a = makeAxis('log', [215, 45_000]);
    assert.deepEqual(a.ticks.map(formatNs), ['500 ns', '1 µs', '2 µs', '5 µs', '10 µs', '20 µs']);
    assert.equal(a.lo, 215);
    assert.equal(a.hi, 45_000);
  });

  it('uses 1-2-5 steps within about a decade, the data\'s own ends when even those are too few, and ignores values ≤ 0', () => {
    const a = makeAxis('log', [0, -5, 80, 520]);
    assert.deepEqual(a.ticks, [100, 200, 500]);
    assert.deepEqual([a.lo, a.hi], [80, 520]);
    const narrow = makeAxis('log', [1450, 1700]);
    assert.deepEqual(narrow.ticks, [1450, 1700]);
    const one = makeAxis('log', [1000]);
    assert.ok(one.lo < 1000 && one.hi > 1000);
  });

  it('thins very wide ranges to every other decade', () => {
    const a = makeAxis('log', [1, 1e9]);
    assert.deepEqual(a.ticks, [1, 100, 1e4, 1e6, 1e8]);
  });
});

describe('linear axis', () => {
  it('ends at the data, uses round steps inside it and can start at zero', () => {
    const a = makeAxis('linear', [9.5e6, 10.5e6], true);
    assert.equal(a.lo, 0);
    assert.equal(a.hi, 10.5e6);
    assert.deepEqual(a.ticks, [0, 5e6, 1e7]);
    const b = makeAxis('linear', [3, 17]);
    assert.deepEqual([b.lo, b.hi], [3, 17]);
    assert.ok(b.ticks.every((t) => t >= 3 && t <= 17), String(b.ticks));
    assert.equal(niceStep(0.3), 0.5);
    assert.equal(niceStep(7), 10);
    const flat = makeAxis('linear', [5]);
    assert.ok(flat.lo < 5 && flat.hi > 5);
  });
});

describe('axis units', () => {
  it('picks one unit for every tick of an axis', () => {
    assert.deepEqual(axisUnit(kTimeUnits, [100, 1000, 10_000]), { factor: 1000, name: 'µs' });
    assert.deepEqual(axisUnit(kTimeUnits, [1, 10_000]), { factor: 1, name: 'ns' }, '1 ns would print as 0.001 µs');
    assert.deepEqual(axisUnit(kPpsUnits, [0, 5e6, 1e7]), { factor: 1e6, name: 'Mpps' }, 'zero needs no unit');
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
