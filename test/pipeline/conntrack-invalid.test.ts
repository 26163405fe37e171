/**
 * What conntrack calls INVALID is dropped in kube-proxy's iptables and IPVS modes, through the
 * whole pipeline and with the context's defaults: their `-m conntrack --ctstate INVALID -j DROP` in
 * KUBE-FORWARD, over the kernel's TCP state table. Cilium's own conntrack reads TCP flags for
 * lifetimes only and lets the packet on. (nftables mode is left out: kdp drops there too, where
 * kube-proxy since v1.30 writes no such rule, PR 122663; README, "How a packet is run".)
 *
 * Oracle: net/netfilter/nf_conntrack_proto_tcp.c, tcp_conntracks[ORIGINAL][synack]: from SYN_SENT
 * the row says sIV ("client can't send SYN and then SYN/ACK"); a SYN/ACK from the client after its
 * SYN is INVALID. The flow's own reply SYN/ACK is the control: it is valid (SYN_SENT -> SYN_RECV).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { PipelineContext } from '../../src/dataplane/context.js';
import { DROP_CONNTRACK_INVALID, END_DROPPED, END_POD } from '../../src/dataplane/next.js';
import { ENTRY_POD, inject, runBatch } from '../../src/dataplane/pipeline.js';
import type { ModeName } from '../../src/model/types.js';
import { PacketBatch } from '../../src/net/batch.js';
import { parseIp } from '../../src/net/ipv4.js';
import { TCP_ACK, TCP_SYN } from '../../src/net/l4.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { twoNodes } from '../helpers/two-nodes.js';

const client = parseIp('10.244.1.5');
const server = parseIp('10.244.1.7'); // same node: one conntrack table sees both directions

function send(ctx: PipelineContext, src: number, sport: number, dst: number, dport: number, flags: number): { verdict: number; drop: number } {
  const batch = new PacketBatch({ capacity: 1 });
  const i = batch.push(PROTO_TCP, src, sport, dst, dport, 100, flags);
  inject(ctx, batch, i, 0, ENTRY_POD);
  runBatch(ctx, batch);
  return { verdict: batch.verdict[i], drop: batch.drop[i] };
}

const kExpected: readonly [ModeName, 'dropped' | 'passed'][] = [
  ['iptables', 'dropped'],
  ['ipvs', 'dropped'],
  ['cilium', 'passed'],
];

describe('conntrack INVALID through the pipeline, with the context defaults', () => {
  for (const [mode, expected] of kExpected) {
    it(`${mode}: a SYN/ACK from the client after its SYN is ${expected}; the server's SYN/ACK passes`, () => {
      const ctx = new PipelineContext(twoNodes('calico-vxlan', mode));
      assert.equal(send(ctx, client, 40000, server, 8080, TCP_SYN).verdict, END_POD);
      const wrong = send(ctx, client, 40000, server, 8080, TCP_SYN | TCP_ACK);
      if (expected === 'dropped') {
        assert.equal(wrong.verdict, END_DROPPED);
        assert.equal(wrong.drop, DROP_CONNTRACK_INVALID);
        assert.equal(ctx.world.conntrack(0).counter('invalid'), 1);
      } else {
        assert.equal(wrong.verdict, END_POD);
      }
      assert.equal(send(ctx, server, 8080, client, 40000, TCP_SYN | TCP_ACK).verdict, END_POD, 'the reply SYN/ACK');
    });
  }
});
