/**
 * What the underlay counts (wireBytes: every byte that crossed the wire between nodes, outer
 * headers included; encapBytes: the overlay's share), against frame sizes written from the
 * headers' specifications: Ethernet 14 bytes (no FCS), IPv4 20, TCP 20 (no options), and the
 * overlay's outer headers: VXLAN 50 (outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8: RFC 7348
 * section 5), IP-in-IP 20 (one more IPv4 header: RFC 2003), none on a routed underlay.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { PipelineContext } from '../../src/dataplane/context.js';
import { END_POD } from '../../src/dataplane/next.js';
import { ENTRY_POD, inject, runBatch } from '../../src/dataplane/pipeline.js';
import { PacketBatch } from '../../src/net/batch.js';
import { parseIp } from '../../src/net/ipv4.js';
import { TCP_SYN } from '../../src/net/l4.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import type { Cni } from '../../src/model/types.js';
import { twoNodes } from '../helpers/two-nodes.js';

const kInner = 14 + 20 + 20;

describe('underlay byte counters', () => {
  for (const [cni, overhead] of [['calico-vxlan', 50], ['calico-ipip', 20], ['kubenet', 0]] as [Cni, number][]) {
    it(`${cni}: a pod's packets to a pod on the other node count their whole frame on the wire, ${overhead} bytes of it overlay`, () => {
      const ctx = new PipelineContext(twoNodes(cni));
      const batch = new PacketBatch({ capacity: 4 });
      const payloads = [0, 100, 1000];
      for (let k = 0; k < payloads.length; k++) {
        const i = batch.push(PROTO_TCP, parseIp('10.244.1.5'), 40000 + k, parseIp('10.244.2.7'), 8080, payloads[k], TCP_SYN);
        inject(ctx, batch, i, 0, ENTRY_POD);
      }
      runBatch(ctx, batch);
      for (let i = 0; i < payloads.length; i++) assert.equal(batch.verdict[i], END_POD, `packet ${i}`);
      const sum = payloads.reduce((a, p) => a + kInner + p + overhead, 0);
      assert.equal(ctx.counters.wireBytes, sum);
      assert.equal(ctx.counters.encapBytes, overhead * payloads.length);
    });
  }
});
