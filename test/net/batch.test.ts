import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ENCAP_NONE, kBatchSize, kHeadroom, kSlotSize, PacketBatch } from '../../src/net/batch.js';
import { ethType } from '../../src/net/eth.js';
import {
  ipv4Checksum,
  ipv4ChecksumOk,
  ipv4DecTtl,
  ipv4DontFragment,
  ipv4Dst,
  ipv4Id,
  ipv4Proto,
  ipv4SetChecksum,
  ipv4Src,
  ipv4TotalLen,
  ipv4Ttl,
} from '../../src/net/ipv4-header.js';
import {
  l4ChecksumOk,
  l4DstPort,
  l4SetChecksum,
  l4SrcPort,
  sctpChecksum,
  sctpVtag,
  TCP_ACK,
  TCP_FIN,
  TCP_RST,
  TCP_SYN,
  tcpAck,
  tcpFlags,
  tcpSeq,
  udpLength,
} from '../../src/net/l4.js';
import { csumReplace2 } from '../../src/net/checksum.js';
import { Prng } from '../../src/model/prng.js';
import { frameOf, ip, refChecksumsOk } from './reference.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';
import { hash5 } from '../../src/net/hash.js';

const PROTOS = [PROTO_TCP, PROTO_UDP, PROTO_SCTP] as const;

describe('PacketBatch layout', () => {
  it('has a VPP-sized frame of fixed slots with headroom, in one buffer', () => {
    const b = new PacketBatch();
    assert.equal(b.capacity, kBatchSize);
    assert.equal(b.bytes.length, kBatchSize * kSlotSize);
    assert.ok(kHeadroom >= 64);
    assert.equal(b.bytes.buffer, b.buffer);
    assert.equal(b.flowHash.buffer, b.buffer);
    assert.equal(b.ctSlot.buffer, b.buffer);
    assert.throws(() => new PacketBatch({ capacity: 100 }), { code: 'KDP_ERR_INVALID_ARG' });
  });

  it('fills to capacity, refuses more without throwing, and resets without reallocating', () => {
    const b = new PacketBatch({ capacity: 4 });
    const bytes = b.bytes;
    const start = b.start;
    for (let k = 0; k < 4; k++) assert.equal(b.push(PROTO_TCP, ip('10.0.0.1'), 1000 + k, ip('10.96.0.10'), 80, 0), k);
    assert.equal(b.push(PROTO_TCP, 1, 1, 2, 2, 0), -1);
    assert.equal(b.count, 4);
    b.reset();
    assert.equal(b.count, 0);
    assert.equal(b.push(PROTO_UDP, 1, 2, 3, 4, 5), 0);
    assert.equal(b.bytes, bytes);
    assert.equal(b.start, start);
    assert.equal(b.push(99, 1, 2, 3, 4, 5), -1, 'unknown protocol');
    assert.equal(b.push(PROTO_UDP, 1, 2, 3, 4, 70000), -1, 'datagram over 65535 bytes');
  });

  it('is rebuilt from its buffer without copying (PacketBatch.from)', () => {
    const a = new PacketBatch({ capacity: 8, shared: true });
    a.push(PROTO_TCP, ip('10.0.0.1'), 1234, ip('10.0.0.2'), 80, 10);
    const b = PacketBatch.from(a.buffer);
    assert.equal(b.count, 1);
    assert.equal(b.capacity, 8);
    assert.equal(b.dstPort[0], 80);
    b.dstPort[0] = 81;
    assert.equal(a.dstPort[0], 81, 'same memory');
    assert.throws(() => PacketBatch.from(new ArrayBuffer(1024)), { code: 'KDP_ERR_INVALID_ARG' });
  });
});

describe('packet writers', () => {
  it('write Ethernet/IPv4/TCP with the right fields and valid checksums', () => {
    const b = new PacketBatch();
    b.ttl = 61;
    const i = b.push(PROTO_TCP, ip('10.244.1.5'), 43210, ip('10.96.0.10'), 443, 100, TCP_SYN | TCP_ACK, 0x01020304, 0xa0b0c0d0);
    const o = b.pktOff(i);
    const l3 = b.l3Off[i];
    const l4 = b.l4Off[i];
    assert.equal(b.start[i], kHeadroom);
    assert.equal(l3, o + 14);
    assert.equal(l4, o + 34);
    assert.equal(b.hdrLen[i], 54);
    assert.equal(b.wireLen[i], 54 + 100);
    assert.equal(ethType(b.bytes, o), 0x0800);
    assert.equal(ipv4Src(b.bytes, l3), ip('10.244.1.5'));
    assert.equal(ipv4Dst(b.bytes, l3), ip('10.96.0.10'));
    assert.equal(ipv4Proto(b.bytes, l3), 6);
    assert.equal(ipv4Ttl(b.bytes, l3), 61);
    assert.equal(ipv4TotalLen(b.bytes, l3), 20 + 20 + 100);
    assert.ok(ipv4DontFragment(b.bytes, l3));
    assert.equal(l4SrcPort(b.bytes, l4), 43210);
    assert.equal(l4DstPort(b.bytes, l4), 443);
    assert.equal(tcpSeq(b.bytes, l4), 0x01020304);
    assert.equal(tcpAck(b.bytes, l4), 0xa0b0c0d0);
    assert.equal(tcpFlags(b.bytes, l4), TCP_SYN | TCP_ACK);
    assert.deepEqual(refChecksumsOk(frameOf(b, i), 14), { ip: true, l4: true });
    assert.equal(b.tcpFlags[i], TCP_SYN | TCP_ACK);
    assert.equal(b.flowHash[i], hash5(ip('10.244.1.5'), ip('10.96.0.10'), 43210, 443, 6));
    assert.equal(b.ctSlot[i], -1);
    assert.equal(b.encap[i], ENCAP_NONE);
  });

  it('write UDP and SCTP (DATA chunk padded to 4) with valid checksums', () => {
    const b = new PacketBatch();
    const u = b.push(PROTO_UDP, ip('10.244.2.7'), 5353, ip('10.96.0.53'), 53, 33);
    assert.equal(udpLength(b.bytes, b.l4Off[u]), 8 + 33);
    assert.equal(b.wireLen[u], 14 + 20 + 8 + 33);
    assert.deepEqual(refChecksumsOk(frameOf(b, u), 14), { ip: true, l4: true });
    const s = b.push(PROTO_SCTP, ip('10.244.2.7'), 3868, ip('10.96.0.9'), 3868, 5, 0, 0xdeadbeef, 7);
    assert.equal(b.hdrLen[s], 14 + 20 + 28);
    assert.equal(b.wireLen[s], 14 + 20 + 28 + 8, '5 bytes of user data padded to 8');
    assert.equal(sctpVtag(b.bytes, b.l4Off[s]), 0xdeadbeef);
    assert.notEqual(sctpChecksum(b.bytes, b.l4Off[s]), 0);
    assert.deepEqual(refChecksumsOk(frameOf(b, s), 14), { ip: true, l4: true });
    assert.ok(l4ChecksumOk(b.bytes, b.l3Off[s], b.l4Off[s], PROTO_SCTP, 28));
    b.bytes[b.l4Off[s] + 20] ^= 1; // corrupt the stream id: the CRC must notice
    assert.ok(!l4ChecksumOk(b.bytes, b.l3Off[s], b.l4Off[s], PROTO_SCTP, 28));
  });

  // push sums the header words from its arguments (no pass over the bytes): the checksums must be
  // RFC 1071's over the frame as written, for any tuple, flags, sequence numbers, TTL and ID.
  it('writes IPv4 and TCP/UDP checksums equal to a from-scratch sum over the frame (random packets)', () => {
    const b = new PacketBatch();
    const rng = new Prng(1624);
    let checked = 0;
    for (let round = 0; round < 30; round++) {
      b.reset();
      b.ttl = 1 + rng.below(255);
      b.ipId = rng.below(65536);
      for (let k = 0; k < 64; k++) {
        const proto = rng.below(2) === 0 ? PROTO_TCP : PROTO_UDP;
        const i = b.push(proto, rng.nextU32(), rng.below(65536), rng.nextU32(), rng.below(65536), rng.below(1461), rng.below(256), rng.nextU32(), rng.nextU32());
        assert.deepEqual(refChecksumsOk(frameOf(b, i), 14), { ip: true, l4: true }, `round ${round} packet ${k}`);
        checked++;
      }
    }
    assert.equal(checked, 30 * 64);
  });

  it('stores a UDP checksum that sums to 0 as 0xffff, never 0 ("no checksum", RFC 768)', () => {
    const b = new PacketBatch();
    let mangled = 0;
    for (let port = 0; port < 65536; port++) {
      b.reset();
      const i = b.push(PROTO_UDP, ip('10.244.2.7'), port, ip('10.96.0.53'), 53, 17);
      const check = (b.bytes[b.l4Off[i] + 6] << 8) | b.bytes[b.l4Off[i] + 7];
      assert.notEqual(check, 0, `source port ${port}`);
      if (check === 0xffff) {
        mangled++;
        assert.deepEqual(refChecksumsOk(frameOf(b, i), 14), { ip: true, l4: true });
      }
    }
    // Every 16-bit value of the source port word occurs once: exactly one sums to 0.
    assert.equal(mangled, 1);
  });

  it('number IPv4 IDs per packet', () => {
    const b = new PacketBatch();
    b.push(PROTO_UDP, 1, 2, 3, 4, 0);
    b.push(PROTO_UDP, 1, 2, 3, 4, 0);
    assert.equal(ipv4Id(b.bytes, b.l3Off[1]), (ipv4Id(b.bytes, b.l3Off[0]) + 1) & 0xffff);
  });

  it('parse recovers every metadata field push wrote', () => {
    const b = new PacketBatch();
    const rng = new Prng(7);
    for (let k = 0; k < 60; k++) {
      b.push(PROTOS[k % 3], rng.nextU32(), rng.below(65536), rng.nextU32(), rng.below(65536), rng.below(1400), TCP_FIN | TCP_RST);
    }
    const copy = {
      l3: b.l3Off.slice(0, 60), l4: b.l4Off.slice(0, 60), hdr: b.hdrLen.slice(0, 60), src: b.srcIp.slice(0, 60), dst: b.dstIp.slice(0, 60),
      sp: b.srcPort.slice(0, 60), dp: b.dstPort.slice(0, 60), pr: b.proto.slice(0, 60), fl: b.tcpFlags.slice(0, 60), h: b.flowHash.slice(0, 60),
    };
    b.l3Off.fill(0); b.l4Off.fill(0); b.hdrLen.fill(0); b.srcIp.fill(0); b.dstIp.fill(0);
    b.srcPort.fill(0); b.dstPort.fill(0); b.proto.fill(0); b.tcpFlags.fill(0); b.flowHash.fill(0);
    for (let k = 0; k < 60; k++) assert.ok(b.parse(k));
    assert.deepEqual(b.l3Off.slice(0, 60), copy.l3);
    assert.deepEqual(b.l4Off.slice(0, 60), copy.l4);
    assert.deepEqual(b.hdrLen.slice(0, 60), copy.hdr);
    assert.deepEqual(b.srcIp.slice(0, 60), copy.src);
    assert.deepEqual(b.dstIp.slice(0, 60), copy.dst);
    assert.deepEqual(b.srcPort.slice(0, 60), copy.sp);
    assert.deepEqual(b.dstPort.slice(0, 60), copy.dp);
    assert.deepEqual(b.proto.slice(0, 60), copy.pr);
    assert.deepEqual(b.tcpFlags.slice(0, 60), copy.fl);
    assert.deepEqual(b.flowHash.slice(0, 60), copy.h);
  });

  it('parse refuses a non-IPv4 frame', () => {
    const b = new PacketBatch();
    const i = b.push(PROTO_TCP, 1, 2, 3, 4, 0);
    b.bytes[b.pktOff(i) + 12] = 0x86; // EtherType 0x86dd (IPv6)
    b.bytes[b.pktOff(i) + 13] = 0xdd;
    assert.equal(b.parse(i), false);
    assert.equal(b.proto[i], 0);
  });
});

describe('TTL decrement', () => {
  it('keeps the header checksum equal to a full recompute down to 0, and never wraps', () => {
    const b = new PacketBatch();
    b.ttl = 255;
    const i = b.push(PROTO_UDP, ip('192.168.0.1'), 1, ip('192.168.0.199'), 2, 0);
    const l3 = b.l3Off[i];
    for (let ttl = 254; ttl >= 0; ttl--) {
      assert.equal(b.decTtl(i), ttl);
      const incremental = ipv4Checksum(b.bytes, l3);
      ipv4SetChecksum(b.bytes, l3);
      assert.equal(incremental, ipv4Checksum(b.bytes, l3), `ttl ${ttl}`);
      assert.ok(ipv4ChecksumOk(b.bytes, l3));
    }
    assert.equal(ipv4DecTtl(b.bytes, l3), 0);
    assert.equal(ipv4Ttl(b.bytes, l3), 0);
  });
});

describe('NAT with incremental checksums', () => {
  it('equals a full recompute after many random DNAT/SNAT rewrites (TCP, UDP, SCTP)', () => {
    const b = new PacketBatch();
    const rng = new Prng(20240);
    let checked = 0;
    for (let round = 0; round < 40; round++) {
      b.reset();
      for (let k = 0; k < 64; k++) {
        b.push(PROTOS[rng.below(3)], rng.nextU32(), rng.below(65536), rng.nextU32(), rng.below(65536), rng.below(1461), rng.below(64), rng.nextU32(), rng.nextU32());
      }
      for (let k = 0; k < 64; k++) {
        for (let r = 0, n = 1 + rng.below(3); r < n; r++) {
          const newIp = rng.nextU32();
          const newPort = rng.below(65536);
          if (rng.below(2) === 0) b.natDst(k, newIp, newPort);
          else b.natSrc(k, newIp, newPort);
        }
        const l3 = b.l3Off[k];
        const l4 = b.l4Off[k];
        const hdr = b.pktOff(k) + b.hdrLen[k] - l4;
        const o = b.pktOff(k);
        const before = b.bytes.slice(o, o + b.hdrLen[k]);
        ipv4SetChecksum(b.bytes, l3);
        l4SetChecksum(b.bytes, l3, l4, b.proto[k], hdr);
        assert.deepEqual(b.bytes.slice(o, o + b.hdrLen[k]), before, `packet ${k} of round ${round}`);
        assert.deepEqual(refChecksumsOk(frameOf(b, k), 14), { ip: true, l4: true });
        // The tuple columns follow the bytes.
        assert.equal(b.srcIp[k], ipv4Src(b.bytes, l3));
        assert.equal(b.dstIp[k], ipv4Dst(b.bytes, l3));
        assert.equal(b.srcPort[k], l4SrcPort(b.bytes, l4));
        assert.equal(b.dstPort[k], l4DstPort(b.bytes, l4));
        checked++;
      }
    }
    assert.equal(checked, 40 * 64);
  });

  it('leaves a UDP checksum of 0 ("none") alone and never produces 0 otherwise', () => {
    const b = new PacketBatch();
    const i = b.push(PROTO_UDP, ip('10.0.0.1'), 1000, ip('10.0.0.2'), 53, 4);
    const co = b.l4Off[i] + 6;
    b.bytes[co] = 0;
    b.bytes[co + 1] = 0;
    b.natDst(i, ip('10.244.3.3'), 5353);
    assert.equal((b.bytes[co] << 8) | b.bytes[co + 1], 0);
    assert.ok(ipv4ChecksumOk(b.bytes, b.l3Off[i]));

    // A port rewrite whose incremental result is 0 must be stored as 0xffff (CSUM_MANGLED_0).
    const j = b.push(PROTO_UDP, ip('10.0.0.1'), 1000, ip('10.0.0.2'), 53, 4);
    const cj = b.l4Off[j] + 6;
    const check = (b.bytes[cj] << 8) | b.bytes[cj + 1];
    let port = -1;
    for (let p = 0; p < 65536 && port < 0; p++) if (csumReplace2(check, 53, p) === 0) port = p;
    assert.ok(port >= 0);
    b.natDst(j, ip('10.0.0.2'), port);
    assert.equal((b.bytes[cj] << 8) | b.bytes[cj + 1], 0xffff);
    assert.deepEqual(refChecksumsOk(frameOf(b, j), 14), { ip: true, l4: true });
  });
});

describe('PacketBatch.addIpv4Option', () => {
  it('puts 8 option bytes after the header: IHL 7, total length + 8, the L4 header where it was, checksums valid, the tuple parsed back the same', () => {
    for (const proto of [PROTO_TCP, PROTO_UDP, PROTO_SCTP]) {
      const batch = new PacketBatch({ capacity: 4 });
      const i = batch.push(proto, ip('203.0.113.9'), 40000, ip('10.244.2.7'), 8080, 100);
      const before = frameOf(batch, i);
      const l4 = batch.l4Off[i];
      assert.equal(batch.addIpv4Option(i, 0x9a0875a0, ip('192.168.0.11')), true);
      const after = frameOf(batch, i);
      // Oracle: RFC 791's layout, read from the bytes by hand.
      assert.equal(after.length, before.length + 8);
      assert.equal(after[14] & 15, 7);
      assert.equal((after[16] << 8) | after[17], ((before[16] << 8) | before[17]) + 8);
      assert.deepEqual([...after.subarray(34, 42)], [0x9a, 0x08, 0x75, 0xa0, 192, 168, 0, 11]);
      assert.deepEqual([...after.subarray(42)], [...before.subarray(34)], 'the L4 header and after are unchanged');
      assert.deepEqual([...after.subarray(0, 14)], [...before.subarray(0, 14)]);
      assert.equal(batch.l4Off[i], l4);
      assert.deepEqual(refChecksumsOk(after, 14), { ip: true, l4: true });
      assert.equal(batch.parse(i), true);
      assert.deepEqual([batch.srcIp[i], batch.dstIp[i], batch.srcPort[i], batch.dstPort[i], batch.proto[i]], [ip('203.0.113.9'), ip('10.244.2.7'), 40000, 8080, proto]);
    }
  });

  it('refuses a header with no room left for 8 more bytes (IHL 15 at most), leaving the packet as it was', () => {
    const batch = new PacketBatch({ capacity: 4 });
    const i = batch.push(PROTO_TCP, ip('203.0.113.9'), 40000, ip('10.244.2.7'), 8080, 100);
    for (let k = 0; k < 5; k++) assert.equal(batch.addIpv4Option(i, 0x01010101, 0x01010101), true); // NOPs: IHL 15
    const full = frameOf(batch, i);
    assert.equal(full[14] & 15, 15);
    assert.equal(batch.addIpv4Option(i, 0x9a080000, 0), false);
    assert.deepEqual(frameOf(batch, i), full);
  });
});
