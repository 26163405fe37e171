/**
 * The IPv4 header: an options-free 20-byte writer, field readers, and in-place rewrites that keep
 * the header checksum valid incrementally (RFC 1624), as the kernel's `ip_decrease_ttl` and
 * `csum_replace4` do.
 */

import { read16, read32, write16, write32 } from './bytes.js';
import { csumFold, csumPartial, csumReplace2At, internetChecksum } from './checksum.js';

export const kIpv4HdrLen = 20;
export const IPV4_DF = 0x4000;
export const IPV4_MF = 0x2000;

/**
 * Writes an options-free IPv4 header at `b[o]` (TOS 0, no fragmentation) and its checksum.
 * `totalLen` is the IP datagram length including the L4 header and payload.
 */
export function writeIpv4(
  b: Uint8Array,
  o: number,
  src: number,
  dst: number,
  proto: number,
  totalLen: number,
  id: number,
  ttl: number,
  df: boolean,
): void {
  const flags = df ? IPV4_DF : 0;
  b[o] = 0x45;
  b[o + 1] = 0;
  write16(b, o + 2, totalLen);
  write16(b, o + 4, id);
  write16(b, o + 6, flags);
  b[o + 8] = ttl;
  b[o + 9] = proto;
  write32(b, o + 12, src);
  write32(b, o + 16, dst);
  // RFC 1071's sum of the words just written, from the values: no pass over the bytes.
  const sum = 0x4500 + (totalLen & 0xffff) + (id & 0xffff) + flags + (((ttl & 0xff) << 8) | (proto & 0xff)) + (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
  write16(b, o + 10, ~csumFold(sum) & 0xffff);
}

/**
 * A header template: writeIpv4's header with total length, ID and checksum left 0, for a sender
 * whose every datagram shares the rest (a tunnel's outer header). Returns the unfolded sum of its
 * 16-bit words, which ipv4FinishTemplate completes per datagram.
 */
export function writeIpv4Template(b: Uint8Array, o: number, src: number, dst: number, proto: number, ttl: number, df: boolean): number {
  writeIpv4(b, o, src, dst, proto, 0, 0, ttl, df);
  b[o + 10] = 0;
  b[o + 11] = 0;
  return csumPartial(b, o, kIpv4HdrLen, 0);
}

/**
 * Completes a copied template at `b[o]`: its total length, ID and checksum, the checksum from
 * `sum` (the template's, plus any word the caller changed) with no pass over the header
 * (RFC 1071's incremental form).
 */
export function ipv4FinishTemplate(b: Uint8Array, o: number, sum: number, totalLen: number, id: number): void {
  write16(b, o + 2, totalLen);
  write16(b, o + 4, id);
  write16(b, o + 10, ~csumFold(sum + totalLen + id) & 0xffff);
}

export function ipv4Version(b: Uint8Array, o: number): number {
  return b[o] >>> 4;
}
/** Header length in bytes (IHL * 4). */
export function ipv4HdrLen(b: Uint8Array, o: number): number {
  return (b[o] & 15) << 2;
}
export function ipv4TotalLen(b: Uint8Array, o: number): number {
  return read16(b, o + 2);
}
export function ipv4Id(b: Uint8Array, o: number): number {
  return read16(b, o + 4);
}
export function ipv4DontFragment(b: Uint8Array, o: number): boolean {
  return (b[o + 6] & 0x40) !== 0;
}
/** Whether the datagram is a fragment (MF set or a non-zero fragment offset). */
export function ipv4IsFragment(b: Uint8Array, o: number): boolean {
  return (read16(b, o + 6) & 0x3fff) !== 0;
}
export function ipv4Ttl(b: Uint8Array, o: number): number {
  return b[o + 8];
}
export function ipv4Proto(b: Uint8Array, o: number): number {
  return b[o + 9];
}
export function ipv4Checksum(b: Uint8Array, o: number): number {
  return read16(b, o + 10);
}
export function ipv4Src(b: Uint8Array, o: number): number {
  return read32(b, o + 12);
}
export function ipv4Dst(b: Uint8Array, o: number): number {
  return read32(b, o + 16);
}

/** Whether the header checksum verifies (the sum over the header, checksum included, is 0xffff). */
export function ipv4ChecksumOk(b: Uint8Array, o: number): boolean {
  return internetChecksum(b, o, ipv4HdrLen(b, o)) === 0;
}

/** Recomputes the header checksum from scratch. */
export function ipv4SetChecksum(b: Uint8Array, o: number): void {
  b[o + 10] = 0;
  b[o + 11] = 0;
  write16(b, o + 10, internetChecksum(b, o, ipv4HdrLen(b, o)));
}

/**
 * Decrements the TTL and updates the checksum incrementally (the TTL is the high byte of the
 * 16-bit word it shares with the protocol). Returns the new TTL; the caller drops at 0 (a TTL
 * already 0 is left alone and 0 returned, never wrapped to 255).
 */
export function ipv4DecTtl(b: Uint8Array, o: number): number {
  const ttl = b[o + 8];
  if (ttl === 0) return 0;
  const proto = b[o + 9];
  b[o + 8] = ttl - 1;
  csumReplace2At(b, o + 10, (ttl << 8) | proto, ((ttl - 1) << 8) | proto);
  return ttl - 1;
}

/** Sets the TTL (a packet a local socket sends anew), updating the checksum incrementally. */
export function ipv4SetTtl(b: Uint8Array, o: number, ttl: number): void {
  const old = b[o + 8];
  const proto = b[o + 9];
  b[o + 8] = ttl;
  csumReplace2At(b, o + 10, (old << 8) | proto, (ttl << 8) | proto);
}
