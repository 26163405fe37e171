/**
 * DNS messages on the wire. The byte vectors are written by hand from RFC 1035 4.1 (header,
 * question, resource record, 4.1.4 compression), not produced by the code; the round trip runs
 * over every answer the fixture's zone gives, and truncation follows RFC 1035 4.2.1's 512 bytes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterZone, decodeMessage, encodeQuery, encodeResponse, kUdpMessageMax, type QueryType } from '../../src/dns/index.js';
import { clusterOf, loadFixture, node, service, slice } from '../helpers/cluster.js';

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
/** web.shop.svc.cluster.local. as labels: length octet, then the label. */
const kWebName = [3, ...ascii('web'), 4, ...ascii('shop'), 3, ...ascii('svc'), 7, ...ascii('cluster'), 5, ...ascii('local'), 0];

test('a stub query is header (ID, RD, one question) then the name, QTYPE and QCLASS IN', () => {
  const want = [0x00, 0x07, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, ...kWebName, 0x00, 0x1c, 0x00, 0x01];
  assert.deepEqual([...encodeQuery(7, 'web.shop.svc.cluster.local.', 'AAAA')], want);
});

test("CoreDNS's A answer: QR AA RD without RA, the question echoed, the owner a pointer to it", () => {
  const query = encodeQuery(1, 'web.shop.svc.cluster.local.', 'A');
  const answer = encodeResponse(query, { rcode: 'NOERROR', answers: [{ name: 'web.shop.svc.cluster.local.', type: 'A', ttl: 30, data: '10.96.0.20' }], additional: [] });
  const want = [
    0x00, 0x01, 0x85, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    ...kWebName, 0x00, 0x01, 0x00, 0x01,
    0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x1e, 0x00, 0x04, 10, 96, 0, 20,
  ];
  assert.deepEqual([...answer], want);
});

test('NXDOMAIN is RCODE 3 in the low bits of the flags, with no records', () => {
  const answer = encodeResponse(encodeQuery(9, 'nosuch.shop.svc.cluster.local.', 'A'), { rcode: 'NXDOMAIN', answers: [], additional: [] });
  assert.equal(answer[3] & 0x0f, 3);
  assert.deepEqual([...answer.subarray(6, 12)], [0, 0, 0, 0, 0, 0]);
  assert.equal(decodeMessage(answer).rcode, 'NXDOMAIN');
});

test('every answer of the zone reads back as it was written (A, SRV with additional, CNAME, PTR, NODATA, NXDOMAIN)', () => {
  const zone = new ClusterZone(loadFixture('dns-cluster.yaml'));
  const questions: [string, QueryType][] = [
    ['web.shop.svc.cluster.local.', 'A'],
    ['web.shop.svc.cluster.local.', 'AAAA'],
    ['_http._tcp.web.shop.svc.cluster.local.', 'SRV'],
    ['_postgres._tcp.db.shop.svc.cluster.local.', 'SRV'],
    ['db.shop.svc.cluster.local.', 'A'],
    ['front.shop.svc.cluster.local.', 'A'],
    ['payments.shop.svc.cluster.local.', 'CNAME'],
    ['20.0.96.10.in-addr.arpa.', 'PTR'],
    ['nosuch.shop.svc.cluster.local.', 'A'],
  ];
  let records = 0;
  for (const [qname, qtype] of questions) {
    const response = zone.answer(qname, qtype);
    assert.notEqual(response.rcode, null, `${qname} ${qtype} is answered inside the zone`);
    const m = decodeMessage(encodeResponse(encodeQuery(3, qname, qtype), response));
    assert.deepEqual({ rcode: m.rcode, answers: m.answers, additional: m.additional }, { rcode: response.rcode, answers: response.answers, additional: response.additional }, `${qname} ${qtype}`);
    assert.deepEqual(m.questions, [{ name: qname, type: qtype }]);
    assert.equal(m.id, 3);
    records += response.answers.length + response.additional.length;
  }
  assert.ok(records >= 10, `the questions carry records (${records})`);
});

test('an answer over 512 bytes comes back truncated: TC set, the question only', () => {
  const eps = Array.from({ length: 40 }, (_, k) => ({ ip: `10.244.1.${10 + k}`, node: 'node-1' }));
  const cluster = clusterOf(
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    service('shop', 'many', { clusterIP: 'None', ports: [{ name: 'http', port: 80 }] }),
    slice('shop', 'many', [{ name: 'http', port: 80 }], eps),
  );
  const response = new ClusterZone(cluster).answer('many.shop.svc.cluster.local.', 'A');
  assert.equal(response.answers.length, 40);
  const bytes = encodeResponse(encodeQuery(5, 'many.shop.svc.cluster.local.', 'A'), response);
  assert.ok(bytes.length <= kUdpMessageMax);
  const m = decodeMessage(bytes);
  assert.equal(m.truncated, true);
  assert.deepEqual(m.answers, []);
  assert.deepEqual(m.questions, [{ name: 'many.shop.svc.cluster.local.', type: 'A' }]);
  // 29 records make 12 + 33 + 29 * 16 = 509 bytes, 30 make 525: the boundary is the byte count.
  const fits = encodeResponse(encodeQuery(5, 'many.shop.svc.cluster.local.', 'A'), { ...response, answers: response.answers.slice(0, 29) });
  assert.equal(decodeMessage(fits).truncated, false);
  assert.equal(fits.length, 12 + 33 + 29 * 16);
});

test('names past RFC 1035 limits are refused, not written', () => {
  assert.throws(() => encodeQuery(1, `${'a'.repeat(64)}.example.`, 'A'), /1 to 63/);
  assert.throws(() => encodeQuery(1, `${'abcdefghi.'.repeat(26)}`, 'A'), /255 bytes/);
  assert.throws(() => decodeMessage(new Uint8Array([0, 1, 0x81, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 0x0c])), /loops|past the end/);
});
