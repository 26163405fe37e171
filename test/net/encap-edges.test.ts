/**
 * The tunnels' guards at their exact edges, and the header fields RFC 7348 and RFC 2003 fix:
 * encapsulation needs the overhead's headroom and keeps the outer datagram within 65,535 bytes
 * (IPv4's total length); the VXLAN header's reserved fields are zero whatever the buffer held;
 * the outer IP ID counts up per packet and wraps; an IPIP tunnel with a TTL uses it, one without
 * (0) copies the inner TTL; decapsulation refuses, untouched, any frame that is not exactly the
 * tunnel's (each field alone), and accepts the shortest one that is.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ENCAP_NONE, PacketBatch } from '../../src/net/batch.js';
import { ipv4Id, ipv4Ttl } from '../../src/net/ipv4-header.js';
import { ipipDecap, ipipEncap, ipipTunnel, kIpipOverhead } from '../../src/net/ipip.js';
import { PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';
import { kVxlanOverhead, vxlanDecap, vxlanEncap, vxlanTunnel } from '../../src/net/vxlan.js';
import { ip } from './reference.js';

const vxlan = () => vxlanTunnel({ srcIp: ip('192.168.1.10'), dstIp: ip('192.168.1.20') });

/** One packet whose frame starts `start` bytes into its slot (its bytes moved there). */
function packetAt(start?: number, ttl = 64): PacketBatch {
  const b = new PacketBatch();
  b.push(PROTO_TCP, ip('10.244.1.5'), 40000, ip('10.96.0.10'), 443, 100);
  b.bytes[b.pktOff(0) + 14 + 8] = ttl;
  if (start !== undefined) {
    const from = b.pktOff(0);
    const delta = start - b.start[0];
    b.bytes.copyWithin(from + delta, from, from + b.hdrLen[0]);
    b.start[0] = start;
    b.l3Off[0] += delta;
    b.l4Off[0] += delta;
  }
  return b;
}

const state = (b: PacketBatch) => ({ bytes: b.headerBytes(0).slice(), start: b.start[0], hdrLen: b.hdrLen[0], wireLen: b.wireLen[0], encap: b.encap[0] });

describe('encapsulation edges', () => {
  it('VXLAN needs exactly its 50 bytes of headroom', () => {
    assert.equal(vxlanEncap(packetAt(kVxlanOverhead), 0, vxlan()), true);
    const short = packetAt(kVxlanOverhead - 1);
    const before = state(short);
    assert.equal(vxlanEncap(short, 0, vxlan()), false);
    assert.deepEqual(state(short), before);
  });

  it('IPIP needs exactly its 20 bytes of headroom, and an IPv4 frame', () => {
    const t = ipipTunnel({ srcIp: 1, dstIp: 2 });
    assert.equal(ipipEncap(packetAt(kIpipOverhead), 0, t), true);
    const short = packetAt(kIpipOverhead - 1);
    const before = state(short);
    assert.equal(ipipEncap(short, 0, t), false);
    assert.deepEqual(state(short), before);
    const arp = packetAt();
    arp.bytes[arp.pktOff(0) + 12] = 0x08;
    arp.bytes[arp.pktOff(0) + 13] = 0x06;
    assert.equal(ipipEncap(arp, 0, t), false, 'not IPv4: nothing to put in an IPIP tunnel');
  });

  it('keeps the outer IPv4 total length within 65,535 bytes, and takes the largest that fits', () => {
    // VXLAN: outer IP length = 36 + the inner frame (Ethernet included).
    const fits = packetAt();
    fits.wireLen[0] = 0xffff - 36;
    assert.equal(vxlanEncap(fits, 0, vxlan()), true);
    const over = packetAt();
    over.wireLen[0] = 0xffff - 35;
    assert.equal(vxlanEncap(over, 0, vxlan()), false);
    // IPIP: outer IP length = 20 + the inner IP packet (the frame less its 14-byte Ethernet header).
    const t = ipipTunnel({ srcIp: 1, dstIp: 2 });
    const ipFits = packetAt();
    ipFits.wireLen[0] = 0xffff - 20 + 14;
    assert.equal(ipipEncap(ipFits, 0, t), true);
    const ipOver = packetAt();
    ipOver.wireLen[0] = 0xffff - 20 + 15;
    assert.equal(ipipEncap(ipOver, 0, t), false);
  });

  it("the outer IP ID counts up per packet and wraps at 16 bits (each tunnel's own counter)", () => {
    for (const [encap, make] of [
      [vxlanEncap, vxlan],
      [ipipEncap, () => ipipTunnel({ srcIp: 1, dstIp: 2 })],
    ] as const) {
      const t = make();
      t.ipId = 0xfffe;
      const ids = [0, 1, 2].map(() => {
        const b = packetAt();
        assert.ok((encap as (b: PacketBatch, i: number, t: unknown) => boolean)(b, 0, t));
        return ipv4Id(b.bytes, b.pktOff(0) + 14);
      });
      assert.deepEqual(ids, [0xfffe, 0xffff, 0]);
    }
  });

  it("VXLAN's flags and reserved fields are what RFC 7348 says, whatever the headroom held", () => {
    const b = packetAt();
    const slot = b.pktOff(0) - b.start[0];
    b.bytes.fill(0xff, slot, b.pktOff(0));
    const t = vxlan();
    assert.ok(vxlanEncap(b, 0, t));
    const h = b.pktOff(0) + 42;
    assert.deepEqual([...b.bytes.subarray(h, h + 8)], [0x08, 0, 0, 0, (t.vni >>> 16) & 0xff, (t.vni >>> 8) & 0xff, t.vni & 0xff, 0]);
  });

  it('IPIP: a tunnel TTL is the outer TTL; TTL 0 copies the inner one', () => {
    const own = packetAt(undefined, 17);
    assert.ok(ipipEncap(own, 0, ipipTunnel({ srcIp: 1, dstIp: 2, ttl: 9 })));
    assert.equal(ipv4Ttl(own.bytes, own.pktOff(0) + 14), 9);
    const inherit = packetAt(undefined, 17);
    assert.ok(ipipEncap(inherit, 0, ipipTunnel({ srcIp: 1, dstIp: 2 })));
    assert.equal(ipv4Ttl(inherit.bytes, inherit.pktOff(0) + 14), 17);
  });
});

describe('decapsulation edges', () => {
  // [byte offset from the frame start, value that makes it another frame]
  const vxlanFields: readonly [string, number, number][] = [
    ['outer EtherType', 12, 0x86],
    ['outer IHL (options)', 14, 0x46],
    ['outer protocol', 23, PROTO_TCP],
    ['UDP destination port', 36, 0x13],
    ['VXLAN I flag', 42, 0x00],
    ['inner EtherType', 62, 0x86],
  ];
  it('VXLAN: each outer field alone, when wrong, leaves the packet untouched', () => {
    for (const [what, at, value] of vxlanFields) {
      const b = packetAt();
      assert.ok(vxlanEncap(b, 0, vxlan()));
      b.bytes[b.pktOff(0) + at] = value;
      const before = state(b);
      assert.equal(vxlanDecap(b, 0), false, what);
      assert.deepEqual(state(b), before, what);
    }
  });

  it('VXLAN: the shortest frame it takes holds the outer headers and an inner Ethernet header', () => {
    const b = packetAt();
    assert.ok(vxlanEncap(b, 0, vxlan()));
    b.hdrLen[0] = kVxlanOverhead + 14;
    assert.equal(vxlanDecap(b, 0), true);
    assert.equal(b.encap[0], ENCAP_NONE);
    const c = packetAt();
    assert.ok(vxlanEncap(c, 0, vxlan()));
    c.hdrLen[0] = kVxlanOverhead + 13;
    assert.equal(vxlanDecap(c, 0), false);
  });

  const ipipFields: readonly [string, number, number][] = [
    ['outer EtherType', 12, 0x86],
    ['outer IHL (options)', 14, 0x46],
    ['outer protocol', 23, PROTO_UDP],
  ];
  it('IPIP: each outer field alone, when wrong, leaves the packet untouched; the shortest frame holds both IP headers', () => {
    for (const [what, at, value] of ipipFields) {
      const b = packetAt();
      assert.ok(ipipEncap(b, 0, ipipTunnel({ srcIp: 1, dstIp: 2 })));
      b.bytes[b.pktOff(0) + at] = value;
      const before = state(b);
      assert.equal(ipipDecap(b, 0), false, what);
      assert.deepEqual(state(b), before, what);
    }
    const b = packetAt();
    assert.ok(ipipEncap(b, 0, ipipTunnel({ srcIp: 1, dstIp: 2 })));
    b.hdrLen[0] = 14 + kIpipOverhead + 20;
    assert.equal(ipipDecap(b, 0), true);
    const c = packetAt();
    assert.ok(ipipEncap(c, 0, ipipTunnel({ srcIp: 1, dstIp: 2 })));
    c.hdrLen[0] = 14 + kIpipOverhead + 19;
    assert.equal(ipipDecap(c, 0), false);
  });
});
