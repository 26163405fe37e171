import type { PacketBatch } from '../net/batch.js';
import type { PipelineContext } from './context.js';

/**
 * The mode's prefetch (ServiceDataplane.prefetch) over a stage's frame, once for each node's
 * dataplane, before the decisions: service-nat's, and the socket stage's (socket-lb.ts). A frame
 * holds the packets of one or two nodes in the replay's cells; one of three or more (a trace of a
 * larger cluster) gets none: a hint only, the decisions the same. What the prefetch read goes to
 * lookupWarm[0], so its loads stay; a stage that keeps its own state there overwrites it after.
 */
export function prefetchDecisions(ctx: PipelineContext, batch: PacketBatch): void {
  const m = ctx.frameCount;
  if (m === 0) return;
  const frame = ctx.frame;
  const node = batch.node;
  const compiled = ctx.world.compiled;
  const n0 = node[frame[0]];
  const dp0 = compiled.dataplane(n0);
  if (dp0.prefetch === undefined) return;
  let n1 = -1;
  for (let k = 1; k < m; k++) {
    const n = node[frame[k]];
    if (n === n0 || n === n1) continue;
    if (n1 >= 0) return;
    n1 = n;
  }
  const { dstIp, dstPort, proto, flowHash } = batch;
  const seed = ctx.seed;
  let acc = dp0.prefetch(frame, m, node, dstIp, dstPort, proto, flowHash, seed);
  if (n1 >= 0) acc ^= compiled.dataplane(n1).prefetch!(frame, m, node, dstIp, dstPort, proto, flowHash, seed);
  ctx.meta.lookupWarm[0] = acc;
}
