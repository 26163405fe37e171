import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ENCAP_IPIP, ENCAP_NONE, ENCAP_VXLAN, kHeadroom, PacketBatch } from '../../src/net/batch.js';
import { ethDst, ethSrc, ethType } from '../../src/net/eth.js';
import { ipv4DontFragment, ipv4Dst, ipv4Proto, ipv4Src, ipv4TotalLen, ipv4Ttl } from '../../src/net/ipv4-header.js';
import { ipipDecap, ipipEncap, ipipTunnel, kIpipOverhead } from '../../src/net/ipip.js';
import { l4DstPort, l4SrcPort, udpLength } from '../../src/net/l4.js';
import {
  kCalicoVni,
  kVxlanOverhead,
  kVxlanPort,
  vxlanDecap,
  vxlanEncap,
  vxlanSrcPort,
  vxlanTunnel,
  vxlanVni,
} from '../../src/net/vxlan.js';
import { Prng } from '../../src/model/prng.js';
import { frameOf, ip, refChecksumsOk } from './reference.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';

const PROTOS = [PROTO_TCP, PROTO_UDP, PROTO_SCTP] as const;

interface Snapshot {
  bytes: Uint8Array;
  start: number;
  hdrLen: number;
  wireLen: number;
  l3: number;
  l4: number;
}

function fill(b: PacketBatch, seed: number, n: number): Snapshot[] {
  const rng = new Prng(seed);
  const out: Snapshot[] = [];
  for (let k = 0; k < n; k++) {
    const i = b.push(PROTOS[k % 3], rng.nextU32(), rng.below(65536), rng.nextU32(), rng.below(65536), 1 + rng.below(1400));
    out.push(snap(b, i));
  }
  return out;
}

function snap(b: PacketBatch, i: number): Snapshot {
  return { bytes: b.headerBytes(i).slice(), start: b.start[i], hdrLen: b.hdrLen[i], wireLen: b.wireLen[i], l3: b.l3Off[i], l4: b.l4Off[i] };
}

describe('VXLAN', () => {
  const tunnel = () => vxlanTunnel({ srcIp: ip('192.168.1.10'), dstIp: ip('192.168.1.20') });

  it('prepends 50 bytes in place with correct outer headers', () => {
    const b = new PacketBatch();
    const before = fill(b, 1, 30);
    const t = tunnel();
    for (let i = 0; i < b.count; i++) {
      assert.ok(vxlanEncap(b, i, t));
      const s = before[i];
      const o = b.pktOff(i);
      assert.equal(b.start[i], s.start - kVxlanOverhead);
      assert.equal(b.hdrLen[i], s.hdrLen + 50);
      assert.equal(b.wireLen[i], s.wireLen + 50);
      assert.equal(b.encap[i], ENCAP_VXLAN);
      assert.equal(b.l3Off[i], s.l3, 'the inner packet does not move');
      assert.deepEqual(b.bytes.slice(o + 50, o + 50 + s.hdrLen), s.bytes, 'inner frame untouched');
      assert.equal(ethType(b.bytes, o), 0x0800);
      assert.equal(ethSrc(b.bytes, o), t.srcMac);
      assert.equal(ethDst(b.bytes, o), t.dstMac);
      assert.equal(ipv4Src(b.bytes, o + 14), ip('192.168.1.10'));
      assert.equal(ipv4Dst(b.bytes, o + 14), ip('192.168.1.20'));
      assert.equal(ipv4Proto(b.bytes, o + 14), 17);
      assert.equal(ipv4Ttl(b.bytes, o + 14), 64);
      assert.equal(ipv4TotalLen(b.bytes, o + 14), s.wireLen + 36);
      assert.equal(l4DstPort(b.bytes, o + 34), kVxlanPort);
      assert.equal(l4DstPort(b.bytes, o + 34), 4789);
      const sport = l4SrcPort(b.bytes, o + 34);
      assert.equal(sport, vxlanSrcPort(b.flowHash[i]));
      assert.ok(sport >= 32768 && sport < 61000);
      assert.equal(udpLength(b.bytes, o + 34), s.wireLen + 16);
      assert.equal((b.bytes[o + 40] << 8) | b.bytes[o + 41], 0, 'Linux default: no outer UDP checksum');
      assert.equal(b.bytes[o + 42], 0x08, 'I flag');
      assert.equal(vxlanVni(b.bytes, o + 42), kCalicoVni);
      assert.equal(vxlanVni(b.bytes, o + 42), 4096);
      const frame = frameOf(b, i);
      assert.deepEqual(refChecksumsOk(frame, 14), { ip: true, l4: true });
      assert.deepEqual(refChecksumsOk(frame, 50 + 14), { ip: true, l4: true }, 'inner checksums still valid');
    }
  });

  it('computes a valid outer UDP checksum over the whole inner frame when asked', () => {
    const b = new PacketBatch();
    fill(b, 2, 12);
    const t = vxlanTunnel({ srcIp: ip('172.16.0.1'), dstIp: ip('172.16.0.2'), udpChecksum: true, vni: 0xabcdef });
    for (let i = 0; i < b.count; i++) {
      assert.ok(vxlanEncap(b, i, t));
      const o = b.pktOff(i);
      assert.notEqual((b.bytes[o + 40] << 8) | b.bytes[o + 41], 0);
      assert.equal(vxlanVni(b.bytes, o + 42), 0xabcdef);
      assert.deepEqual(refChecksumsOk(frameOf(b, i), 14), { ip: true, l4: true });
      b.bytes[b.l4Off[i] + 1] ^= 0x40; // flip an inner port bit: the outer UDP checksum covers it
      assert.deepEqual(refChecksumsOk(frameOf(b, i), 14), { ip: true, l4: false });
    }
  });

  it('picks the source port as Linux udp_flow_src_port does', () => {
    const rng = new Prng(4789);
    for (let n = 0; n < 1000; n++) {
      const h = rng.nextU32();
      const x = BigInt((h ^ (h << 16)) >>> 0);
      const expected = Number(((x * BigInt(61000 - 32768)) >> 32n) + 32768n);
      assert.equal(vxlanSrcPort(h), expected);
    }
  });

  it('decapsulation is the identity on the inner packet', () => {
    const b = new PacketBatch();
    const before = fill(b, 3, 30);
    const t = tunnel();
    for (let i = 0; i < b.count; i++) assert.ok(vxlanEncap(b, i, t));
    for (let i = 0; i < b.count; i++) {
      assert.ok(b.parse(i));
      assert.equal(b.encap[i], ENCAP_VXLAN, 'parse looks through VXLAN');
      assert.equal(b.l3Off[i], before[i].l3);
      assert.equal(b.l4Off[i], before[i].l4);
      assert.ok(vxlanDecap(b, i));
      assert.deepEqual(snap(b, i), before[i]);
      assert.equal(b.encap[i], ENCAP_NONE);
      assert.equal(vxlanDecap(b, i), false, 'a plain packet is not VXLAN');
      assert.deepEqual(snap(b, i), before[i], 'a refused decap leaves the packet alone');
    }
  });

  it('refuses to encapsulate without headroom and leaves the packet alone', () => {
    const b = new PacketBatch();
    b.push(PROTO_TCP, 1, 2, 3, 4, 0);
    const t = tunnel();
    assert.ok(vxlanEncap(b, 0, t)); // 128 -> 78
    assert.ok(vxlanEncap(b, 0, t)); // 78 -> 28
    const s = snap(b, 0);
    assert.equal(s.start, kHeadroom - 100);
    assert.equal(vxlanEncap(b, 0, t), false);
    assert.deepEqual(snap(b, 0), s);
    assert.throws(() => vxlanTunnel({ srcIp: 1, dstIp: 2, vni: 1 << 24 }), { code: 'KDP_ERR_INVALID_ARG' });
  });
});

describe('IPIP', () => {
  it('prepends a 20-byte outer IPv4 header (protocol 4) in place', () => {
    const b = new PacketBatch();
    b.ttl = 17;
    const before = fill(b, 4, 30);
    const t = ipipTunnel({ srcIp: ip('192.168.1.10'), dstIp: ip('192.168.1.30') });
    for (let i = 0; i < b.count; i++) {
      assert.ok(ipipEncap(b, i, t));
      const s = before[i];
      const o = b.pktOff(i);
      assert.equal(b.start[i], s.start - kIpipOverhead);
      assert.equal(b.wireLen[i], s.wireLen + 20);
      assert.equal(b.hdrLen[i], s.hdrLen + 20);
      assert.equal(b.encap[i], ENCAP_IPIP);
      assert.equal(ethType(b.bytes, o), 0x0800);
      assert.equal(ethSrc(b.bytes, o), t.srcMac);
      assert.equal(ipv4Proto(b.bytes, o + 14), 4);
      assert.equal(ipv4Src(b.bytes, o + 14), ip('192.168.1.10'));
      assert.equal(ipv4Dst(b.bytes, o + 14), ip('192.168.1.30'));
      assert.equal(ipv4TotalLen(b.bytes, o + 14), s.wireLen - 14 + 20);
      assert.equal(ipv4Ttl(b.bytes, o + 14), 17, 'ttl inherit');
      assert.ok(ipv4DontFragment(b.bytes, o + 14));
      assert.deepEqual(b.bytes.slice(o + 34, o + 34 + s.hdrLen - 14), s.bytes.subarray(14), 'inner IP packet untouched');
      const frame = frameOf(b, i);
      assert.ok(refChecksumsOk(frame, 14).ip, 'outer header checksum');
      assert.deepEqual(refChecksumsOk(frame, 34), { ip: true, l4: true });
    }
  });

  it('decapsulation is the identity (inner IP packet; whole frame when the MACs match)', () => {
    const b = new PacketBatch();
    const before = fill(b, 5, 30);
    const same = ipipTunnel({ srcIp: ip('10.0.0.1'), dstIp: ip('10.0.0.2'), srcMac: b.srcMac, dstMac: b.dstMac, ttl: 9 });
    const other = ipipTunnel({ srcIp: ip('10.0.0.1'), dstIp: ip('10.0.0.2') });
    for (let i = 0; i < b.count; i++) {
      const t = i % 2 === 0 ? same : other;
      assert.ok(ipipEncap(b, i, t));
      assert.ok(b.parse(i));
      assert.equal(b.encap[i], ENCAP_IPIP);
      assert.equal(b.l3Off[i], before[i].l3);
      assert.ok(ipipDecap(b, i));
      const now = snap(b, i);
      assert.deepEqual(now.bytes.subarray(14), before[i].bytes.subarray(14));
      assert.deepEqual({ ...now, bytes: null }, { ...before[i], bytes: null });
      if (t === same) assert.deepEqual(now.bytes, before[i].bytes);
      else assert.equal(ethSrc(now.bytes, 0), other.srcMac);
      assert.equal(ipipDecap(b, i), false, 'a plain packet is not IPIP');
    }
  });

  it('stacks with VXLAN and unwinds in reverse order', () => {
    const b = new PacketBatch();
    const before = fill(b, 6, 6);
    const v = vxlanTunnel({ srcIp: ip('10.1.0.1'), dstIp: ip('10.1.0.2'), srcMac: b.srcMac, dstMac: b.dstMac });
    const t = ipipTunnel({ srcIp: ip('10.2.0.1'), dstIp: ip('10.2.0.2'), srcMac: b.srcMac, dstMac: b.dstMac });
    for (let i = 0; i < b.count; i++) {
      assert.ok(vxlanEncap(b, i, v));
      assert.ok(ipipEncap(b, i, t));
      assert.equal(b.start[i], kHeadroom - 70);
      assert.equal(vxlanDecap(b, i), false);
      assert.ok(ipipDecap(b, i));
      assert.ok(vxlanDecap(b, i));
      assert.deepEqual(snap(b, i), before[i]);
    }
  });
});

// The outer headers are copied from the tunnel's prebuilt ones: what is each packet's own (ID,
// length, inherited TTL, checksum) must never carry over from the packet before or the template.
describe('outer IPv4 fields of each packet', () => {
  const ids = (first: number, n: number): number[] => Array.from({ length: n }, (_, k) => (first + k) & 0xffff);

  it('VXLAN: the ID counts packets and wraps at 16 bits, DF as configured, the checksum valid at every ID and length', () => {
    for (const df of [false, true]) {
      const b = new PacketBatch();
      fill(b, 7, 6);
      const t = vxlanTunnel({ srcIp: ip('10.9.0.1'), dstIp: ip('10.9.0.2'), df, ttl: 3 });
      t.ipId = 0xfffd;
      const seen: number[] = [];
      for (let i = 0; i < b.count; i++) {
        assert.ok(vxlanEncap(b, i, t));
        const o = b.pktOff(i);
        seen.push((b.bytes[o + 18] << 8) | b.bytes[o + 19]);
        assert.equal(ipv4DontFragment(b.bytes, o + 14), df);
        assert.equal(ipv4Ttl(b.bytes, o + 14), 3);
        assert.equal(ipv4TotalLen(b.bytes, o + 14), b.wireLen[i] - 14);
        assert.equal(refChecksumsOk(frameOf(b, i), 14).ip, true, `outer checksum at ID ${seen[i]}`);
      }
      assert.deepEqual(seen, ids(0xfffd, 6));
    }
  });

  it('IPIP: the ID wraps, a fixed TTL is the tunnel\'s, an inherited one is each inner packet\'s own', () => {
    const b = new PacketBatch();
    const ttls = [64, 1, 255, 17, 128, 2];
    for (let k = 0; k < ttls.length; k++) {
      b.ttl = ttls[k];
      b.push(PROTO_TCP, ip('10.0.0.1') + k, 1000 + k, ip('10.96.0.1'), 80, 10 * k);
    }
    const inherit = ipipTunnel({ srcIp: ip('10.9.0.1'), dstIp: ip('10.9.0.2') });
    const fixed = ipipTunnel({ srcIp: ip('10.9.0.1'), dstIp: ip('10.9.0.2'), ttl: 9, df: false });
    inherit.ipId = 0xfffe;
    const seen: number[] = [];
    for (let i = 0; i < b.count; i++) {
      const t = i < 3 ? inherit : fixed;
      assert.ok(ipipEncap(b, i, t));
      const o = b.pktOff(i);
      if (t === inherit) seen.push((b.bytes[o + 18] << 8) | b.bytes[o + 19]);
      assert.equal(ipv4Ttl(b.bytes, o + 14), t === inherit ? ttls[i] : 9);
      assert.equal(ipv4DontFragment(b.bytes, o + 14), t === inherit);
      assert.equal(ipv4TotalLen(b.bytes, o + 14), b.wireLen[i] - 14);
      assert.equal(refChecksumsOk(frameOf(b, i), 14).ip, true, `outer checksum of packet ${i}`);
    }
    assert.deepEqual(seen, ids(0xfffe, 3));
  });
});
