/**
 * The driver's pass budget (pipeline.ts runBatch): a packet still in flight when the passes run out
 * is in a loop (VPP's graph walk ends every frame; kdp ends every batch), so it is dropped and
 * counted as a loop, and no packet leaves runBatch half-done. A packet that finished in time keeps
 * its own end. The loop is made by a stage table in which one stage sends its packets back to itself.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { PipelineContext } from '../../src/dataplane/context.js';
import { DROP_LOOP, END_POD, NEXT_DONE, NEXT_ROUTE } from '../../src/dataplane/next.js';
import { runBatch } from '../../src/dataplane/pipeline.js';
import type { Stage } from '../../src/dataplane/stages.js';
import { PacketBatch } from '../../src/net/batch.js';
import { parseIp } from '../../src/net/ipv4.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { twoNodes } from '../helpers/two-nodes.js';

describe('runBatch pass budget', () => {
  it('drops as a loop every packet still in flight when the passes run out, and leaves the others as they ended', () => {
    const ctx = new PipelineContext(twoNodes('calico-vxlan'));
    const batch = new PacketBatch({ capacity: 4 });
    for (let k = 0; k < 3; k++) batch.push(PROTO_TCP, parseIp('10.244.1.5'), 40000 + k, parseIp('10.244.2.7'), 8080, 10, 0x02);
    let visits = 0;
    // Slot 1 is delivered on its first visit; slots 0 and 2 come back to the stage forever.
    const loop: Stage = {
      id: NEXT_ROUTE, name: 'route', next: [NEXT_ROUTE, NEXT_DONE], drops: [], ends: [END_POD],
      run: (c, b) => {
        for (let k = 0; k < c.frameCount; k++) {
          const i = c.frame[k];
          visits++;
          if (i === 1) {
            b.next[i] = NEXT_DONE;
            b.verdict[i] = END_POD;
          } else b.next[i] = NEXT_ROUTE;
        }
      },
    };
    for (let i = 0; i < 3; i++) {
      batch.next[i] = NEXT_ROUTE;
      batch.verdict[i] = 0;
      batch.drop[i] = 0;
    }
    const before = ctx.counters.drops[DROP_LOOP];
    runBatch(ctx, batch, [loop]);
    assert.deepEqual([0, 1, 2].map((i) => batch.next[i]), [NEXT_DONE, NEXT_DONE, NEXT_DONE], 'a packet left runBatch in flight');
    assert.deepEqual([batch.drop[0], batch.drop[2]], [DROP_LOOP, DROP_LOOP]);
    assert.equal(batch.drop[1], 0);
    assert.equal(batch.verdict[1], END_POD);
    assert.equal(ctx.counters.drops[DROP_LOOP] - before, 2);
    assert.ok(visits > 3 && visits < 3 * 16, `${visits} visits: the budget is a few passes`);
  });
});
