/**
 * L4 header rules the packet tests did not reach, each from its RFC:
 * - RFC 768: a UDP checksum that computes to 0 is sent as 0xffff, and a stored 0 means "no
 *   checksum" and always verifies; TCP (RFC 9293) has no such rule: its 0 is a checksum like any;
 * - a protocol without a known checksum is never "verified" and never written into;
 * - RFC 9260: a DATA chunk's length is its 16-byte header plus the user data, without padding;
 *   any other chunk is materialised whole, padded to 4 bytes;
 * - RFC 9293: TCP's window at offset 14 and the urgent pointer zeroed (URG is never set here).
 * The checksums are judged by test/net/reference.ts's byte-wise RFC 1071 sum, not by l4.ts.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { writeIpv4 } from '../../src/net/ipv4-header.js';
import {
  kSctpCommonHdrLen, kSctpHdrLen, l4ChecksumOffset, l4ChecksumOk, l4HdrLen, l4SetChecksum, tcpWindow, TCP_ACK, writeSctpData, writeTcp, writeUdp,
} from '../../src/net/l4.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';
import { refChecksum } from './reference.js';

const L3 = 0;
const L4 = 20;

/** An IPv4 packet (no options) of `l4Len` L4 bytes, its L4 header written by `write`, the rest 0xa5. */
function packet(proto: number, l4Len: number, write: (b: Uint8Array) => void, src = 0x0a000001): Uint8Array {
  const b = new Uint8Array(L4 + l4Len).fill(0xa5);
  writeIpv4(b, L3, src, 0x0a000002, proto, 20 + l4Len, 1, 64, true);
  write(b);
  return b;
}

/** RFC 1071 over the pseudo-header and the segment, the checksum field as stored: 0xffff-complement is 0 when it verifies. */
function refVerifies(b: Uint8Array, proto: number): boolean {
  const seg = b.subarray(L4);
  const pseudo = [...b.subarray(12, 20), 0, proto, seg.length >>> 8, seg.length & 0xff];
  return refChecksum([...pseudo, ...seg]) === 0;
}

test('RFC 768: a UDP checksum computing to 0 is sent as 0xffff; a TCP one stays 0', () => {
  // Search the source address for a segment whose checksum computes to 0 (one in 65,536).
  for (const [proto, want] of [[PROTO_UDP, 0xffff], [PROTO_TCP, 0]] as const) {
    let found = false;
    for (let src = 0x0a000001; src < 0x0a000001 + 400_000 && !found; src++) {
      const len = proto === PROTO_UDP ? 12 : 24;
      const b = packet(proto, len, (x) => (proto === PROTO_UDP ? writeUdp(x, L4, 5353, 53, len) : writeTcp(x, L4, 40000, 443, 1, 2, TCP_ACK, 512)), src);
      l4SetChecksum(b, L3, L4, proto, len);
      const stored = (b[L4 + l4ChecksumOffset(proto)] << 8) | b[L4 + l4ChecksumOffset(proto) + 1];
      if (stored !== 0 && stored !== 0xffff) continue;
      found = true;
      assert.equal(stored, want, proto === PROTO_UDP ? 'UDP: 0 is sent as 0xffff' : 'TCP: 0 is a checksum');
      assert.ok(refVerifies(b, proto), 'the reference sum verifies it');
      assert.ok(l4ChecksumOk(b, L3, L4, proto, len));
    }
    assert.ok(found, `no ${proto} segment with a zero checksum in the range searched`);
  }
});

test('RFC 768: a stored UDP checksum of 0 means none and verifies; a wrong nonzero one, or a wrong TCP 0, does not', () => {
  const udp = packet(PROTO_UDP, 12, (x) => writeUdp(x, L4, 5353, 53, 12));
  assert.ok(l4ChecksumOk(udp, L3, L4, PROTO_UDP, 12), 'no checksum');
  l4SetChecksum(udp, L3, L4, PROTO_UDP, 12);
  assert.ok(l4ChecksumOk(udp, L3, L4, PROTO_UDP, 12));
  udp[L4 + 10] ^= 0x01;
  assert.equal(l4ChecksumOk(udp, L3, L4, PROTO_UDP, 12), false, 'a payload bit flipped under a real UDP checksum');
  const tcp = packet(PROTO_TCP, 20, (x) => writeTcp(x, L4, 40000, 443, 1, 2, TCP_ACK, 512));
  assert.equal(refVerifies(tcp, PROTO_TCP), false);
  assert.equal(l4ChecksumOk(tcp, L3, L4, PROTO_TCP, 20), false, 'TCP with 0 stored and a nonzero sum');
  // Bytes 6-7 of a TCP header are the sequence number's low half, not a checksum: 0 there means nothing.
  const seq0 = packet(PROTO_TCP, 20, (x) => writeTcp(x, L4, 40000, 443, 0x12340000, 2, TCP_ACK, 512));
  assert.equal(seq0[L4 + 6] | seq0[L4 + 7], 0);
  assert.equal(l4ChecksumOk(seq0, L3, L4, PROTO_TCP, 20), false);
});

test('a protocol without a known checksum: offset -1, never verified, never written', () => {
  const gre = 47;
  assert.equal(l4ChecksumOffset(gre), -1);
  assert.equal(l4ChecksumOffset(PROTO_TCP), 16);
  assert.equal(l4ChecksumOffset(PROTO_UDP), 6);
  assert.equal(l4ChecksumOffset(PROTO_SCTP), 8);
  const b = packet(gre, 8, () => {});
  const before = b.slice();
  l4SetChecksum(b, L3, L4, gre, 8);
  assert.deepEqual(b, before);
  assert.equal(l4ChecksumOk(b, L3, L4, gre, 8), false);
  assert.equal(l4HdrLen(b, L4, gre), 0, 'no L4 header materialised for it');
});

test('RFC 9260: a DATA chunk length is 16 + the user data (no padding); other chunks are taken whole, padded to 4', () => {
  const b = new Uint8Array(64);
  writeSctpData(b, 0, 5000, 5001, 0xdeadbeef, 7, 5);
  assert.equal((b[14] << 8) | b[15], 16 + 5);
  assert.equal(l4HdrLen(b, 0, PROTO_SCTP), kSctpHdrLen, 'a DATA chunk: its header only (the user data is payload)');
  for (const [chunkLen, whole] of [[20, 20], [21, 24], [23, 24], [24, 24]] as const) {
    b[12] = 1; // INIT
    b[14] = chunkLen >>> 8;
    b[15] = chunkLen & 0xff;
    assert.equal(l4HdrLen(b, 0, PROTO_SCTP), kSctpCommonHdrLen + whole, `INIT of ${chunkLen} bytes`);
  }
});

test("RFC 9293: TCP's window is read at offset 14, and the urgent pointer is zeroed over any old bytes", () => {
  const b = new Uint8Array(20).fill(0xff);
  writeTcp(b, 0, 1, 2, 3, 4, TCP_ACK, 0x1234);
  assert.equal(tcpWindow(b, 0), 0x1234);
  assert.deepEqual([b[16], b[17], b[18], b[19]], [0, 0, 0, 0], 'checksum (to be filled) and urgent pointer');
});
