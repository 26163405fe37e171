/**
 * Overlay decapsulation on the receiving node: the tunnel device strips the outer headers and
 * the inner packet, its pod addresses unchanged, enters PREROUTING from that device.
 *
 * Reads:  batch encap, bytes
 * Writes: batch start, hdrLen, wireLen, encap
 * Next:   prerouting | done (malformed outer headers)
 * Counts: drops unparsable
 */
import { ENCAP_IPIP, type PacketBatch } from '../net/batch.js';
import { ipipDecap } from '../net/ipip.js';
import { vxlanDecap } from '../net/vxlan.js';
import type { PipelineContext } from './context.js';
import { DROP_UNPARSABLE, NEXT_PREROUTING } from './next.js';

// Cost: ~6.5-7.0 ns per established packet at batch 256, 100 Services (4.8 userspace, 7.1 cilium), ~6.4-6.5 at 30k (5.0, 6.5), and about as much per packet of the cell (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: a result's establishedStages and stages, 1 worker, 1,000,000 flows).
export function decap(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const rec = ctx.recorder;
  const cni = ctx.world.plan.cni;
  const device = cni === 'flannel-vxlan' ? 'flannel.1' : cni === 'calico-ipip' ? 'tunl0' : 'vxlan.calico';
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    const ipip = batch.encap[i] === ENCAP_IPIP;
    if (!(ipip ? ipipDecap(batch, i) : vxlanDecap(batch, i))) {
      ctx.drop(batch, i, DROP_UNPARSABLE);
      continue;
    }
    next[i] = NEXT_PREROUTING;
    if (rec) rec.record(batch, i, device, 'decapsulated: the inner packet enters PREROUTING');
  }
}
