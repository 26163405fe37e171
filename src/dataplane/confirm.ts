/**
 * The source half of NAT at a packet's last hook on a node, POSTROUTING or (local delivery)
 * INPUT: conntrack confirmation of a new flow, the kernel's `nf_conntrack_confirm` after
 * MASQUERADE chose the source address and port; or, for a known flow, the binding replayed from
 * its entry (`nf_nat_packet`). Both the postrouting and the local-in stage call these.
 *
 * MASQUERADE takes the address of the device the packet leaves by (the tunnel device's for
 * overlay routes, cbr0's on kubenet, the node's otherwise) and, as kube-proxy asks with
 * `--random-fully`, a random source port; a port whose reply tuple is taken is skipped, as
 * `nf_nat_used_tuple` makes the kernel skip it.
 */
import { mix32Bits } from '../net/hash.js';
import type { PacketBatch } from '../net/batch.js';
import { DIR_ORIGINAL, INSERT_CLASH, INSERT_FULL, IPS_DST_NAT, IPS_SRC_NAT, type ConntrackTable } from './conntrack.js';
import type { PipelineContext } from './context.js';
import { MARK_DSR_OPTION } from './dsr.js';
import { DROP_CONNTRACK_FULL, DROP_CONNTRACK_INVALID } from './next.js';
import { kProxyPortMin, kProxyPortSpan, MARK_PROXY_CLIENT, MARK_PROXY_SERVER } from './proxy-marks.js';
import type { PodNetworkPlan } from './pod-network.js';
import { RK_BRIDGE, RK_FLANNEL, RK_IPIP, RK_VXLAN } from './route-table.js';
import type { TraceRecorder } from './trace-recorder.js';

const kPortMin = 1024;
const kPortSpan = 65536 - kPortMin;
const kPortTries = 16;

/**
 * The address MASQUERADE gives a packet leaving node `node` through a device of `kind`, as int32
 * bits (`>>> 0` gives the u32): a u32 above 2^31 returned from a call the JIT does not inline is
 * boxed, on every masqueraded first packet.
 */
export function masqueradeAddress(plan: PodNetworkPlan, node: number, kind: number): number {
  const n = plan.nodes[node];
  if ((kind === RK_VXLAN || kind === RK_IPIP || kind === RK_FLANNEL) && n.tunnelIp) return n.tunnelIp | 0;
  if (kind === RK_BRIDGE && n.bridgeIp) return n.bridgeIp | 0;
  return n.primaryIp | 0;
}

/**
 * The reply tuple's destination confirm() gives packet i's new flow: MASQUERADE's address (the
 * device it leaves by), or the packet's own source; as int32 bits, as masqueradeAddress's.
 */
function replyDst(ctx: PipelineContext, batch: PacketBatch, i: number): number {
  const m = ctx.meta;
  return m.masq[i] === 1 ? masqueradeAddress(ctx.world.plan, batch.node[i], m.outKind[i]) : m.origSrc[i] | 0;
}

/**
 * The reply tuple's destination port at confirm()'s `attempt`-th try: MASQUERADE's
 * `--random-fully` port; the userspace proxy's own connection's port (its source port too: its
 * socket's, which is in use if the tuple is, and connect() then takes the next free port, as the
 * kernel's port search does); else the packet's own source port, at the one try there is.
 */
function replyPort(ctx: PipelineContext, batch: PacketBatch, i: number, attempt: number): number {
  const m = ctx.meta;
  if (m.masq[i] === 1) return kPortMin + (((mix32Bits(batch.flowHash[i], ctx.seed ^ 0x6d617371) >>> 0) + attempt) % kPortSpan);
  if (m.proxyClientSlot[i] >= 0) return kProxyPortMin + ((m.origSport[i] - kProxyPortMin + attempt) % kProxyPortSpan);
  return m.origSport[i];
}

/**
 * Software prefetch for confirm(), as prerouting's for lookups: for every new flow of the frame,
 * the home index slot of its reply tuple at the first port try (the slot confirm()'s clash check
 * and index insert read), before any insert, so that their cache misses overlap rather than each
 * insert waiting on its own. The hash goes to meta.lookupHash, what it read to meta.lookupWarm,
 * which nothing reads until the next stage's own prefetch.
 */
// Cost: a hash and a read per new flow of the frame, nothing in a batch without one (ctx.newFlows);
// with it a new flow took 766-778 ns against 835-855 (ipvs), 852-856 against 896-925 (nftables),
// 1,777-1,784 against 1,838-1,839 (iptables), and an established packet's postrouting 38-39 ns
// against 37-38 (`kdp bench --services 100 --modes ipvs,nftables,iptables --workers 1 --flows
// 1000000`, two runs of each build alternated, 2026-12-05), with the hash and the read in one loop;
// the reads in their own loop then took ipvs's new flow from 855/860 to 751/807 ns and nftables'
// from 960/935 to 834/923 (same command, a noisier hour).
export function touchConfirms(ctx: PipelineContext, batch: PacketBatch): void {
  if (ctx.newFlows === 0) return;
  const frame = ctx.frame;
  const n = ctx.frameCount;
  const world = ctx.world;
  const { newFlow, lookupHash, lookupWarm } = ctx.meta;
  for (let k = 0; k < n; k++) {
    const i = frame[k];
    if (newFlow[i] === 0) continue;
    const ct = world.conntrack(batch.node[i]);
    lookupHash[i] = ct.hashOf(batch.dstIp[i] | 0, replyDst(ctx, batch, i), batch.dstPort[i], replyPort(ctx, batch, i, 0), batch.proto[i]);
  }
  // The reads in a loop of their own, a few instructions each, so that more of them are in flight.
  for (let k = 0; k < n; k++) {
    const i = frame[k];
    if (newFlow[i] !== 0) lookupWarm[i] = world.conntrack(batch.node[i]).touchIndex(lookupHash[i]);
  }
}

/** Confirms packet i's flow if it is new; on failure the packet is dropped (see batch.next). */
export function confirm(ctx: PipelineContext, batch: PacketBatch, i: number): void {
  const m = ctx.meta;
  if (m.newFlow[i] === 0) return;
  m.newFlow[i] = 0;
  const node = batch.node[i];
  const ct = ctx.world.conntrack(node);
  const proto = batch.proto[i];
  const rSrc = batch.dstIp[i];
  const rSport = batch.dstPort[i];
  const rDst = replyDst(ctx, batch, i);
  const masq = m.masq[i] === 1;
  const proxyClient = m.proxyClientSlot[i];
  let rDport = m.origSport[i];
  let oSport = m.origSport[i];
  let slot = INSERT_CLASH;
  for (let attempt = 0; attempt < kPortTries && slot === INSERT_CLASH; attempt++) {
    rDport = replyPort(ctx, batch, i, attempt);
    if (!masq && proxyClient >= 0) oSport = rDport;
    // Addresses as int32 bits: a u32 above 2^31 passed to a call the JIT does not inline is boxed.
    slot = ct.insert(m.origSrc[i] | 0, m.origDst[i] | 0, oSport, m.origDport[i], proto, rSrc | 0, rDst, rSport, rDport, batch.tcpFlags[i]);
    if (!masq && proxyClient < 0) break;
  }
  if (slot < 0) {
    ctx.drop(batch, i, slot === INSERT_FULL ? DROP_CONNTRACK_FULL : DROP_CONNTRACK_INVALID);
    return;
  }
  if (masq) batch.natSrc(i, rDst, rDport);
  if (proxyClient >= 0) {
    if (oSport !== m.origSport[i]) batch.natSrc(i, m.origSrc[i] | 0, oSport);
    ct.setMark(proxyClient, MARK_PROXY_CLIENT | oSport);
  }
  batch.ctSlot[i] = slot;
  m.ctDir[i] = 0;
  ct.endpoint[slot] = m.endpoint[i];
  if (m.redirected[i] === 1) ct.setMark(slot, MARK_PROXY_CLIENT);
  else if (m.proxyClientSlot[i] >= 0) ct.setMark(slot, MARK_PROXY_SERVER | m.proxyClientSlot[i]);
  else if (m.dsrOption[i] === 1) ct.setMark(slot, MARK_DSR_OPTION);
  m.dsrOption[i] = 0; // the entry node's alone: the backend's node does not forward the flow
}

/**
 * The source half of a known flow's NAT, replayed from its entry: SNAT of the original direction,
 * un-DNAT of replies. The kernel does it at POSTROUTING, or at INPUT for local delivery.
 */
export function replaySourceNat(ct: ConntrackTable, dir: number, batch: PacketBatch, i: number, rec: TraceRecorder | null, where: 'POSTROUTING' | 'INPUT'): void {
  const slot = batch.ctSlot[i];
  if (slot < 0) return;
  const status = ct.statusOf(slot);
  if (dir === DIR_ORIGINAL) {
    if ((status & IPS_SRC_NAT) !== 0) batch.natSrc(i, ct.replyDst(slot), ct.replyDport(slot));
  } else if ((status & IPS_DST_NAT) !== 0) {
    // A reply from the endpoint: its source goes back to the service address.
    batch.natSrc(i, ct.origDst(slot), ct.origDport(slot));
  }
  if (rec && (status & (IPS_SRC_NAT | IPS_DST_NAT)) !== 0) rec.record(batch, i, where, 'conntrack: source NAT replayed from the entry');
}
