import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { measureIndependentRead, measureRandomRead, measureScan } from '../../src/replay/limits.js';

const clock = (): number => performance.now();

describe('machine limits', () => {
  it('independent random reads overlap their misses: faster a read than a dependent chain over the same array', () => {
    const bytes = 64 * 2 ** 20; // far past any cache level
    const dependent = measureRandomRead(bytes, clock, 400_000);
    const independent = measureIndependentRead(bytes, clock, 2_000_000);
    assert.ok(independent > 0 && dependent > 0);
    assert.ok(independent * 1.5 < dependent, `independent ${independent.toFixed(1)} ns vs dependent ${dependent.toFixed(1)} ns a read`);
  });


  it('the scan limit is stable: two measurements in one process agree (they swung 5x when V8 kept baseline code)', () => {
    const a = measureScan(clock);
    const b = measureScan(clock);
    assert.ok(a > 0 && b > 0, `${a} and ${b} ns per element`);
    assert.ok(Math.max(a, b) / Math.min(a, b) < 2, `${a} vs ${b} ns per element`);
  });
});
