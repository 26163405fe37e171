import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { CellResult } from '../../src/report/result.js';
import { evaluateTargets, type TargetResult } from '../../src/report/targets.js';
import { syntheticCell } from './synthetic.js';

function target(cells: CellResult[], id: string): TargetResult {
  const t = evaluateTargets(cells).find((r) => r.id === id);
  assert.ok(t, `target ${id}`);
  return t;
}

describe('target (a): iptables ns per rule', () => {
  const at = (nsPerRule: number) => [
    syntheticCell({ mode: 'iptables', services: 100, iptables: { rulesPerFirstPacket: 110, nsPerRule: 9 } }),
    syntheticCell({ mode: 'iptables', services: 30000, iptables: { rulesPerFirstPacket: 30010, nsPerRule } }),
  ];
  it('is judged at the largest Services count, on both sides of 2 ns', () => {
    assert.equal(target(at(2), 'a').verdict, 'met');
    assert.equal(target(at(2.01), 'a').verdict, 'missed');
    assert.match(target(at(2.01), 'a').figure, /^2\.01 ns\/rule at 30k Services/);
  });
  it('is not measured without iptables cells', () => {
    assert.equal(target([syntheticCell({ mode: 'ipvs', services: 100 })], 'a').verdict, 'not measured');
  });
});

describe('target (b): hash modes stay flat', () => {
  const at = (ratio: number, modes = ['ipvs', 'nftables']) =>
    modes.flatMap((mode) => [syntheticCell({ mode, services: 100, nsPerFlow: 1000 }), syntheticCell({ mode, services: 30000, nsPerFlow: 1000 * ratio })]);
  it('holds at 1.5× and not above', () => {
    assert.equal(target(at(1.5), 'b').verdict, 'met');
    assert.equal(target(at(1.51), 'b').verdict, 'missed');
    assert.match(target(at(1.51), 'b').figure, /ipvs: 1\.51× \(1\.51 µs at 30k vs 1 µs at 100\)/);
  });
  it('is not met on the strength of one mode', () => {
    const t = target(at(1.1, ['ipvs']), 'b');
    assert.equal(t.verdict, 'not measured');
    assert.match(t.figure, /nftables: not measured/);
    assert.equal(target([...at(1.1, ['ipvs']), ...at(2, ['nftables'])], 'b').verdict, 'missed');
  });
});

describe('target (c): established throughput and the memory-latency limit', () => {
  const at = (nsPerPacket: number, randomReadNs = 80) => [syntheticCell({ mode: 'ipvs', services: 100, nsPerPacket, limits: { randomReadNs, scanNsPerElement: 0.5 } })];
  it('needs 5 Mpps per worker', () => {
    assert.equal(target(at(200), 'c1').verdict, 'met');
    assert.equal(target(at(201), 'c1').verdict, 'missed');
    assert.match(target(at(201), 'c1').figure, /lowest 4\.98 Mpps/);
  });
  it('needs ns/packet within 2× of a random read', () => {
    assert.equal(target(at(160, 80), 'c2').verdict, 'met');
    assert.equal(target(at(161, 80), 'c2').verdict, 'missed');
    assert.match(target(at(161, 80), 'c2').figure, /2\.01×: 161 ns\/packet vs 80 ns per random read/);
  });
  it('ignores multi-worker and kernel cells', () => {
    const cells = [syntheticCell({ mode: 'kernel-iptables', services: 100, nsPerPacket: 1000 }), syntheticCell({ mode: 'ipvs', services: 100, workers: 2, nsPerPacket: 1000 })];
    assert.equal(target(cells, 'c1').verdict, 'not measured');
    assert.equal(target(cells, 'c2').verdict, 'not measured');
  });
});

describe('target (d): two workers', () => {
  const at = (speedup: number) => [
    syntheticCell({ mode: 'ipvs', services: 1000, workers: 1, perSecond: 1e6, packetsPerSecond: 5e6 }),
    syntheticCell({ mode: 'ipvs', services: 1000, workers: 2, perSecond: 1e6 * speedup, packetsPerSecond: 5e6 * speedup }),
  ];
  it('needs 1.8× for new flows and for established packets', () => {
    assert.equal(target(at(1.8), 'd1').verdict, 'met');
    assert.equal(target(at(1.8), 'd2').verdict, 'met');
    assert.equal(target(at(1.79), 'd1').verdict, 'missed');
    assert.equal(target(at(1.79), 'd2').verdict, 'missed');
    assert.match(target(at(1.79), 'd1').figure, /^1\.79×: 1\.79 M\/s vs 1 M\/s/);
  });
  it('only pairs cells that differ in nothing but workers', () => {
    const unpaired = [syntheticCell({ mode: 'ipvs', services: 1000, workers: 1 }), syntheticCell({ mode: 'ipvs', services: 100, workers: 2 })];
    assert.equal(target(unpaired, 'd1').verdict, 'not measured');
  });
});

describe('targets with no results', () => {
  it('are all not measured', () => {
    assert.deepEqual(evaluateTargets([]).map((t) => t.verdict), Array(6).fill('not measured'));
  });
});
