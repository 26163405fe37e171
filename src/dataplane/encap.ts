/**
 * Overlay encapsulation: VXLAN (Calico's vxlan.calico, VNI 4096; flannel.1, VNI 1) or IP-in-IP
 * (Calico's tunl0), outer headers prepended in place in the slot's headroom. The outer addresses
 * are the two nodes' underlay addresses; the inner pod addresses are untouched.
 *
 * Reads:  ctx.outKind, outNode; batch wireLen, flowHash
 * Writes: batch start, hdrLen, wireLen, encap (outer headers)
 * Next:   underlay | done (does not fit the MTU: the kernel answers ICMP fragmentation-needed,
 *         since every packet here has DF set)
 * Counts: drops frag-needed
 */
import type { PacketBatch } from '../net/batch.js';
import { ipipEncap, ipipTunnel, type IpipTunnel } from '../net/ipip.js';
import { formatIp } from '../net/ipv4.js';
import { vxlanEncap, vxlanTunnel, type VxlanTunnel } from '../net/vxlan.js';
import type { PipelineContext } from './context.js';
import { DROP_FRAG_NEEDED, NEXT_ENCAP, NEXT_UNDERLAY } from './next.js';
import { RK_IPIP, ROUTE_KIND_NAMES } from './route-table.js';

/** One tunnel per (from, to) node pair, made on first use (they carry the outer IP ID). */
export class TunnelCache {
  readonly #vxlan = new Map<number, VxlanTunnel>();
  readonly #ipip = new Map<number, IpipTunnel>();
  vxlan(ctx: PipelineContext, from: number, to: number): VxlanTunnel {
    const key = from * 65536 + to;
    let t = this.#vxlan.get(key);
    if (!t) {
      t = vxlanTunnel({ srcIp: ctx.plan.nodes[from].primaryIp, dstIp: ctx.plan.nodes[to].primaryIp, vni: ctx.plan.vni });
      this.#vxlan.set(key, t);
    }
    return t;
  }
  ipip(ctx: PipelineContext, from: number, to: number): IpipTunnel {
    const key = from * 65536 + to;
    let t = this.#ipip.get(key);
    if (!t) {
      t = ipipTunnel({ srcIp: ctx.plan.nodes[from].primaryIp, dstIp: ctx.plan.nodes[to].primaryIp });
      this.#ipip.set(key, t);
    }
    return t;
  }
}

export function encap(ctx: PipelineContext, batch: PacketBatch): void {
  const n = batch.count;
  const next = batch.next;
  const rec = ctx.recorder;
  const mtu = ctx.plan.mtu;
  const overhead = ctx.plan.encapOverhead;
  for (let i = 0; i < n; i++) {
    if (next[i] !== NEXT_ENCAP) continue;
    const from = batch.node[i];
    const to = ctx.outNode[i];
    // The outer IPv4 datagram: the inner IP packet plus the overhead (VXLAN's includes an inner
    // Ethernet header, which the inner frame already counts).
    const innerIp = batch.wireLen[i] - 14;
    if (innerIp + overhead > mtu) {
      ctx.drop(batch, i, DROP_FRAG_NEEDED);
      if (rec) rec.record(batch, i, ROUTE_KIND_NAMES[ctx.outKind[i]], `${innerIp} + ${overhead} bytes exceed MTU ${mtu} with DF set: ICMP fragmentation needed, dropped`);
      continue;
    }
    const ok = ctx.outKind[i] === RK_IPIP ? ipipEncap(batch, i, ctx.tunnels.ipip(ctx, from, to)) : vxlanEncap(batch, i, ctx.tunnels.vxlan(ctx, from, to));
    if (!ok) {
      ctx.drop(batch, i, DROP_FRAG_NEEDED);
      continue;
    }
    next[i] = NEXT_UNDERLAY;
    if (rec) rec.record(batch, i, ROUTE_KIND_NAMES[ctx.outKind[i]], `encapsulated (${ctx.outKind[i] === RK_IPIP ? 'IP-in-IP' : `VXLAN VNI ${ctx.plan.vni}, UDP 4789`}, +${overhead} bytes) for ${formatIp(ctx.plan.nodes[to].primaryIp)}`);
  }
}
