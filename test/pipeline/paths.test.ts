/**
 * The paths a packet takes through the cluster, traced hop by hop through the real pipeline:
 * the seven-step cross-node flow in every CNI, Services with their replies, NodePorts from
 * outside, hairpin, and a Service with no endpoints.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { resolveProbe } from '../../src/dataplane/resolve.js';
import { tracePacket, type TraceResult } from '../../src/dataplane/trace.js';
import type { CapturedFrame } from '../../src/dataplane/trace-recorder.js';
import type { Cni } from '../../src/model/types.js';
import { ipv4ChecksumOk } from '../../src/net/ipv4-header.js';
import { parseIp } from '../../src/net/ipv4.js';
import { l4ChecksumOk } from '../../src/net/l4.js';
import { PacketBatch } from '../../src/net/batch.js';
import { twoNodes } from '../helpers/two-nodes.js';

function trace(cni: Cni, src: string, dst: string, opts: { node?: string; reply?: boolean; mode?: 'iptables' | 'ipvs' | 'nftables' | 'userspace' } = {}) {
  const compiled = twoNodes(cni, opts.mode ?? 'iptables');
  const probe = resolveProbe(compiled.cluster, compiled.plan, { src, dst, ...(opts.node ? { node: opts.node } : {}) });
  return tracePacket(new PipelineContext(compiled), probe, { reply: opts.reply ?? false, capture: true });
}

/** Every captured frame parses, and its IPv4 and L4 checksums (inner and outer) are valid. */
function assertChecksumsValid(frames: readonly CapturedFrame[]): void {
  const batch = new PacketBatch({ capacity: 2 });
  for (const f of frames) {
    batch.reset();
    const i = batch.load(f.bytes, f.bytes.length, f.wireLen);
    assert.ok(i >= 0, `frame of hop ${f.hop} does not parse`);
    const outer = batch.pktOff(i) + 14;
    assert.ok(ipv4ChecksumOk(batch.bytes, outer), `outer/only IPv4 checksum at hop ${f.hop}`);
    assert.ok(ipv4ChecksumOk(batch.bytes, batch.l3Off[i]), `inner IPv4 checksum at hop ${f.hop}`);
    const end = batch.pktOff(i) + batch.hdrLen[i];
    assert.ok(l4ChecksumOk(batch.bytes, batch.l3Off[i], batch.l4Off[i], batch.proto[i], end - batch.l4Off[i]), `L4 checksum at hop ${f.hop}`);
  }
}

const kOverlays: readonly [Cni, 'vxlan' | 'ipip' | null, number, string][] = [
  ['calico-vxlan', 'vxlan', 50, 'vxlan.calico'],
  ['calico-ipip', 'ipip', 20, 'tunl0'],
  ['flannel-vxlan', 'vxlan', 50, 'flannel.1'],
  ['calico-bgp', null, 0, 'eth0'],
  ['kubenet', null, 0, 'eth0'],
];

describe('cross-node pod to pod: the seven steps', () => {
  for (const [cni, encap, overhead, device] of kOverlays) {
    it(`${cni}: pod A on node-1 reaches pod B on node-2 ${encap ? `inside ${encap}` : 'routed, unencapsulated'}`, () => {
      const { result, frames } = trace(cni, '10.244.1.5:40000', '10.244.2.7:8080');
      const hops = result.hops;
      // 1. pod A sends to pod B's address.
      assert.equal(hops[0].node, 'node-1');
      assert.equal(hops[0].at, 'pod eth0');
      assert.equal(hops[0].dst, '10.244.2.7:8080');
      assert.equal(result.decision, 'none', 'no service rule applies to pod traffic');
      // 2. node-1's routing table sends it to node-2.
      const routing = hops.find((h) => h.at === 'routing' && h.node === 'node-1')!;
      assert.match(routing.action, new RegExp(`dev ${device.replace('.', '\\.')}.*node-2`));
      assert.equal(routing.ttl, 63, 'routed once: TTL 64 -> 63');
      // 3. encapsulated with node-2's host address outside, pod addresses inside.
      const onWire = hops.find((h) => h.at === 'eth0' && h.node === 'node-2')!;
      assert.equal(onWire.src, '10.244.1.5:40000');
      assert.equal(onWire.dst, '10.244.2.7:8080');
      if (encap) {
        assert.deepEqual(onWire.outer, { src: '192.168.0.11', dst: '192.168.0.12', encap, bytesAdded: overhead });
        assert.equal(onWire.wireLen, hops[0].wireLen + overhead, 'the wire carries the encapsulation overhead');
        // 5. node-2 decapsulates.
        const decap = hops.find((h) => h.at === device && h.node === 'node-2')!;
        assert.equal(decap.outer, null);
        assert.equal(decap.wireLen, hops[0].wireLen);
      } else {
        assert.equal(onWire.outer, null);
        assert.equal(onWire.wireLen, hops[0].wireLen);
      }
      // 6-7. node-2 routes it to B's interface, B receives it with its own address unchanged.
      const last = hops[hops.length - 1];
      assert.equal(last.node, 'node-2');
      assert.match(last.at, cni.startsWith('calico') ? /^cali/ : /^veth/);
      assert.equal(last.dst, '10.244.2.7:8080');
      assert.equal(last.src, '10.244.1.5:40000');
      assert.equal(last.ttl, 62, 'routed by both nodes');
      assert.equal(result.verdict, 'delivered');
      assertChecksumsValid(frames);
    });
  }

  it('kubenet bridges same-node pod traffic on cbr0 without touching the TTL', () => {
    const { result } = trace('kubenet', '10.244.2.5:40000', '10.244.2.7:8080');
    assert.ok(result.hops.some((h) => /bridged on cbr0/.test(h.action)));
    assert.equal(result.hops[result.hops.length - 1].ttl, 64);
  });
});

describe('pod to ClusterIP', () => {
  for (const mode of ['iptables', 'ipvs', 'nftables'] as const) {
    it(`${mode}: DNAT on the source node, overlay to the endpoint, reply undoes the NAT`, () => {
      const { result, frames } = trace('calico-vxlan', '10.244.1.5:40000', '10.96.0.10:80', { reply: true, mode });
      assert.equal(result.decision, 'dnat');
      assert.equal(result.service, 'default/web:http');
      assert.deepEqual(result.candidates, ['10.244.2.7:8080']);
      assert.equal(result.endpoint, '10.244.2.7:8080');
      assert.equal(result.masquerade, false, 'pod traffic is local to clusterCIDR: no masquerade');
      assert.equal(result.node, 'node-1');
      const wire = result.hops.find((h) => h.at === 'eth0' && h.node === 'node-2')!;
      assert.equal(wire.dst, '10.244.2.7:8080', 'the packet leaves node-1 already addressed to the endpoint');
      assert.equal(wire.outer?.dst, '192.168.0.12');
      const reply = result.reply!;
      assert.equal(reply.verdict, 'delivered');
      const back = reply.hops[reply.hops.length - 1];
      assert.equal(back.src, '10.96.0.10:80', 'the reply comes from the service address again');
      assert.equal(back.dst, '10.244.1.5:40000');
      assertChecksumsValid(frames);
    });
  }

  it('userspace: the proxy on node-1 makes its own connection from the node address', () => {
    const { result } = trace('calico-vxlan', '10.244.1.5:40000', '10.96.0.10:80', { reply: true, mode: 'userspace' });
    assert.equal(result.endpoint, '10.244.2.7:8080');
    const proxied = result.hops.find((h) => h.at === 'kube-proxy (userspace)')!;
    assert.match(proxied.src, /^192\.168\.0\.11:/, 'the endpoint sees the node as the source');
    assert.equal(proxied.dst, '10.244.2.7:8080');
    assert.equal(result.verdict, 'delivered');
    assert.equal(result.reply!.verdict, 'delivered');
    const back = result.reply!.hops[result.reply!.hops.length - 1];
    assert.equal(back.src, '10.96.0.10:80');
    assert.equal(back.dst, '10.244.1.5:40000');
  });
});

describe('NodePort from outside', () => {
  it('externalTrafficPolicy Cluster: DNAT and masquerade on the entry node, then the overlay', () => {
    const { result } = trace('calico-vxlan', '203.0.113.9:5555', '192.168.0.11:30081', { reply: true });
    assert.equal(result.decision, 'dnat');
    assert.equal(result.endpoint, '10.244.2.10:8080');
    assert.equal(result.masquerade, true);
    const delivered = result.hops[result.hops.length - 1];
    assert.equal(delivered.node, 'node-2');
    assert.equal(delivered.src.split(':')[0], '10.244.1.0', "masqueraded to node-1's vxlan.calico address");
    const back = result.reply!.hops[result.reply!.hops.length - 1];
    assert.equal(back.src, '192.168.0.11:30081', 'the client sees the answer from the address it called');
    assert.equal(back.dst, '203.0.113.9:5555');
    assert.equal(result.reply!.verdict, 'delivered');
  });

  it('externalTrafficPolicy Local: dropped on a node without a local endpoint', () => {
    const { result } = trace('calico-vxlan', '203.0.113.9:5555', '192.168.0.11:30080');
    assert.equal(result.decision, 'drop');
    assert.equal(result.verdict, 'dropped');
    assert.equal(result.dropReason, 'service-drop');
    assert.ok(result.hops.some((h) => h.action === 'iptables: DROP'), result.hops.map((h) => h.action).join('\n'));
  });

  it('externalTrafficPolicy Local: the client source is kept on the node that has the endpoint', () => {
    const { result } = trace('calico-vxlan', '203.0.113.9:5555', '192.168.0.12:30080');
    assert.equal(result.decision, 'dnat');
    assert.equal(result.masquerade, false);
    const delivered = result.hops[result.hops.length - 1];
    assert.equal(delivered.src, '203.0.113.9:5555');
    assert.equal(delivered.dst, '10.244.2.9:8080');
  });
});

describe('edge cases', () => {
  it('hairpin: an endpoint calling its own service is masqueraded', () => {
    const { result } = trace('calico-vxlan', '10.244.2.7:40000', '10.96.0.10:80', { reply: true });
    assert.equal(result.endpoint, '10.244.2.7:8080');
    assert.equal(result.masquerade, true);
    const delivered = result.hops[result.hops.length - 1];
    assert.notEqual(delivered.src.split(':')[0], '10.244.2.7', 'the endpoint must not see itself as the source');
    assert.equal(result.reply!.verdict, 'delivered');
    assert.equal(result.reply!.hops[result.reply!.hops.length - 1].src, '10.96.0.10:80');
  });

  it('a service with no endpoints is rejected', () => {
    const r: TraceResult = trace('calico-vxlan', '10.244.1.5:40000', '10.96.0.40:80').result;
    assert.equal(r.decision, 'reject');
    assert.equal(r.verdict, 'rejected');
    assert.deepEqual(r.candidates, []);
    assert.ok(r.hops.some((h) => h.action === 'iptables: REJECT'), r.hops.map((h) => h.action).join('\n'));
  });

  it('the trace names the packet as given, and each captured frame belongs to a hop, the forward ones first', () => {
    const { result, frames } = trace('calico-vxlan', '10.244.1.5:40000', '10.96.0.10:80', { reply: true });
    assert.deepEqual(result.packet, { protocol: 'TCP', src: '10.244.1.5:40000', dst: '10.96.0.10:80' });
    const forward = result.hops.length;
    const all = forward + result.reply!.hops.length;
    assert.ok(frames.length > 0);
    assert.ok(frames.every((f) => f.bytes instanceof Uint8Array && Number.isInteger(f.hop) && f.hop >= 0 && f.hop < all), 'a frame outside the hops');
    assert.ok(frames.some((f) => f.hop < forward) && frames.some((f) => f.hop >= forward), 'frames of both directions');
    assert.deepEqual(frames.map((f) => f.hop), [...frames.map((f) => f.hop)].sort((x, y) => x - y), 'in hop order');
  });

  it('a new flow no Service rule matches is traced as such', () => {
    const r: TraceResult = trace('calico-vxlan', '10.244.1.5:40000', '10.244.2.9:8080').result;
    assert.equal(r.verdict, 'delivered');
    assert.ok(r.hops.some((h) => h.action === 'iptables: no service rule matched'), r.hops.map((h) => h.action).join('\n'));
  });
});

describe('Calico CrossSubnet', () => {
  it('routes within a subnet and encapsulates across subnets, as the nodes\' projectcalico.org/IPv4Address says', async () => {
    const { clusterOf, node, proxyConfig } = await import('../helpers/cluster.js');
    const annotated = (name: string, cidr: string, ip: string, subnet: string) => {
      const n = node(name, cidr, ip) as { metadata: Record<string, unknown> };
      n.metadata.annotations = { 'projectcalico.org/IPv4Address': `${ip}/${subnet}` };
      return n;
    };
    const compiled = new CompiledCluster(
      clusterOf(
        proxyConfig({ clusterCIDR: '10.244.0.0/16' }),
        { apiVersion: 'crd.projectcalico.org/v1', kind: 'IPPool', metadata: { name: 'pool' }, spec: { cidr: '10.244.0.0/16', vxlanMode: 'CrossSubnet' } },
        annotated('node-1', '10.244.1.0/24', '192.168.0.11', '24'),
        annotated('node-2', '10.244.2.0/24', '192.168.0.12', '24'),
        annotated('node-3', '10.244.3.0/24', '192.168.7.13', '24'),
      ),
      'iptables',
    );
    const run = (dst: string) => tracePacket(new PipelineContext(compiled), resolveProbe(compiled.cluster, compiled.plan, { src: '10.244.1.5:40000', dst }), {}).result;
    const sameSubnet = run('10.244.2.7:8080');
    assert.equal(sameSubnet.verdict, 'delivered');
    assert.ok(sameSubnet.hops.every((h) => h.outer === null), 'node-2 shares node-1\'s subnet: routed, not encapsulated');
    const across = run('10.244.3.7:8080');
    assert.equal(across.verdict, 'delivered');
    assert.ok(across.hops.some((h) => h.outer?.encap === 'vxlan' && h.outer.dst === '192.168.7.13'), 'node-3 is in another subnet: VXLAN');
  });
});

describe('Calico IPAM blocks outside the nodes\' podCIDRs', () => {
  // Calico IPAM hands out addresses from the IPPool in blocks (blockSize, default /26) affine to
  // the node that claimed them, whatever the Node's spec.podCIDR; each node routes its own blocks
  // to its workloads and the others' blocks to their nodes (felix's route resolver, VXLAN here).
  // Two nodes of a /26-block VXLAN pool, with pods [name, node, address]; `run` traces src -> dst.
  const withPods = async (...pods: readonly (readonly [string, string, string])[]) => {
    const { clusterOf, node, proxyConfig } = await import('../helpers/cluster.js');
    const compiled = new CompiledCluster(
      clusterOf(
        proxyConfig({ clusterCIDR: '10.244.0.0/16' }),
        { apiVersion: 'crd.projectcalico.org/v1', kind: 'IPPool', metadata: { name: 'pool' }, spec: { cidr: '10.244.0.0/16', vxlanMode: 'Always', blockSize: 26 } },
        node('node-1', '10.244.1.0/24', '192.168.0.11'),
        node('node-2', '10.244.2.0/24', '192.168.0.12'),
        ...pods.map(([name, nodeName, ip]) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: 'default', name }, spec: { nodeName }, status: { podIP: ip } })),
      ),
      'iptables',
    );
    const run = (src: string, dst: string) => tracePacket(new PipelineContext(compiled), resolveProbe(compiled.cluster, compiled.plan, { src, dst }), {}).result;
    return { compiled, run };
  };
  const crosses = (run: (src: string, dst: string) => TraceResult, src: string, dst: string, via: string): void => {
    const r = run(src, dst);
    assert.equal(r.verdict, 'delivered', `${src} -> ${dst}`);
    assert.ok(r.hops.some((h) => h.outer?.encap === 'vxlan' && h.outer.dst === via), `${src} -> ${dst} crosses to ${via}`);
    assert.equal(r.hops.at(-1)!.dst, dst);
  };

  it('a pod whose address lies in a block its node claimed is reached through that node', async () => {
    const { run } = await withPods(
      ['a', 'node-1', '10.244.200.5'],
      ['b', 'node-1', '10.244.200.9'], // the same block: node-1's already
      ['c', 'node-2', '10.244.201.7'],
    );
    crosses(run, '10.244.201.7:40000', '10.244.200.5:8080', '192.168.0.11');
    crosses(run, '10.244.201.7:40000', '10.244.200.9:8080', '192.168.0.11');
    crosses(run, '10.244.200.5:40000', '10.244.201.7:8080', '192.168.0.12');
    assert.equal(run('10.244.200.5:40000', '10.244.200.9:8080').hops.some((h) => h.outer !== null), false, 'within node-1: not encapsulated');
  });

  // A borrowed address: node-2's pod `d` got 10.244.200.20 from node-1's block (IPAM lends one when
  // strictAffinity is off). Oracle: felix's L3RouteResolver.routesFromBlock gives every allocation
  // of a block whose host is not the block's a /32 route to that host, and the longest prefix wins,
  // on the block's owner too; the pod's own node reaches it through its veth.
  it('a pod holding an address borrowed from another node\'s block is reached through its own node', async () => {
    const { compiled, run } = await withPods(
      ['a', 'node-1', '10.244.200.5'],
      ['c', 'node-2', '10.244.201.7'],
      ['d', 'node-2', '10.244.200.20'], // in node-1's block 10.244.200.0/26
    );
    assert.equal(compiled.plan.podNode(parseIp('10.244.200.20')), 1, 'the address is node-2\'s, not its block\'s owner\'s');
    assert.equal(compiled.plan.podNode(parseIp('10.244.200.21')), 0, 'the rest of the block stays node-1\'s');
    crosses(run, '10.244.200.5:40000', '10.244.200.20:8080', '192.168.0.12'); // from the block's owner
    crosses(run, '10.244.200.20:40000', '10.244.200.5:8080', '192.168.0.11'); // back
    const local = run('10.244.201.7:40000', '10.244.200.20:8080');
    assert.equal(local.verdict, 'delivered');
    assert.equal(local.hops.some((h) => h.outer !== null), false, 'within node-2: through the veth, not encapsulated');
  });
});
