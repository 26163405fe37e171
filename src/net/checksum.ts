/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624, eqn. 3:
 * HC' = ~(~HC + ~m + m')), as the kernel's `csum_replace2`/`csum_replace4` and
 * `inet_proto_csum_replace4` use them for NAT.
 *
 * Sums are kept unfolded in a JS number (a double holds any sum of < 2^37 16-bit words exactly),
 * and folded once at the end. Checksum values are u16 in host order, as read with `read16`.
 */

import { read16, write16 } from './bytes.js';

/**
 * Adds the big-endian 16-bit words of `b[off, off + len)` to `sum` (an odd trailing byte is padded
 * with a zero low byte). Returns the unfolded sum; fold it with `csumFold`.
 */
export function csumPartial(b: Uint8Array, off: number, len: number, sum: number): number {
  const end = off + (len & ~1);
  let s = sum;
  for (let i = off; i < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (len & 1) s += b[end] << 8;
  return s;
}

/** Folds an unfolded sum into 16 bits with end-around carry (not complemented). */
export function csumFold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 65536);
  return s;
}

/** The Internet checksum of `b[off, off + len)`: ~fold(sum), u16. 0 means a range that verifies. */
export function internetChecksum(b: Uint8Array, off: number, len: number): number {
  return ~csumFold(csumPartial(b, off, len, 0)) & 0xffff;
}

/** The unfolded sum of the IPv4 pseudo-header (src, dst, zero, protocol, L4 length). */
export function pseudoHeaderSum(src: number, dst: number, proto: number, l4Len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + proto + l4Len;
}

/** RFC 1624 update of checksum `check` when a 16-bit field changes from `from` to `to`. */
export function csumReplace2(check: number, from: number, to: number): number {
  let s = (~check & 0xffff) + (~from & 0xffff) + (to & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** RFC 1624 update of checksum `check` when a 32-bit field (an address) changes from `from` to `to`. */
export function csumReplace4(check: number, from: number, to: number): number {
  const nf = ~from;
  let s = (~check & 0xffff) + ((nf >>> 16) & 0xffff) + (nf & 0xffff) + (to >>> 16) + (to & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** Updates the checksum stored at `b[checkOff]` for a 16-bit field change. */
export function csumReplace2At(b: Uint8Array, checkOff: number, from: number, to: number): void {
  write16(b, checkOff, csumReplace2(read16(b, checkOff), from, to));
}
