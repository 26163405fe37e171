/**
 * A full conntrack table, through the whole pipeline: new flows are dropped and counted ("table
 * full, dropping packet"), while flows already established keep passing in both directions.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { PipelineContext } from '../../src/dataplane/context.js';
import { DROP_CONNTRACK_FULL, END_POD } from '../../src/dataplane/next.js';
import { ENTRY_POD, inject, runBatch } from '../../src/dataplane/pipeline.js';
import { PacketBatch } from '../../src/net/batch.js';
import { parseIp } from '../../src/net/ipv4.js';
import { TCP_ACK, TCP_SYN } from '../../src/net/l4.js';
import { twoNodes } from '../helpers/two-nodes.js';
import { PROTO_TCP } from '../../src/net/proto.js';

const client = parseIp('10.244.1.5');
const server = parseIp('10.244.1.7'); // same node: one conntrack table sees the whole flow
const kMax = 8;

function send(ctx: PipelineContext, batch: PacketBatch, src: number, sport: number, dst: number, dport: number, flags: number): number {
  batch.reset();
  const i = batch.push(PROTO_TCP, src, sport, dst, dport, 100, flags);
  inject(ctx, batch, i, 0, ENTRY_POD);
  runBatch(ctx, batch);
  return batch.verdict[i];
}

describe('conntrack full', () => {
  it('drops and counts new flows while established flows still pass', () => {
    // Arrange: a node whose table holds kMax entries, filled with established (ASSURED) flows.
    const compiled = twoNodes('calico-vxlan');
    const ctx = new PipelineContext(compiled, { conntrackMax: kMax });
    const batch = new PacketBatch({ capacity: 2 });
    for (let f = 0; f < kMax; f++) {
      const port = 40000 + f;
      assert.equal(send(ctx, batch, client, port, server, 8080, TCP_SYN), END_POD);
      assert.equal(send(ctx, batch, server, 8080, client, port, TCP_SYN | TCP_ACK), END_POD);
      assert.equal(send(ctx, batch, client, port, server, 8080, TCP_ACK), END_POD);
    }
    assert.equal(ctx.world.conntrack(0).count, kMax);

    // Act: more new flows arrive.
    const dropsBefore = ctx.counters.drops[DROP_CONNTRACK_FULL];
    const newVerdicts = [];
    for (let f = 0; f < 5; f++) newVerdicts.push(send(ctx, batch, client, 50000 + f, server, 8080, TCP_SYN));

    // Assert: every new flow was dropped and counted; established flows still pass both ways.
    assert.deepEqual(newVerdicts, [4, 4, 4, 4, 4], 'END_DROPPED for each new flow');
    assert.equal(ctx.counters.drops[DROP_CONNTRACK_FULL] - dropsBefore, 5);
    assert.equal(ctx.world.conntrack(0).counter('dropFull'), 5);
    for (let f = 0; f < kMax; f++) {
      assert.equal(send(ctx, batch, client, 40000 + f, server, 8080, TCP_ACK), END_POD, `established flow ${f} forward`);
      assert.equal(send(ctx, batch, server, 8080, client, 40000 + f, TCP_ACK), END_POD, `established flow ${f} reply`);
    }
    assert.equal(ctx.world.conntrack(0).count, kMax);
  });

  it('evicts a flow that was never answered to make room, as early_drop does', () => {
    const compiled = twoNodes('calico-vxlan');
    const ctx = new PipelineContext(compiled, { conntrackMax: kMax });
    const batch = new PacketBatch({ capacity: 2 });
    // Unanswered SYNs only: none is ASSURED, so each new flow can take an old one's place.
    for (let f = 0; f < kMax; f++) assert.equal(send(ctx, batch, client, 40000 + f, server, 8080, TCP_SYN), END_POD);
    let delivered = 0;
    for (let f = 0; f < 20; f++) if (send(ctx, batch, client, 50000 + f, server, 8080, TCP_SYN) === END_POD) delivered++;
    assert.ok(delivered > 0, 'early_drop made room for some new flows');
    assert.ok(ctx.world.conntrack(0).counter('earlyDrop') > 0);
  });
});
