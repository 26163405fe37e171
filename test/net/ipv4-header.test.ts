/**
 * The IPv4 header as RFC 791 section 3.1 lays it out, checked byte by byte against a header built
 * here from the RFC, not by kdp: version 4 and IHL 5 in byte 0, TOS in 1, total length in 2-3,
 * identification in 4-5, flags (DF = 0x40 of byte 6) and fragment offset in 6-7, TTL in 8,
 * protocol in 9, the header checksum (RFC 1071: the ones' complement of the ones' complement sum
 * of the header's 16-bit words, the checksum field taken as 0) in 10-11, source in 12-15,
 * destination in 16-19.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import {
  ipv4Checksum, ipv4ChecksumOk, ipv4DecTtl, ipv4DontFragment, ipv4HdrLen, ipv4SetTtl, ipv4Version, writeIpv4,
} from '../../src/net/ipv4-header.js';

/** RFC 1071's sum over `n` bytes at `o`, folded, complemented. */
function rfc1071(b: Uint8Array, o: number, n: number): number {
  let sum = 0;
  for (let k = 0; k < n; k += 2) sum += (b[o + k] << 8) | b[o + k + 1];
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** The 20 header bytes RFC 791 gives for these fields, checksum computed as RFC 1071 says. */
function rfcHeader(src: number, dst: number, proto: number, totalLen: number, id: number, ttl: number, df: boolean): number[] {
  const h = [0x45, 0, totalLen >>> 8, totalLen & 255, id >>> 8, id & 255, df ? 0x40 : 0, 0, ttl, proto, 0, 0,
    src >>> 24, (src >>> 16) & 255, (src >>> 8) & 255, src & 255, dst >>> 24, (dst >>> 16) & 255, (dst >>> 8) & 255, dst & 255];
  const c = rfc1071(Uint8Array.from(h), 0, 20);
  h[10] = c >>> 8;
  h[11] = c & 255;
  return h;
}

// A worked example of the header checksum (the one of Wikipedia's "IPv4 header checksum" article; a UDP datagram 192.168.0.1 -> 192.168.0.199, DF set), its sum checked by hand:
// 4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7, its checksum 0xb861.
const kExample = Uint8Array.from([0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7]);

describe('IPv4 header (RFC 791)', () => {
  it('writeIpv4 writes exactly the RFC layout over a slot full of an older packet\'s bytes, and nothing outside it', () => {
    for (const [o, df] of [[14, true], [14, false], [50, true]] as const) {
      const b = new Uint8Array(96).fill(0xa5); // a reused batch slot: every byte the writer skips keeps garbage
      writeIpv4(b, o, 0x0a000001, 0xc0a800c7, 6, 1480, 0xbeef, 63, df);
      assert.deepEqual([...b.subarray(o, o + 20)], rfcHeader(0x0a000001, 0xc0a800c7, 6, 1480, 0xbeef, 63, df), `header at ${o}, DF ${df}`);
      assert.ok(b.subarray(0, o).every((x) => x === 0xa5), 'a byte before the header was written');
      assert.ok(b.subarray(o + 20).every((x) => x === 0xa5), 'a byte after the header was written');
    }
  });

  it('reads version, header length, DF and checksum from their RFC places, and verifies the checksum only when it sums right', () => {
    const b = new Uint8Array(40).fill(0xff);
    b.set(kExample, 20);
    assert.equal(ipv4Version(b, 20), 4);
    assert.equal(ipv4HdrLen(b, 20), 20);
    assert.equal(ipv4DontFragment(b, 20), true);
    assert.equal(ipv4Checksum(b, 20), 0xb861);
    assert.equal(ipv4ChecksumOk(b, 20), true);
    b[20 + 6] = 0; // DF cleared: the checksum no longer sums
    assert.equal(ipv4DontFragment(b, 20), false);
    assert.equal(ipv4ChecksumOk(b, 20), false);
    b[20] = 0x65; // version 6
    assert.equal(ipv4Version(b, 20), 6);
  });

  it('a TTL decremented or set in place leaves a checksum RFC 1071 recomputes to the same value (RFC 1624)', () => {
    const b = new Uint8Array(40).fill(0x5a);
    b.set(kExample, 14);
    for (let k = 0; k < 5; k++) {
      const ttl = ipv4DecTtl(b, 14);
      assert.equal(ttl, 0x3f - k);
      assert.equal(b[14 + 8], ttl);
      const want = (() => { const h = b.slice(14, 34); h[10] = 0; h[11] = 0; return rfc1071(h, 0, 20); })();
      assert.equal(ipv4Checksum(b, 14), want, `after decrement ${k + 1}`);
    }
    ipv4SetTtl(b, 14, 255);
    const h = b.slice(14, 34);
    h[10] = 0;
    h[11] = 0;
    assert.equal(ipv4Checksum(b, 14), rfc1071(h, 0, 20));
  });
});
