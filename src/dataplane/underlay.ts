/**
 * The underlay: the wire between two nodes' NICs. The packet arrives at the next node, where it
 * is decapsulated if it carries an overlay, or meets PREROUTING directly.
 *
 * Reads:  meta outNode; batch wireLen, encap
 * Writes: batch.node; meta hook, fromPod, dnatted, redirected, proxyClientSlot
 * Counts: wireBytes, encapBytes
 * Next:   decap | prerouting
 */
import { HOOK_PREROUTING } from '../compile/dataplane.js';
import { ENCAP_NONE, type PacketBatch } from '../net/batch.js';
import type { PipelineContext } from './context.js';
import { NEXT_DECAP, NEXT_PREROUTING } from './next.js';

// Cost: ~4.6-4.7 ns per established packet at batch 256, 100 Services (6.0 userspace), ~4.4-4.8 at 30k (5.9), and about as much per packet of the cell (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: a result's establishedStages and stages, 1 worker, 1,000,000 flows).
export function underlay(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const rec = ctx.recorder;
  const overhead = ctx.world.plan.encapOverhead;
  const counters = ctx.counters;
  const { outNode, hook, fromPod, dnatted, redirected, proxyClientSlot } = ctx.meta;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    counters.wireBytes += batch.wireLen[i];
    const encapsulated = batch.encap[i] !== ENCAP_NONE;
    if (encapsulated) counters.encapBytes += overhead;
    batch.node[i] = outNode[i];
    hook[i] = HOOK_PREROUTING;
    fromPod[i] = 0;
    dnatted[i] = 0;
    redirected[i] = 0;
    proxyClientSlot[i] = -1;
    next[i] = encapsulated ? NEXT_DECAP : NEXT_PREROUTING;
    if (rec) rec.record(batch, i, 'eth0', `received from the underlay (${batch.wireLen[i]} bytes on the wire)`);
  }
}
