/**
 * The cilium record's cost model against the committed default run: the plan's estimate scales
 * every mode by one calibration (the median of measured / modelled seconds over all cells), so a
 * mode is estimated well only if its own cells sit near that median. The old figures
 * (12 µs a flow, 160 µs a Service) put cilium's cells 13-26% above it.
 */
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { calibrationOf, cellWeight, type SweepCell } from '../../../src/replay/sweep.js';
import type { MachineInfo } from '../../../src/report/result.js';

const results = fileURLToPath(new URL('../../../../results/', import.meta.url));

describe('cilium cost model', () => {
  it('its cells in the committed default run are within 10% of the calibration every mode shares', () => {
    const text = readFileSync(`${results}results.jsonl`, 'utf8');
    const machine = JSON.parse(readFileSync(`${results}machine.json`, 'utf8')) as MachineInfo;
    const calibration = calibrationOf(text, machine, machine);
    assert.ok(calibration, 'the committed run gives a calibration');
    // Arrange: each cilium cell's seconds, the gap from the line before it (cells run one after another).
    const ratios: number[] = [];
    let before: number | undefined;
    for (const line of text.trim().split('\n')) {
      const r = JSON.parse(line) as SweepCell & { finishedAt: string; counters?: { repeats?: number } };
      const at = Date.parse(r.finishedAt);
      if (r.mode === 'cilium' && before !== undefined) ratios.push((at - before) / 1000 / (cellWeight({ ...r, repeats: r.counters?.repeats ?? 1 }) / 1e6));
      before = at;
    }
    assert.ok(ratios.length >= 5, `cilium cells timed: ${ratios.length}`);
    ratios.sort((a, b) => a - b);
    const median = ratios[ratios.length >> 1]!;
    const off = median / calibration.scale - 1;
    assert.ok(Math.abs(off) < 0.1, `cilium's median measured/model ${median.toFixed(3)} is ${(off * 100).toFixed(1)}% from the shared scale ${calibration.scale.toFixed(3)} (ratios ${ratios.map((x) => x.toFixed(2)).join(', ')})`);
  });
});
