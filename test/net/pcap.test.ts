import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ENCAP_IPIP, ENCAP_VXLAN, PacketBatch } from '../../src/net/batch.js';
import { ipipEncap, ipipTunnel } from '../../src/net/ipip.js';
import { kPcapMagic, PcapWriter, readPcap } from '../../src/net/pcap.js';
import { vxlanEncap, vxlanTunnel } from '../../src/net/vxlan.js';
import { Prng } from '../../src/model/prng.js';
import { ip } from './reference.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';

function sample(): PacketBatch {
  const b = new PacketBatch();
  const rng = new Prng(99);
  for (let k = 0; k < 40; k++) b.push([PROTO_TCP, PROTO_UDP, PROTO_SCTP][k % 3], rng.nextU32(), 1 + rng.below(65535), rng.nextU32(), 1 + rng.below(65535), rng.below(1400));
  const v = vxlanTunnel({ srcIp: ip('192.168.0.1'), dstIp: ip('192.168.0.2') });
  const t = ipipTunnel({ srcIp: ip('192.168.0.1'), dstIp: ip('192.168.0.3') });
  for (let k = 30; k < 35; k++) vxlanEncap(b, k, v);
  for (let k = 35; k < 40; k++) ipipEncap(b, k, t);
  return b;
}

describe('pcap', () => {
  it('writes a classic little-endian pcap header (magic a1b2c3d4, v2.4, linktype 1, snaplen)', () => {
    const f = new PcapWriter({ snaplen: 2048 }).bytes();
    assert.equal(f.length, 24);
    assert.deepEqual([...f.subarray(0, 8)], [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0]);
    const p = readPcap(f);
    assert.equal(p.linktype, 1);
    assert.equal(p.snaplen, 2048);
    assert.equal(p.records.length, 0);
  });

  it('round-trips a batch: header bytes then zero payload up to the wire length', () => {
    const b = sample();
    const w = new PcapWriter({ initialBytes: 64 }); // forces growth
    w.writeBatch(b, 1_700_000_000_123_456, 10);
    const p = readPcap(w.bytes());
    assert.equal(p.records.length, b.count);
    assert.equal(w.records, b.count);
    for (let i = 0; i < b.count; i++) {
      const r = p.records[i];
      assert.equal(r.wireLen, b.wireLen[i]);
      assert.equal(r.capLen, b.wireLen[i]);
      assert.deepEqual(r.data.subarray(0, b.hdrLen[i]), b.headerBytes(i));
      assert.ok(r.data.subarray(b.hdrLen[i]).every((x) => x === 0), 'zero payload');
      const us = 1_700_000_000_123_456 + i * 10;
      assert.equal(r.tsSec, Math.floor(us / 1e6));
      assert.equal(r.tsFrac, us % 1e6);
    }
    // ... and back into a batch, encapsulation recognised.
    const back = new PacketBatch();
    for (const r of p.records) assert.notEqual(back.load(r.data, r.capLen, r.wireLen), -1);
    for (let i = 0; i < b.count; i++) {
      assert.deepEqual(back.headerBytes(i), b.headerBytes(i));
      assert.equal(back.wireLen[i], b.wireLen[i]);
      assert.equal(back.srcIp[i], b.srcIp[i]);
      assert.equal(back.dstPort[i], b.dstPort[i]);
      assert.equal(back.proto[i], b.proto[i]);
    }
    assert.equal(back.encap[30], ENCAP_VXLAN);
    assert.equal(back.encap[35], ENCAP_IPIP);
  });

  it('snaps records to the headers (caplen < len) or to the snaplen', () => {
    const b = sample();
    const heads = readPcap(new PcapWriter({ snapPayload: true }).bytes());
    assert.equal(heads.records.length, 0);
    const w = new PcapWriter({ snapPayload: true });
    w.writeBatch(b);
    const p = readPcap(w.bytes());
    for (let i = 0; i < b.count; i++) {
      assert.equal(p.records[i].capLen, Math.min(b.hdrLen[i], b.wireLen[i]));
      assert.equal(p.records[i].wireLen, b.wireLen[i]);
    }
    const s = new PcapWriter({ snaplen: 60 });
    s.writeBatch(b);
    for (const r of readPcap(s.bytes()).records) assert.ok(r.capLen <= 60 && r.wireLen >= r.capLen);
  });

  it('reads a big-endian file and rejects malformed ones', () => {
    const be = new Uint8Array(24 + 16 + 4);
    const dv = new DataView(be.buffer);
    dv.setUint32(0, kPcapMagic);
    dv.setUint32(16, 65535);
    dv.setUint32(20, 1);
    dv.setUint32(24, 5);
    dv.setUint32(32, 4);
    dv.setUint32(36, 60);
    const p = readPcap(be);
    assert.equal(p.linktype, 1);
    assert.deepEqual({ s: p.records[0].tsSec, c: p.records[0].capLen, l: p.records[0].wireLen }, { s: 5, c: 4, l: 60 });
    assert.throws(() => readPcap(new Uint8Array(24)), { code: 'KDP_ERR_INVALID_ARG' });
    assert.throws(() => readPcap(be.subarray(0, 42)), /truncated/);
  });

  it('reset keeps the header and the buffer', () => {
    const w = new PcapWriter();
    w.writeBatch(sample());
    w.reset();
    assert.equal(w.bytes().length, 24);
    assert.equal(readPcap(w.bytes()).records.length, 0);
  });
});
