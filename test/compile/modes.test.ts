/**
 * Laws every registered mode's record keeps, checked over the registry rather than per mode, so
 * that a fifth mode is held to them by being listed: names are unique, every format renders, a
 * format the mode also reads gives back a dataplane with the same rules and the same answers as
 * the compiled one, and what a dataplane shares with workers attaches to the same answers.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { newFirstPacket, newNatDecision } from '../../src/compile/dataplane.js';
import { dataplaneFromImage, dataplaneImage } from '../../src/compile/image.js';
import { formatsOf, kModes, modeNames, parseRules, renderRules } from '../../src/compile/index.js';
import { loadFixture } from '../helpers/cluster.js';

const cluster = loadFixture('small-cluster.yaml');

/** Every first packet to every ClusterIP service port, from a pod of node 0, with a few random words. */
function probes() {
  const out = [];
  for (const port of cluster.ports) {
    const svc = cluster.services[port.service];
    if (svc.clusterIPs.length === 0) continue;
    for (const rand of [1, 0x9e3779b1, 0xdeadbeef]) {
      out.push(Object.assign(newFirstPacket(), { srcIp: cluster.nodes[0].podCIDRs[0]!.base + 9, srcPort: 40000, dstIp: svc.clusterIPs[0], dstPort: port.port, proto: port.protocol, fromPodInterface: true, rand }));
    }
  }
  return out;
}

describe('the mode registry', () => {
  it('names every mode once', () => {
    assert.equal(new Set(modeNames()).size, kModes.length);
    assert.ok(kModes.length >= 4);
  });

  for (const mode of kModes) {
    it(`${mode.name}: every format renders, every reader gives back the compiled answers, shared images attach alike`, () => {
      const compiled = mode.compile(cluster, 0);
      assert.equal(compiled.mode, mode.name);
      assert.ok(formatsOf(mode).length >= 1);
      for (const format of formatsOf(mode)) assert.ok(renderRules(cluster, mode.name, 0, format).length > 0, format);
      const again = [
        ...Object.keys(mode.parsers ?? {}).map((format) => parseRules(format, renderRules(cluster, mode.name, 0, format), cluster, 0)),
        dataplaneFromImage(cluster, dataplaneImage(compiled)),
      ];
      const a = newNatDecision();
      const b = newNatDecision();
      const ps = probes();
      assert.ok(ps.length > 0);
      for (const dp of again) {
        assert.equal(dp.stats().rules, compiled.stats().rules);
        compiled.reset();
        dp.reset();
        for (const p of ps) {
          compiled.decide(p, a);
          dp.decide(p, b);
          assert.deepEqual(b, a, `${mode.name} ${JSON.stringify(p)}`);
        }
      }
    });
  }
});
