/**
 * The sweep's plan: a cell's shard depends on its key alone (not on flag or cell order), every
 * cell lands in exactly one shard, and the assignment is the one written down here, so shards of
 * one sweep run by two kdp versions still agree.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { parsePlanJsonl, parseShard, planLineProblem, shardOfKey } from '../../src/report/plan.js';
import { cellKeyString } from '../../src/report/result.js';
import { calibrationOf, cellWeight, planLines, planSweep } from '../../src/replay/sweep.js';
import { kSyntheticMachine } from './synthetic.js';

/** FNV-1a 32 (offset basis 2166136261, prime 16777619) and MurmurHash3's fmix32, in BigInt arithmetic from their definitions. */
function oracleShard(key: string, shards: number): number {
  const m = 0xffffffffn;
  let h = 2166136261n;
  for (let i = 0; i < key.length; i++) h = ((h ^ BigInt(key.charCodeAt(i))) * 16777619n) & m;
  h ^= h >> 16n;
  h = (h * 0x85ebca6bn) & m;
  h ^= h >> 13n;
  h = (h * 0xc2b2ae35n) & m;
  h ^= h >> 16n;
  return Number(h % BigInt(shards));
}

describe('shardOfKey', () => {
  it('is FNV-1a of the key, finalised by fmix32, mod N', () => {
    fc.assert(fc.property(fc.string({ maxLength: 80 }), fc.integer({ min: 1, max: 1000 }), (key, n) => shardOfKey(key, n) === oracleShard(key, n)));
  });

  it('keeps the assignments of the default sweep (a changed hash or key would split old and new shards differently)', () => {
    const keys = ['iptables|10|10|calico-vxlan|1|1000000|1|0', 'ipvs|30000|10|calico-vxlan|1|1000000|1|0', 'nftables|1000|10|calico-vxlan|2|1000000|1|0', 'userspace|100|10|kubenet|1|10000000|1|0'];
    assert.deepEqual(keys.map((k) => shardOfKey(k, 8)), keys.map((k) => oracleShard(k, 8)));
    assert.deepEqual(keys.map((k) => shardOfKey(k, 8)), [7, 1, 1, 5]);
  });

  it('splits a sweep into shards that hold every cell once, whatever the order of the flags', () => {
    const a = planSweep({ cores: 4, services: [10, 100, 1000], modes: ['iptables', 'ipvs', 'nftables'] });
    const b = planSweep({ cores: 4, services: [1000, 10, 100], modes: ['nftables', 'iptables', 'ipvs'] });
    for (const n of [1, 2, 3, 4, 8, 16]) {
      const la = planLines(a, undefined, n);
      const lb = planLines(b, undefined, n);
      const mapA = new Map(la.map((l) => [l.key, l.shard]));
      assert.deepEqual(new Map(lb.map((l) => [l.key, l.shard])), mapA);
      const union = Array.from({ length: n }, (_, i) => la.filter((l) => l.shard === i).map((l) => l.key)).flat().sort();
      assert.deepEqual(union, a.map(cellKeyString).sort());
      assert.ok(la.every((l) => l.shards === n && l.shard! >= 0 && l.shard! < n));
    }
  });
});

describe('plan lines', () => {
  it('estimate each cell from the modes\' cost model, scaled by a calibration when there is one', () => {
    const cells = planSweep({ cores: 1, services: [10, 10000], modes: ['iptables', 'ipvs'], flows: 100_000 });
    const model = planLines(cells, undefined);
    const calibrated = planLines(cells, { scale: 0.5 });
    const est = (mode: string, s: number) => model.find((l) => l.mode === mode && l.services === s)!.estimateSeconds;
    assert.ok(est('iptables', 10000) > est('iptables', 10) * 2, 'the linear mode\'s first packets walk every Service');
    assert.ok(est('iptables', 10000) > est('ipvs', 10000));
    model.forEach((l, i) => assert.ok(Math.abs(calibrated[i]!.estimateSeconds - l.estimateSeconds / 2) <= 0.1));
    assert.ok(model.every((l) => l.estimateBasis === 'model') && calibrated.every((l) => l.estimateBasis === 'calibrated'));
    // Both past the warm-up's flows (kWarmUpFlows), which the estimate counts too.
    const twice = planLines(planSweep({ cores: 1, services: [10], modes: ['ipvs'], flows: 300_000 }), undefined)[0]!;
    const once = planLines(planSweep({ cores: 1, services: [10], modes: ['ipvs'], flows: 200_000 }), undefined)[0]!;
    // 100,000 more flows of ipvs at 10 Services: 100,000 x 12 µs by the model, 1.2 s.
    assert.ok(Math.abs(twice.estimateSeconds - once.estimateSeconds - 1.2) <= 0.1);
  });

  it('are calibrated by an earlier sweep on the same hardware: each cell\'s time is the gap to the line before', () => {
    const cells = planSweep({ cores: 1, services: [10, 100, 1000, 10000], modes: ['iptables'], flows: 50_000 });
    // Each cell took exactly 3 times the model's seconds; a kernel baseline line in between only moves the clock.
    let t = Date.parse('2030-01-01T00:00:00Z');
    const lines = [JSON.stringify({ mode: 'kernel-iptables', finishedAt: new Date(t).toISOString() })];
    for (const c of cells) {
      t += (cellWeight(c) / 1e6) * 3 * 1000;
      lines.push(JSON.stringify({ ...c, counters: { repeats: 1 }, finishedAt: new Date(t).toISOString() }));
    }
    const here = { ...kSyntheticMachine, gitCommit: 'newer', date: 'now', memoryBytes: kSyntheticMachine.memoryBytes + 300_000 };
    const cal = calibrationOf(lines.join('\n'), kSyntheticMachine, here);
    assert.equal(cal?.cells, 4);
    assert.ok(Math.abs(cal!.scale - 3) < 1e-3, String(cal?.scale));
    assert.equal(calibrationOf(lines.join('\n'), kSyntheticMachine, { ...here, cores: 16 }), undefined, 'another machine\'s times do not calibrate this one');
    assert.equal(calibrationOf(lines.slice(0, 3).join('\n'), kSyntheticMachine, here), undefined, 'two timed cells are too few');
    assert.equal(calibrationOf(`null\n${lines.join('\n')}\n{"torn`, kSyntheticMachine, here)?.cells, 4);
    assert.equal(calibrationOf(undefined, undefined, here), undefined);
  });

  it('read back as written; a line whose key or shard does not match its cell is refused', () => {
    const lines = planLines(planSweep({ cores: 2, services: [10], modes: ['ipvs'] }), undefined, 3);
    const text = lines.map((l) => JSON.stringify(l)).join('\n');
    assert.deepEqual(parsePlanJsonl(text).lines, lines);
    assert.match(planLineProblem({ ...lines[0], services: 11 })!, /is not the cell's key/);
    assert.match(planLineProblem({ ...lines[0], shard: (lines[0]!.shard! + 1) % 3 })!, /is not the key's shard of 3/);
    assert.match(planLineProblem({ ...lines[0], shards: undefined })!, /go together/);
    assert.deepEqual(parsePlanJsonl(`${text}\n{"key":`).malformed.map((m) => m.line), [lines.length + 1]);
  });

  it('--shard I/N parses only a shard that exists', () => {
    assert.deepEqual(parseShard('0/1'), { index: 0, count: 1 });
    assert.deepEqual(parseShard('7/8'), { index: 7, count: 8 });
    for (const bad of ['8/8', '1/0', '-1/4', '1/', '/4', '1.5/4', 'a/b', '1/4/2']) assert.equal(parseShard(bad), undefined, bad);
  });
});
