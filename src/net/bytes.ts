/**
 * Big-endian (network order) byte access over a Uint8Array, without DataView: the packet arena is
 * one Uint8Array and these small functions inline well in V8's hot loops.
 */

export function read16(b: Uint8Array, o: number): number {
  return (b[o] << 8) | b[o + 1];
}

export function write16(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 8;
  b[o + 1] = v;
}

export function read32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

export function write32(b: Uint8Array, o: number, v: number): void {
  b[o] = v >>> 24;
  b[o + 1] = v >>> 16;
  b[o + 2] = v >>> 8;
  b[o + 3] = v;
}

/** A 48-bit MAC address held in a number (exact: < 2^53), written big-endian. */
export function writeMac(b: Uint8Array, o: number, mac: number): void {
  const hi = Math.floor(mac / 4294967296);
  const lo = mac >>> 0;
  b[o] = hi >>> 8;
  b[o + 1] = hi;
  write32(b, o + 2, lo);
}

export function readMac(b: Uint8Array, o: number): number {
  return read16(b, o) * 4294967296 + read32(b, o + 2);
}
