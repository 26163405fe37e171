/**
 * Local delivery: the kernel's LOCAL_IN (`ip_local_deliver`) for a packet routed to one of the
 * node's own addresses. Conntrack confirms a new flow here (`nf_conntrack_confirm` at INPUT), or
 * replays the source half of a known flow's NAT, since no POSTROUTING follows; then the packet
 * goes to the socket that owns it: the userspace proxy's, or the host's (VPP's `ip4-local`).
 *
 * Reads:  meta newFlow, ctDir, masq, origSrc/origDst/origSport/origDport, endpoint, redirected,
 *         proxyClientSlot; batch.ctSlot; conntrack mark (userspace proxy's connections)
 * Writes: batch src (un-SNAT of a known flow; socket LB: an answer shown from the service), ctSlot;
 *         conntrack entry (confirm)
 * Next:   proxy (userspace mode: the proxy's socket) | done (the host's socket; conntrack full
 *         or clashing)
 * Counts: drops conntrack-full, conntrack-invalid; ends delivered-host
 */
import { formatIp } from '../net/ipv4.js';
import type { PacketBatch } from '../net/batch.js';
import { confirm, replaySourceNat, touchConfirms } from './confirm.js';
import type { PipelineContext } from './context.js';
import { END_HOST, NEXT_LOCAL_IN, NEXT_PROXY } from './next.js';
import { MARK_PROXY_CLIENT, MARK_PROXY_SERVER } from './proxy-marks.js';
import { socketAnswer } from './socket-lb.js';

// Cost: nothing in a batch where no packet ends on the node (runBatch skips a stage with no packet bound for it); ~10.7 ns per established packet of a userspace cell at batch 256, 100 Services (~30 per packet of the cell: a first packet's accept is its socket), ~11.1 at 30k (~34) (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: a result's establishedStages and stages, 1 worker, 1,000,000 flows).
export function localIn(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const rec = ctx.recorder;
  const world = ctx.world;
  const { newFlow, ctDir } = ctx.meta;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  touchConfirms(ctx, batch);
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    const ct = world.conntrack(batch.node[i]);
    if (newFlow[i] === 1) {
      confirm(ctx, batch, i);
      if (next[i] !== NEXT_LOCAL_IN) continue; // confirm dropped it (table full)
    } else {
      replaySourceNat(ct, ctDir[i], batch, i, rec, 'INPUT');
    }
    const slot = batch.ctSlot[i];
    const mark = slot >= 0 ? ct.markOf(slot) : 0;
    // The proxy's sockets receive the client's packets (original direction of the client's
    // connection) and the endpoint's answers (reply direction of the proxy's own connection);
    // the proxy's answers to a host client are the host's to receive.
    const toProxy = ctDir[i] === 0 ? (mark & MARK_PROXY_CLIENT) !== 0 : (mark & MARK_PROXY_SERVER) !== 0;
    // The hops keep the name 'routing': what a trace reader follows is the route lookup's
    // RTN_LOCAL outcome, told once the socket is known.
    if (toProxy) {
      next[i] = NEXT_PROXY;
      if (rec) rec.record(batch, i, 'routing', `local: to kube-proxy's userspace proxy socket ${formatIp(batch.dstIp[i])}:${batch.dstPort[i]}`);
    } else {
      ctx.end(batch, i, END_HOST);
      if (rec) rec.record(batch, i, 'routing', `local: delivered to the node's own address ${formatIp(batch.dstIp[i])}`);
      socketAnswer(ctx, batch, i, 'host socket');
    }
  }
}
