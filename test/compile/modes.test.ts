/**
 * Laws every registered mode's record keeps, checked over the registry rather than per mode, so
 * that a fifth mode is held to them by being listed: names are unique, every format renders, a
 * format the mode also reads gives back a dataplane with the same rules and the same answers as
 * the compiled one, and what a dataplane shares with workers attaches to the same answers.
 *
 * The reader law is also a fast-check property over random clusters (every node, every packet of
 * the scenario, several random words and clocks), and it checks correctness as well as
 * consistency: the read-back dataplane's candidates for a DNATed packet are the endpoints
 * kube-proxy's mode may choose (eligibleRows in test/helpers/nat-assertions.ts, from
 * pkg/proxy/topology.go CategorizeEndpoints), so a compile bug that the text faithfully carries
 * fails here too. Formats without a reader in kdp (ipvsadm -S -n, ipset save, the userspace
 * mode's iptables-save) are only rendered.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { HOOK_PREROUTING, HOOK_SOCKET, newFirstPacket, newNatDecision, VERDICT_DNAT } from '../../src/compile/dataplane.js';
import { dataplaneFromImage, dataplaneImage } from '../../src/compile/image.js';
import { formatsOf, kModes, modeNames, parseRules, renderRules } from '../../src/compile/index.js';
import { loadFixture } from '../helpers/cluster.js';
import { resolveScenario, scenarioArb } from '../helpers/arbitraries.js';
import { checkProperty, eligibleRows, firstPacketOf, holds, runs, scenarioReport, sourceClass, viaOf } from '../helpers/nat-assertions.js';

const cluster = loadFixture('small-cluster.yaml');

/** Every first packet to every ClusterIP service port, from a pod of node 0 (at its socket for socket LB), with a few random words. */
function probes(socketLb = false) {
  const out = [];
  for (const port of cluster.ports) {
    const svc = cluster.services[port.service];
    if (svc.clusterIPs.length === 0) continue;
    for (const rand of [1, 0x9e3779b1, 0xdeadbeef]) {
      out.push(Object.assign(newFirstPacket(), { srcIp: cluster.nodes[0].podCIDRs[0]!.base + 9, srcPort: 40000, dstIp: svc.clusterIPs[0], dstPort: port.port, proto: port.protocol, fromPodInterface: true, rand, hook: socketLb ? HOOK_SOCKET : HOOK_PREROUTING }));
    }
  }
  return out;
}

describe('the mode registry', () => {
  it('names every mode once', () => {
    assert.equal(new Set(modeNames()).size, kModes.length);
    assert.ok(kModes.length >= 4);
  });

  it('every mode counts its table memory: a whole number of bytes, more for more Services', async () => {
    // The benchmark reports these bytes (BENCHMARKS.md "table memory"); a count that is NaN, zero
    // or shrinking with the cluster would be printed as a figure all the same.
    const { generateCluster } = await import('../../src/model/synthetic.js');
    const small = generateCluster({ services: 20, endpoints: 3, nodes: 2, seed: 5 });
    const large = generateCluster({ services: 400, endpoints: 3, nodes: 2, seed: 5 });
    for (const mode of kModes) {
      const a = mode.compile(small, 0).stats().tableBytes;
      const b = mode.compile(large, 0).stats().tableBytes;
      assert.ok(Number.isInteger(a) && a > 0, `${mode.name}: ${a} bytes at 20 Services`);
      assert.ok(Number.isInteger(b) && b > a, `${mode.name}: ${b} bytes at 400 Services against ${a} at 20`);
    }
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
      const ps = probes(compiled.socketLb === true);
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

  for (const mode of kModes) {
    const readers = Object.keys(mode.parsers ?? {});
    if (readers.length === 0) continue;
    it(`${mode.name}: over random clusters, every format it reads gives back a dataplane that decides every packet as the compiled one, among the endpoints kube-proxy may choose`, () => {
      checkProperty(
        `${mode.name}: text round trip`,
        scenarioArb(),
        (sc) => {
          // Arrange
          const { cluster: c, packets } = resolveScenario(sc);
          const a = newNatDecision();
          const b = newNatDecision();
          for (let node = 0; node < c.nodes.length; node++) {
            const ps = packets.filter((p) => p.probe.node === node);
            if (ps.length === 0) continue;
            for (const format of readers) {
              // Act
              const compiled = mode.compile(c, node);
              const read = parseRules(format, renderRules(c, mode.name, node, format), c, node);
              for (const p of ps) {
                for (const [rand, now] of [[0, 0], [0x9e3779b1, 50], [0xdeadbeef, 5000], [0xffffffff, 5001]]) {
                  const pkt = firstPacketOf(p.probe, rand, now, compiled.socketLb);
                  compiled.decide(pkt, a);
                  read.decide(pkt, b);
                  // Assert
                  const { work: _wa, ...ka } = a;
                  const { work: _wb, ...kb } = b;
                  holds(JSON.stringify(ka) === JSON.stringify(kb) ? '' : `${format}, node-${node + 1}, rand ${rand}: compiled ${JSON.stringify(ka)}, read back ${JSON.stringify(kb)}`);
                  if (b.verdict !== VERDICT_DNAT || b.endpoint < 0) continue;
                  const d = { node, pkt, out: b };
                  const want = [...eligibleRows(mode.name, sc.cluster, c, b.servicePort, node, viaOf(c, d)!, sourceClass(c, d))].sort((x, y) => x - y);
                  const got = [...new Set(read.explain(pkt).candidates)].sort((x, y) => x - y);
                  holds(JSON.stringify(got) === JSON.stringify(want) ? '' : `${format}, node-${node + 1}: read back, the candidates are rows ${got}; kube-proxy may choose rows ${want}`);
                }
              }
            }
          }
        },
        { numRuns: runs(40), ...scenarioReport(mode.name) },
      );
    });
  }
});
