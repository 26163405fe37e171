/**
 * A dataplane attached to an image (the tables another thread compiled and packed into shared
 * memory) must be the dataplane it was packed from: same decisions, same explanations, same
 * stats, over the same bytes, which it never writes; and its per-run state is its own.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { HOOK_PREROUTING, HOOK_SOCKET, newFirstPacket, newNatDecision, type FirstPacket } from '../../src/compile/dataplane.js';
import { dataplaneFromImage, dataplaneImage } from '../../src/compile/image.js';
import { compileDataplane, modeNames } from '../../src/compile/index.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { parseIp } from '../../src/net/ipv4.js';
import { everyShapeCluster, everyShapeProbes } from '../helpers/every-shape.js';

const digest = (b: SharedArrayBuffer): string => createHash('sha256').update(new Uint8Array(b)).digest('hex');

function probePackets(): FirstPacket[] {
  return everyShapeProbes().flatMap((p) => {
    const [srcIp, srcPort] = p.src.split(':');
    const [dstIp, dstPort] = p.dst.split(':');
    // Several flows per probe: random choices and affinity get exercised.
    return [1, 2, 3, 4].map((k) => Object.assign(newFirstPacket(), {
      srcIp: parseIp(srcIp), srcPort: Number(srcPort) + k, dstIp: parseIp(dstIp), dstPort: Number(dstPort), proto: p.proto,
      hook: p.from === 1 ? 1 : 0, fromPodInterface: p.from === 0, rand: Math.imul(k, 0x9e3779b1) >>> 0, now: k,
      node: p.node,
    }));
  });
}

describe('dataplane images', () => {
  const cluster = everyShapeCluster();
  const packets = probePackets();

  for (const mode of modeNames()) {
    it(`${mode}: an attached dataplane decides and explains as the compiled one, over shared bytes it never writes`, () => {
      for (const node of [0, 1]) {
        const compiled = compileDataplane(cluster, mode, node);
        const image = dataplaneImage(compiled);
        assert.equal(image.mode, mode);
        assert.equal(image.node, node);
        const before = digest(image.tables.buffer);
        const attached = dataplaneFromImage(cluster, image);
        assert.deepEqual(attached.stats(), compiled.stats());
        const a = newNatDecision();
        const b = newNatDecision();
        for (const p of packets.filter((q) => (q as unknown as { node: number }).node === node)) {
          compiled.decide(p, a);
          attached.decide(p, b);
          assert.deepEqual(b, a);
          assert.deepEqual(attached.explain(p), compiled.explain(p));
        }
        assert.equal(digest(image.tables.buffer), before, 'the shared tables are read-only');
      }
    });
  }

  it('keeps per-run state (ClientIP affinity) apart between two attachments of one image', () => {
    for (const mode of modeNames()) {
      const image = dataplaneImage(compileDataplane(cluster, mode, 0));
      const one = dataplaneFromImage(cluster, image);
      const two = dataplaneFromImage(cluster, image);
      // A pod's first packet, where its mode meets it (at the socket for socket LB).
      const flow = (src: string, rand: number): FirstPacket =>
        Object.assign(newFirstPacket(), { srcIp: parseIp(src), srcPort: 40000, dstIp: parseIp('10.96.0.60'), dstPort: 80, proto: 6, fromPodInterface: true, now: 1, rand, hook: one.socketLb ? HOOK_SOCKET : HOOK_PREROUTING });
      const d = newNatDecision();
      one.decide(flow('10.244.1.99', 0), d);
      const pinned = d.endpoint;
      assert.ok(pinned >= 0, `${mode}: the sticky Service answered`);
      // Another client first (it moves a round-robin cursor), then the pinned client: find a
      // random draw for which a fresh attachment sends the pinned client elsewhere...
      let draw = -1;
      for (let r = 0; r < 64 && draw < 0; r++) {
        const fresh = dataplaneFromImage(cluster, image);
        fresh.decide(flow('10.244.1.98', Math.imul(r + 1, 0x9e3779b1) >>> 0), d);
        fresh.decide(flow('10.244.1.99', Math.imul(r + 1, 0x9e3779b1) >>> 0), d);
        if (d.endpoint !== pinned) draw = Math.imul(r + 1, 0x9e3779b1) >>> 0;
      }
      assert.ok(draw >= 0, `${mode}: the sticky Service has a second endpoint to choose`);
      // ...`two` must do the same: `one`'s affinity entry is not its own.
      two.decide(flow('10.244.1.98', draw), d);
      two.decide(flow('10.244.1.99', draw), d);
      assert.notEqual(d.endpoint, pinned, `${mode}: another attachment's affinity entry leaked`);
      one.decide(flow('10.244.1.99', draw), d);
      assert.equal(d.endpoint, pinned, `${mode}: affinity holds in the attachment that made it`);
    }
  });

  it('attaches to a large image without rebuilding it: the chain index and names stay unbuilt', () => {
    const big = generateCluster({ services: 2000, endpoints: 5, nodes: 2, cni: 'calico-vxlan', seed: 3, mode: 'iptables' });
    const image = dataplaneImage(compileDataplane(big, 'iptables', 1));
    const dp = dataplaneFromImage(big, image) as unknown as { rules: object };
    assert.equal(typeof Object.getOwnPropertyDescriptor(dp.rules, 'chainName')!.get, 'function', 'chain names not decoded');
  });

  it('refuses an image of a node the cluster does not have', () => {
    const image = dataplaneImage(compileDataplane(cluster, 'ipvs', 1));
    const one = generateCluster({ services: 5, endpoints: 1, nodes: 1, cni: 'calico-vxlan', seed: 1, mode: 'ipvs' });
    assert.throws(() => dataplaneFromImage(one, image), /node 1, which the cluster \(1 nodes\) does not have/);
  });
});
