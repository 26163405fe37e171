/**
 * PacketBatch at the edges its comments promise: the self-describing buffer header (magic 'KDPB',
 * version, capacity, slot size, headroom, count) and `from` refusing any buffer that is not one;
 * the options' ranges at each end; `push` up to IPv4's 65,535-byte total length (RFC 791);
 * `writePayload` up to the slot end and the wire length, with the L4 checksum over the payload;
 * `parse` at the slot end, layer by layer (Ethernet + IPv4, IPIP's inner header, VXLAN's UDP
 * header, I flag and inner frame per RFC 7348, the L4 header), with ports only where an L4 header
 * is (not an unknown protocol, not a non-first fragment: RFC 791); `load` copying only the
 * captured bytes into its own slot; `addIpv4Option`'s headroom and encapsulation guards.
 * Frames are built here byte by byte from the RFC layouts, not with the code under test.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ENCAP_IPIP, ENCAP_NONE, ENCAP_VXLAN, kBatchMagic, kBatchVersion, kHeadroom, kSlotSize, PacketBatch } from '../../src/net/batch.js';
import { hash5 } from '../../src/net/hash.js';
import { PROTO_ICMP, PROTO_IPIP, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';
import { vxlanEncap, vxlanTunnel } from '../../src/net/vxlan.js';
import { frameOf, ip, refChecksumsOk } from './reference.js';

const be16 = (v: number): number[] => [(v >>> 8) & 255, v & 255];
const be32 = (v: number): number[] => [(v >>> 24) & 255, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
/** Ethernet II (IEEE 802.3): destination, source, EtherType. */
const eth = (type = 0x0800): number[] => [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, ...be16(type)];
/** RFC 791 header, `ihl` words (options as NOPs), checksum left 0 (parse does not read it). */
function ipv4(proto: number, src: number, dst: number, payload: number, opts: { ihl?: number; version?: number; frag?: number } = {}): number[] {
  const ihl = opts.ihl ?? 5;
  return [((opts.version ?? 4) << 4) | ihl, 0, ...be16(ihl * 4 + payload), 0, 1, ...be16(opts.frag ?? 0), 64, proto, 0, 0, ...be32(src), ...be32(dst), ...new Array<number>((ihl - 5) * 4).fill(1)];
}
/** RFC 9293: ports, seq, ack, data offset 5, flags, window. */
const tcp = (sp: number, dp: number, flags = 0x18): number[] => [...be16(sp), ...be16(dp), ...be32(1), ...be32(2), 5 << 4, flags, ...be16(512), 0, 0, 0, 0];
const udp = (sp: number, dp: number, len: number): number[] => [...be16(sp), ...be16(dp), ...be16(len), 0, 0];
/** RFC 7348: flags with I set (or not), reserved, VNI, reserved. */
const vxlanHdr = (iFlag = true, vni = 42): number[] => [iFlag ? 0x08 : 0, 0, 0, 0, (vni >>> 16) & 255, (vni >>> 8) & 255, vni & 255, 0];

const A = ip('10.244.1.5');
const B = ip('10.244.2.7');
const N1 = ip('192.168.1.10');
const N2 = ip('192.168.1.20');

/** Slot 0 of a fresh two-slot batch holding `frame` at `start`; `end` places it to end `end` bytes before the slot end. */
function placed(frame: number[], at: { start?: number; end?: number }): PacketBatch {
  const b = new PacketBatch({ capacity: 2 });
  const start = at.start ?? b.slotSize - frame.length - (at.end ?? 0);
  b.bytes.set(frame.slice(0, b.slotSize - start), start);
  b.start[0] = start;
  b.count = 1;
  return b;
}

const parsed = (b: PacketBatch) => ({
  proto: b.proto[0],
  encap: b.encap[0],
  srcIp: b.srcIp[0],
  dstIp: b.dstIp[0],
  srcPort: b.srcPort[0],
  dstPort: b.dstPort[0],
  l3: b.l3Off[0] - b.start[0],
  l4: b.l4Off[0] - b.start[0],
  hdrLen: b.hdrLen[0],
});

describe('the batch buffer', () => {
  it('starts with its own description: magic, version, capacity, slot size, headroom, count', () => {
    const b = new PacketBatch({ capacity: 8, slotSize: 512 });
    b.push(PROTO_UDP, A, 1, B, 2, 0);
    b.push(PROTO_UDP, A, 1, B, 2, 0);
    assert.deepEqual([...new Uint32Array(b.buffer, 0, 6)], [0x4b445042, 1, 8, 512, kHeadroom, 2]);
    assert.equal(kBatchMagic, 0x4b445042, "'KDPB'");
    assert.equal(new PacketBatch({ shared: true }).buffer instanceof SharedArrayBuffer, true);
    assert.equal(new PacketBatch().buffer instanceof SharedArrayBuffer, false);
  });

  it('count is the buffer header word: setting it moves where push writes, and it travels with the buffer', () => {
    const b = new PacketBatch({ capacity: 4 });
    for (let k = 0; k < 4; k++) b.push(PROTO_TCP, A, 1000 + k, B, 80, 0);
    b.count = 1;
    assert.equal(b.count, 1);
    assert.equal(new Uint32Array(b.buffer, 0, 6)[5], 1);
    assert.equal(PacketBatch.from(b.buffer).count, 1);
    assert.equal(b.push(PROTO_UDP, A, 7, B, 53, 0), 1, 'the next packet goes in slot 1');
    assert.equal(b.proto[1], PROTO_UDP);
    assert.equal(b.proto[2], PROTO_TCP, 'slot 2 is untouched');
  });

  it('from() refuses a bad magic, a bad version (each alone) and a buffer shorter than its header says', () => {
    const b = new PacketBatch({ capacity: 4 });
    const copy = (): ArrayBuffer => b.buffer.slice(0) as ArrayBuffer;
    assert.equal(PacketBatch.from(copy()).capacity, 4);
    const badMagic = copy();
    new Uint32Array(badMagic)[0] = kBatchMagic ^ 1;
    const badVersion = copy();
    new Uint32Array(badVersion)[1] = kBatchVersion + 1;
    for (const [what, buf] of [['magic', badMagic], ['version', badVersion]] as const) {
      assert.throws(() => PacketBatch.from(buf), { code: 'KDP_ERR_INVALID_ARG', message: 'buffer is not a kdp packet batch (bad magic or version)' }, what);
    }
    const short = new ArrayBuffer(b.buffer.byteLength - 1);
    new Uint8Array(short).set(new Uint8Array(b.buffer, 0, short.byteLength));
    assert.throws(() => PacketBatch.from(short), { code: 'KDP_ERR_INVALID_ARG', message: 'buffer is too small for its batch header' });
  });

  it('takes a capacity that is a power of two in [1, 65536], and nothing else', () => {
    for (const capacity of [0, -1, 3, 100, 1.5, 0.5, Number.NaN, 131072]) {
      assert.throws(() => new PacketBatch({ capacity }), { code: 'KDP_ERR_INVALID_ARG', message: 'options.capacity must be a power of two in [1, 65536]' }, `capacity ${capacity}`);
    }
    for (const capacity of [1, 2, 65536]) assert.equal(new PacketBatch({ capacity }).capacity, capacity);
  });

  it('takes a slot size that is a power of two in [256, 65536], and nothing else', () => {
    for (const slotSize of [0, 128, 255, 384, 256.5, Number.NaN, 131072]) {
      assert.throws(() => new PacketBatch({ capacity: 1, slotSize }), { code: 'KDP_ERR_INVALID_ARG', message: `options.slotSize must be a power of two in [${kSlotSize}, 65536]` }, `slotSize ${slotSize}`);
    }
    for (const slotSize of [256, 512, 65536]) {
      const b = new PacketBatch({ capacity: 2, slotSize });
      assert.equal(b.slotSize, slotSize);
      assert.equal(b.bytes.length, 2 * slotSize);
      assert.equal(b.push(PROTO_UDP, A, 1, B, 2, 0), 0);
      assert.equal(b.push(PROTO_UDP, A, 1, B, 2, 0), 1);
      assert.equal(b.pktOff(1), slotSize + kHeadroom, 'slot 1 starts one slot in');
    }
  });
});

describe('push', () => {
  it('takes an IPv4 total length of 65,535 and refuses 65,536 or a negative payload, count unchanged', () => {
    // RFC 791: the total length is 16 bits. TCP: 20 + 20 + payload; UDP: 20 + 8 + payload.
    for (const [proto, l4] of [[PROTO_TCP, 20], [PROTO_UDP, 8]] as const) {
      const b = new PacketBatch({ capacity: 4 });
      assert.equal(b.push(proto, A, 1, B, 2, 65535 - 20 - l4), 0);
      assert.equal(b.wireLen[0], 14 + 65535);
      assert.equal(b.push(proto, A, 1, B, 2, 65536 - 20 - l4), -1);
      assert.equal(b.push(proto, A, 1, B, 2, -1), -1);
      assert.equal(b.count, 1);
    }
  });
});

describe('writePayload', () => {
  it('fills the slot to its last byte and no further', () => {
    const b = new PacketBatch({ capacity: 2 });
    b.push(PROTO_UDP, A, 5353, B, 53, 200);
    b.push(PROTO_UDP, A, 5353, B, 53, 200);
    const room = b.slotSize - kHeadroom - 42;
    const slot1 = b.headerBytes(1).slice();
    assert.equal(b.writePayload(0, new Uint8Array(room + 1).fill(7)), false);
    assert.equal(b.hdrLen[0], 42, 'a refused payload leaves the packet as it was');
    assert.equal(b.writePayload(0, new Uint8Array(room).fill(7)), true);
    assert.equal(b.hdrLen[0], 42 + room);
    assert.deepEqual(b.headerBytes(1), slot1, 'the next slot is untouched');
  });

  it('writes no more than the packet carries (hdrLen + payload <= wireLen)', () => {
    const b = new PacketBatch();
    b.push(PROTO_TCP, A, 40000, B, 80, 10);
    assert.equal(b.writePayload(0, new Uint8Array(11).fill(1)), false);
    assert.equal(b.hdrLen[0], 54);
    assert.equal(b.writePayload(0, new Uint8Array(10).fill(1)), true);
    assert.equal(b.hdrLen[0], 64);
  });

  it('recomputes the L4 checksum over the payload it writes (TCP, UDP, SCTP)', () => {
    for (const proto of [PROTO_TCP, PROTO_UDP, PROTO_SCTP]) {
      // Packet 1 of 4, its neighbours' bytes nonzero: a checksum over bytes past the payload would show.
      const b = new PacketBatch({ capacity: 4 });
      for (let k = 0; k < 4; k++) b.push(proto, A, 40000 + k, B, 53, 40);
      const payload = Uint8Array.from({ length: 30 }, (_, k) => 0x41 + k);
      assert.equal(b.writePayload(1, payload), true);
      const f = frameOf(b, 1);
      assert.deepEqual([...f.subarray(b.hdrLen[1] - 30, b.hdrLen[1])], [...payload]);
      assert.deepEqual(refChecksumsOk(f, 14), { ip: true, l4: true }, `proto ${proto}`);
    }
  });
});

describe('parse at the slot end', () => {
  const icmp = [...eth(), ...ipv4(PROTO_ICMP, A, B, 8)]; // 34 bytes: Ethernet and IPv4, no L4 header to read
  const tcpFrame = [...eth(), ...ipv4(PROTO_TCP, A, B, 20), ...tcp(40000, 443)];
  const udpFrame = [...eth(), ...ipv4(PROTO_UDP, A, B, 8), ...udp(5353, 53, 8)];
  const ipipFrame = [...eth(), ...ipv4(PROTO_IPIP, N1, N2, 20), ...ipv4(PROTO_ICMP, A, B, 0)];
  const vxlanOuter = (inner: number[], iFlag = true): number[] => [...eth(), ...ipv4(PROTO_UDP, N1, N2, 16 + inner.length), ...udp(51234, 4789, 16 + inner.length), ...vxlanHdr(iFlag), ...inner];

  it('Ethernet + IPv4: takes the 34 bytes ending at the slot end, refuses them one byte later', () => {
    const fits = placed(icmp, { end: 0 });
    assert.equal(fits.parse(0), true);
    assert.deepEqual(parsed(fits), { proto: PROTO_ICMP, encap: ENCAP_NONE, srcIp: A, dstIp: B, srcPort: 0, dstPort: 0, l3: 14, l4: 34, hdrLen: 34 });
    const late = placed(icmp, { end: -1 });
    assert.equal(late.parse(0), false);
    assert.equal(late.proto[0], 0);
  });

  it('refuses an IPv4 EtherType whose header is not version 4', () => {
    for (const version of [6, 0, 5]) {
      const b = placed([...eth(), ...ipv4(PROTO_TCP, A, B, 20, { version }), ...tcp(1, 2)], { start: kHeadroom });
      assert.equal(b.parse(0), false, `version ${version}`);
      assert.equal(b.proto[0], 0);
    }
  });

  it('IPIP (RFC 2003): the inner header must fit the slot and be version 4', () => {
    const b = placed(ipipFrame, { end: 0 });
    assert.equal(b.parse(0), true);
    assert.deepEqual(parsed(b), { proto: PROTO_ICMP, encap: ENCAP_IPIP, srcIp: A, dstIp: B, srcPort: 0, dstPort: 0, l3: 34, l4: 54, hdrLen: 54 });
    assert.equal(placed(ipipFrame, { end: -1 }).parse(0), false);
    const v6 = [...eth(), ...ipv4(PROTO_IPIP, N1, N2, 20), ...ipv4(PROTO_ICMP, A, B, 0, { version: 6 })];
    assert.equal(placed(v6, { start: kHeadroom }).parse(0), false);
  });

  it('VXLAN (RFC 7348): UDP to 4789 with the I flag, an inner Ethernet frame carrying IPv4 version 4, all within the slot', () => {
    const inner = [...eth(), ...ipv4(PROTO_ICMP, A, B, 0)];
    const b = placed(vxlanOuter(inner), { end: 0 });
    assert.equal(b.parse(0), true);
    assert.deepEqual(parsed(b), { proto: PROTO_ICMP, encap: ENCAP_VXLAN, srcIp: A, dstIp: B, srcPort: 0, dstPort: 0, l3: 64, l4: 84, hdrLen: 84 });
    assert.equal(placed(vxlanOuter(inner), { end: -1 }).parse(0), false, 'the inner IPv4 header one byte past the slot');
    assert.equal(placed(vxlanOuter([]), { end: 0 }).parse(0), false, 'the VXLAN header ends the slot: no inner frame');
    assert.equal(placed(vxlanOuter([...eth(0x86dd), ...ipv4(PROTO_ICMP, A, B, 0)]), { start: kHeadroom }).parse(0), false, 'inner EtherType IPv6');
    assert.equal(placed(vxlanOuter([...eth(), ...ipv4(PROTO_ICMP, A, B, 0, { version: 6 })]), { start: kHeadroom }).parse(0), false, 'inner version 6');
  });

  it('VXLAN needs the I flag and UDP: without it, or over TCP to 4789, the packet is what it says', () => {
    const inner = [...eth(), ...ipv4(PROTO_ICMP, A, B, 0)];
    const noI = placed(vxlanOuter(inner, false), { start: kHeadroom });
    assert.equal(noI.parse(0), true);
    assert.deepEqual(parsed(noI), { proto: PROTO_UDP, encap: ENCAP_NONE, srcIp: N1, dstIp: N2, srcPort: 51234, dstPort: 4789, l3: 14, l4: 34, hdrLen: 42 });
    // TCP to port 4789 whose byte 8 (the acknowledgement number's first byte) has the 0x08 bit.
    const t = [...eth(), ...ipv4(PROTO_TCP, A, B, 20), ...tcp(40000, 4789)];
    t.splice(34 + 8, 1, 0x08);
    const overTcp = placed(t, { start: kHeadroom });
    assert.equal(overTcp.parse(0), true);
    assert.deepEqual(parsed(overTcp), { proto: PROTO_TCP, encap: ENCAP_NONE, srcIp: A, dstIp: B, srcPort: 40000, dstPort: 4789, l3: 14, l4: 34, hdrLen: 54 });
  });

  it("never reads past its slot: UDP to 4789 ending at the slot end, the next slot's first byte 0x08, is plain UDP", () => {
    const b = placed(udpFrame.map((x, k) => (k === 36 ? 4789 >>> 8 : k === 37 ? 4789 & 255 : x)), { end: 0 });
    b.bytes[b.slotSize] = 0x08; // where a VXLAN I flag would be, in packet 1's slot
    assert.equal(b.parse(0), true);
    assert.deepEqual([b.proto[0], b.encap[0], b.dstPort[0], b.hdrLen[0]], [PROTO_UDP, ENCAP_NONE, 4789, 42]);
  });

  it('an L4 header must fit the slot: TCP and UDP ending at the slot end are taken, one byte later refused', () => {
    for (const [name, frame, sp, dp] of [['TCP', tcpFrame, 40000, 443], ['UDP', udpFrame, 5353, 53]] as const) {
      const b = placed(frame, { end: 0 });
      assert.equal(b.parse(0), true, name);
      assert.deepEqual([b.proto[0], b.srcPort[0], b.dstPort[0], b.hdrLen[0]], [frame[23], sp, dp, frame.length], name);
      assert.equal(placed(frame, { end: -1 }).parse(0), false, `${name} one byte past`);
    }
    // A TCP header cut after 12 bytes (its data offset byte past the slot).
    const cut = placed(tcpFrame, { end: -8 });
    assert.equal(cut.parse(0), false);
    assert.equal(cut.proto[0], 0);
  });

  it('reads no ports where there is no L4 header: an unknown protocol, a non-first fragment (RFC 791)', () => {
    // ICMP with nonzero bytes where ports would be.
    const ic = placed([...eth(), ...ipv4(PROTO_ICMP, A, B, 8), 8, 0, 0x12, 0x34, 0x56, 0x78, 0, 1], { start: kHeadroom });
    assert.equal(ic.parse(0), true);
    assert.deepEqual(parsed(ic), { proto: PROTO_ICMP, encap: ENCAP_NONE, srcIp: A, dstIp: B, srcPort: 0, dstPort: 0, l3: 14, l4: 34, hdrLen: 34 });
    assert.equal(ic.flowHash[0], hash5(A, B, 0, 0, PROTO_ICMP));
    // A TCP fragment at offset 185 (1480 bytes): its bytes are the middle of a segment, not a header.
    const frag = placed([...eth(), ...ipv4(PROTO_TCP, A, B, 20, { frag: 185 }), ...tcp(40000, 443)], { start: kHeadroom });
    assert.equal(frag.parse(0), true);
    assert.deepEqual(parsed(frag), { proto: PROTO_TCP, encap: ENCAP_NONE, srcIp: A, dstIp: B, srcPort: 0, dstPort: 0, l3: 14, l4: 34, hdrLen: 34 });
    assert.equal(frag.tcpFlags[0], 0);
    assert.equal(frag.flowHash[0], hash5(A, B, 0, 0, PROTO_TCP));
    // IPv4 options move the L4 header (IHL 7 = 28 bytes).
    const opts = placed([...eth(), ...ipv4(PROTO_TCP, A, B, 20, { ihl: 7 }), ...tcp(40000, 443, 0x02)], { start: kHeadroom });
    assert.equal(opts.parse(0), true);
    assert.deepEqual(parsed(opts), { proto: PROTO_TCP, encap: ENCAP_NONE, srcIp: A, dstIp: B, srcPort: 40000, dstPort: 443, l3: 14, l4: 42, hdrLen: 62 });
    assert.equal(opts.tcpFlags[0], 0x02);
  });
});

describe('load', () => {
  const frame = [...eth(), ...ipv4(PROTO_UDP, A, B, 8 + 200), ...udp(5353, 53, 208), ...Array.from({ length: 200 }, (_, k) => (k % 250) + 1)];

  it('copies only the captured bytes, only into its own slot', () => {
    const b = new PacketBatch({ capacity: 4 });
    b.bytes.fill(0xaa);
    // capLen 60 of a 242-byte frame: the bytes after the 60th are not the frame's.
    assert.equal(b.load(Uint8Array.from(frame), 60, 242), 0);
    const slot0 = b.bytes.subarray(0, b.slotSize);
    assert.deepEqual([...slot0.subarray(kHeadroom, kHeadroom + 60)], frame.slice(0, 60));
    assert.ok(slot0.subarray(kHeadroom + 60).every((x) => x === 0xaa), 'nothing past the captured bytes');
    assert.deepEqual([b.wireLen[0], b.proto[0], b.dstPort[0]], [242, PROTO_UDP, 53]);
    // A frame longer than the slot's room: the slot is filled, the next one untouched.
    assert.equal(b.load(Uint8Array.from(frame)), 1);
    assert.equal(b.wireLen[1], frame.length, 'wireLen defaults to the captured length, which defaults to the frame');
    assert.deepEqual([...b.bytes.subarray(b.slotSize + kHeadroom, 2 * b.slotSize)], frame.slice(0, b.slotSize - kHeadroom));
    assert.ok(b.bytes.subarray(2 * b.slotSize, 3 * b.slotSize).every((x) => x === 0xaa), 'slot 2 untouched');
  });

  it('refuses a frame whose headers were not all captured, whatever an older packet left in the slot', () => {
    const tcpFrame = Uint8Array.from([...eth(), ...ipv4(PROTO_TCP, A, B, 20), ...tcp(40000, 443)]);
    for (const capLen of [20, 33, 34, 53]) {
      const b = new PacketBatch({ capacity: 1 });
      b.push(PROTO_TCP, N1, 1111, N2, 2222, 100); // the slot's previous packet, whole headers
      b.reset();
      assert.equal(b.load(tcpFrame, capLen, 1500), -1, `capLen ${capLen} of 54`);
      assert.equal(b.count, 0);
    }
    const b = new PacketBatch({ capacity: 1 });
    assert.equal(b.load(tcpFrame, 54, 1500), 0, 'exactly the headers');
    assert.deepEqual([b.srcPort[0], b.dstPort[0], b.hdrLen[0], b.wireLen[0]], [40000, 443, 54, 1500]);
  });

  it('returns -1, count unchanged, when the batch is full or the frame unparsable', () => {
    const b = new PacketBatch({ capacity: 2 });
    assert.equal(b.load(Uint8Array.from([...eth(0x86dd), ...new Array<number>(40).fill(0)])), -1);
    assert.equal(b.count, 0);
    assert.equal(b.load(Uint8Array.from(frame)), 0);
    assert.equal(b.load(Uint8Array.from(frame)), 1);
    assert.equal(b.load(Uint8Array.from(frame)), -1);
    assert.equal(b.count, 2);
  });
});

describe('addIpv4Option guards', () => {
  it('needs 8 bytes of headroom before the frame: 8 is enough, 7 is not', () => {
    for (const [start, ok] of [[8, true], [7, false]] as const) {
      const b = placed(tcpFrameAt(), { start });
      assert.equal(b.parse(0), true);
      b.wireLen[0] = b.hdrLen[0];
      const before = frameOf(b, 0);
      assert.equal(b.addIpv4Option(0, 0x9a080000, 0), ok, `start ${start}`);
      if (ok) assert.equal(b.start[0], 0);
      else assert.deepEqual(frameOf(b, 0), before, 'unchanged');
    }
  });

  it('refuses an encapsulated packet, leaving it as it was', () => {
    const b = new PacketBatch();
    b.push(PROTO_TCP, A, 40000, B, 443, 10);
    assert.equal(vxlanEncap(b, 0, vxlanTunnel({ srcIp: N1, dstIp: N2 })), true);
    const before = frameOf(b, 0);
    assert.equal(b.addIpv4Option(0, 0x9a080000, 0), false);
    assert.deepEqual(frameOf(b, 0), before);
    assert.equal(b.encap[0], ENCAP_VXLAN);
  });
});

function tcpFrameAt(): number[] {
  return [...eth(), ...ipv4(PROTO_TCP, A, B, 20), ...tcp(40000, 443)];
}
