/**
 * Cilium's Direct Server Return (bpf-lb-mode dsr, and hybrid: DSR for TCP, SNAT for other
 * protocols), packet by packet through the pipeline `kdp trace` runs, against Cilium v1.17's
 * bpf/lib/nodeport.h: the entry node DNATs toward another node's backend keeping the client's
 * address and puts the frontend in the packet (`dsr_set_opt4`: an IPv4 option of type
 * IPOPT_COPY | 0x1a = 0x9a, length 8, the port then the address, network order, right after the
 * 20-byte header; or the Geneve option with bpf-lb-dsr-dispatch geneve), the backend's node
 * remembers it (`nodeport_extract_dsr_v4`, `snat_v4_create_dsr`) and the reply leaves that node
 * from the frontend straight to the client (`xlate_dsr_v4`), never through the entry node.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CompiledCluster } from '../../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../../src/dataplane/context.js';
import { END_EXTERNAL, END_POD } from '../../../src/dataplane/next.js';
import { ENTRY_EXTERNAL, inject, runBatch } from '../../../src/dataplane/pipeline.js';
import { PacketBatch } from '../../../src/net/batch.js';
import { TCP_ACK } from '../../../src/net/l4.js';
import { tracePacket, type TraceOutput } from '../../../src/dataplane/trace.js';
import type { Cluster } from '../../../src/model/types.js';
import { ipv4ChecksumOk } from '../../../src/net/ipv4-header.js';
import { parseIp } from '../../../src/net/ipv4.js';
import { l4ChecksumOk } from '../../../src/net/l4.js';
import { PROTO_TCP, PROTO_UDP } from '../../../src/net/proto.js';
import { clusterOf, node, service, slice } from '../../helpers/cluster.js';

const kClient = '203.0.113.9:40000';
const kFrontend = '192.168.0.11:30080';

/** NodePort 30080 with its one backend on node-2 (TCP, or UDP), node-1 the entry node. */
function cluster(data: Record<string, string>, protocol: 'TCP' | 'UDP' = 'TCP', backendNode = 'node-2'): Cluster {
  return clusterOf(
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    node('node-2', '10.244.2.0/24', '192.168.0.12'),
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'cilium-config' }, data: { 'kube-proxy-replacement': 'true', ...data } },
    service('default', 'web', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080, protocol }] }),
    slice('default', 'web', [{ name: 'http', port: 8080, protocol }], [{ ip: backendNode === 'node-2' ? '10.244.2.7' : '10.244.1.7', node: backendNode }]),
  );
}

function fromOutside(c: Cluster, proto: number = PROTO_TCP, ctx = new PipelineContext(new CompiledCluster(c, 'cilium'), { seed: 1, conntrackMax: 1024 })): TraceOutput {
  return tracePacket(ctx, { proto: proto as 6, srcIp: parseIp('203.0.113.9'), srcPort: 40000, dstIp: parseIp('192.168.0.11'), dstPort: 30080, node: 0, entry: ENTRY_EXTERNAL }, { reply: true, capture: true });
}

/** The captured frame of the first forward hop named `at` (an unencapsulated Ethernet/IPv4 frame). */
function frameAt(out: TraceOutput, at: string): Uint8Array {
  const hop = out.result.hops.findIndex((h) => h.at === at);
  assert.ok(hop >= 0, `no hop "${at}" in ${out.result.hops.map((h) => h.at).join(', ')}`);
  return out.frames.find((f) => f.hop === hop)!.bytes;
}

/** What the reply looks like as it leaves the cluster, and every node it crossed. */
function replyPath(out: TraceOutput) {
  const r = out.result.reply!;
  const last = r.hops.at(-1)!;
  return { verdict: r.verdict, src: last.src, dst: last.dst, nodes: [...new Set(r.hops.map((h) => h.node))] };
}

describe('cilium: DSR', () => {
  it('bpf-lb-mode dsr, TCP: the SYN carries the frontend in an IPv4 option; the reply leaves the backend\'s node from the frontend, straight to the client', () => {
    const out = fromOutside(cluster({ 'bpf-lb-mode': 'dsr' }));
    assert.equal(out.result.masquerade, false);
    // The frame as it leaves node-1: IHL 7, the option after the 20-byte header, both checksums valid.
    const b = frameAt(out, 'bpf_host: dsr_set_opt4');
    const l3 = 14;
    assert.equal(b[l3] & 15, 7);
    assert.deepEqual([...b.subarray(l3 + 20, l3 + 28)], [0x9a, 8, 30080 >> 8, 30080 & 0xff, 192, 168, 0, 11]);
    const sent = out.frames[0]!.bytes;
    assert.equal((b[l3 + 2] << 8) | b[l3 + 3], ((sent[l3 + 2] << 8) | sent[l3 + 3]) + 8, 'total length grows by the option');
    assert.ok(ipv4ChecksumOk(b, l3));
    assert.ok(l4ChecksumOk(b, l3, l3 + 28, PROTO_TCP, b.length - l3 - 28));
    // Delivered with the client's address; the backend's node remembered the frontend.
    const delivered = out.result.hops.at(-1)!;
    assert.deepEqual([delivered.node, delivered.src, delivered.dst], ['node-2', kClient, '10.244.2.7:8080']);
    assert.ok(out.result.hops.some((h) => h.node === 'node-2' && /nodeport_extract_dsr_v4: DSR frontend 192\.168\.0\.11:30080/.test(h.action)));
    // The reply: from the frontend to the client, on node-2 only.
    assert.deepEqual(replyPath(out), { verdict: 'delivered', src: kFrontend, dst: kClient, nodes: ['node-2'] });
  });

  it('bpf-lb-mode dsr, UDP: DSR too, the option on the packet', () => {
    const out = fromOutside(cluster({ 'bpf-lb-mode': 'dsr' }, 'UDP'), PROTO_UDP);
    const b = frameAt(out, 'bpf_host: dsr_set_opt4');
    assert.equal(b[14] & 15, 7);
    assert.ok(l4ChecksumOk(b, 14, 42, PROTO_UDP, b.length - 42));
    assert.deepEqual(replyPath(out), { verdict: 'delivered', src: kFrontend, dst: kClient, nodes: ['node-2'] });
  });

  it('a flow\'s later packets: a TCP ACK carries no option (the backend\'s node knows the flow), every UDP packet does', () => {
    for (const [protocol, proto, ihl] of [['TCP', PROTO_TCP, 5], ['UDP', PROTO_UDP, 7]] as const) {
      const ctx = new PipelineContext(new CompiledCluster(cluster({ 'bpf-lb-mode': 'dsr' }, protocol), 'cilium'), { seed: 1, conntrackMax: 1024 });
      fromOutside(ctx.world.cluster, proto, ctx);
      const batch = new PacketBatch({ capacity: 2 });
      const i = batch.push(proto, parseIp('203.0.113.9'), 40000, parseIp('192.168.0.11'), 30080, 64, proto === PROTO_TCP ? TCP_ACK : 0);
      inject(ctx, batch, i, 0, ENTRY_EXTERNAL);
      runBatch(ctx, batch);
      assert.equal(batch.verdict[i], END_POD, protocol);
      assert.equal(batch.node[i], 1);
      const l3 = batch.l3Off[i];
      assert.equal(batch.bytes[l3] & 15, ihl, protocol);
      if (ihl === 7) assert.deepEqual([...batch.bytes.subarray(l3 + 20, l3 + 28)], [0x9a, 8, 30080 >> 8, 30080 & 0xff, 192, 168, 0, 11]);
    }
  });

  // nodeport.h: dsr_set_opt4 runs in nodeport_lb4's forward path only, toward a remote backend of a
  // DSR service; the reply direction is rev-NATed (or xlate_dsr_v4'd) and never given the option.
  it('a DSR UDP flow\'s reply direction crossing the entry node carries no option', () => {
    const ctx = new PipelineContext(new CompiledCluster(cluster({ 'bpf-lb-mode': 'dsr' }, 'UDP'), 'cilium'), { seed: 1, conntrackMax: 1024 });
    fromOutside(ctx.world.cluster, PROTO_UDP, ctx);
    // The backend's answer arriving at node-1 (an asymmetric route): conntrack's reply direction there.
    const batch = new PacketBatch({ capacity: 1 });
    const i = batch.push(PROTO_UDP, parseIp('10.244.2.7'), 8080, parseIp('203.0.113.9'), 40000, 64, 0);
    inject(ctx, batch, i, 0, ENTRY_EXTERNAL);
    runBatch(ctx, batch);
    assert.equal(batch.verdict[i], END_EXTERNAL);
    assert.equal(batch.bytes[batch.l3Off[i]] & 15, 5);
  });

  // nodeport.h: nodeport_uses_dsr4 is false for UDP with bpf-lb-mode hybrid (SNAT), and a local
  // backend takes no DSR at all: no packet of those flows carries the option, later ones included.
  it('a UDP flow that is not DSR: its later packets carry no option either', () => {
    for (const [data, backendNode] of [[{ 'bpf-lb-mode': 'hybrid' }, 'node-2'], [{ 'bpf-lb-mode': 'dsr' }, 'node-1']] as const) {
      const ctx = new PipelineContext(new CompiledCluster(cluster(data, 'UDP', backendNode), 'cilium'), { seed: 1, conntrackMax: 1024 });
      fromOutside(ctx.world.cluster, PROTO_UDP, ctx);
      const batch = new PacketBatch({ capacity: 1 });
      const i = batch.push(PROTO_UDP, parseIp('203.0.113.9'), 40000, parseIp('192.168.0.11'), 30080, 64, 0);
      inject(ctx, batch, i, 0, ENTRY_EXTERNAL);
      runBatch(ctx, batch);
      const where = `${data['bpf-lb-mode']}, backend on ${backendNode}`;
      assert.equal(batch.verdict[i], END_POD, where);
      assert.equal(batch.bytes[batch.l3Off[i]] & 15, 5, where);
    }
  });

  it('bpf-lb-mode hybrid: TCP goes DSR, UDP is SNATed to the entry node and answered back through it', () => {
    const tcp = fromOutside(cluster({ 'bpf-lb-mode': 'hybrid' }));
    assert.ok(tcp.result.hops.some((h) => h.at === 'bpf_host: dsr_set_opt4'));
    assert.deepEqual(replyPath(tcp), { verdict: 'delivered', src: kFrontend, dst: kClient, nodes: ['node-2'] });
    const udp = fromOutside(cluster({ 'bpf-lb-mode': 'hybrid' }, 'UDP'), PROTO_UDP);
    assert.equal(udp.result.masquerade, true);
    assert.ok(!udp.result.hops.some((h) => /dsr/.test(h.at)));
    assert.equal(udp.result.hops.at(-1)!.src.split(':')[0], '192.168.0.11');
    assert.deepEqual(replyPath(udp), { verdict: 'delivered', src: kFrontend, dst: kClient, nodes: ['node-2', 'node-1'] });
  });

  it('bpf-lb-dsr-dispatch geneve: no IPv4 option (the frontend rides in the tunnel header), the same reply', () => {
    const out = fromOutside(cluster({ 'bpf-lb-mode': 'dsr', 'bpf-lb-dsr-dispatch': 'geneve' }));
    const b = frameAt(out, 'bpf_host: encap_geneve_dsr_opt4');
    assert.equal(b[14] & 15, 5);
    assert.deepEqual(replyPath(out), { verdict: 'delivered', src: kFrontend, dst: kClient, nodes: ['node-2'] });
  });

  it('a backend on the entry node needs no DSR: no option, the reply answered by conntrack there', () => {
    const out = fromOutside(cluster({ 'bpf-lb-mode': 'dsr' }, 'TCP', 'node-1'));
    assert.ok(!out.result.hops.some((h) => /dsr/.test(h.at)));
    assert.deepEqual(replyPath(out), { verdict: 'delivered', src: kFrontend, dst: kClient, nodes: ['node-1'] });
  });

  it('bpf-lb-mode snat (the default): SNAT to the entry node, and the reply goes back through it', () => {
    const out = fromOutside(cluster({}));
    assert.ok(!out.result.hops.some((h) => /dsr/.test(h.at)));
    assert.deepEqual(replyPath(out), { verdict: 'delivered', src: kFrontend, dst: kClient, nodes: ['node-2', 'node-1'] });
  });
});
