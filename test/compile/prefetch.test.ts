/**
 * Law: a mode's prefetch (ServiceDataplane.prefetch, run by the service-nat stage over its frame)
 * reads and never writes. Over a frame that mixes this node's packets to ClusterIPs and to pods,
 * the other node's packets and addresses of no table, every typed array the dataplane's tables
 * and state hold (its shared tables or program, its scheduler or affinity state, the hash
 * tables' own arrays) is byte for byte what it was, and the decisions that follow equal a fresh
 * compile's, packet for packet. The oracle is a copy taken before and a dataplane prefetch never
 * touched. The fixture is below kPrefetchMinBytes, so each test lowers the dataplane's gate to run
 * the reads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileDataplane } from '../../src/compile/index.js';
import { newFirstPacket, newNatDecision, type NatDecision, type ServiceDataplane } from '../../src/compile/dataplane.js';
import type { ModeName } from '../../src/model/types.js';
import { parseIp } from '../../src/net/ipv4.js';
import { clusterOf, node, proxyConfig, service, slice } from '../helpers/cluster.js';

/** Every typed array reachable from `root` through plain fields, two objects deep, by path. */
function arraysOf(root: object, path: string, depth = 0, out = new Map<string, ArrayBufferView>()): Map<string, ArrayBufferView> {
  for (const [key, value] of Object.entries(root)) {
    if (ArrayBuffer.isView(value)) out.set(`${path}.${key}`, value);
    else if (value !== null && typeof value === 'object' && depth < 2) arraysOf(value as object, `${path}.${key}`, depth + 1, out);
  }
  return out;
}

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength).slice();

type Prefetching = ServiceDataplane & { prefetchMinBytes: number };

/** The fields holding what decide() reads and keeps, by mode, and arrays the snapshot must hold. */
const kState: Partial<Record<ModeName, { roots: readonly string[]; expect: readonly string[] }>> = {
  ipvs: { roots: ['tables'], expect: ['tables.rrNext', 'tables.table.rows', 'tables.vs', 'tables.rs', 'tables.rsConns'] },
  nftables: { roots: ['program', 'affinity'], expect: ['program.code', 'program.maps.0.rows', 'program.chainRows'] },
  cilium: { roots: ['tables', 'affinity'], expect: ['tables.services.rows', 'tables.fe', 'tables.slots', 'tables.be'] },
};

for (const [mode, state] of Object.entries(kState) as [ModeName, { roots: readonly string[]; expect: readonly string[] }][]) {
  test(`${mode}: prefetch over a frame writes nothing, and the decisions after it are a fresh compile's`, () => {
    const objects: object[] = [
      proxyConfig({ mode, clusterCIDR: '10.244.0.0/16' }),
      node('n1', '10.244.1.0/24', '192.168.0.11'),
      node('n2', '10.244.2.0/24', '192.168.0.12'),
    ];
    for (let s = 0; s < 12; s++) {
      // Service 3 keeps its clients (ClientIP affinity), service 7 has no endpoints.
      const spec: Record<string, unknown> = { clusterIP: `10.96.0.${10 + s}`, ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] };
      if (s === 3) spec.sessionAffinity = 'ClientIP';
      // A NodePort: its packets reach the mode through the node's address (nftables: service-nodeports, an external chain).
      if (s === 5) Object.assign(spec, { type: 'NodePort', ports: [{ port: 80, protocol: 'TCP', targetPort: 8080, nodePort: 30080 }] });
      objects.push(service('ns', `s${s}`, spec));
      const endpoints = s === 7 ? [] : [1, 2, 3].map((e) => ({ ip: `10.244.${1 + (e % 2)}.${10 * s + e}`, node: e % 2 ? 'n2' : 'n1' }));
      objects.push(slice('ns', `s${s}`, [{ port: 8080 }], endpoints));
    }
    const cluster = clusterOf(...objects);
    const dp = compileDataplane(cluster, mode, 0) as Prefetching;
    const fresh = compileDataplane(cluster, mode, 0);
    assert.ok(typeof dp.prefetch === 'function' && typeof dp.prefetchMinBytes === 'number', `${mode} prefetches, behind a gate`);

    // The frame: this node's (0) packets to each ClusterIP, twice, and to pods; node 1's; no table's; to the NodePort and a port no Service has.
    const dsts: [number, number, number][] = [];
    for (let s = 0; s < 12; s++) dsts.push([0, parseIp(`10.96.0.${10 + s}`), 80], [1, parseIp(`10.96.0.${10 + s}`), 80], [0, parseIp(`10.96.0.${10 + s}`), 80]);
    dsts.push([0, parseIp('10.244.2.11'), 8080], [0, parseIp('10.96.0.99'), 80], [0, parseIp('8.8.8.8'), 53], [1, parseIp('10.244.1.12'), 8080]);
    dsts.push([0, parseIp('192.168.0.11'), 30080], [0, parseIp('192.168.0.11'), 30081], [1, parseIp('192.168.0.12'), 30080]);
    const n = dsts.length;
    const frame = Int32Array.from({ length: n }, (_, k) => n - 1 - k); // not in batch order
    const nodes = Uint16Array.from(dsts, (d) => d[0]);
    const dstIp = Uint32Array.from(dsts, (d) => d[1] >>> 0);
    const dstPort = Uint16Array.from(dsts, (d) => d[2]);
    const proto = new Uint8Array(n).fill(6);
    const flowHash = Uint32Array.from({ length: n }, (_, k) => Math.imul(k + 7, 0x85ebca6b) >>> 0);

    const snapshot = (): Map<string, ArrayBufferView> => {
      const out = new Map<string, ArrayBufferView>();
      for (const root of state.roots) arraysOf((dp as unknown as Record<string, object>)[root]!, root, 0, out);
      return out;
    };
    const before = new Map([...snapshot()].map(([k, a]) => [k, bytesOf(a)]));
    for (const key of state.expect) assert.ok(before.has(key), `the snapshot holds ${key}`);
    dp.prefetchMinBytes = 0;
    const read = dp.prefetch!(frame, n, nodes, dstIp, dstPort, proto, flowHash, 1);
    assert.ok(Number.isInteger(read), 'what it read, as an int');
    for (const [key, a] of snapshot()) assert.deepEqual(bytesOf(a), before.get(key), `${key} unchanged`);

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
}
