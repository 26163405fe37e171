/**
 * SHA-256 (FIPS 180-4) and RFC 4648 base32, in plain TypeScript.
 *
 * kube-proxy names its chains from `base32(sha256(name))[:16]`; kdp must reproduce those names
 * byte for byte, and the engine core imports no Node built-ins (so `node:crypto` is out). A
 * compile hashes a name per endpoint (110,000 at 10,000 Services), so nameHash allocates nothing
 * but its result.
 */

const K = new Uint32Array([
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
  0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
  0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
  0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
]);

/**
 * UTF-8 bytes of `text` written into `out` from 0 (which holds three bytes per UTF-16 unit: a
 * surrogate pair's four bytes stand for two units), returning their count. Encoded here rather
 * than with TextEncoder so that the engine runs in a bare JavaScript context (TextEncoder is a
 * Web API, not part of the language).
 */
function utf8Into(text: string, out: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.codePointAt(i)!;
    if (c > 0xffff) i++; // a surrogate pair was read as one code point
    if (c < 0x80) out[n++] = c;
    else if (c < 0x800) {
      out[n++] = 0xc0 | (c >> 6);
      out[n++] = 0x80 | (c & 63);
    } else if (c < 0x10000) {
      out[n++] = 0xe0 | (c >> 12);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    } else {
      out[n++] = 0xf0 | (c >> 18);
      out[n++] = 0x80 | ((c >> 12) & 63);
      out[n++] = 0x80 | ((c >> 6) & 63);
      out[n++] = 0x80 | (c & 63);
    }
  }
  return n;
}

export function utf8(text: string): Uint8Array {
  const out = new Uint8Array(text.length * 3);
  return out.slice(0, utf8Into(text, out));
}

/**
 * The message buffer, schedule and state the digest works in: a chain name is hashed once per
 * endpoint of a compile (110,000 times at 10,000 Services), so the digest allocates nothing.
 */
let scratch = new Uint8Array(256);
let scratchView = new DataView(scratch.buffer);
const kW = new Uint32Array(64);
const kH = new Uint32Array(8);

/** Room in `scratch` for a message of `len` bytes and its padding. */
function ensureScratch(len: number): void {
  if (len + 72 <= scratch.length) return;
  scratch = new Uint8Array(2 ** Math.ceil(Math.log2(len + 72)));
  scratchView = new DataView(scratch.buffer);
}

/** SHA-256 of scratch[0, len) into kH (the padding is written over scratch past len). */
function digestScratch(len: number): void {
  const padded = (((len + 9 + 63) >> 6) << 6) >>> 0;
  const bitLen = len * 8;
  scratch[len] = 0x80;
  scratch.fill(0, len + 1, padded - 8);
  scratchView.setUint32(padded - 8, Math.floor(bitLen / 0x100000000));
  scratchView.setUint32(padded - 4, bitLen >>> 0);
  const h = kH;
  const w = kW;
  h[0] = 0x6a09e667; h[1] = 0xbb67ae85; h[2] = 0x3c6ef372; h[3] = 0xa54ff53a;
  h[4] = 0x510e527f; h[5] = 0x9b05688c; h[6] = 0x1f83d9ab; h[7] = 0x5be0cd19;
  for (let off = 0; off < padded; off += 64) {
    for (let t = 0; t < 16; t++) w[t] = scratchView.getUint32(off + t * 4);
    for (let t = 16; t < 64; t++) {
      const a = w[t - 15];
      const b = w[t - 2];
      const s0 = ((a >>> 7) | (a << 25)) ^ ((a >>> 18) | (a << 14)) ^ (a >>> 3);
      const s1 = ((b >>> 17) | (b << 15)) ^ ((b >>> 19) | (b << 13)) ^ (b >>> 10);
      w[t] = (w[t - 16] + s0 + w[t - 7] + s1) >>> 0;
    }
    let a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
    for (let t = 0; t < 64; t++) {
      const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
      const ch = (e & f) ^ (~e & g);
      const t1 = (hh + S1 + ch + K[t] + w[t]) >>> 0;
      const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
      const maj = (a & b) ^ (a & c) ^ (b & c);
      const t2 = (S0 + maj) >>> 0;
      hh = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
  }
}

export function sha256(data: Uint8Array): Uint8Array {
  ensureScratch(data.length);
  scratch.set(data);
  digestScratch(data.length);
  const out = new Uint8Array(32);
  const outView = new DataView(out.buffer);
  for (let i = 0; i < 8; i++) outView.setUint32(i * 4, kH[i]);
  return out;
}

/**
 * `prefix + base32(sha256(utf8(text))).slice(0, chars)` (chars ≤ 48, prefix ASCII), the form
 * every kube-proxy object name hash takes, with no allocation but the result. The result is one
 * flat string, not the prefix joined to the hash: a compile sorts and looks up 400,000 chain
 * names at 30,000 Services, and a joined string is flattened or walked by each of those that
 * reads it.
 * Cost: ~1 µs for a 60-byte name.
 */
export function nameHash(text: string, chars: number, prefix = ''): string {
  digestText(text);
  return hashName(chars, prefix);
}

/** nameHash of one text under each prefix: one SHA-256, a flat string a prefix. */
export function nameHashEach(text: string, chars: number, prefixes: readonly string[]): string[] {
  digestText(text);
  return prefixes.map((prefix) => hashName(chars, prefix));
}

function digestText(text: string): void {
  ensureScratch(text.length * 3); // UTF-8 takes at most three bytes per UTF-16 unit
  digestScratch(utf8Into(text, scratch));
}

/** `prefix` and the first `chars` base32 characters of the digest in kH, made into one string. */
function hashName(chars: number, prefix: string): string {
  // Five bits a character, most significant first, across the big-endian state words; the
  // characters are made into one string at the end (appending them one by one made a string each).
  const at = prefix.length;
  const codes = codeBuffer(at + chars);
  for (let i = 0; i < at; i++) codes[i] = prefix.charCodeAt(i);
  for (let i = 0; i < chars; i++) {
    const bit = i * 5;
    const word = bit >>> 5;
    const shift = bit & 31;
    const v = shift <= 27 ? (kH[word] >>> (27 - shift)) & 31 : ((kH[word] << (shift - 27)) | (kH[word + 1] >>> (59 - shift))) & 31;
    codes[at + i] = kBase32Codes[v];
  }
  return String.fromCharCode.apply(null, codes as unknown as number[]);
}

export function sha256Hex(text: string): string {
  let s = '';
  for (const b of sha256(utf8(text))) s += b.toString(16).padStart(2, '0');
  return s;
}

const kBase32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const kBase32Codes = Uint16Array.from(kBase32, (c) => c.charCodeAt(0));
/** The characters nameHash makes, before they become its string: a buffer per length asked for. */
const kCodes: Uint16Array[] = [];
function codeBuffer(length: number): Uint16Array {
  return (kCodes[length] ??= new Uint16Array(length));
}

/** RFC 4648 base32 with `=` padding, as Go's `base32.StdEncoding`. */
export function base32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer << 8) | bytes[i]) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += kBase32[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += kBase32[(buffer << (5 - bits)) & 31];
  while (out.length % 8 !== 0) out += '=';
  return out;
}
