/**
 * The counters a run reports for service decisions: `decisions` counts every question put to a
 * node's Service dataplane and `decisionWork` sums what each answer cost, wherever it was asked
 * (Cilium's socket LB at connect()/sendmsg() as much as the service NAT at PREROUTING).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { HOOK_SOCKET, type FirstPacket, type NatDecision } from '../../src/compile/dataplane.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { ENTRY_POD, inject, runBatch } from '../../src/dataplane/pipeline.js';
import { PacketBatch } from '../../src/net/batch.js';
import { parseIp } from '../../src/net/ipv4.js';
import { TCP_SYN } from '../../src/net/l4.js';
import { PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';
import { twoNodes } from '../helpers/two-nodes.js';

describe('decision counters', () => {
  it('with socket LB, decisionWork is the sum of the work of every decision the dataplanes gave', () => {
    // Oracle: the counters' contract (counters.ts, socket-lb.ts "Counts: decisions, decisionWork"):
    // one decision per question, its work added; the questions are seen at the dataplanes themselves.
    const compiled = twoNodes('calico-vxlan', 'cilium');
    const asked: { hook: number; work: number }[] = [];
    for (const node of [0, 1]) {
      const dp = compiled.dataplane(node);
      assert.equal(dp.socketLb, true, 'Cilium balances at the socket by default');
      const decide = dp.decide.bind(dp);
      dp.decide = (pkt: FirstPacket, out: NatDecision): void => {
        decide(pkt, out);
        asked.push({ hook: pkt.hook, work: out.work });
      };
    }
    const ctx = new PipelineContext(compiled);
    const batch = new PacketBatch({ capacity: 8 });
    const pod = parseIp('10.244.1.5');
    // A ClusterIP with a remote backend, one without backends (connect() refused), a NodePort's ClusterIP, and UDP.
    const sends: [number, string, number][] = [
      [PROTO_TCP, '10.96.0.10', 80],
      [PROTO_TCP, '10.96.0.40', 80],
      [PROTO_TCP, '10.96.0.30', 80],
      [PROTO_UDP, '10.96.0.10', 80],
    ];
    sends.forEach(([proto, dst, dport], k) => {
      const i = batch.push(proto, pod, 40000 + k, parseIp(dst), dport, 100, proto === PROTO_TCP ? TCP_SYN : 0);
      inject(ctx, batch, i, 0, ENTRY_POD);
    });
    runBatch(ctx, batch);
    const socketWork = asked.filter((a) => a.hook === HOOK_SOCKET).reduce((sum, a) => sum + a.work, 0);
    assert.ok(socketWork > 0, 'socket-LB decisions were made and cost something');
    assert.deepEqual(
      { decisions: ctx.counters.decisions, decisionWork: ctx.counters.decisionWork },
      { decisions: asked.length, decisionWork: asked.reduce((sum, a) => sum + a.work, 0) },
    );
  });
});
