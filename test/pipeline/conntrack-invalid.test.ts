/**
 * What becomes of a packet conntrack calls INVALID, through the whole pipeline, per CNI and mode:
 * a table of flows, each with the rule that drops it or where it ends.
 *
 * Oracles, from the specifications, not from kdp:
 * - net/netfilter/nf_conntrack_proto_tcp.c, tcp_conntracks[ORIGINAL][synack]: from SYN_SENT the
 *   row says sIV ("client can't send SYN and then SYN/ACK"), so a SYN/ACK from the client after
 *   its SYN is INVALID; the flow's own reply SYN/ACK is valid (SYN_SENT -> SYN_RECV), and stays
 *   so after the INVALID one, which changes no state.
 * - nf_conntrack_core.c nf_conntrack_in: an INVALID packet goes on with no conntrack entry, and
 *   the nat hooks act only on packets with one: it keeps the addresses it was sent with.
 * - kube-proxy's iptables mode (pkg/proxy/iptables/proxier.go): `-A KUBE-FORWARD -m conntrack
 *   --ctstate INVALID -j DROP`, in filter FORWARD only, and left out when
 *   nf_conntrack_tcp_be_liberal is set (`conntrack.tcpBeLiberal`, kubernetes PR 120412).
 * - kube-proxy's nftables mode (v1.30+, kubernetes PR 122663) and the userspace proxy write no
 *   INVALID rule; IPVS mode's KUBE-FORWARD has none either (proxier.go writeIptablesRules).
 * - Calico felix (rules/endpoints.go appendConntrackRules): every workload chain, `cali-fw-<if>`
 *   (from the workload, through FORWARD or INPUT) and `cali-tw-<if>` (to it, through FORWARD;
 *   felix's OUTPUT does not dispatch to it), drops ctstate INVALID, with or without policy.
 * - Cilium's BPF conntrack reads TCP flags for lifetimes only: nothing is INVALID.
 * Modelled differently, as data (README, "How a packet is run"): kdp drops it in IPVS mode, where
 * IPVS's own connection table, which kdp does not keep apart, would decide.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { DROP_CONNTRACK_INVALID, END_DROPPED, END_EXTERNAL, END_HOST, END_POD, kEndNames } from '../../src/dataplane/next.js';
import { ENTRY_HOST, ENTRY_POD, inject, runBatch } from '../../src/dataplane/pipeline.js';
import { TraceRecorder } from '../../src/dataplane/trace-recorder.js';
import type { Cni, ModeName } from '../../src/model/types.js';
import { PacketBatch } from '../../src/net/batch.js';
import { parseIp } from '../../src/net/ipv4.js';
import { TCP_ACK, TCP_SYN } from '../../src/net/l4.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { clusterOf, proxyConfig } from '../helpers/cluster.js';
import { twoNodeObjects } from '../helpers/two-nodes.js';

const client = parseIp('10.244.1.5'); // a pod on node-1
const server = parseIp('10.244.1.7'); // another pod on node-1
const remote = parseIp('10.244.2.7'); // web's endpoint, on node-2
const node1 = parseIp('192.168.0.11');
const clusterIp = parseIp('10.96.0.10');

interface Sent {
  readonly verdict: number;
  readonly drop: number;
  /** The last hop's node and action, and the destination it carried. */
  readonly node: string;
  readonly action: string;
  readonly dst: string;
}

function send(ctx: PipelineContext, entry: number, src: number, sport: number, dst: number, dport: number, flags: number): Sent {
  const batch = new PacketBatch({ capacity: 1 });
  const i = batch.push(PROTO_TCP, src, sport, dst, dport, 100, flags);
  ctx.recorder = new TraceRecorder(i, (n) => ctx.world.cluster.nodes[n].name, false);
  inject(ctx, batch, i, 0, entry);
  runBatch(ctx, batch);
  const last = ctx.recorder.hops[ctx.recorder.hops.length - 1];
  ctx.recorder = null;
  return { verdict: batch.verdict[i], drop: batch.drop[i], node: last.node, action: last.action, dst: last.dst };
}

function context(cni: Cni, mode: ModeName, tcpBeLiberal = false): PipelineContext {
  const objects = twoNodeObjects(cni, mode);
  objects[0] = proxyConfig({ mode, clusterCIDR: '10.244.0.0/16', conntrack: { tcpBeLiberal } });
  return new PipelineContext(new CompiledCluster(clusterOf(...objects), mode));
}

const kForward = '-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP';
const kFelixFw = /^conntrack INVALID, dropped: felix cali-fw-cali[0-9a-f]{11}: -m conntrack --ctstate INVALID -j DROP$/;
const kFelixTw = /^conntrack INVALID, dropped: felix cali-tw-cali[0-9a-f]{11}: -m conntrack --ctstate INVALID -j DROP$/;
const kIpvs = /^conntrack: INVALID, dropped: kdp drops it \(modelled differently/;

interface Row {
  readonly name: string;
  readonly cni: Cni;
  readonly mode: ModeName;
  readonly tcpBeLiberal?: boolean;
  /** The flow: who opens it (a pod's veth or the node's own OUTPUT), from where, to where. */
  readonly entry: number;
  readonly src: number;
  readonly dst: number;
  readonly dport: number;
  /** Where the INVALID packet ends, on which node, by which rule's words (for a drop). */
  readonly end: number;
  readonly on: 'node-1' | 'node-2';
  readonly by?: string | RegExp;
  /** Where it was delivered or left: the destination it carried then (not NATed: it was untracked). */
  readonly carried?: string;
}

const kRows: readonly Row[] = [
  // A pod to a pod on its own node: forwarded, through both pods' workload chains.
  { name: 'calico, iptables: felix drops it leaving the client', cni: 'calico-vxlan', mode: 'iptables', entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_DROPPED, on: 'node-1', by: kFelixFw },
  { name: 'calico, nftables: felix drops it, though kube-proxy would not', cni: 'calico-vxlan', mode: 'nftables', entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_DROPPED, on: 'node-1', by: kFelixFw },
  { name: 'calico, userspace: felix drops it', cni: 'calico-vxlan', mode: 'userspace', entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_DROPPED, on: 'node-1', by: kFelixFw },
  { name: 'calico, ipvs: kdp drops it at conntrack (modelled differently)', cni: 'calico-vxlan', mode: 'ipvs', entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_DROPPED, on: 'node-1', by: kIpvs },
  { name: 'calico, cilium: BPF conntrack has no INVALID', cni: 'calico-vxlan', mode: 'cilium', entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_POD, on: 'node-1', carried: '10.244.1.7:8080' },
  { name: 'flannel, iptables: KUBE-FORWARD drops it', cni: 'flannel-vxlan', mode: 'iptables', entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_DROPPED, on: 'node-1', by: `conntrack INVALID, dropped: ${kForward}` },
  { name: 'flannel, iptables, tcpBeLiberal: no KUBE-FORWARD rule, delivered', cni: 'flannel-vxlan', mode: 'iptables', tcpBeLiberal: true, entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_POD, on: 'node-1', carried: '10.244.1.7:8080' },
  { name: 'flannel, nftables: no rule, delivered', cni: 'flannel-vxlan', mode: 'nftables', entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_POD, on: 'node-1', carried: '10.244.1.7:8080' },
  { name: 'flannel, userspace: no rule, delivered', cni: 'flannel-vxlan', mode: 'userspace', entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_POD, on: 'node-1', carried: '10.244.1.7:8080' },
  { name: 'flannel, ipvs: kdp drops it at conntrack (modelled differently)', cni: 'flannel-vxlan', mode: 'ipvs', entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_DROPPED, on: 'node-1', by: kIpvs },
  { name: 'kubenet, iptables: bridged on cbr0, still through FORWARD: KUBE-FORWARD drops it', cni: 'kubenet', mode: 'iptables', entry: ENTRY_POD, src: client, dst: server, dport: 8080, end: END_DROPPED, on: 'node-1', by: `conntrack INVALID, dropped: ${kForward}` },
  // A pod to its node's own address: INPUT, not FORWARD.
  { name: 'flannel, iptables: to the node itself, KUBE-FORWARD never sees it', cni: 'flannel-vxlan', mode: 'iptables', entry: ENTRY_POD, src: client, dst: node1, dport: 10250, end: END_HOST, on: 'node-1', carried: '192.168.0.11:10250' },
  { name: 'calico, iptables: to the node itself, felix drops it through INPUT', cni: 'calico-vxlan', mode: 'iptables', entry: ENTRY_POD, src: client, dst: node1, dport: 10250, end: END_DROPPED, on: 'node-1', by: kFelixFw },
  // The node itself to a pod: OUTPUT, neither FORWARD nor a felix workload chain on its own node.
  { name: 'flannel, iptables: the node to its own pod goes by OUTPUT, delivered', cni: 'flannel-vxlan', mode: 'iptables', entry: ENTRY_HOST, src: node1, dst: server, dport: 8080, end: END_POD, on: 'node-1', carried: '10.244.1.7:8080' },
  { name: 'calico, iptables: the node to its own pod, felix does not police OUTPUT, delivered', cni: 'calico-vxlan', mode: 'iptables', entry: ENTRY_HOST, src: node1, dst: server, dport: 8080, end: END_POD, on: 'node-1', carried: '10.244.1.7:8080' },
  { name: 'calico, nftables: the node to a pod on node-2: INVALID there too, felix drops it arriving', cni: 'calico-vxlan', mode: 'nftables', entry: ENTRY_HOST, src: node1, dst: remote, dport: 8080, end: END_DROPPED, on: 'node-2', by: kFelixTw },
  // Through a Service: the INVALID packet is not NATed.
  { name: 'flannel, nftables: a Service flow\'s INVALID packet keeps the ClusterIP and leaves by the default route', cni: 'flannel-vxlan', mode: 'nftables', entry: ENTRY_POD, src: client, dst: clusterIp, dport: 80, end: END_EXTERNAL, on: 'node-1', carried: '10.96.0.10:80' },
  { name: 'flannel, iptables: a Service flow\'s INVALID packet, KUBE-FORWARD drops it', cni: 'flannel-vxlan', mode: 'iptables', entry: ENTRY_POD, src: client, dst: clusterIp, dport: 80, end: END_DROPPED, on: 'node-1', by: `conntrack INVALID, dropped: ${kForward}` },
];

describe('conntrack INVALID through the pipeline: a SYN/ACK from the side that sent the SYN', () => {
  for (const row of kRows) {
    it(row.name, () => {
      const ctx = context(row.cni, row.mode, row.tcpBeLiberal);
      const syn = send(ctx, row.entry, row.src, 40000, row.dst, row.dport, TCP_SYN);
      assert.notEqual(syn.verdict, END_DROPPED, `the SYN itself: ${syn.action}`);
      const wrong = send(ctx, row.entry, row.src, 40000, row.dst, row.dport, TCP_SYN | TCP_ACK);
      assert.equal(kEndNames[wrong.verdict], kEndNames[row.end], wrong.action);
      assert.equal(wrong.node, row.on);
      if (row.end === END_DROPPED) {
        assert.equal(wrong.drop, DROP_CONNTRACK_INVALID);
        if (typeof row.by === 'string') assert.equal(wrong.action, row.by);
        else assert.match(wrong.action, row.by as RegExp);
      } else {
        assert.equal(wrong.dst, row.carried);
      }
      if (row.mode !== 'cilium') assert.equal(ctx.world.conntrack(0).counter('invalid'), 1, "node-1's conntrack counts it INVALID once");
    });
  }

  it('the INVALID packet leaves the entry as it was: the reply SYN/ACK is still valid, and later packets are NATed again', () => {
    const ctx = context('flannel-vxlan', 'nftables');
    assert.equal(send(ctx, ENTRY_POD, client, 40000, clusterIp, 80, TCP_SYN).dst, '10.244.2.7:8080');
    assert.equal(send(ctx, ENTRY_POD, client, 40000, clusterIp, 80, TCP_SYN | TCP_ACK).dst, '10.96.0.10:80');
    // The endpoint answers from node-2; the reply is un-DNATed to the ClusterIP on node-1.
    const batch = new PacketBatch({ capacity: 1 });
    const i = batch.push(PROTO_TCP, remote, 8080, client, 40000, 100, TCP_SYN | TCP_ACK);
    inject(ctx, batch, i, 1, ENTRY_POD);
    runBatch(ctx, batch);
    assert.equal(kEndNames[batch.verdict[i]], kEndNames[END_POD]);
    assert.equal(batch.srcIp[i], clusterIp, 'the reply carries the ClusterIP: the entry kept its NAT binding');
    assert.equal(send(ctx, ENTRY_POD, client, 40000, clusterIp, 80, TCP_ACK).dst, '10.244.2.7:8080', 'the ACK completing the handshake is DNATed again');
  });
});
