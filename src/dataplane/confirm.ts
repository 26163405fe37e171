/**
 * Conntrack confirmation of a new flow, with the source half of NAT: the kernel's
 * `nf_conntrack_confirm` at POSTROUTING (or INPUT for local delivery), after MASQUERADE chose
 * the source address and port.
 *
 * MASQUERADE takes the address of the device the packet leaves by (the tunnel device's for
 * overlay routes, cbr0's on kubenet, the node's otherwise) and, as kube-proxy asks with
 * `--random-fully`, a random source port; a port whose reply tuple is taken is skipped, as
 * `nf_nat_used_tuple` makes the kernel skip it.
 */
import { mix32 } from '../net/hash.js';
import type { PacketBatch } from '../net/batch.js';
import { INSERT_CLASH, INSERT_FULL } from './conntrack.js';
import type { PipelineContext } from './context.js';
import { DROP_CONNTRACK_FULL, DROP_CONNTRACK_INVALID } from './next.js';
import { kProxyPortMin, kProxyPortSpan, MARK_PROXY_CLIENT, MARK_PROXY_SERVER } from './proxy-marks.js';
import { RK_BRIDGE, RK_FLANNEL, RK_IPIP, RK_VXLAN } from './route-table.js';

const kPortMin = 1024;
const kPortSpan = 65536 - kPortMin;
const kPortTries = 16;

/** The address MASQUERADE gives a packet leaving node `node` through a device of `kind`. */
export function masqueradeAddress(ctx: PipelineContext, node: number, kind: number): number {
  const n = ctx.plan.nodes[node];
  if ((kind === RK_VXLAN || kind === RK_IPIP || kind === RK_FLANNEL) && n.tunnelIp) return n.tunnelIp;
  if (kind === RK_BRIDGE && n.bridgeIp) return n.bridgeIp;
  return n.primaryIp;
}

/** Confirms packet i's flow if it is new; on failure the packet is dropped (see batch.next). */
export function confirm(ctx: PipelineContext, batch: PacketBatch, i: number): void {
  if (ctx.newFlow[i] === 0) return;
  ctx.newFlow[i] = 0;
  const node = batch.node[i];
  const ct = ctx.conntrack(node);
  const proto = batch.proto[i];
  const rSrc = batch.dstIp[i];
  const rSport = batch.dstPort[i];
  let rDst = ctx.origSrc[i];
  let rDport = ctx.origSport[i];
  const masq = ctx.masq[i] === 1;
  if (masq) rDst = masqueradeAddress(ctx, node, ctx.outKind[i]);
  // The userspace proxy's own connection: its source port is in use if the tuple is, and
  // connect() then takes the next free port, as the kernel's port search does.
  const proxyClient = ctx.proxyClientSlot[i];
  let oSport = ctx.origSport[i];
  let slot = INSERT_CLASH;
  for (let attempt = 0; attempt < kPortTries && slot === INSERT_CLASH; attempt++) {
    if (masq) rDport = kPortMin + ((mix32(batch.flowHash[i], ctx.seed ^ 0x6d617371) + attempt) % kPortSpan);
    else if (proxyClient >= 0) rDport = oSport = kProxyPortMin + ((ctx.origSport[i] - kProxyPortMin + attempt) % kProxyPortSpan);
    slot = ct.insert(ctx.origSrc[i], ctx.origDst[i], oSport, ctx.origDport[i], proto, rSrc, rDst, rSport, rDport, batch.tcpFlags[i], ctx.now);
    if (!masq && proxyClient < 0) break;
  }
  if (slot < 0) {
    ctx.drop(batch, i, slot === INSERT_FULL ? DROP_CONNTRACK_FULL : DROP_CONNTRACK_INVALID);
    return;
  }
  if (masq) batch.natSrc(i, rDst, rDport);
  if (proxyClient >= 0) {
    if (oSport !== ctx.origSport[i]) batch.natSrc(i, ctx.origSrc[i], oSport);
    ct.mark[proxyClient] = MARK_PROXY_CLIENT | oSport;
  }
  batch.ctSlot[i] = slot;
  ctx.ctDir[i] = 0;
  ct.endpoint[slot] = ctx.endpoint[i];
  if (ctx.redirected[i] === 1) ct.mark[slot] = MARK_PROXY_CLIENT;
  else if (ctx.proxyClientSlot[i] >= 0) ct.mark[slot] = MARK_PROXY_SERVER | ctx.proxyClientSlot[i];
}
