/**
 * The classic pcap file as pcap-savefile(5) and draft-ietf-opsawg-pcap lay it out, checked field
 * by field against a reader written here (DataView, BigInt arithmetic), not against readPcap:
 * the 24-byte file header (magic 0xa1b2c3d4 in the writer's byte order, version 2.4 as two u16,
 * thiszone and sigfigs 0, snaplen, LinkType 1), each record's 16-byte header (ts_sec, ts_usec,
 * incl_len = min(captured, snaplen), orig_len) and its bytes; the writer's options at their
 * edges and its buffer doubling as its comment says. Then readPcap on files built here in both
 * byte orders and both resolutions (0xa1b2c3d4 µs, 0xa1b23c4d ns), and at each truncation edge.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { PacketBatch } from '../../src/net/batch.js';
import { PcapWriter, readPcap } from '../../src/net/pcap.js';
import { PROTO_UDP } from '../../src/net/proto.js';
import { ip } from './reference.js';

interface OracleRecord {
  sec: number;
  usec: number;
  incl: number;
  orig: number;
  data: number[];
}

/** pcap-savefile(5), little-endian: the header's fields and every record, read with DataView. */
function oracleRead(f: Uint8Array) {
  const dv = new DataView(f.buffer, f.byteOffset, f.byteLength);
  const header = {
    magic: dv.getUint32(0, true),
    major: dv.getUint16(4, true),
    minor: dv.getUint16(6, true),
    thiszone: dv.getInt32(8, true),
    sigfigs: dv.getUint32(12, true),
    snaplen: dv.getUint32(16, true),
    linktype: dv.getUint32(20, true),
  };
  const records: OracleRecord[] = [];
  for (let o = 24; o < f.length; ) {
    const incl = dv.getUint32(o + 8, true);
    records.push({ sec: dv.getUint32(o, true), usec: dv.getUint32(o + 4, true), incl, orig: dv.getUint32(o + 12, true), data: [...f.subarray(o + 16, o + 16 + incl)] });
    o += 16 + incl;
  }
  return { header, records };
}

/** A frame's bytes as an arbitrary, recognisable pattern (none of them zero). */
const pattern = (n: number, seed = 1): Uint8Array => Uint8Array.from({ length: n }, (_, k) => ((k * 7 + seed) % 255) + 1);

/** The record the writer must produce: the header bytes, zeros up to the wire length, cut at `incl`. */
function expectedData(hdr: Uint8Array, wireLen: number, incl: number): number[] {
  const full = new Array<number>(Math.max(wireLen, hdr.length)).fill(0);
  hdr.forEach((x, k) => (full[k] = x));
  return full.slice(0, incl);
}

describe('pcap-savefile(5): the writer', () => {
  it('writes the file header field by field: magic, 2.4, thiszone 0, sigfigs 0, snaplen, LinkType 1', () => {
    for (const snaplen of [1, 96, 65535, 262144]) {
      const { header, records } = oracleRead(new PcapWriter({ snaplen }).bytes());
      assert.deepEqual(header, { magic: 0xa1b2c3d4, major: 2, minor: 4, thiszone: 0, sigfigs: 0, snaplen, linktype: 1 });
      assert.equal(records.length, 0);
    }
    assert.equal(oracleRead(new PcapWriter().bytes()).header.snaplen, 65535, 'the default snaplen');
  });

  it('splits each timestamp into ts_sec and ts_usec (< 1,000,000), up to the largest ts_sec', () => {
    const stamps = [0n, 1n, 999_999n, 1_000_000n, 1_000_001n, 1_700_000_000_123_456n, 4_294_967_295_999_999n, 0x1_0203_0405n];
    const w = new PcapWriter();
    const hdr = pattern(14);
    for (const us of stamps) w.write(hdr, 0, 14, 60, Number(us));
    const { records } = oracleRead(w.bytes());
    assert.equal(records.length, stamps.length);
    stamps.forEach((us, k) => {
      assert.equal(records[k].sec, Number(us / 1_000_000n), `ts_sec of ${us} µs`);
      assert.equal(records[k].usec, Number(us % 1_000_000n), `ts_usec of ${us} µs`);
    });
  });

  it('incl_len is the bytes captured, at most the snaplen; orig_len the wire length; the data the header bytes then zeros', () => {
    const src = pattern(80, 5);
    // [hdrLen, wireLen, snaplen, snapPayload, offset of the frame in src]
    const cases: [number, number, number, boolean, number][] = [
      [54, 1514, 65535, false, 0], // whole frame: headers and zero payload
      [54, 1514, 100, false, 3], // cut in the payload
      [54, 1514, 40, false, 7], // cut inside the headers
      [54, 54, 54, false, 0], // exactly the snaplen
      [54, 55, 54, false, 1], // one byte over it
      [54, 1514, 65535, true, 2], // headers only: incl_len < orig_len
      [54, 1514, 20, true, 0], // headers only, and the snaplen shorter still
      [70, 60, 65535, true, 4], // headers longer than the frame: never more than the wire length
      [14, 14, 65535, true, 0],
    ];
    for (const [hdrLen, wireLen, snaplen, snapPayload, off] of cases) {
      const w = new PcapWriter({ snaplen, snapPayload });
      w.write(src, off, hdrLen, wireLen, 0);
      const { records } = oracleRead(w.bytes());
      const want = Math.min(snapPayload ? Math.min(hdrLen, wireLen) : wireLen, snaplen);
      const label = `hdr ${hdrLen} wire ${wireLen} snaplen ${snaplen}${snapPayload ? ' snapPayload' : ''}`;
      assert.equal(records.length, 1, label);
      assert.equal(records[0].incl, want, `incl_len, ${label}`);
      assert.equal(records[0].orig, wireLen, `orig_len, ${label}`);
      assert.deepEqual(records[0].data, expectedData(src.subarray(off, off + hdrLen), wireLen, want), `data, ${label}`);
      assert.equal(w.byteLength, 24 + 16 + want, label);
    }
  });

  it('zero-fills the payload even over bytes a reset writer left in its buffer', () => {
    const w = new PcapWriter({ initialBytes: 24 + 16 + 200 }); // the stale record fills the buffer
    w.write(pattern(200, 9), 0, 200, 200, 0);
    w.reset();
    w.write(pattern(20, 3), 0, 20, 200, 0);
    const { records } = oracleRead(w.bytes());
    assert.deepEqual(records[0].data, expectedData(pattern(20, 3), 200, 200));
  });

  it('writeBatch stamps packet i at tsMicros + i * stepMicros (defaults 0 and 1 µs)', () => {
    const b = new PacketBatch();
    for (let k = 0; k < 3; k++) b.push(PROTO_UDP, ip('10.0.0.1'), 1000 + k, ip('10.0.0.2'), 53, k);
    const w = new PcapWriter();
    w.writeBatch(b);
    assert.deepEqual(oracleRead(w.bytes()).records.map((r) => [r.sec, r.usec]), [[0, 0], [0, 1], [0, 2]]);
    const v = new PcapWriter();
    v.writeBatch(b, 2_999_999, 500_000);
    assert.deepEqual(oracleRead(v.bytes()).records.map((r) => [r.sec, r.usec]), [[2, 999_999], [3, 499_999], [3, 999_999]]);
    oracleRead(v.bytes()).records.forEach((r, i) => {
      assert.equal(r.orig, b.wireLen[i]);
      assert.deepEqual(r.data, expectedData(b.headerBytes(i), b.wireLen[i], b.wireLen[i]));
    });
  });

  it('counts its records, and reset goes back to the header alone in the same buffer', () => {
    const w = new PcapWriter({ snaplen: 128 });
    assert.equal(w.records, 0);
    w.write(pattern(30), 0, 30, 30, 0);
    w.write(pattern(30), 0, 30, 40, 0);
    assert.equal(w.records, 2);
    assert.equal(w.byteLength, 24 + 16 + 30 + 16 + 40);
    const buffer = w.bytes().buffer;
    w.reset();
    assert.equal(w.records, 0);
    assert.equal(w.byteLength, 24);
    assert.equal(w.bytes().buffer, buffer, 'the buffer is kept');
    assert.deepEqual(oracleRead(w.bytes()).header.snaplen, 128);
    w.write(pattern(10), 0, 10, 10, 0);
    assert.equal(w.records, 1);
    assert.deepEqual(oracleRead(w.bytes()).records.map((r) => r.data), [[...pattern(10)]]);
  });

  it('its buffer starts at initialBytes and doubles only when a record does not fit, keeping what was written', () => {
    const w = new PcapWriter({ initialBytes: 24 + 16 + 60 });
    w.write(pattern(60), 0, 60, 60, 7);
    assert.equal(w.bytes().buffer.byteLength, 100, 'a record that fills the buffer exactly does not grow it');
    w.write(pattern(1, 2), 0, 1, 1, 8);
    assert.equal(w.bytes().buffer.byteLength, 200, 'one byte more doubles it');
    const { records } = oracleRead(w.bytes());
    assert.deepEqual(records.map((r) => [r.usec, r.data.length]), [[7, 60], [8, 1]]);
    assert.deepEqual(records[0].data, [...pattern(60)], 'the first record survives the copy');
    // A record needing several doublings: 24 -> 48 -> 96 -> 192 for 24 + 16 + 100 bytes.
    const g = new PcapWriter({ initialBytes: 24 });
    assert.equal(g.bytes().buffer.byteLength, 24);
    g.write(pattern(100), 0, 100, 100, 0);
    assert.equal(g.bytes().buffer.byteLength, 192);
    assert.equal(oracleRead(g.bytes()).header.magic, 0xa1b2c3d4, 'the header survives the growth');
    // A record that fills exactly one doubling takes that one: 24 + 16 + 8 = 48.
    const d = new PcapWriter({ initialBytes: 24 });
    d.write(pattern(8), 0, 8, 8, 0);
    assert.equal(d.bytes().buffer.byteLength, 48);
    assert.equal(new PcapWriter().bytes().buffer.byteLength, 65536, 'the default initial size');
  });

  it('refuses a snaplen outside [1, 262144] or an initial buffer shorter than the header, naming the option', () => {
    for (const snaplen of [0, -1, 262145, 1.5, Number.NaN]) {
      assert.throws(() => new PcapWriter({ snaplen }), { code: 'KDP_ERR_INVALID_ARG', message: /options\.snaplen must be in \[1, 262144\]/ }, `snaplen ${snaplen}`);
    }
    for (const initialBytes of [23, 0, 24.5, Number.NaN]) {
      assert.throws(() => new PcapWriter({ initialBytes }), { code: 'KDP_ERR_INVALID_ARG', message: /options\.initialBytes must be an integer >= 24/ }, `initialBytes ${initialBytes}`);
    }
    assert.equal(new PcapWriter({ initialBytes: 24 }).byteLength, 24);
    assert.equal(new PcapWriter({ snaplen: 262144 }).snaplen, 262144);
    assert.equal(new PcapWriter({ snaplen: 1 }).snaplen, 1);
    assert.equal(new PcapWriter().snapPayload, false);
  });
});

/** A pcap file in either byte order and resolution, built with DataView from pcap-savefile(5). */
function oracleFile(le: boolean, magic: number, snaplen: number, linktype: number, records: readonly (readonly [number, number, number, Uint8Array])[]): Uint8Array {
  const len = 24 + records.reduce((n, r) => n + 16 + r[3].length, 0);
  const f = new Uint8Array(len);
  const dv = new DataView(f.buffer);
  dv.setUint32(0, magic, le);
  dv.setUint16(4, 2, le);
  dv.setUint16(6, 4, le);
  dv.setUint32(16, snaplen, le);
  dv.setUint32(20, linktype, le);
  let o = 24;
  for (const [sec, frac, orig, data] of records) {
    dv.setUint32(o, sec, le);
    dv.setUint32(o + 4, frac, le);
    dv.setUint32(o + 8, data.length, le);
    dv.setUint32(o + 12, orig, le);
    f.set(data, o + 16);
    o += 16 + data.length;
  }
  return f;
}

describe('pcap-savefile(5): readPcap', () => {
  const recs = [
    [0x01020304, 0x000a0b0c, 0x0000_0605, pattern(5, 1)],
    [0xfedcba98, 999_999_999, 1 << 20, pattern(0)],
    [7, 0x00800000, 9, pattern(9, 4)],
  ] as const;

  for (const [le, magic, nanos] of [
    [true, 0xa1b2c3d4, false],
    [true, 0xa1b23c4d, true],
    [false, 0xa1b2c3d4, false],
    [false, 0xa1b23c4d, true],
  ] as const) {
    it(`reads a ${le ? 'little' : 'big'}-endian file with magic 0x${magic.toString(16)} (${nanos ? 'ns' : 'µs'} fractions)`, () => {
      const p = readPcap(oracleFile(le, magic, 0x00040001, 0x00000071, recs));
      assert.equal(p.nanos, nanos);
      assert.equal(p.snaplen, 0x00040001);
      assert.equal(p.linktype, 0x71, 'LINKTYPE_LINUX_SLL, read in the file byte order');
      assert.equal(p.records.length, recs.length);
      recs.forEach(([sec, frac, orig, data], k) => {
        const r = p.records[k];
        assert.deepEqual({ tsSec: r.tsSec, tsFrac: r.tsFrac, capLen: r.capLen, wireLen: r.wireLen, data: [...r.data] }, { tsSec: sec, tsFrac: frac, capLen: data.length, wireLen: orig, data: [...data] }, `record ${k}`);
      });
    });
  }

  it('rejects a magic in neither byte order, or a swapped-halves one', () => {
    for (const magic of [0, 0xa1b2c3d5, 0xd4c3b2a1 ^ 1, 0xc3d4a1b2, 0x0a0d0d0a]) {
      assert.throws(() => readPcap(oracleFile(true, magic, 65535, 1, [])), { code: 'KDP_ERR_INVALID_ARG', message: 'pcap: bad magic number' }, `magic 0x${magic.toString(16)}`);
    }
  });

  it('takes a file of exactly its 24-byte header and refuses a shorter one', () => {
    const f = oracleFile(true, 0xa1b2c3d4, 65535, 1, []);
    assert.equal(f.length, 24);
    assert.deepEqual(readPcap(f).records, []);
    assert.throws(() => readPcap(f.subarray(0, 23)), { code: 'KDP_ERR_INVALID_ARG', message: 'pcap: file shorter than its header' });
  });

  it('refuses a record header or record cut short, naming the byte where the record starts; takes one that ends the file exactly', () => {
    const f = oracleFile(false, 0xa1b2c3d4, 65535, 1, [[1, 2, 60, pattern(10)], [3, 4, 60, pattern(6)]]);
    const second = 24 + 16 + 10;
    assert.equal(readPcap(f).records.length, 2);
    assert.equal(readPcap(f.subarray(0, second)).records.length, 1, 'the file ends where the first record does');
    assert.throws(() => readPcap(f.subarray(0, second + 15)), { code: 'KDP_ERR_INVALID_ARG', message: `pcap: truncated record header at byte ${second}` });
    assert.throws(() => readPcap(f.subarray(0, second + 1)), { message: `pcap: truncated record header at byte ${second}` });
    assert.throws(() => readPcap(f.subarray(0, second + 16)), { code: 'KDP_ERR_INVALID_ARG', message: `pcap: truncated record at byte ${second}` });
    assert.throws(() => readPcap(f.subarray(0, f.length - 1)), { message: `pcap: truncated record at byte ${second}` });
    assert.throws(() => readPcap(f.subarray(0, 24 + 15)), { message: 'pcap: truncated record header at byte 24' });
    // A record of no bytes (incl_len 0) ending the file exactly.
    const empty = oracleFile(true, 0xa1b2c3d4, 65535, 1, [[5, 6, 0, pattern(0)]]);
    assert.equal(empty.length, 40);
    assert.deepEqual(readPcap(empty).records.map((r) => [r.tsSec, r.tsFrac, r.capLen, r.data.length]), [[5, 6, 0, 0]]);
  });

  it('reads back what the writer wrote (the writer checked against the oracle above)', () => {
    const w = new PcapWriter({ snaplen: 100 });
    w.write(pattern(40), 0, 40, 1500, 1_700_000_000_654_321);
    const r = readPcap(w.bytes());
    assert.deepEqual([r.nanos, r.snaplen, r.linktype], [false, 100, 1]);
    assert.deepEqual([r.records[0].tsSec, r.records[0].tsFrac, r.records[0].capLen, r.records[0].wireLen], [1_700_000_000, 654_321, 100, 1500]);
  });
});
