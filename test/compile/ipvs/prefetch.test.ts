/**
 * Law: IPVS's prefetch (ServiceDataplane.prefetch, run by the service-nat stage over its frame)
 * reads and never writes. Over a frame that mixes this node's packets to ClusterIPs and to pods,
 * the other node's packets and addresses of no table, every typed array the dataplane holds (its
 * shared tables, its scheduler state, the hash tables' own arrays) is byte for byte what it was,
 * and the decisions that follow equal a fresh compile's, packet for packet. The oracle is a copy
 * taken before and a dataplane prefetch never touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileIpvs } from '../../../src/compile/ipvs/index.js';
import { newFirstPacket, newNatDecision, type NatDecision } from '../../../src/compile/dataplane.js';
import { parseIp } from '../../../src/net/ipv4.js';
import { clusterOf, node, proxyConfig, service, slice } from '../../helpers/cluster.js';

/** Every typed array reachable from `root` through plain fields, two objects deep, by path. */
function arraysOf(root: object, path = 'tables', depth = 0, out = new Map<string, ArrayBufferView>()): Map<string, ArrayBufferView> {
  for (const [key, value] of Object.entries(root)) {
    if (ArrayBuffer.isView(value)) out.set(`${path}.${key}`, value);
    else if (value !== null && typeof value === 'object' && depth < 2) arraysOf(value as object, `${path}.${key}`, depth + 1, out);
  }
  return out;
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

test('ipvs: prefetch over a frame writes nothing, and the decisions after it are a fresh compile\'s', () => {
  const objects: object[] = [
    proxyConfig({ mode: 'ipvs', clusterCIDR: '10.244.0.0/16' }),
    node('n1', '10.244.1.0/24', '192.168.0.11'),
    node('n2', '10.244.2.0/24', '192.168.0.12'),
  ];
  for (let s = 0; s < 12; s++) {
    objects.push(service('ns', `s${s}`, { clusterIP: `10.96.0.${10 + s}`, ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] }));
    objects.push(slice('ns', `s${s}`, [{ port: 8080 }], [1, 2, 3].map((e) => ({ ip: `10.244.${1 + (e % 2)}.${10 * s + e}`, node: e % 2 ? 'n2' : 'n1' }))));
  }
  const cluster = clusterOf(...objects);
  const dp = compileIpvs(cluster, { node: 'n1' });
  const fresh = compileIpvs(cluster, { node: 'n1' });

  // The frame: this node's (0) packets to each ClusterIP, twice, and to pods; node 1's; no table's.
  const dsts: [number, number, number][] = [];
  for (let s = 0; s < 12; s++) dsts.push([0, parseIp(`10.96.0.${10 + s}`), 80], [1, parseIp(`10.96.0.${10 + s}`), 80], [0, parseIp(`10.96.0.${10 + s}`), 80]);
  dsts.push([0, parseIp('10.244.2.11'), 8080], [0, parseIp('10.96.0.99'), 80], [0, parseIp('8.8.8.8'), 53], [1, parseIp('10.244.1.12'), 8080]);
  const n = dsts.length;
  const frame = Int32Array.from({ length: n }, (_, k) => n - 1 - k); // not in batch order
  const nodes = Uint16Array.from(dsts, (d) => d[0]);
  const dstIp = Uint32Array.from(dsts, (d) => d[1] >>> 0);
  const dstPort = Uint16Array.from(dsts, (d) => d[2]);
  const proto = new Uint8Array(n).fill(6);

  const before = new Map([...arraysOf(dp.tables)].map(([k, a]) => [k, bytesOf(a)]));
  assert.ok(before.has('tables.rrNext') && before.has('tables.table.keys') && before.has('tables.rsConns'), 'the snapshot holds the tables and the scheduler state');
  const read = dp.prefetch(frame, n, nodes, dstIp, dstPort, proto);
  assert.ok(Number.isInteger(read), 'what it read, as an int');
  for (const [key, a] of arraysOf(dp.tables)) assert.deepEqual(bytesOf(a), before.get(key), `${key} unchanged`);

  const pkt = newFirstPacket();
  const got: NatDecision = newNatDecision();
  const want: NatDecision = newNatDecision();
  pkt.srcIp = parseIp('10.244.1.7');
  pkt.proto = 6;
  pkt.fromPodInterface = true;
  for (let k = 0; k < n; k++) {
    pkt.srcPort = 40000 + k;
    pkt.dstIp = dstIp[k]!;
    pkt.dstPort = dstPort[k]!;
    pkt.rand = Math.imul(k + 1, 0x9e3779b1) >>> 0;
    dp.decide(pkt, got);
    fresh.decide(pkt, want);
    assert.deepEqual(got, want, `packet ${k}`);
  }
});
