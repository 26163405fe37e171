/**
 * The independent check: tshark decodes a pcap kdp wrote (TCP, UDP, SCTP, VXLAN, IPIP, NATed and
 * TTL-decremented packets) with the right fields, every checksum verified Good, and no
 * malformed-packet or checksum expert entries. A corrupted copy must be flagged, so the check
 * itself is shown to bite.
 */

import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PacketBatch } from '../../src/net/batch.js';
import { ipipEncap, ipipTunnel } from '../../src/net/ipip.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../src/net/l4.js';
import { PcapWriter } from '../../src/net/pcap.js';
import { vxlanEncap, vxlanSrcPort, vxlanTunnel } from '../../src/net/vxlan.js';
import { ip } from './reference.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';

const hasTshark = !spawnSync('tshark', ['--version'], { stdio: 'ignore' }).error;

const PREFS = [
  '-o', 'ip.check_checksum:TRUE',
  '-o', 'tcp.check_checksum:TRUE',
  '-o', 'udp.check_checksum:TRUE',
  '-o', 'sctp.checksum:CRC 32c',
];

const FIELDS = [
  'frame.len', 'frame.cap_len', 'ip.src', 'ip.dst', 'ip.proto', 'ip.ttl', 'ip.len', 'ip.checksum.status',
  'tcp.srcport', 'tcp.dstport', 'tcp.flags', 'tcp.seq_raw', 'tcp.len', 'tcp.checksum.status',
  'udp.srcport', 'udp.dstport', 'udp.length', 'udp.checksum.status',
  'sctp.srcport', 'sctp.dstport', 'sctp.verification_tag', 'sctp.data_tsn_raw', 'sctp.checksum.status',
  'vxlan.vni', '_ws.expert.severity', '_ws.malformed',
] as const;

type Row = Record<(typeof FIELDS)[number], string>;

const kWarn = 0x600000; // PI_WARN: anything at or above is a problem (chat 0x200000, note 0x400000)

function tshark(file: string, ...args: string[]): string {
  return execFileSync('tshark', ['-r', file, ...PREFS, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

function rows(file: string): Row[] {
  const out = tshark(file, '-T', 'fields', '-E', 'separator=|', '-E', 'occurrence=a', '-E', 'aggregator=,', ...FIELDS.flatMap((f) => ['-e', f]));
  return out.trimEnd().split('\n').map((line) => {
    const cells = line.split('|');
    return Object.fromEntries(FIELDS.map((f, k) => [f, cells[k] ?? ''])) as Row;
  });
}

function build(): { batch: PacketBatch; sport: number[] } {
  const b = new PacketBatch();
  b.push(PROTO_TCP, ip('10.244.1.5'), 40000, ip('10.96.0.10'), 80, 0, TCP_SYN, 1000); // 0
  b.push(PROTO_TCP, ip('10.244.1.5'), 40001, ip('10.96.0.10'), 80, 101, TCP_PSH | TCP_ACK, 1001, 5000); // 1
  b.push(PROTO_UDP, ip('10.244.1.5'), 40002, ip('10.96.0.20'), 31000, 33); // 2
  b.push(PROTO_SCTP, ip('10.244.1.5'), 40003, ip('10.96.0.9'), 3868, 5, 0, 0xdeadbeef, 7); // 3
  b.push(PROTO_TCP, ip('10.244.1.6'), 40004, ip('10.244.2.7'), 8080, 7, TCP_SYN, 42); // 4 -> VXLAN
  b.push(PROTO_UDP, ip('10.244.1.6'), 40005, ip('10.244.2.7'), 31001, 9); // 5 -> VXLAN, outer UDP csum
  b.push(PROTO_SCTP, ip('10.244.1.6'), 40006, ip('10.244.2.7'), 3868, 9, 0, 1, 1); // 6 -> IPIP
  b.push(PROTO_UDP, ip('10.244.1.6'), 40007, ip('10.244.2.7'), 31002, 1); // 7 -> IPIP
  b.push(PROTO_TCP, ip('10.244.1.5'), 40008, ip('10.96.0.10'), 80, 301, TCP_ACK, 7, 8); // 8 -> DNAT+SNAT, TTL-1
  b.push(PROTO_UDP, ip('10.244.1.5'), 40009, ip('10.96.0.20'), 31000, 0); // 9 -> DNAT, TTL-1
  b.push(PROTO_SCTP, ip('10.244.1.5'), 40010, ip('10.96.0.9'), 3868, 16, 0, 9, 9); // 10 -> DNAT
  b.natDst(8, ip('10.244.3.3'), 8080);
  b.natSrc(8, ip('192.168.1.10'), 61111);
  b.decTtl(8);
  b.natDst(9, ip('10.244.3.4'), 31999);
  b.decTtl(9);
  b.natDst(10, ip('10.244.3.5'), 3869);
  const v = vxlanTunnel({ srcIp: ip('192.168.1.10'), dstIp: ip('192.168.1.20') });
  const vc = vxlanTunnel({ srcIp: ip('192.168.1.10'), dstIp: ip('192.168.1.20'), udpChecksum: true, vni: 77 });
  const t = ipipTunnel({ srcIp: ip('192.168.1.10'), dstIp: ip('192.168.1.30') });
  assert.ok(vxlanEncap(b, 4, v));
  assert.ok(vxlanEncap(b, 5, vc));
  assert.ok(ipipEncap(b, 6, t));
  assert.ok(ipipEncap(b, 7, t));
  return { batch: b, sport: [vxlanSrcPort(b.flowHash[4]), vxlanSrcPort(b.flowHash[5])] };
}

describe('tshark decodes what kdp writes', () => {
  it('with the right fields and no malformed packets or bad checksums', (t) => {
    if (!hasTshark) {
      t.skip('tshark not installed');
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'kdp-pcap-'));
    try {
      const { batch, sport } = build();
      const w = new PcapWriter();
      w.writeBatch(batch, 1_700_000_000_000_000);
      const file = join(dir, 'packets.pcap');
      writeFileSync(file, w.bytes());
      const r = rows(file);
      assert.equal(r.length, batch.count);

      for (let i = 0; i < r.length; i++) {
        assert.equal(r[i]['frame.len'], String(batch.wireLen[i]), `frame ${i + 1} length`);
        assert.equal(r[i]['frame.cap_len'], String(batch.wireLen[i]));
        assert.equal(r[i]['_ws.malformed'], '', `frame ${i + 1} malformed`);
        for (const sev of r[i]['_ws.expert.severity'].split(',').filter(Boolean)) assert.ok(Number(sev) < kWarn, `frame ${i + 1} expert severity ${sev}`);
        for (const f of ['ip.checksum.status', 'tcp.checksum.status', 'sctp.checksum.status'] as const) {
          for (const s of r[i][f].split(',').filter(Boolean)) assert.equal(s, '1', `frame ${i + 1} ${f}`);
        }
      }

      assert.deepEqual([r[0]['ip.src'], r[0]['ip.dst'], r[0]['ip.proto'], r[0]['ip.ttl'], r[0]['ip.len']], ['10.244.1.5', '10.96.0.10', '6', '64', '40']);
      assert.deepEqual([r[0]['tcp.srcport'], r[0]['tcp.dstport'], r[0]['tcp.flags'], r[0]['tcp.seq_raw'], r[0]['tcp.checksum.status']], ['40000', '80', '0x0002', '1000', '1']);
      assert.deepEqual([r[1]['tcp.flags'], r[1]['tcp.len']], ['0x0018', '101']);
      assert.deepEqual([r[2]['udp.srcport'], r[2]['udp.dstport'], r[2]['udp.length'], r[2]['udp.checksum.status']], ['40002', '31000', '41', '1']);
      assert.deepEqual([r[3]['ip.proto'], r[3]['sctp.srcport'], r[3]['sctp.dstport'], r[3]['sctp.verification_tag'], r[3]['sctp.data_tsn_raw'], r[3]['sctp.checksum.status']], ['132', '40003', '3868', '0xdeadbeef', '7', '1']);

      // VXLAN: outer then inner layers, comma-separated.
      assert.equal(r[4]['ip.src'], '192.168.1.10,10.244.1.6');
      assert.equal(r[4]['ip.dst'], '192.168.1.20,10.244.2.7');
      assert.equal(r[4]['ip.proto'], '17,6');
      assert.equal(r[4]['udp.srcport'], String(sport[0]));
      assert.equal(r[4]['udp.dstport'], '4789');
      assert.equal(r[4]['udp.length'], String(batch.wireLen[4] - 34));
      assert.equal(r[4]['udp.checksum.status'], '3', 'outer UDP checksum not present (Linux default)');
      assert.equal(r[4]['vxlan.vni'], '4096');
      assert.deepEqual([r[4]['tcp.dstport'], r[4]['tcp.checksum.status']], ['8080', '1']);
      assert.equal(r[5]['udp.srcport'], `${sport[1]},40005`);
      assert.equal(r[5]['udp.dstport'], '4789,31001');
      assert.equal(r[5]['udp.checksum.status'], '1,1', 'outer and inner UDP checksums good');
      assert.equal(r[5]['vxlan.vni'], '77');

      // IPIP.
      assert.equal(r[6]['ip.proto'], '4,132');
      assert.equal(r[6]['ip.src'], '192.168.1.10,10.244.1.6');
      assert.equal(r[6]['ip.dst'], '192.168.1.30,10.244.2.7');
      assert.equal(r[6]['ip.ttl'], '64,64');
      assert.equal(r[6]['ip.len'], `${batch.wireLen[6] - 14},${batch.wireLen[6] - 34}`);
      assert.equal(r[6]['sctp.checksum.status'], '1');
      assert.deepEqual([r[7]['ip.proto'], r[7]['udp.dstport'], r[7]['udp.checksum.status']], ['4,17', '31002', '1']);

      // NAT and TTL decrement, all incremental.
      assert.deepEqual([r[8]['ip.src'], r[8]['ip.dst'], r[8]['ip.ttl'], r[8]['tcp.srcport'], r[8]['tcp.dstport'], r[8]['tcp.checksum.status']], ['192.168.1.10', '10.244.3.3', '63', '61111', '8080', '1']);
      assert.deepEqual([r[9]['ip.dst'], r[9]['ip.ttl'], r[9]['udp.dstport'], r[9]['udp.checksum.status']], ['10.244.3.4', '63', '31999', '1']);
      assert.deepEqual([r[10]['ip.dst'], r[10]['sctp.dstport'], r[10]['sctp.checksum.status']], ['10.244.3.5', '3869', '1']);

      const expert = tshark(file, '-q', '-z', 'expert');
      assert.doesNotMatch(expert, /Malformed|Checksum|Errors \(|Warnings \(/, expert);

      // The check bites: one flipped bit in the first TCP header is reported.
      const bad = w.bytes().slice();
      bad[24 + 16 + 34 + 13] ^= 0x08; // frame 1's TCP flags
      const badFile = join(dir, 'bad.pcap');
      writeFileSync(badFile, bad);
      assert.equal(rows(badFile)[0]['tcp.checksum.status'], '0');
      assert.match(tshark(badFile, '-q', '-z', 'expert'), /Bad checksum/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
