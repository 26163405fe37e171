import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { buildPodNetwork } from '../../src/dataplane/pod-network.js';
import { generateCluster } from '../../src/model/synthetic.js';
import {
  DIR_FORWARD,
  DIR_REPLY,
  FLOW_CLUSTER_IP,
  FlowChunk,
  FlowSet,
  kFlowKinds,
  newPacketSpec,
  packetAt,
  packetCount,
  ZipfSampler,
} from '../../src/replay/flows.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { rssHash, rssQueue } from '../../src/net/rss.js';

const cluster = generateCluster({ services: 60, endpoints: 4, nodes: 2, cni: 'calico-vxlan', seed: 3 });
const plan = buildPodNetwork(cluster);

/** Every flow of ids [0, n) as a line of text, for the shards of `shards`. */
function flowsByShard(set: FlowSet, n: number, shards: number): Map<number, string> {
  const out = new Map<number, string>();
  const chunk = new FlowChunk(n);
  for (let s = 0; s < shards; s++) {
    set.fillShard(0, n, s, shards, chunk);
    for (let j = 0; j < chunk.count; j++) {
      assert.ok(!out.has(chunk.id[j]), `flow ${chunk.id[j]} is in two shards`);
      out.set(chunk.id[j], [chunk.kind[j], chunk.proto[j], chunk.srcIp[j], chunk.srcPort[j], chunk.dstIp[j], chunk.dstPort[j], chunk.node[j], chunk.servicePort[j], chunk.request[j], chunk.response[j], chunk.rand[j]].join(','));
    }
  }
  return out;
}

describe('synthetic flows', () => {
  it('are the same for the same seed, and differ for another seed', () => {
    // Arrange
    const a = new FlowSet(cluster, plan, { seed: 7, zipf: 0.9 });
    const b = new FlowSet(cluster, plan, { seed: 7, zipf: 0.9 });
    const c = new FlowSet(cluster, plan, { seed: 8, zipf: 0.9 });
    // Act
    const fa = flowsByShard(a, 5000, 1);
    const fb = flowsByShard(b, 5000, 1);
    const fc = flowsByShard(c, 5000, 1);
    // Assert
    assert.deepEqual([...fa], [...fb]);
    let same = 0;
    for (const [id, text] of fa) if (fc.get(id) === text) same++;
    assert.ok(same < 50, `${same} flows unchanged by the seed`);
  });

  it('are the same flow set whatever the number of workers (RSS sharding)', () => {
    const set = new FlowSet(cluster, plan, { seed: 11 });
    const one = flowsByShard(set, 4000, 1);
    for (const shards of [2, 3, 4]) {
      const many = flowsByShard(set, 4000, shards);
      assert.equal(many.size, 4000);
      assert.deepEqual(new Map([...many].sort((x, y) => x[0] - y[0])), one, `${shards} shards`);
    }
  });

  it('shard by the Toeplitz hash of the tuple, as a NIC does', () => {
    // The Microsoft RSS verification suite's first IPv4/TCP vector:
    // 66.9.149.187:2794 -> 161.142.100.80:1766 hashes to 0x51ccc178.
    assert.equal(rssHash(0x420995bb, 0xa18e6450, 2794, 1766), 0x51ccc178);
    const counts = [0, 0];
    const set = new FlowSet(cluster, plan, { seed: 1 });
    const chunk = new FlowChunk(1);
    for (let id = 0; id < 4000; id++) {
      set.generate(id, chunk, 0);
      counts[rssQueue(chunk.rss[0], 2)]++;
    }
    assert.ok(Math.abs(counts[0] - counts[1]) < 400, `unbalanced shards ${counts}`);
  });

  it('give every flow kind, mostly pod to ClusterIP, and no two flows one 5-tuple', () => {
    const set = new FlowSet(cluster, plan, { seed: 5 });
    const chunk = new FlowChunk(20000);
    set.fillShard(0, 20000, 0, 1, chunk);
    const kinds = new Array(kFlowKinds.length).fill(0);
    const tuples = new Set<string>();
    for (let j = 0; j < chunk.count; j++) {
      kinds[chunk.kind[j]]++;
      tuples.add(`${chunk.proto[j]} ${chunk.srcIp[j]}:${chunk.srcPort[j]} ${chunk.dstIp[j]}:${chunk.dstPort[j]}`);
      if (chunk.kind[j] === FLOW_CLUSTER_IP) assert.ok(chunk.servicePort[j] >= 0);
    }
    for (let k = 0; k < kinds.length; k++) assert.ok(kinds[k] > 0, `no ${kFlowKinds[k]} flow`);
    assert.ok(kinds[FLOW_CLUSTER_IP] > 0.6 * chunk.count);
    assert.equal(tuples.size, chunk.count);
  });

  it('schedule TCP handshake, data both ways and FIN, with payloads that fit the pod MTU', () => {
    const set = new FlowSet(cluster, plan, { seed: 2 });
    const chunk = new FlowChunk(2000);
    set.fillShard(0, 2000, 0, 1, chunk);
    const spec = newPacketSpec();
    let total = 0;
    for (let j = 0; j < chunk.count; j++) {
      const n = packetCount(chunk, j);
      total += n;
      const dirs: number[] = [];
      for (let p = 0; p < n; p++) {
        packetAt(chunk, j, p, plan.podMtu, spec);
        dirs.push(spec.dir);
        const l4 = chunk.proto[j] === PROTO_TCP ? 20 : 8;
        assert.ok(spec.payload >= 0 && 20 + l4 + spec.payload <= plan.podMtu, `payload ${spec.payload} exceeds MTU ${plan.podMtu}`);
        if (chunk.proto[j] === PROTO_TCP) {
          if (p === 0) assert.equal(spec.flags, 0x02);
          if (p === 1) assert.equal(spec.flags, 0x12);
          if (p === n - 3 || p === n - 2) assert.equal(spec.flags & 0x01, 0x01, 'FIN');
        }
      }
      assert.ok(dirs.includes(DIR_FORWARD) && dirs.includes(DIR_REPLY));
    }
    const mean = total / chunk.count;
    assert.ok(mean > 6 && mean < 11, `mean packets per flow ${mean}`);
  });

  it('draw Zipf popularity with the most popular rank first', () => {
    const z = new ZipfSampler(1000, 1.1);
    const counts = new Array(1000).fill(0);
    for (let i = 0; i < 100000; i++) counts[z.sample((Math.imul(i, 2654435761) >>> 0))]++;
    assert.ok(counts[0] > counts[1] && counts[1] > counts[10] && counts[10] > counts[500]);
    const u = new ZipfSampler(10, 0);
    assert.equal(u.sample(0), 0);
    assert.equal(u.sample(0xffffffff), 9);
  });
});
