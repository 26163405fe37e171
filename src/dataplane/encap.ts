/**
 * Overlay encapsulation: VXLAN (Calico's vxlan.calico, VNI 4096; flannel.1, VNI 1) or IP-in-IP
 * (Calico's tunl0), outer headers prepended in place in the slot's headroom. The outer addresses
 * are the two nodes' underlay addresses; the inner pod addresses are untouched.
 *
 * Reads:  meta outKind, outNode; batch wireLen, flowHash; the world's tunnel (tunnels.ts)
 * Writes: batch start, hdrLen, wireLen, encap (outer headers)
 * Next:   underlay | done (does not fit the MTU: the kernel answers ICMP fragmentation-needed,
 *         since every packet here has DF set)
 * Counts: drops frag-needed
 */
import type { PacketBatch } from '../net/batch.js';
import { ipipEncap } from '../net/ipip.js';
import { formatIp } from '../net/ipv4.js';
import { vxlanEncap } from '../net/vxlan.js';
import type { PipelineContext } from './context.js';
import { DROP_FRAG_NEEDED, NEXT_UNDERLAY } from './next.js';
import { RK_IPIP, ROUTE_KIND_NAMES } from './route-table.js';

// Cost: ~16.9-17.7 ns per established packet at batch 256, 100 Services (11.8 userspace, 17.5 cilium), ~16.2-16.9 at 30k (12.4, 17.2), and about as much per packet of the cell (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: a result's establishedStages and stages, 1 worker, 1,000,000 flows).
export function encap(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const rec = ctx.recorder;
  const plan = ctx.world.plan;
  const tunnels = ctx.world.tunnels;
  const mtu = plan.mtu;
  const overhead = plan.encapOverhead;
  const { outKind, outNode } = ctx.meta;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    const from = batch.node[i];
    const to = outNode[i];
    // The outer IPv4 datagram: the inner IP packet plus the overhead (VXLAN's includes an inner
    // Ethernet header, which the inner frame already counts).
    const innerIp = batch.wireLen[i] - 14;
    if (innerIp + overhead > mtu) {
      ctx.drop(batch, i, DROP_FRAG_NEEDED);
      if (rec) rec.record(batch, i, ROUTE_KIND_NAMES[outKind[i]], `${innerIp} + ${overhead} bytes exceed MTU ${mtu} with DF set: ICMP fragmentation needed, dropped`);
      continue;
    }
    const ok = outKind[i] === RK_IPIP ? ipipEncap(batch, i, tunnels.ipip(from, to)) : vxlanEncap(batch, i, tunnels.vxlan(from, to));
    if (!ok) {
      ctx.drop(batch, i, DROP_FRAG_NEEDED);
      continue;
    }
    next[i] = NEXT_UNDERLAY;
    if (rec) rec.record(batch, i, ROUTE_KIND_NAMES[outKind[i]], `encapsulated (${outKind[i] === RK_IPIP ? 'IP-in-IP' : `VXLAN VNI ${plan.vni}, UDP 4789`}, +${overhead} bytes) for ${formatIp(plan.nodes[to].primaryIp)}`);
  }
}
