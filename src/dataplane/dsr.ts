/**
 * Direct Server Return as Cilium v1.17 does it (bpf/lib/nodeport.h), for the stages that meet it:
 *
 * - the entry node's service NAT, after DNAT toward another node's backend (`nodeport_lb4`): the
 *   packet carries the frontend the client asked for, in an 8-byte IPv4 option after the header
 *   (`dsr_set_opt4`: type IPOPT_COPY | 0x1a, length 8, port, address; a TCP flow's SYN only, every
 *   packet of other protocols), or in the Geneve header (`encap_geneve_dsr_opt4`), which kdp
 *   does not build: there the frontend rides in the packet's metadata (PacketMeta.dsrIp);
 * - the backend node's service NAT, finding no service for a packet that carries one
 *   (`nodeport_extract_dsr_v4`): the flow's tuple and frontend are remembered
 *   (`snat_v4_create_dsr`, NodeWorld.dsrReplies);
 * - that node's postrouting, as a reply leaves the node (`xlate_dsr_v4` in to-netdev): its
 *   source becomes the frontend, so it goes to the client straight, never through the entry node.
 *
 * dsrCarry and dsrRemember run once per new flow (dsrCarryEstablished for each later packet of a
 * non-TCP flow that carries the option: its conntrack entry holds MARK_DSR_OPTION); dsrReplyXlate once per packet leaving a node that
 * has DSR flows (one socket-table lookup, ~1 probe), nothing on a node that has none.
 */
import { DSR_OPTION, type FirstPacket } from '../compile/dataplane.js';
import type { PacketBatch } from '../net/batch.js';
import { read16, read32 } from '../net/bytes.js';
import { formatIp } from '../net/ipv4.js';
import { TCP_SYN } from '../net/l4.js';
import { PROTO_TCP } from '../net/proto.js';
import type { PipelineContext } from './context.js';
import { DROP_CONNTRACK_INVALID } from './next.js';
import type { SocketTable } from './socket-table.js';

/** `DSR_IPV4_OPT_TYPE` (IPOPT_COPY | 0x1a) and the option's length, bpf/lib/common.h. */
export const kDsrOptionType = 0x9a;
export const kDsrOptionLen = 8;

/** Packet i's DSR frontend into `pkt` (dsrIp 0: none): its IPv4 option if it has one, else its metadata. */
export function dsrFrontendOf(ctx: PipelineContext, batch: PacketBatch, i: number, pkt: FirstPacket): void {
  const b = batch.bytes;
  const l3 = batch.l3Off[i];
  // An IPv4 header of at least 7 words whose first option is Cilium's (the datapath looks only there).
  if ((b[l3] & 15) >= 7 && b[l3 + 20] === kDsrOptionType && b[l3 + 21] === kDsrOptionLen) {
    pkt.dsrPort = read16(b, l3 + 22);
    pkt.dsrIp = read32(b, l3 + 24);
    return;
  }
  pkt.dsrIp = ctx.meta.dsrIp[i];
  pkt.dsrPort = ctx.meta.dsrPort[i];
}

/**
 * The entry node sends the frontend (`ip:port`, the packet's destination before DNAT) with packet
 * i, as `how` (DSR_OPTION or DSR_TUNNEL) says. False when the header has no room for the option.
 */
export function dsrCarry(ctx: PipelineContext, batch: PacketBatch, i: number, how: number, ip: number, port: number): boolean {
  const rec = ctx.recorder;
  if (how === DSR_OPTION) {
    // A TCP flow's later packets need none: the backend's node knows the flow by then.
    if (batch.proto[i] === PROTO_TCP && (batch.tcpFlags[i] & TCP_SYN) === 0) return true;
    if (!batch.addIpv4Option(i, ((kDsrOptionType << 24) | (kDsrOptionLen << 16) | port) >>> 0, ip >>> 0)) return false;
    if (batch.proto[i] !== PROTO_TCP) ctx.meta.dsrOption[i] = 1;
    if (rec) rec.record(batch, i, 'bpf_host: dsr_set_opt4', `IPv4 option ${kDsrOptionType.toString(16)} (8 bytes) carries the frontend ${formatIp(ip)}:${port} to the backend's node; the client's address is kept`);
    return true;
  }
  ctx.meta.dsrIp[i] = ip;
  ctx.meta.dsrPort[i] = port;
  if (rec) rec.record(batch, i, 'bpf_host: encap_geneve_dsr_opt4', `the frontend ${formatIp(ip)}:${port} rides to the backend's node in the tunnel's DSR option (kdp: in the packet's metadata, no Geneve header is built); the client's address is kept`);
  return true;
}

/**
 * The conntrack mark of a non-TCP DSR flow whose packets carry the IPv4 option, every one of them
 * (`dsr_set_opt4` runs for each packet the entry node forwards; it skips only a TCP flow's non-SYN
 * packets). Cilium's mode makes no userspace-proxy marks (proxy-marks.ts), so the bit is its own.
 */
export const MARK_DSR_OPTION = 0x20000000;

/** A later packet of a marked flow (original direction, entry `slot` on its node) carries the frontend again. */
export function dsrCarryEstablished(ctx: PipelineContext, batch: PacketBatch, i: number, slot: number): void {
  const ct = ctx.world.conntrack(batch.node[i]);
  if (!dsrCarry(ctx, batch, i, DSR_OPTION, ct.origDst(slot), ct.origDport(slot))) ctx.drop(batch, i, DROP_CONNTRACK_INVALID);
}

/** The backend node remembers the flow of packet i (client to backend) with the frontend in `pkt`. */
export function dsrRemember(ctx: PipelineContext, batch: PacketBatch, i: number, pkt: FirstPacket, endpoint: number): void {
  ctx.world.dsrReplies(batch.node[i]).insert(batch.srcIp[i], pkt.dsrIp ?? 0, batch.srcPort[i], pkt.dsrPort ?? 0, batch.proto[i], batch.dstIp[i], batch.dstPort[i], endpoint);
}

/**
 * A reply leaving its backend's node in a DSR flow gets the frontend as its source (`xlate_dsr_v4`).
 * Every packet leaving a node asks; only a node with DSR flows goes on (xlateDsrReply), so what
 * V8 inlines at each call site is the test, not the translation.
 */
export function dsrReplyXlate(ctx: PipelineContext, batch: PacketBatch, i: number): void {
  const flows = ctx.world.dsrRepliesIfAny(batch.node[i]);
  if (flows !== undefined) xlateDsrReply(ctx, batch, i, flows);
}

function xlateDsrReply(ctx: PipelineContext, batch: PacketBatch, i: number, flows: SocketTable): void {
  const e = flows.lookup(batch.srcIp[i], batch.dstIp[i], batch.srcPort[i], batch.dstPort[i], batch.proto[i], 1);
  if (e < 0) return;
  batch.natSrc(i, flows.dst(e) | 0, flows.ports(e) & 0xffff);
  const rec = ctx.recorder;
  if (rec) rec.record(batch, i, 'bpf_host (to-netdev): xlate_dsr_v4', `DSR reply: the source becomes the frontend ${formatIp(flows.dst(e))}:${flows.ports(e) & 0xffff} (snat_v4_create_dsr's entry); it goes to the client directly, not through the node that balanced it`);
}
