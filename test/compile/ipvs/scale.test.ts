/** The virtual-service hash table at 100,000 services: every lookup hits in a few probes. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileIpvs } from '../../../src/compile/ipvs/index.js';
import { PairTable, portProtoKey } from '../../../src/compile/tables/index.js';
import { newFirstPacket, newNatDecision, VERDICT_DNAT, VERDICT_NONE } from '../../../src/compile/dataplane.js';
import { node, proxyConfig, service, slice } from '../../helpers/cluster.js';
import { clusterFromObjects } from '../../../src/model/load.js';

const N = 100_000;

test('virtual-service table (PairTable): 100,000 keys, load <= 1/2, mean probes < 1.6, misses end quickly', () => {
  const t = new PairTable(N, 1);
  const base = (10 << 24) | (96 << 16);
  for (let i = 0; i < N; i++) t.rows[t.at(t.slotFor((base + i) >>> 0, portProtoKey(6, 80 + (i % 3))))] = i;
  assert.equal(t.size, N);
  assert.equal(t.capacity, 262144);
  let probes = 0;
  let worst = 0;
  for (let i = 0; i < N; i++) {
    const s = t.find((base + i) >>> 0, portProtoKey(6, 80 + (i % 3)));
    assert.ok(s >= 0);
    assert.equal(t.rows[t.at(s)], i);
    probes += t.lastProbes;
    worst = Math.max(worst, t.lastProbes);
  }
  assert.ok(probes / N < 1.6, `mean probes ${probes / N}`);
  assert.ok(worst < 40, `worst ${worst}`);
  // Same address, other protocol or port: a miss.
  assert.equal(t.find(base >>> 0, portProtoKey(17, 80)), -1);
  assert.equal(t.find(base >>> 0, portProtoKey(6, 81)), -1);
  // Re-adding a key gives its slot back and keeps the first value (the kernel refuses a duplicate service).
  const again = t.slotFor(base >>> 0, portProtoKey(6, 80));
  assert.equal(t.size, N);
  assert.equal(t.rows[t.at(again)], 0);
});

test('compileIpvs at 100,000 ClusterIP services: one VS each, decisions in a few probes', () => {
  const objs: object[] = [proxyConfig({ mode: 'ipvs', clusterCIDR: '10.244.0.0/16' }), node('n1', '10.244.1.0/24', '192.168.0.11')];
  for (let i = 0; i < N; i++) {
    const ip = `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
    objs.push(service('ns', `s${i}`, { clusterIP: ip, ports: [{ port: 80, protocol: 'TCP' }] }));
    objs.push(slice('ns', `s${i}`, [{ port: 8080 }], [{ ip: `10.244.${1 + ((i >> 8) & 127)}.${1 + (i & 127)}`, node: 'n1' }], `s${i}-x`));
  }
  const cluster = clusterFromObjects(objs);
  const t0 = performance.now();
  const dp = compileIpvs(cluster, { node: 'n1' });
  const compileMs = performance.now() - t0;
  const s = dp.stats();
  assert.equal(s.virtualServices, N);
  assert.equal(s.realServers, N);
  const pkt = newFirstPacket();
  const out = newNatDecision();
  pkt.srcIp = (10 << 24) | (244 << 16) | (1 << 8) | 200;
  pkt.proto = 6;
  pkt.dstPort = 80;
  let work = 0;
  const t1 = performance.now();
  for (let i = 0; i < N; i++) {
    pkt.dstIp = ((10 << 24) | ((96 + (i >> 16)) << 16) | (((i >> 8) & 255) << 8) | (i & 255)) >>> 0;
    dp.decide(pkt, out);
    if (out.verdict !== VERDICT_DNAT) assert.fail(`service ${i}: verdict ${out.verdict}`);
    work += out.work;
  }
  const decideNs = ((performance.now() - t1) * 1e6) / N;
  assert.ok(work / N < 1.6, `mean probes ${work / N}`);
  pkt.dstIp = (11 << 24) >>> 0;
  dp.decide(pkt, out);
  assert.equal(out.verdict, VERDICT_NONE);
  console.log(`# 100k services: compile ${compileMs.toFixed(0)} ms, decide ${decideNs.toFixed(0)} ns/pkt, mean probes ${(work / N).toFixed(3)}, tableBytes ${s.tableBytes}`);
});
