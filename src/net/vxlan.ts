/**
 * VXLAN encapsulation (RFC 7348) in place: the outer Ethernet + IPv4 + UDP + VXLAN headers
 * (50 bytes, as Calico's docs count them) are written into the slot's headroom in front of the
 * inner frame, which never moves (DPDK's `rte_pktmbuf_prepend`). The outer UDP source port comes
 * from the inner flow hash as Linux's `udp_flow_src_port` computes it, so ECMP spreads flows.
 *
 * Outer UDP checksum: Linux sends 0 for VXLAN over IPv4 unless `udpcsum` is set; both are
 * supported (`udpChecksum`).
 *
 * A tunnel carries its outer headers prebuilt (`header`, one per (node, node) pair in tunnels.ts):
 * a packet copies them and writes only what is its own (the IPv4 total length and ID, the UDP
 * source port and length), and the IPv4 checksum is the tunnel's precomputed sum of the fixed
 * words plus those two (RFC 1071's incremental form), never a pass over the header.
 */

import type { PacketBatch } from './batch.js';
import { ENCAP_NONE, ENCAP_VXLAN, kVxlanPort } from './batch.js';
import { read16, write16 } from './bytes.js';
import { ETHERTYPE_IPV4, writeEth } from './eth.js';
import { ipv4FinishTemplate, writeIpv4Template } from './ipv4-header.js';
import { l4SetChecksum, writeUdp } from './l4.js';
import { InvalidArgumentError } from '../errors.js';
import { PROTO_UDP } from './proto.js';

export { kVxlanPort };
/** Outer Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8. */
export const kVxlanOverhead = 50;
export const kVxlanHdrLen = 8;
/** Calico's VXLAN network identifier. */
export const kCalicoVni = 4096;
/** Linux's default source port range for tunnels (ip_local_port_range 32768..60999, max exclusive). */
export const kTunnelPortMin = 32768;
export const kTunnelPortMax = 61000;

export interface VxlanTunnelOptions {
  /** Outer source (this node's) and destination (the remote node's) addresses, u32. */
  srcIp: number;
  dstIp: number;
  srcMac?: number;
  dstMac?: number;
  vni?: number;
  ttl?: number;
  df?: boolean;
  portMin?: number;
  portMax?: number;
  udpChecksum?: boolean;
}

/**
 * A validated tunnel; `ipId` is the outer IPv4 ID counter, advanced per encapsulated packet.
 * `header` holds the 50 outer bytes with the per-packet fields zero (IPv4 total length, ID and
 * checksum; UDP source port, length and checksum), `ipSum` the unfolded sum of that IPv4 header's
 * 16-bit words.
 */
export interface VxlanTunnel {
  readonly srcIp: number;
  readonly dstIp: number;
  readonly srcMac: number;
  readonly dstMac: number;
  readonly vni: number;
  readonly ttl: number;
  readonly df: boolean;
  readonly portMin: number;
  readonly portMax: number;
  readonly udpChecksum: boolean;
  readonly header: Uint8Array;
  readonly ipSum: number;
  ipId: number;
}

function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new InvalidArgumentError(`${name} must be a u32 IPv4 address`);
  return v >>> 0;
}

export function vxlanTunnel(opts: VxlanTunnelOptions): VxlanTunnel {
  const vni = opts.vni ?? kCalicoVni;
  const ttl = opts.ttl ?? 64;
  const portMin = opts.portMin ?? kTunnelPortMin;
  const portMax = opts.portMax ?? kTunnelPortMax;
  if (!Number.isInteger(vni) || vni < 0 || vni > 0xffffff) throw new InvalidArgumentError('options.vni must be a 24-bit integer');
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 255) throw new InvalidArgumentError('options.ttl must be in [1, 255]');
  if (!Number.isInteger(portMin) || !Number.isInteger(portMax) || portMin < 1 || portMax > 65536 || portMin >= portMax) {
    throw new InvalidArgumentError('options.portMin/portMax must satisfy 1 <= portMin < portMax <= 65536');
  }
  const srcIp = u32('options.srcIp', opts.srcIp);
  const dstIp = u32('options.dstIp', opts.dstIp);
  const srcMac = opts.srcMac ?? 0x02_00_00_00_01_01;
  const dstMac = opts.dstMac ?? 0x02_00_00_00_01_02;
  const df = opts.df ?? false;
  const header = new Uint8Array(kVxlanOverhead);
  writeEth(header, 0, dstMac, srcMac, ETHERTYPE_IPV4);
  const ipSum = writeIpv4Template(header, 14, srcIp, dstIp, PROTO_UDP, ttl, df);
  writeUdp(header, 34, 0, kVxlanPort, 0);
  header[42] = 0x08; // I flag: the VNI is valid
  header[46] = vni >>> 16;
  header[47] = vni >>> 8;
  header[48] = vni;
  return {
    srcIp, dstIp, srcMac, dstMac, vni, ttl, df, portMin, portMax,
    udpChecksum: opts.udpChecksum ?? false,
    header,
    ipSum,
    ipId: 1,
  };
}

/**
 * The outer UDP source port for a flow hash, as Linux's `udp_flow_src_port`:
 * `hash ^= hash << 16; port = ((u64)hash * (max - min) >> 32) + min`.
 */
export function vxlanSrcPort(flowHash: number, portMin: number = kTunnelPortMin, portMax: number = kTunnelPortMax): number {
  const h = (flowHash ^ (flowHash << 16)) >>> 0;
  return Math.floor((h * (portMax - portMin)) / 4294967296) + portMin;
}

/** The VNI of a VXLAN header at `o`. */
export function vxlanVni(b: Uint8Array, o: number): number {
  return (b[o + 4] << 16) | (b[o + 5] << 8) | b[o + 6];
}

/**
 * Encapsulates packet i in place. Returns false (packet untouched) when the headroom is too
 * small or the outer datagram would exceed 65535 bytes.
 */
// Cost: ~75-95 ns a packet for encap + decap (median 91) at batch 256, outer UDP checksum off; 100-150 (median 124) when each packet wrote every field and summed the header (TIME=1000 node dist/bench/net/encap.bench.js, three runs alternated with the old code, 2026-12-03, shared 2-core machine: upper bounds).
export function vxlanEncap(batch: PacketBatch, i: number, t: VxlanTunnel): boolean {
  const s = batch.start[i];
  if (s < kVxlanOverhead) return false;
  const innerLen = batch.wireLen[i];
  const ipLen = kVxlanOverhead - 14 + innerLen;
  if (ipLen > 0xffff) return false;
  const b = batch.bytes;
  const ns = s - kVxlanOverhead;
  const o = (i << batch.slotShift) + ns;
  b.set(t.header, o);
  const id = t.ipId;
  t.ipId = (id + 1) & 0xffff;
  ipv4FinishTemplate(b, o + 14, t.ipSum, ipLen, id);
  write16(b, o + 34, vxlanSrcPort(batch.flowHash[i], t.portMin, t.portMax));
  write16(b, o + 38, ipLen - 20);
  // The UDP payload (VXLAN header + inner headers) is contiguous in the slot, the rest zeros.
  if (t.udpChecksum) l4SetChecksum(b, o + 14, o + 34, PROTO_UDP, 8 + kVxlanHdrLen + batch.hdrLen[i]);
  batch.start[i] = ns;
  batch.hdrLen[i] += kVxlanOverhead;
  batch.wireLen[i] = innerLen + kVxlanOverhead;
  batch.encap[i] = ENCAP_VXLAN;
  return true;
}

/**
 * Strips the outer headers of a VXLAN packet in place (moves `start` forward 50 bytes). Returns
 * false (packet untouched) unless the frame is Ethernet/IPv4 (no options)/UDP to 4789 with the
 * VXLAN I flag and an inner Ethernet/IPv4 frame. The inner packet's `l3Off`/`l4Off` are unchanged.
 */
export function vxlanDecap(batch: PacketBatch, i: number): boolean {
  const b = batch.bytes;
  const o = batch.pktOff(i);
  if (batch.hdrLen[i] < kVxlanOverhead + 14) return false;
  if (read16(b, o + 12) !== ETHERTYPE_IPV4 || b[o + 14] !== 0x45 || b[o + 23] !== PROTO_UDP) return false;
  if (read16(b, o + 36) !== kVxlanPort || (b[o + 42] & 0x08) === 0) return false;
  if (read16(b, o + 50 + 12) !== ETHERTYPE_IPV4) return false;
  batch.start[i] += kVxlanOverhead;
  batch.hdrLen[i] -= kVxlanOverhead;
  batch.wireLen[i] -= kVxlanOverhead;
  batch.encap[i] = ENCAP_NONE;
  return true;
}

