/**
 * writePcapng's bytes as draft-ietf-opsawg-pcapng lays them out, read back by a block walker
 * written here from the draft (DataView, BigInt), not from pcapng.ts: every block is type, total
 * length, body, the total length again, a multiple of 4; the Section Header Block carries the
 * byte-order magic 0x1A2B3C4D, version 1.0 and section length -1 (not given); each Interface
 * Description Block LinkType 1 (Ethernet), a reserved 0, SnapLen 0 (no limit) and its options
 * if_name, if_description and if_tsresol = 6 (10^-6 s); each Enhanced Packet Block its interface,
 * a 64-bit timestamp in those units (high word first), captured and original lengths, the data
 * padded to 32 bits and an opt_comment. Options are code, length, value padded to 32 bits, and
 * end with opt_endofopt (0, 0), which ends the block's options exactly.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { type PcapngInterface, type PcapngPacket, writePcapng } from '../../src/net/pcapng.js';

interface OracleBlock {
  type: number;
  body: Uint8Array;
}

/** Splits a little-endian pcapng file into blocks, checking each block's framing. */
function blocksOf(f: Uint8Array): OracleBlock[] {
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const out: OracleBlock[] = [];
  let o = 0;
  while (o < f.length) {
    assert.ok(o + 12 <= f.length, `a block header at ${o}`);
    const type = dv.getUint32(o, true);
    const total = dv.getUint32(o + 4, true);
    assert.equal(total % 4, 0, `block at ${o}: total length ${total} is a multiple of 4`);
    assert.ok(total >= 12 && o + total <= f.length, `block at ${o}: total length ${total} fits the file`);
    assert.equal(dv.getUint32(o + total - 4, true), total, `block at ${o}: the trailing total length`);
    out.push({ type, body: f.subarray(o + 8, o + total - 4) });
    o += total;
  }
  return out;
}

/** Reads an option list to its opt_endofopt, which must end the body; padding must be zeros. */
function optionsOf(body: Uint8Array, from: number): [number, string | number[]][] {
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  const out: [number, string | number[]][] = [];
  let o = from;
  for (;;) {
    assert.ok(o + 4 <= body.length, `an option header at ${o}`);
    const code = dv.getUint16(o, true);
    const len = dv.getUint16(o + 2, true);
    if (code === 0) {
      assert.equal(len, 0, 'opt_endofopt has length 0');
      assert.equal(o + 4, body.length, 'opt_endofopt ends the block');
      return out;
    }
    const padded = Math.ceil(len / 4) * 4;
    const value = body.subarray(o + 4, o + 4 + len);
    assert.ok(body.subarray(o + 4 + len, o + 4 + padded).every((x) => x === 0), `option ${code}: zero padding`);
    out.push([code, code === 9 ? [...value] : new TextDecoder('utf-8', { fatal: true }).decode(value)]);
    o += 4 + padded;
  }
}

function shbOf(b: OracleBlock) {
  const dv = new DataView(b.body.buffer, b.body.byteOffset, b.body.byteLength);
  return { type: b.type, bom: dv.getUint32(0, true), major: dv.getUint16(4, true), minor: dv.getUint16(6, true), sectionLength: dv.getBigInt64(8, true), rest: b.body.length - 16 };
}

function idbOf(b: OracleBlock) {
  const dv = new DataView(b.body.buffer, b.body.byteOffset, b.body.byteLength);
  return { type: b.type, linktype: dv.getUint16(0, true), reserved: dv.getUint16(2, true), snaplen: dv.getUint32(4, true), options: optionsOf(b.body, 8) };
}

function epbOf(b: OracleBlock) {
  const dv = new DataView(b.body.buffer, b.body.byteOffset, b.body.byteLength);
  const cap = dv.getUint32(12, true);
  const padded = Math.ceil(cap / 4) * 4;
  assert.ok(b.body.subarray(20 + cap, 20 + padded).every((x) => x === 0), 'packet data padded with zeros');
  return {
    type: b.type,
    iface: dv.getUint32(0, true),
    ts: (BigInt(dv.getUint32(4, true)) << 32n) | BigInt(dv.getUint32(8, true)),
    cap,
    orig: dv.getUint32(16, true),
    data: [...b.body.subarray(20, 20 + cap)],
    options: optionsOf(b.body, 20 + padded),
  };
}

const bytes = (n: number, seed: number): Uint8Array => Uint8Array.from({ length: n }, (_, k) => ((k * 13 + seed) % 255) + 1);
/** The frame as captured: its bytes, then zeros up to the wire length. */
const frame = (p: PcapngPacket): number[] => [...bytes(0, 0), ...p.bytes, ...new Array<number>(Math.max(0, p.wireLen - p.bytes.length)).fill(0)];

describe('draft-ietf-opsawg-pcapng: writePcapng', () => {
  // Names and comments of every length mod 4, a multi-byte UTF-8 one, and empty ones.
  const ifaces: PcapngInterface[] = [
    { name: 'eth0', description: 'eth0 of node node-1' },
    { name: 'vxlan.calico', description: 'node-2' },
    { name: 'cbr0', description: '' },
    { name: 'é', description: 'pod 10.244.1.5 on node-1 (naïve)' },
    { name: '', description: 'abc' },
  ];
  const packets: PcapngPacket[] = [
    { iface: 0, bytes: bytes(54, 1), wireLen: 154, tsMicros: 0, comment: 'node-1 eth0: forward' },
    { iface: 1, bytes: bytes(57, 2), wireLen: 57, tsMicros: 1_700_000_000_123_456, comment: '' },
    { iface: 4, bytes: bytes(42, 3), wireLen: 61, tsMicros: 4_294_967_295, comment: 'a' },
    { iface: 3, bytes: bytes(0, 4), wireLen: 3, tsMicros: 4_294_967_296, comment: 'abcd' },
    { iface: 2, bytes: bytes(60, 5), wireLen: 1514, tsMicros: 0xfedc_ba98_7654, comment: 'hop ✓' },
    { iface: 0, bytes: bytes(1, 6), wireLen: 1, tsMicros: 10.4, comment: 'abcde' },
    { iface: 0, bytes: bytes(2, 7), wireLen: 2, tsMicros: 10.6, comment: 'abc' },
  ];

  it('starts with a Section Header Block: byte-order magic 0x1A2B3C4D, version 1.0, section length -1, no options', () => {
    const [first] = blocksOf(writePcapng(ifaces, packets));
    assert.deepEqual(shbOf(first), { type: 0x0a0d0d0a, bom: 0x1a2b3c4d, major: 1, minor: 0, sectionLength: -1n, rest: 0 });
    const f = writePcapng([], []);
    assert.equal(f.length, 28, 'an empty capture is its 28-byte section header alone');
    assert.deepEqual([...f.subarray(8, 12)], [0x4d, 0x3c, 0x2b, 0x1a], 'the magic as a little-endian reader sees it');
  });

  it('describes each interface in order: LinkType 1, reserved 0, SnapLen 0, if_name, if_description, if_tsresol 6', () => {
    const blocks = blocksOf(writePcapng(ifaces, []));
    assert.equal(blocks.length, 1 + ifaces.length);
    ifaces.forEach((i, k) => {
      assert.deepEqual(idbOf(blocks[1 + k]), {
        type: 1,
        linktype: 1,
        reserved: 0,
        snaplen: 0,
        options: [
          [2, i.name],
          [3, i.description],
          [9, [6]],
        ],
      }, `interface ${k} (${i.name})`);
    });
  });

  it('writes each packet as an Enhanced Packet Block: its interface, µs timestamp in two words, lengths, zero-filled data, opt_comment', () => {
    const blocks = blocksOf(writePcapng(ifaces, packets));
    assert.equal(blocks.length, 1 + ifaces.length + packets.length);
    packets.forEach((p, k) => {
      const e = epbOf(blocks[1 + ifaces.length + k]);
      assert.deepEqual(e, {
        type: 6,
        iface: p.iface,
        ts: BigInt(Math.round(p.tsMicros)),
        cap: p.wireLen,
        orig: p.wireLen,
        data: frame(p),
        options: [[1, p.comment]],
      }, `packet ${k}`);
    });
    // The timestamp's words by hand: 1,700,000,000,123,456 µs = 0x00060a24_18202240.
    const e = epbOf(blocks[1 + ifaces.length + 1]);
    assert.equal(e.ts, 0x00060a24_18202240n);
    assert.equal(epbOf(blocks[1 + ifaces.length + 5]).ts, 10n, '10.4 µs rounds to 10');
    assert.equal(epbOf(blocks[1 + ifaces.length + 6]).ts, 11n, '10.6 µs rounds to 11');
  });

  it('lays the blocks end to end with nothing between or after them', () => {
    const f = writePcapng(ifaces, packets);
    const total = blocksOf(f).reduce((n, b) => n + b.body.length + 12, 0);
    assert.equal(total, f.length);
    // The lengths the draft's layout gives: SHB 28; IDB 12 + 8 + options; EPB 12 + 20 + padded data + options.
    const opt = (s: string) => 4 + Math.ceil(new TextEncoder().encode(s).length / 4) * 4;
    const want = 28 + ifaces.reduce((n, i) => n + 20 + opt(i.name) + opt(i.description) + 8 + 4, 0) + packets.reduce((n, p) => n + 32 + Math.ceil(p.wireLen / 4) * 4 + opt(p.comment) + 4, 0);
    assert.equal(f.length, want);
  });

  it('refuses a packet on an interface it was not given, naming it', () => {
    const two = ifaces.slice(0, 2);
    const p = packets[0];
    for (const iface of [2, -1, 1.5, Number.NaN, 5]) {
      assert.throws(() => writePcapng(two, [p, { ...p, iface }]), { code: 'KDP_ERR_INVALID_ARG', message: `packet interface ${iface} is not one of the 2 interfaces` }, `iface ${iface}`);
    }
    assert.throws(() => writePcapng([], [p]), { message: 'packet interface 0 is not one of the 0 interfaces' });
    assert.equal(blocksOf(writePcapng(two, [{ ...p, iface: 1 }, { ...p, iface: 0 }])).length, 5, 'the first and the last interface are both taken');
  });
});
