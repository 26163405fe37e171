/**
 * CRC32c (Castagnoli, reflected polynomial 0x82F63B78), the SCTP checksum (RFC 3309, RFC 4960
 * appendix B). Table-driven, slicing-by-4 for the bytes present. kdp carries the payload as a
 * length, but the CRC still covers those zero bytes: appending 2^k zero bytes is a linear map of
 * the register (zlib's crc32_combine idea), tabulated per k as 4 x 256 entries, so n zeros cost
 * popcount(n) x 4 lookups instead of n.
 */

const kPoly = 0x82f63b78;

/** 4 x 256 tables: T[0] is the classic byte table, T[k] advances k more zero bytes. */
const T = /* @__PURE__ */ buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(1024);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ kPoly : c >>> 1;
    t[n] = c >>> 0;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n];
    for (let k = 1; k < 4; k++) {
      c = (t[c & 0xff] ^ (c >>> 8)) >>> 0;
      t[k * 256 + n] = c;
    }
  }
  return t;
}

/** Zero-run operators: Z[k * 1024 + j * 256 + v] = register after 2^k zero bytes from `v << 8j`. */
const kZeroLevels = 20;
const Z = /* @__PURE__ */ buildZeroTables();

function buildZeroTables(): Uint32Array {
  const z = new Uint32Array(kZeroLevels * 1024);
  // cols[bit] = M_k(1 << bit); M_0 is one zero byte: c -> T[c & 0xff] ^ (c >>> 8).
  let cols = new Uint32Array(32);
  for (let bit = 0; bit < 32; bit++) {
    const c = (1 << bit) >>> 0;
    cols[bit] = (T[c & 0xff] ^ (c >>> 8)) >>> 0;
  }
  const apply = (m: Uint32Array, x: number): number => {
    let r = 0;
    for (let bit = 0; bit < 32; bit++) if ((x >>> bit) & 1) r ^= m[bit];
    return r >>> 0;
  };
  for (let k = 0; k < kZeroLevels; k++) {
    for (let j = 0; j < 4; j++) for (let v = 0; v < 256; v++) z[k * 1024 + j * 256 + v] = apply(cols, (v << (8 * j)) >>> 0);
    const next = new Uint32Array(32);
    for (let bit = 0; bit < 32; bit++) next[bit] = apply(cols, cols[bit]); // M_{k+1} = M_k o M_k
    cols = next;
  }
  return z;
}

/**
 * Continues a raw CRC32c register `crc` (start with 0xffffffff) over `b[off, off + len)`.
 * Returns the raw register; the final CRC is `~crc >>> 0` (see `crc32c`).
 */
export function crc32cUpdate(crc: number, b: Uint8Array, off: number, len: number): number {
  const t = T;
  let c = crc >>> 0;
  let i = off;
  const end = off + len;
  const end4 = off + (len & ~3);
  for (; i < end4; i += 4) {
    c ^= b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24);
    c = t[768 + (c & 0xff)] ^ t[512 + ((c >>> 8) & 0xff)] ^ t[256 + ((c >>> 16) & 0xff)] ^ t[c >>> 24];
  }
  for (; i < end; i++) c = t[(c ^ b[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** Continues a raw CRC32c register over `n` zero bytes. */
export function crc32cZeros(crc: number, n: number): number {
  const z = Z;
  let c = crc >>> 0;
  let rest = n;
  for (let k = 0; rest > 0 && k < kZeroLevels; k++) {
    if (rest & 1) {
      const o = k << 10;
      c = z[o + (c & 0xff)] ^ z[o + 256 + ((c >>> 8) & 0xff)] ^ z[o + 512 + ((c >>> 16) & 0xff)] ^ z[o + 768 + (c >>> 24)];
    }
    rest = Math.floor(rest / 2);
  }
  // Whatever is left counts runs of 2^kZeroLevels zeros (never for a packet): twice the top operator each.
  const top = (kZeroLevels - 1) << 10;
  for (let r = rest * 2; r > 0; r--) {
    c = z[top + (c & 0xff)] ^ z[top + 256 + ((c >>> 8) & 0xff)] ^ z[top + 512 + ((c >>> 16) & 0xff)] ^ z[top + 768 + (c >>> 24)];
  }
  return c >>> 0;
}

/** The CRC32c of `b[off, off + len)` followed by `zeros` zero bytes. */
export function crc32c(b: Uint8Array, off = 0, len = b.length - off, zeros = 0): number {
  let c = crc32cUpdate(0xffffffff, b, off, len);
  if (zeros > 0) c = crc32cZeros(c, zeros);
  return ~c >>> 0;
}
