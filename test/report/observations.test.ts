import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { computeObservations, describeObservations } from '../../src/report/observations.js';
import type { CellResult } from '../../src/report/result.js';
import { kServices, syntheticCell, syntheticSweep } from './synthetic.js';

describe('observations', () => {
  it('fits each mode on log-log axes and gives ns per Service for linear ones', () => {
    const cells = kServices.flatMap((services) => [
      syntheticCell({ mode: 'iptables', services, nsPerFlow: 2 * services }),
      syntheticCell({ mode: 'ipvs', services, nsPerFlow: 400 }),
    ]);
    const o = computeObservations(cells);
    const slope = (m: string) => o.firstPacketSlopes.find((s) => s.mode === m)!.fit.slope;
    assert.ok(Math.abs(slope('iptables') - 1) < 1e-9);
    assert.ok(Math.abs(slope('ipvs')) < 1e-9);
    assert.deepEqual(o.linearCosts.map((l) => l.mode), ['iptables']);
    assert.ok(Math.abs(o.linearCosts[0]!.nsPerService - 2) < 1e-9);
    const c = o.crossovers.find((x) => x.mode === 'ipvs')!.crossover;
    assert.equal(c.kind, 'crosses');
    if (c.kind === 'crosses') assert.ok(Math.abs(c.at - 200) < 1e-6);
    const text = describeObservations(o).join('\n');
    assert.match(text, /\*\*iptables\*\* first-packet cost grows as Services\^1\.00/);
    assert.match(text, /each added Service costs 2 ns/);
    assert.match(text, /\*\*ipvs\*\* overtakes iptables on first-packet cost at about 200 Services \(between the measured 100 and 1k/);
  });

  it('says when a hash mode never overtakes within the range', () => {
    const cells = kServices.flatMap((services) => [syntheticCell({ mode: 'iptables', services, nsPerFlow: 100 }), syntheticCell({ mode: 'nftables', services, nsPerFlow: 300 })]);
    assert.match(describeObservations(computeObservations(cells)).join('\n'), /\*\*nftables\*\* does not overtake iptables on first-packet cost within the measured range: at 30k Services it still costs 3× iptables/);
  });

  it('measures encapsulation overhead between CNIs at equal other keys', () => {
    const cells: CellResult[] = [];
    for (const services of [100, 1000]) {
      cells.push(syntheticCell({ mode: 'ipvs', services, cni: 'kubenet', packets: 1000, wireBytes: 100_000, nsPerPacket: 100 }));
      cells.push(syntheticCell({ mode: 'ipvs', services, cni: 'calico-vxlan', packets: 1000, wireBytes: 150_000, nsPerPacket: 130 }));
      cells.push(syntheticCell({ mode: 'ipvs', services, cni: 'calico-ipip', packets: 1000, wireBytes: 120_000, nsPerPacket: 110 }));
    }
    // A cell with no partner at equal keys must not count.
    cells.push(syntheticCell({ mode: 'ipvs', services: 10, cni: 'calico-vxlan', packets: 1000, wireBytes: 999_000 }));
    const o = computeObservations(cells);
    assert.deepEqual(
      o.cniOverheads.map((c) => [c.cni, c.reference, c.bytesPerPacket, c.nsPerPacket, c.pairs]),
      [
        ['calico-ipip', 'kubenet', 20, 10, 2],
        ['calico-vxlan', 'kubenet', 50, 30, 2],
      ],
    );
    assert.match(describeObservations(o).join('\n'), /\*\*calico-vxlan\*\* carries \+50 B per packet on the wire compared with kubenet, and \+30 ns per established packet/);
  });

  it('says the encapsulation overhead and kernel baseline were not measured when they were not', () => {
    const text = describeObservations(computeObservations(syntheticSweep())).join('\n');
    assert.match(text, /Encapsulation overhead: not measured\. .*only calico-vxlan was measured/);
    assert.match(text, /The kernel baseline was not measured \(needs root\)\./);
  });

  it('compares kdp with the kernel per point', () => {
    const cells = [100, 1000].flatMap((services) => [
      syntheticCell({ mode: 'iptables', services, nsPerFlow: 300, nsPerPacket: 100 }),
      syntheticCell({ mode: 'kernel-iptables', services, nsPerFlow: 600, nsPerPacket: 50 }),
    ]);
    const o = computeObservations(cells);
    assert.equal(o.kernelMeasured, true);
    assert.deepEqual(o.kernel.map((k) => [k.mode, k.services, k.firstPacketRatio, k.establishedRatio]), [
      ['iptables', 100, 0.5, 2],
      ['iptables', 1000, 0.5, 2],
    ]);
  });

  it('flags decision checksums that change with the worker count', () => {
    const cells = [syntheticCell({ mode: 'ipvs', services: 100, workers: 1 }), syntheticCell({ mode: 'ipvs', services: 100, workers: 2, decisionChecksum: 'other' })];
    const o = computeObservations(cells);
    assert.equal(o.decisionMismatches.length, 1);
    assert.match(describeObservations(o).join('\n'), /Decision checksums differ across worker counts/);
  });
});
