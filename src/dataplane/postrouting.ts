/**
 * POSTROUTING: the source half of NAT (MASQUERADE for a new flow, the stored binding for a known
 * one), conntrack confirm, and the choice of what carries the packet on.
 *
 * Reads:  meta newFlow, masq, ctDir, outKind, outNode; batch.ctSlot
 * Writes: batch src (SNAT / un-DNAT of replies; socket LB: an answer shown from the service; a DSR
 *         reply leaving the backend's node: the frontend, dsr.ts), ctSlot
 * Next:   encap (overlay route) | underlay (plain route to another node) | done (a pod's veth on
 *         this node; out of the cluster)
 * Counts: drops conntrack-full, conntrack-invalid (also: a DSR flow's packet with no room for its option)
 */
import type { PacketBatch } from '../net/batch.js';
import { formatIp } from '../net/ipv4.js';
import { confirm, replaySourceNat, touchConfirms } from './confirm.js';
import type { PipelineContext } from './context.js';
import { END_EXTERNAL, END_POD, NEXT_ENCAP, NEXT_POSTROUTING, NEXT_UNDERLAY } from './next.js';
import { bridgeName, vethName } from './pod-network.js';
import { DIR_ORIGINAL } from './conntrack.js';
import { dsrCarryEstablished, dsrReplyXlate, MARK_DSR_OPTION } from './dsr.js';
import { socketAnswer, touchAnswers } from './socket-lb.js';
import { RK_BRIDGE, RK_FLANNEL, RK_IPIP, RK_VETH, RK_VXLAN } from './route-table.js';

// Cost: ~39-43 ns per established packet (iptables, ipvs, nftables; userspace 38; cilium 55, where each UDP datagram delivered to a pod is shown from its Service, socketAnswer's lookup; 182 in the record at cae0446, when every packet was) at batch 256, 100 Services, ~38-40 at 30k (userspace 38, cilium 53); per packet of the cell, where first packets' conntrack confirm (its misses overlapped: touchConfirms) and SNAT count in, ~72-77 and ~71-91 (userspace 73 and 82, cilium 94 and 91) (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: a result's establishedStages and stages, 1 worker, 1,000,000 flows).
export function postrouting(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const rec = ctx.recorder;
  const world = ctx.world;
  const cni = world.plan.cni;
  const counters = ctx.counters;
  const { newFlow, masq: masqs, ctDir, outKind, outNode } = ctx.meta;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  touchAnswers(ctx, batch);
  touchConfirms(ctx, batch);
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    const node = batch.node[i];
    if (newFlow[i] === 1) {
      const masq = masqs[i] === 1;
      confirm(ctx, batch, i);
      if (next[i] !== NEXT_POSTROUTING) continue;
      if (rec && masq) {
        const by = ctx.world.compiled.dataplane(node).snatBy;
        rec.record(batch, i, 'POSTROUTING', by ? `SNAT to ${formatIp(batch.srcIp[i])}:${batch.srcPort[i]} (${by})` : `MASQUERADE to ${formatIp(batch.srcIp[i])}:${batch.srcPort[i]} (KUBE-POSTROUTING, mark 0x4000)`);
      }
    } else {
      const ct = world.conntrack(node);
      replaySourceNat(ct, ctDir[i], batch, i, rec, 'POSTROUTING');
      // A non-TCP DSR flow: each of its packets carries the frontend (dsr.ts).
      const slot = batch.ctSlot[i];
      if (slot >= 0 && ctDir[i] === DIR_ORIGINAL && (ct.markOf(slot) & MARK_DSR_OPTION) !== 0) {
        dsrCarryEstablished(ctx, batch, i, slot);
        if (next[i] !== NEXT_POSTROUTING) continue;
      }
    }
    const kind = outKind[i];
    if (kind === RK_VETH || kind === RK_BRIDGE) {
      ctx.end(batch, i, END_POD);
      if (rec) rec.record(batch, i, vethName(cni, batch.dstIp[i]), `delivered to the pod's eth0 through its veth${kind === RK_BRIDGE ? ` on ${bridgeName(cni)}` : ''}`);
      socketAnswer(ctx, batch, i, 'pod socket');
    } else if (kind === RK_VXLAN || kind === RK_IPIP || kind === RK_FLANNEL) {
      dsrReplyXlate(ctx, batch, i);
      next[i] = NEXT_ENCAP;
    } else if (outNode[i] >= 0 && outNode[i] !== node) {
      dsrReplyXlate(ctx, batch, i);
      next[i] = NEXT_UNDERLAY;
    } else {
      dsrReplyXlate(ctx, batch, i);
      counters.wireBytes += batch.wireLen[i];
      ctx.end(batch, i, END_EXTERNAL);
      if (rec) rec.record(batch, i, 'eth0', 'left the cluster through the underlay');
    }
  }
}
