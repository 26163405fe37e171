import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { CellResult, MachineInfo, SweepRun } from '../../src/report/result.js';
import { parseMachineJson } from '../../src/report/parse-machine.js';
import { renderReport } from '../../src/report/index.js';
import { kHashModes } from '../../src/report/select.js';
import { evaluateTargets, type TargetResult } from '../../src/report/targets.js';
import { kSyntheticMachine, syntheticCell, syntheticSweep } from './synthetic.js';

function target(cells: CellResult[], id: string): TargetResult {
  const t = evaluateTargets(cells).find((r) => r.id === id);
  assert.ok(t, `target ${id}`);
  return t;
}

describe('target (a): iptables ns per rule, and against the bare scan', () => {
  const at = (nsPerRule: number, scanNsPerElement = 0.7) => [
    syntheticCell({ mode: 'iptables', services: 100, iptables: { rulesPerFirstPacket: 110, nsPerRule: 9 } }),
    syntheticCell({ mode: 'iptables', services: 30000, iptables: { rulesPerFirstPacket: 30010, nsPerRule }, limits: { randomReadNs: 80, scanNsPerElement } }),
  ];
  it('is judged at the largest Services count, on both sides of 1 ns', () => {
    assert.equal(target(at(1), 'a').verdict, 'met');
    assert.equal(target(at(1.01), 'a').verdict, 'missed');
    assert.match(target(at(1.01), 'a').figure, /^1\.01 ns\/rule at 30k Services \(30k rules per first packet\), 1\.44× the bare scan's 0\.7 ns an element/);
  });
  it('needs the rule within 1.5× of the bare scan of the same cell', () => {
    assert.equal(target(at(0.75, 0.5), 'a').verdict, 'met');
    assert.equal(target(at(0.76, 0.5), 'a').verdict, 'missed');
    assert.equal(target(at(0.9, 0), 'a').verdict, 'not measured', 'no bare scan: half the target is unjudged');
    assert.equal(target(at(1.2, 0), 'a').verdict, 'missed', 'over 1 ns is missed whatever the scan');
  });
  it('is not measured without iptables cells', () => {
    assert.equal(target([syntheticCell({ mode: 'ipvs', services: 100 })], 'a').verdict, 'not measured');
  });
});

describe('target (b1): hash modes stay flat', () => {
  const at = (ratio: number, modes: readonly string[] = kHashModes) =>
    modes.flatMap((mode) => [syntheticCell({ mode, services: 100, nsPerFlow: 1000 }), syntheticCell({ mode, services: 30000, nsPerFlow: 1000 * ratio })]);
  it('holds at 1.3× and not above', () => {
    assert.equal(target(at(1.3), 'b1').verdict, 'met');
    assert.equal(target(at(1.31), 'b1').verdict, 'missed');
    assert.match(target(at(1.31), 'b1').figure, /ipvs: 1\.31× \(1\.31 µs at 30k vs 1 µs at 100\)/);
  });
  it("says, where the cells know it, that one core's caches held every node's tables", () => {
    const grown = at(1.5, ['ipvs', 'nftables', 'cilium']).map((c) => (c.services === 30000 ? { ...c, memory: { ...c.memory, allNodesTableBytes: 2 * c.memory.tableBytes } } : c));
    const why = target(grown, 'b1').why ?? '';
    assert.match(why, /ipvs: .*the larger tables \(18\.3 MiB a node vs 62\.5 KiB\) account for the growth\. A worker replays every node's packets, so one core's caches hold every node's tables \(36\.6 MiB at 30k Services\), where each node of a cluster has its own\./);
    assert.doesNotMatch(target(at(1.5), 'b1').why ?? '', /every node's tables/, 'results from before the figure say nothing of it');
  });
  it('is not met on the strength of one mode', () => {
    const t = target(at(1.1, ['ipvs']), 'b1');
    assert.equal(t.verdict, 'not measured');
    assert.match(t.figure, /nftables: not measured/);
    assert.equal(target([...at(1.1, ['ipvs']), ...at(2, ['nftables'])], 'b1').verdict, 'missed');
  });
});

describe("target (b2): nftables' lookup against ipvs's", () => {
  // service-nat ns per packet × packets / first packets = the lookup per first packet.
  const lookup = (mode: string, services: number, ns: number) =>
    syntheticCell({ mode, services, packets: 1000, stages: { 'service-nat': ns / 10 }, counters: { firstPackets: 100, decisions: 100, decisionWork: mode === 'nftables' ? 1890 : 140 }, memory: { tableBytes: mode === 'nftables' ? 4 << 20 : 1 << 20, conntrackBytesPerEntry: 64 } });
  const at = (...ratios: number[]) => ratios.flatMap((r, k) => [lookup('ipvs', 100 * 10 ** k, 200), lookup('nftables', 100 * 10 ** k, 200 * r)]);
  it('needs at most 1.5× at every Services count', () => {
    assert.equal(target(at(1.5, 1.2), 'b2').verdict, 'met');
    assert.equal(target(at(1.2, 1.51), 'b2').verdict, 'missed');
    assert.match(target(at(1.2, 1.51), 'b2').figure, /^worst 1\.51×: 302 ns vs 200 ns at 1k Services; 1\.2× at 100, 1\.51× at 1k/);
    // A miss says what the worst pair's decisions did, from their own counters and tables.
    assert.match(target(at(1.2, 1.51), 'b2').why ?? '', /^At 1k Services, nftables' decision took 18\.9 rule or hash steps \(kube-proxy's chains walked rule by rule, its verdict maps and sets looked up\) where ipvs's took 1\.4 \(the probes of one hash of its virtual services\), over tables of 4 MiB and 1 MiB: 302 ns and 200 ns a first packet\.$/);
    assert.equal(target(at(1.5, 1.2), 'b2').why, undefined, 'a met target needs no explanation');
  });
  it('is not measured without both modes at one count', () => {
    assert.equal(target([lookup('nftables', 100, 300), lookup('ipvs', 1000, 200)], 'b2').verdict, 'not measured');
  });
});

describe('target (c): established throughput and the memory limit', () => {
  const at = (nsPerPacket: number, independentReadNs = 20, hits?: number) => {
    const c = syntheticCell({ mode: 'ipvs', services: 100, nsPerPacket, limits: { randomReadNs: 80, independentReadNs, scanNsPerElement: 0.5 } });
    return [hits === undefined ? c : { ...c, counters: { ...c.counters, conntrackHits: hits, establishedPackets: 1000 } }];
  };
  it('needs 10 Mpps per worker', () => {
    assert.equal(target(at(100), 'c1').verdict, 'met');
    assert.equal(target(at(101), 'c1').verdict, 'missed');
    assert.match(target(at(101), 'c1').figure, /lowest 9\.9 Mpps/);
  });
  it('judges iptables, ipvs and nftables, the modes the target names', () => {
    const slowOthers = [...at(100), syntheticCell({ mode: 'userspace', services: 100, nsPerPacket: 900 }), syntheticCell({ mode: 'cilium', services: 100, nsPerPacket: 900 })];
    assert.equal(target(slowOthers, 'c1').verdict, 'met');
    assert.equal(target([...slowOthers, syntheticCell({ mode: 'nftables', services: 100, nsPerPacket: 900 })], 'c1').verdict, 'missed');
  });
  it('needs ns/packet within 2× of the independent-read limit times the conntrack lookups a packet makes', () => {
    // 2 lookups a packet (conntrack hits over established packets) at 20 ns: a limit of 40 ns.
    assert.equal(target(at(80, 20, 2000), 'c2').verdict, 'met');
    assert.equal(target(at(81, 20, 2000), 'c2').verdict, 'missed', 'within 2× of the dependent read (80 ns) is not enough');
    assert.match(target(at(81, 20, 2000), 'c2').figure, /2\.02×: 81 ns\/packet vs a limit of 40 ns \(2 conntrack lookups a packet × 20 ns per independent random read; one dependent read is 80 ns\)/);
    // 3 lookups a packet: a limit of 60 ns, so 120 ns is within 2×.
    assert.equal(target(at(120, 20, 3000), 'c2').verdict, 'met');
  });
  it('is not measured on results without the independent-read limit', () => {
    const old = syntheticCell({ mode: 'ipvs', services: 100, nsPerPacket: 100, limits: { randomReadNs: 80, scanNsPerElement: 0.5 } });
    assert.equal(target([old], 'c2').verdict, 'not measured');
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
  it('says when the memory limit beside the 2-worker cell read slower over a smaller array', () => {
    const limits = (randomReadNs: number) => ({ randomReadNs, scanNsPerElement: 0.5 });
    const pair = (one: number, two: number) => [
      syntheticCell({ mode: 'ipvs', services: 1000, workers: 1, perSecond: 1e6, packetsPerSecond: 5e6, limits: limits(one) }),
      syntheticCell({ mode: 'ipvs', services: 1000, workers: 2, perSecond: 1.3e6, packetsPerSecond: 6.5e6, limits: limits(two) }),
    ];
    assert.match(target(pair(175, 268), 'd1').why ?? '', / A random read over the 2-worker cell's tables \(each worker's half\) took 268 ns, over the 1-worker cell's 175 ns: a smaller array read 1\.53× slower, so the machine itself was slower/);
    assert.doesNotMatch(target(pair(175, 210), 'd1').why ?? '', /random read over/, 'within 1.2×: nothing said');
    assert.doesNotMatch(target(pair(175, 120), 'd2').why ?? '', /random read over/);
  });
  it('only pairs cells that differ in nothing but workers', () => {
    const unpaired = [syntheticCell({ mode: 'ipvs', services: 1000, workers: 1 }), syntheticCell({ mode: 'ipvs', services: 100, workers: 2 })];
    assert.equal(target(unpaired, 'd1').verdict, 'not measured');
  });
});

describe('target (f): full build against the kernel restore of the same rules', () => {
  const sync = (fullMs: number) => ({ fullMs, oneEndpointMs: 0.5, oneEndpointRewrittenBytes: 4096 });
  const at = (kdpMs: number, kernelMs: number, services = 10_000) => [
    syntheticCell({ mode: 'iptables', services, sync: sync(kdpMs) }),
    syntheticCell({ mode: 'kernel-iptables', services, sync: sync(kernelMs) }),
  ];
  it('needs kdp ten times faster at 10,000 Services', () => {
    assert.equal(target(at(1500, 15000), 'f').verdict, 'met');
    assert.equal(target(at(1501, 15000), 'f').verdict, 'missed');
    assert.match(target(at(1900, 15000), 'f').figure, /^7\.89× at 10k Services \(kdp 1\.9 s; kernel 15 s\)$/);
  });
  it('judges the median of every cell of the same build on each side, not whichever cell comes first', () => {
    // A slow first kdp cell (as a --churn-kernel cell's build was at stop 33) and two fast ones: the median is 1.2 s.
    const cells = [
      syntheticCell({ mode: 'iptables', services: 10_000, sync: sync(3100) }),
      syntheticCell({ mode: 'iptables', services: 10_000, sync: sync(1200) }),
      syntheticCell({ mode: 'kernel-iptables', services: 10_000, sync: sync(14000) }),
      syntheticCell({ mode: 'iptables', services: 10_000, sync: sync(1100) }),
      syntheticCell({ mode: 'kernel-iptables', services: 10_000, sync: sync(16000) }),
    ];
    const t = target(cells, 'f');
    assert.equal(t.verdict, 'met', 'kernel median 15 s over kdp median 1.2 s is 12.5×');
    assert.equal(t.figure, '12.5× at 10k Services (kdp 1.2 s, the median of 3 cells, 1.1 s to 3.1 s; kernel 15 s, the median of 2 cells, 14 s to 16 s)');
    // Another build (another seed) is never mixed in.
    const other = [...cells, syntheticCell({ mode: 'iptables', services: 10_000, seed: 2, sync: sync(100) })];
    assert.equal(target(other, 'f').figure, t.figure);
  });
  it('is not measured without a kernel cell at the same point, and says what there is', () => {
    const t = target(at(100, 2000, 1000), 'f');
    assert.equal(t.verdict, 'not measured');
    assert.match(t.figure, /measured: 20× at 1k Services/);
    const other = [syntheticCell({ mode: 'iptables', services: 10_000 }), syntheticCell({ mode: 'kernel-iptables', services: 10_000, seed: 2 })];
    assert.equal(target(other, 'f').verdict, 'not measured');
  });
});

describe('targets with no results', () => {
  it('are all not measured', () => {
    assert.deepEqual(evaluateTargets([]).map((t) => t.verdict), Array(11).fill('not measured'));
  });
});

describe("target (h): the default sweep's wall time", () => {
  const run = (elapsedMs: number, over: Partial<SweepRun> = {}): SweepRun => ({ elapsedMs, cells: 30, ran: 30, skipped: 0, failed: 0, stopped: false, defaultSweep: true, ...over });
  const h = (machine?: MachineInfo): TargetResult => evaluateTargets([], machine).find((t) => t.id === 'h')!;
  it('holds at 7 min 12 s and not a second above', () => {
    assert.equal(h({ ...kSyntheticMachine, sweep: run(432_000) }).verdict, 'met');
    const t = h({ ...kSyntheticMachine, sweep: run(433_000) });
    assert.equal(t.verdict, 'missed');
    assert.equal(t.figure, '7 min 13 s for its 30 cells (`npm run bench`, 2000-01-01T00:00:00.000Z)');
  });
  it('is judged on the run that was the whole default sweep, a resumed one included', () => {
    const t = h({ ...kSyntheticMachine, sweep: run(900_000, { defaultSweep: false, cells: 6, ran: 6 }), resumes: [{ command: 'kdp bench --resume', date: '2000-01-02T00:00:00.000Z', gitCommit: null, sweep: run(400_000) }] });
    assert.equal(t.verdict, 'met');
    assert.equal(t.figure, '6 min 40 s for its 30 cells (`kdp bench --resume`, 2000-01-02T00:00:00.000Z)');
  });
  it('is not measured from a default sweep run in parts, with a failed cell, or from results that keep no wall time', () => {
    assert.match(h({ ...kSyntheticMachine, sweep: run(100_000, { ran: 20, skipped: 10 }) }).figure, /^the default sweep ran in parts: 20 of its 30 cells in one run$/);
    assert.match(h({ ...kSyntheticMachine, sweep: run(100_000, { ran: 12, stopped: true }) }).figure, /12 of its 30 cells in one run, stopped early/);
    assert.match(h({ ...kSyntheticMachine, sweep: run(100_000, { ran: 29, failed: 1 }) }).figure, /29 of its 30 cells in one run, 1 failed/);
    assert.match(h({ ...kSyntheticMachine, sweep: run(100_000, { defaultSweep: false }) }).figure, /^no run of these results was the default sweep \(`npm run bench`\)$/);
    assert.match(h(kSyntheticMachine).figure, /keeps no sweep's wall time/);
    assert.match(h().figure, /no machine record/);
    for (const m of [{ ...kSyntheticMachine, sweep: run(100_000, { ran: 29, failed: 1 }) }, kSyntheticMachine, undefined]) assert.equal(h(m).verdict, 'not measured');
  });
  it('reads back from machine.json, where a malformed record makes the file unusable', () => {
    const ok = parseMachineJson(JSON.stringify({ ...kSyntheticMachine, sweep: run(1) }));
    assert.ok('machine' in ok && ok.machine.sweep?.elapsedMs === 1);
    assert.ok('problem' in parseMachineJson(JSON.stringify({ ...kSyntheticMachine, sweep: { ...run(1), stopped: 'no' } })));
    assert.ok('problem' in parseMachineJson(JSON.stringify({ ...kSyntheticMachine, resumes: [{ command: 'kdp bench', date: 'x', gitCommit: null, sweep: 5 }] })));
  });
  it('says, when missed, where the time went, from the kdp cells that finished within the run', () => {
    const at = (minutes: number) => new Date(Date.parse(kSyntheticMachine.date) + minutes * 60_000).toISOString();
    const cells = [
      // 60 s of first packets and 90 s of established ones, 30 s of packets built, three 10 s builds, 3 s of cluster.
      syntheticCell({ mode: 'ipvs', services: 100, finishedAt: at(1), packets: 10_000_000, nsPerFlow: 60_000, nsPerPacket: 10_000, sync: { fullMs: 10_000, oneEndpointMs: 1, oneEndpointRewrittenBytes: 1 }, counters: { firstPackets: 1e6, establishedPackets: 9e6, rxNsPerPacket: 3000, fullBuilds: 3, clusterMs: 3000 } }),
      // Two workers: 30 s of first packets (the cell's wall time), 60 s of packets built over both, one 5 s build.
      syntheticCell({ mode: 'ipvs', services: 1000, workers: 2, finishedAt: at(9), packets: 10_000_000, nsPerFlow: 30_000, sync: { fullMs: 5000, oneEndpointMs: 1, oneEndpointRewrittenBytes: 1 }, counters: { firstPackets: 1e6, establishedPackets: 0, rxNsPerPacket: 6000, clusterMs: 2000 } }),
      // Run right after its twin, on that twin's setup: 8 s of its own builds (its first is the twin's), no cluster of its own.
      syntheticCell({ mode: 'nftables', services: 1000, workers: 2, finishedAt: at(9.5), packets: 0, sync: { fullMs: 4000, oneEndpointMs: 1, oneEndpointRewrittenBytes: 1 }, counters: { firstPackets: 0, establishedPackets: 0, fullBuilds: 3, clusterMs: 2000, setupReused: 1 } }),
      syntheticCell({ mode: 'ipvs', services: 10, finishedAt: at(11), nsPerFlow: 1e9, counters: { firstPackets: 1e6 } }),
      syntheticCell({ mode: 'kernel-iptables', services: 100, finishedAt: at(5), nsPerFlow: 1e9, counters: { firstPackets: 1e6 } }),
    ];
    const t = evaluateTargets(cells, { ...kSyntheticMachine, sweep: run(600_000) }).find((r) => r.id === 'h')!;
    assert.equal(t.verdict, 'missed');
    assert.equal(
      t.why,
      "Of the default sweep's 10 min 00 s, over the 3 cells that finished within it: the timed phases (first and established packets) 3 min 00 s (30 %), building the packets they replayed 1 min 00 s (10 %), node 0's full builds 43 s (7 %), the clusters' generation 5 s (1 %); the rest, 5 min 12 s (52 %), is what no cell counts (node 1's compile, packing the tables, the warm-ups, the replays in cache, the machine's limits, the one-endpoint sync's emulation).",
    );
    assert.equal(evaluateTargets(cells, { ...kSyntheticMachine, sweep: run(400_000) }).find((r) => r.id === 'h')!.why, undefined, 'a met target needs no explanation');
  });
  it('is a row of the report', () => {
    const md = renderReport(syntheticSweep(), { ...kSyntheticMachine, sweep: run(400_000) }, {}).markdown;
    assert.match(md, /\| \(h\) the default sweep \(`kdp bench`\) no slower in wall time than 7 min 12 s \| ✅ met \| 6 min 40 s for its 30 cells/);
  });
});

describe('what a missed target comes down to', () => {
  const stagesAt = (services: number, lookupNs: number) =>
    syntheticCell({ mode: 'nftables', services, nsPerFlow: 1000 + lookupNs, packets: 1000, stages: { 'service-nat': lookupNs / 10, prerouting: 50 }, counters: { firstPackets: 100, decisions: 100, decisionWork: 1900 } });
  it('(b): the lookup stage per first packet and the work it did, at both sizes', () => {
    const cells = [syntheticCell({ mode: 'ipvs', services: 100 }), syntheticCell({ mode: 'ipvs', services: 30000 }), stagesAt(100, 1000), stagesAt(30000, 3000)];
    const t = target(cells, 'b1');
    assert.equal(t.verdict, 'missed');
    assert.match(t.why ?? '', /^nftables: the lookup \(service-nat stage\) took 1 µs per first packet at 100 Services and 3 µs at 30k, doing 19\.0 and 19\.0 rule or hash steps per decision; the rest of the first packet's path .* went from 1 µs to 1 µs\. One random read costs 80 ns here/);
    assert.doesNotMatch(t.why ?? '', /ipvs/, 'only the mode that missed is explained');
  });
  it('(b): a mode with socket LB has its socket stage named as a lookup, not counted in the rest of the path', () => {
    // 1,000 packets, 100 first: the socket stage's whole-cell time is 30 ns a packet (30 µs), of
    // which the 900 established packets took 10 ns each (9 µs): 210 ns per new flow at 100 Services;
    // at 30k 60 ns a packet (60 µs) less the same 9 µs: 510 ns.
    const cilium = (services: number, socketNs: number, nsPerFlow: number) =>
      syntheticCell({
        mode: 'cilium', services, nsPerFlow, packets: 1000,
        stages: { socket: socketNs, 'service-nat': 10, prerouting: 50 },
        establishedStages: { socket: 10, prerouting: 40 },
        counters: { firstPackets: 100, establishedPackets: 900, decisions: 100, decisionWork: 150 },
      });
    const cells = [...['ipvs', 'nftables'].flatMap((mode) => [100, 30000].map((services) => syntheticCell({ mode, services }))), cilium(100, 30, 1000), cilium(30000, 60, 2000)];
    const t = target(cells, 'b1');
    assert.equal(t.verdict, 'missed');
    // The rest: 1,000 - 100 (service-nat) - 210 (socket) = 690 ns; 2,000 - 100 - 510 = 1.39 µs.
    assert.match(t.why ?? '', /^cilium: the lookup \(service-nat stage\) took 100 ns per first packet at 100 Services and 100 ns at 30k, doing 1\.5 and 1\.5 rule or hash steps per decision; the socket stage \(socket LB: a pod's connect\(\) looks its Service up there, and the socket table is written\) took 210 ns and 510 ns per new flow; the rest of the first packet's path \(conntrack, routing, NAT, encapsulation\) went from 690 ns to 1\.39 µs\./);
    // A mode without a socket stage says nothing of one.
    assert.doesNotMatch(target([syntheticCell({ mode: 'ipvs', services: 100 }), syntheticCell({ mode: 'ipvs', services: 30000 }), stagesAt(100, 1000), stagesAt(30000, 3000)], 'b1').why ?? '', /socket/);
  });
  it('(c) and (d): stages by time, and the slowdown of a worker beside another', () => {
    const slow = syntheticCell({ mode: 'ipvs', services: 1000, nsPerPacket: 400, stages: { prerouting: 200, 'service-nat': 900, route: 50 }, counters: { conntrackBytes: 2 ** 20 } });
    const c1 = target([slow], 'c1');
    assert.equal(c1.verdict, 'missed');
    assert.match(c1.why ?? '', /prerouting 200 ns \(80 %\), route 50 ns \(20 %\)\. prerouting is conntrack.*tables of 1 MiB in all, at 80 ns per random read/);
    assert.doesNotMatch(c1.why ?? '', /service-nat/);
    // A cell that measured the established phase alone is explained by it, not by the cell's average.
    const phasedAt = (nsPerPacket: number) =>
      syntheticCell({ mode: 'ipvs', services: 1000, nsPerPacket, stages: slow.stages, establishedStages: { prerouting: 150, route: 100, postrouting: 50 }, counters: slow.counters });
    const phased = phasedAt(400);
    const byPhase = target([phased], 'c1').why ?? '';
    assert.match(byPhase, /time per established packet in each stage, the established phase alone \(the stages sum to 300 ns of its 400 ns; the rest is runBatch's dispatch between stages\): prerouting 150 ns \(50 %\), route 100 ns \(33 %\), postrouting 50 ns \(17 %\)\. prerouting is conntrack/);
    assert.doesNotMatch(byPhase, /averaged over all/);
    assert.doesNotMatch(byPhase, /Replayed with/, 'no in-cache replay measured: nothing said of one');
    // The cell replayed with few flows: what an established packet costs with its lookups in cache.
    const cached = target([{ ...phased, established: { ...phased.established, inCache: { flows: 2000, nsPerPacket: 300, conntrackBytes: 320 * 1024 } } }], 'c1').why ?? '';
    assert.match(cached, /\. Replayed with 2k flows \(conntrack tables of 320 KiB in all, which stay in cache\), the same cell's established packet took 300 ns, 75 % of its 400 ns at [\d.,k]+ flows: that much of it is the path's own work/);
    // Stage times of one repeat that sum past the repeats' median claim no remainder.
    const over = target([phasedAt(250)], 'c1').why ?? '';
    assert.match(over, /\(the stages sum to 300 ns\):/);
    const pair = [syntheticCell({ mode: 'ipvs', services: 1000, nsPerFlow: 1000 }), syntheticCell({ mode: 'ipvs', services: 1000, workers: 2, perSecond: 1.5e6 })];
    const d1 = target(pair, 'd1');
    assert.equal(d1.verdict, 'missed');
    assert.match(d1.why ?? '', /each worker spent 1\.33 µs per new flow beside the other, against 1 µs alone \(1\.33×\)/);
    assert.doesNotMatch(d1.why ?? '', /By stage/, 'no per-stage times: nothing said of them');
    // Per new flow, a stage's time is its whole-cell time less the established phase's, over the
    // first packets: 1,000 packets, 100 of them first packets, 900 established.
    const staged = (workers: number, serviceNat: number, prerouting: number) =>
      syntheticCell({
        mode: 'ipvs', services: 1000, workers, ...(workers === 1 ? { nsPerFlow: 1000 } : { perSecond: 1.5e6 }),
        packets: 1000,
        counters: { firstPackets: 100, establishedPackets: 900 },
        // prerouting: 200 ns an established packet, so (prerouting × 1,000 − 200 × 900) / 100 a new flow.
        stages: { 'service-nat': serviceNat / 10, prerouting: (prerouting * 100 + 200 * 900) / 1000, route: 5 },
        establishedStages: { prerouting: 200, route: 5 },
      });
    const byStage = target([staged(1, 300, 150), staged(2, 450, 160)], 'd1').why ?? '';
    assert.match(byStage, /By stage, per new flow of each worker, alone and beside the other: service-nat 300 ns and 450 ns \(1\.5×\), prerouting 150 ns and 160 ns \(1\.07×\), route 5 ns and 5 ns \(1×\)\./);
    // The established phase's own stage times, for (d2).
    const est = [staged(1, 300, 150), { ...staged(2, 450, 160), establishedStages: { prerouting: 300, route: 6 } }].map((c) => ({ ...c, established: { ...c.established, packetsPerSecond: c.workers === 1 ? 1e6 : 1.5e6 } }));
    assert.match(target(est, 'd2').why ?? '', /By stage, per established packet of each worker, alone and beside the other: prerouting 200 ns and 300 ns \(1\.5×\), route 5 ns and 6 ns \(1\.2×\)\./);
    const fast = [syntheticCell({ mode: 'ipvs', services: 1000, nsPerFlow: 1000 }), syntheticCell({ mode: 'ipvs', services: 1000, workers: 2, perSecond: 2e6 })];
    assert.equal(target(fast, 'd1').why, undefined, 'a met target needs no explanation');
  });

  it('(d) says what the machine\'s threads did beside the pair\'s 2-worker cell, and "—" where that was not measured', () => {
    const parallel = { threads: 2, readSpeedup: 1.42, writeSpeedup: 1.31, computeSpeedup: 1.97 };
    const measured = [
      syntheticCell({ mode: 'ipvs', services: 1000, nsPerFlow: 1000 }),
      syntheticCell({ mode: 'ipvs', services: 1000, workers: 2, perSecond: 1.5e6, limits: { randomReadNs: 80, scanNsPerElement: 0.5, parallel } }),
    ];
    const d1 = target(measured, 'd1');
    assert.match(d1.figure, /; the machine's 2 threads: 1\.42× one on independent reads, 1\.31× on random stores, 1\.97× on arithmetic$/);
    assert.match(d1.why ?? '', /The machine, beside that cell: 2 threads did 1\.42× one thread's independent random reads, 1\.31× its random stores and 1\.97× its arithmetic\.$/);
    const unmeasured = [syntheticCell({ mode: 'ipvs', services: 1000, nsPerFlow: 1000 }), syntheticCell({ mode: 'ipvs', services: 1000, workers: 2, perSecond: 1.5e6 })];
    assert.doesNotMatch(target(unmeasured, 'd1').figure, /the machine/);
    assert.match(target(unmeasured, 'd1').why ?? '', /two-thread figures: — \(not measured in this cell\)/);
    // The 1-worker cell's figures are not the pair's machine limit.
    const wrongCell = [syntheticCell({ mode: 'ipvs', services: 1000, nsPerFlow: 1000, limits: { randomReadNs: 80, scanNsPerElement: 0.5, parallel } }), syntheticCell({ mode: 'ipvs', services: 1000, workers: 2, perSecond: 1.5e6 })];
    assert.doesNotMatch(target(wrongCell, 'd1').figure, /the machine/);
  });
});

describe('target (e): conntrack bytes an entry', () => {
  const at = (...bytes: number[]) => bytes.map((b, k) => {
    const c = syntheticCell({ mode: 'ipvs', services: 100 * (k + 1) });
    return { ...c, memory: { ...c.memory, conntrackBytesPerEntry: b } };
  });
  it('is judged on the largest cell, on both sides of 64 bytes', () => {
    assert.equal(target(at(63, 64), 'e').verdict, 'met');
    assert.equal(target(at(63, 64.01), 'e').verdict, 'missed');
    assert.match(target(at(63, 64.01), 'e').figure, /^largest 64\.01 bytes an entry \(ipvs, 200 Services/);
  });
  it('is not measured without a kdp cell that measured it', () => {
    assert.equal(target(at(0), 'e').verdict, 'not measured');
    assert.equal(target([{ ...at(90)[0], mode: 'kernel-iptables' }], 'e').verdict, 'not measured');
  });
});

describe("target (g): kdp's own one-endpoint update", () => {
  const cell = (mode: string, services: number, oneEndpointMs: number, fullMs = 50, recompiled = false) => {
    const c = syntheticCell({ mode, services, sync: { fullMs, oneEndpointMs, oneEndpointRewrittenBytes: 100 } });
    return recompiled ? { ...c, counters: { ...c.counters, oneEndpointRecompiled: 1 } } : c;
  };
  const at = (top: number, growth = 1) => ['ipvs', 'nftables'].flatMap((m) => [cell(m, 100, top / growth), cell(m, 30000, top, 5000)]);
  it('needs at most 1 ms at the largest count and 1.5× of the cost at 100, in every mode', () => {
    assert.equal(target(at(1, 1.5), 'g').verdict, 'met');
    assert.equal(target(at(1.01), 'g').verdict, 'missed');
    assert.equal(target(at(0.5, 1.51), 'g').verdict, 'missed');
    assert.match(target(at(0.5, 1.51), 'g').figure, /^ipvs: 500 µs at 30k \(1\.51× its 331 µs at 100\)/);
  });
  it('needs the update cheaper than the full build at every count, and names a recompile', () => {
    const slow = [cell('ipvs', 100, 0.2, 0.2, true), cell('ipvs', 30000, 0.2, 5000)];
    const t = target(slow, 'g');
    assert.equal(t.verdict, 'missed');
    assert.match(t.figure, /not cheaper than the full build at 100, a recompile at 100/);
  });
  it('is not measured for a mode without an in-place update, nor met on the others', () => {
    const none = [cell('userspace', 100, 0.1), { ...cell('userspace', 30000, 0), counters: { measuredOneEndpointUpdate: 0 } }];
    assert.equal(target([...at(0.5), ...none], 'g').verdict, 'not measured');
    assert.match(target([...at(0.5), ...none], 'g').figure, /userspace: not measured/);
  });
});
