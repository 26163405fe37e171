/**
 * The machine's scaling limit beside the workers cells (issue 14 (d)): W threads' throughput over
 * one thread's, from samples taken alone and together on the replay pool's own threads.
 */
import { strict as assert } from 'node:assert';
import { after, describe, it } from 'node:test';
import { ReplayPool } from '../../src/replay/pool.js';
import { newGate, scalingSample, speedupOf, type ScalingSample } from '../../src/replay/scaling.js';

const s = (readNs: number, computeNs: number, writeNs = readNs): ScalingSample => ({ readNs, writeNs, computeNs });

describe('the machine\'s scaling on W threads', () => {
  it('is the sum of the threads\' throughputs over the lone thread\'s, the median of the repeats', () => {
    // Oracle, by hand: a lone read of 10 ns; two threads at 10 and 20 ns do 1/10 + 1/20 reads a ns,
    // 1.5x the lone 1/10. Arithmetic at 4 ns alone and 4, 4 together: 2x.
    // Stores at 5 ns alone, 10 and 10 together: 1x (the write-back bandwidth shared).
    assert.deepEqual(speedupOf([s(10, 4, 5)], [[s(10, 4, 10), s(20, 4, 10)]]), { threads: 2, readSpeedup: 1.5, writeSpeedup: 1, computeSpeedup: 2 });
    // Three repeats: 2x, 1x and 1.6x on reads; the median is 1.6x, not the mean.
    const r = speedupOf([s(10, 1), s(10, 1), s(8, 1)], [[s(10, 1), s(10, 1)], [s(20, 1), s(20, 1)], [s(10, 1), s(10, 1)]]);
    assert.equal(r.readSpeedup, 1.6);
    assert.equal(r.computeSpeedup, 2);
    assert.throws(() => speedupOf([s(1, 1)], []), RangeError);
  });

  it('a sample alone times reads and arithmetic; one whose partners never come says so instead of hanging', () => {
    const alone = scalingSample({ bytes: 1 << 16, reads: 20_000, rounds: 20_000, gate: newGate(), parties: 1 });
    for (const x of [alone.readNs, alone.writeNs, alone.computeNs]) assert.ok(x > 0 && Number.isFinite(x));
    assert.throws(() => scalingSample({ bytes: 1 << 16, reads: 1000, rounds: 1000, gate: newGate(), parties: 2, gateTimeoutMs: 50 }), /1 of 2 threads reached the gate/);
  });

  const pool = new ReplayPool();
  after(() => pool.close());
  it('measures on the pool\'s threads: W samples meet at the gate, so they ran at once', async () => {
    const r = await pool.scaling(2, 1 << 20, { reads: 200_000, rounds: 200_000, repeats: 1 });
    assert.equal(r.threads, 2);
    // Its size is the machine's (and, under the test runner's other files, their load's): only that
    // it is a figure. That the two samples ran at once is the gate's (the test above).
    for (const x of [r.readSpeedup, r.writeSpeedup, r.computeSpeedup]) assert.ok(x > 0 && Number.isFinite(x), `speedup ${x}`);
    await assert.rejects(pool.scaling(1, 1 << 20), RangeError);
  });
});
