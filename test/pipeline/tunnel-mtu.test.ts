/**
 * A DF packet that no longer fits the path MTU once the overlay's headers are added, through the
 * whole pipeline, per overlay CNI.
 *
 * Oracles, from the specifications, not from kdp:
 * - Linux's tunnel transmit path (ip_tunnel_xmit, vxlan_xmit_one -> the PMTU check, then
 *   icmp_ndo_send ICMP_FRAG_NEEDED): a packet with DF set that would exceed the MTU after
 *   encapsulation is not sent; the sender gets ICMP "fragmentation needed" and the packet is gone.
 * - The overheads: VXLAN (RFC 7348) adds an outer IPv4 (20), UDP (8) and VXLAN (8) header and
 *   carries the inner Ethernet header (14): 50 bytes on top of the inner IPv4 datagram; IP-in-IP
 *   (RFC 2003) adds the outer IPv4 header alone: 20 bytes.
 * - The tunnel devices: Calico's vxlan.calico and tunl0, flannel's flannel.1; the underlay MTU
 *   here is 1500 (clusterNetwork mtu).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { PipelineContext } from '../../src/dataplane/context.js';
import { DROP_FRAG_NEEDED, END_DROPPED, END_POD } from '../../src/dataplane/next.js';
import { ENTRY_HOST, inject, runBatch } from '../../src/dataplane/pipeline.js';
import { TraceRecorder } from '../../src/dataplane/trace-recorder.js';
import type { Cni } from '../../src/model/types.js';
import { PacketBatch } from '../../src/net/batch.js';
import { parseIp } from '../../src/net/ipv4.js';
import { PROTO_UDP } from '../../src/net/proto.js';
import { twoNodes } from '../helpers/two-nodes.js';

const kMtu = 1500;
const kUdpIpHeaders = 28;

/** node-1's host sends UDP with `ipBytes` of IPv4 to web's endpoint, a pod on node-2. */
function send(ctx: PipelineContext, ipBytes: number) {
  const batch = new PacketBatch({ capacity: 1 });
  const i = batch.push(PROTO_UDP, parseIp('192.168.0.11'), 40000, parseIp('10.244.2.7'), 8080, ipBytes - kUdpIpHeaders, 0);
  inject(ctx, batch, i, 0, ENTRY_HOST);
  runBatch(ctx, batch);
  return { verdict: batch.verdict[i], drop: batch.drop[i] };
}

function traced(cni: Cni, ipBytes: number) {
  const ctx = new PipelineContext(twoNodes(cni));
  const rec = new TraceRecorder(0, (n) => ctx.world.cluster.nodes[n].name, false);
  ctx.recorder = rec;
  const end = send(ctx, ipBytes);
  return { ...end, last: rec.hops.at(-1)! };
}

const kOverlays: ReadonlyArray<{ cni: Cni; device: string; overhead: number }> = [
  { cni: 'calico-vxlan', device: 'vxlan.calico', overhead: 50 },
  { cni: 'calico-ipip', device: 'tunl0', overhead: 20 },
  { cni: 'flannel-vxlan', device: 'flannel.1', overhead: 50 },
];

describe('a DF packet over the tunnel MTU: ICMP fragmentation needed (ip_tunnel_xmit / vxlan_xmit_one)', () => {
  for (const { cni, device, overhead } of kOverlays) {
    it(`${cni}: a full-sized packet is dropped at ${device}, the trace naming both sizes and the MTU; one that fits exactly is sent`, () => {
      const full = traced(cni, kMtu);
      assert.deepEqual(
        { verdict: full.verdict, drop: full.drop, node: full.last.node, at: full.last.at, action: full.last.action },
        { verdict: END_DROPPED, drop: DROP_FRAG_NEEDED, node: 'node-1', at: device, action: `${kMtu} + ${overhead} bytes exceed MTU ${kMtu} with DF set: ICMP fragmentation needed, dropped` },
      );
      const fits = traced(cni, kMtu - overhead);
      assert.equal(fits.verdict, END_POD, `${fits.last.at}: ${fits.last.action}`);
    });

    it(`${cni}: untraced, the same packet is dropped the same way`, () => {
      assert.deepEqual(send(new PipelineContext(twoNodes(cni)), kMtu), { verdict: END_DROPPED, drop: DROP_FRAG_NEEDED });
    });
  }
});
