/**
 * The Toeplitz RSS hash against Microsoft's published verification suite ("Verifying the RSS
 * Hash Calculation", NDIS docs: the default key, IPv4 with TCP ports, input in the order source
 * address, destination address, source port, destination port), and the indirection table's
 * queue choice against its definition.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { parseIp } from '../../src/net/ipv4.js';
import { kRetaSize, rssHash, rssQueue } from '../../src/net/rss.js';

// [destination, source, IPv4-with-TCP hash], as the published table lists them.
const kVectors: readonly [string, string, number][] = [
  ['161.142.100.80:1766', '66.9.149.187:2794', 0x51ccc178],
  ['65.69.140.83:4739', '199.92.111.2:14230', 0xc626b0ea],
  ['12.22.207.184:38024', '24.19.198.95:12898', 0x5c2b394a],
  ['209.142.163.6:2217', '38.27.205.30:48228', 0xafc7327f],
  ['202.188.127.2:1303', '153.39.163.191:44251', 0x10e828a2],
];

const endpoint = (s: string): [number, number] => {
  const [ip, port] = s.split(':');
  return [parseIp(ip!), Number(port)];
};

test("rssHash gives Microsoft's verification values for IPv4 with TCP ports", () => {
  for (const [dst, src, want] of kVectors) {
    const [dIp, dPort] = endpoint(dst);
    const [sIp, sPort] = endpoint(src);
    assert.equal(rssHash(sIp, dIp, sPort, dPort), want, `${src} -> ${dst}`);
  }
});

test('rssQueue: the indirection table entry (the hash\'s low 7 bits) modulo the queues', () => {
  for (const [dst, src, h] of kVectors) {
    for (const queues of [1, 2, 3, 4, 7, 16]) assert.equal(rssQueue(h, queues), (h % kRetaSize) % queues, `${src} -> ${dst}, ${queues} queues`);
  }
  assert.equal(rssQueue(0xffffffff, 128), 127);
  assert.equal(rssQueue(0x80, 2), 0, 'bit 7 is past the 128-entry table');
});
