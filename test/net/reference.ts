/**
 * Deliberately naive reference implementations (byte-at-a-time, no tables, no shortcuts) that the
 * packet layer's fast code is checked against.
 */

import type { PacketBatch } from '../../src/net/batch.js';

/** RFC 1071 checksum: fold a plain sum of 16-bit words, complement. */
export function refChecksum(bytes: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) + (i + 1 < bytes.length ? bytes[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 65536);
  return ~sum & 0xffff;
}

/** Bitwise CRC32c (no table). */
export function refCrc32c(bytes: ArrayLike<number>): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) {
    c ^= bytes[i];
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return ~c >>> 0;
}

/** Packet i as a full wire frame: its header bytes then zeros up to wireLen. */
export function frameOf(batch: PacketBatch, i: number): Uint8Array {
  const f = new Uint8Array(batch.wireLen[i]);
  f.set(batch.headerBytes(i));
  return f;
}

const u16 = (b: ArrayLike<number>, o: number): number => (b[o] << 8) | b[o + 1];

/** Verifies the IPv4 header at `l3` and its TCP/UDP/SCTP checksum from scratch over a full frame. */
export function refChecksumsOk(frame: Uint8Array, l3: number): { ip: boolean; l4: boolean } {
  const ihl = (frame[l3] & 15) * 4;
  const ip = refChecksum(frame.subarray(l3, l3 + ihl)) === 0;
  const total = u16(frame, l3 + 2);
  const proto = frame[l3 + 9];
  const seg = frame.slice(l3 + ihl, l3 + total);
  if (proto === 132) {
    const stored = (seg[8] | (seg[9] << 8) | (seg[10] << 16) | (seg[11] << 24)) >>> 0;
    seg.fill(0, 8, 12);
    return { ip, l4: refCrc32c(seg) === stored };
  }
  if (proto === 17 && u16(seg, 6) === 0) return { ip, l4: true };
  const pseudo = [...frame.subarray(l3 + 12, l3 + 20), 0, proto, seg.length >>> 8, seg.length & 255];
  return { ip, l4: refChecksum([...pseudo, ...seg]) === 0 };
}

export function ip(text: string): number {
  const p = text.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}
