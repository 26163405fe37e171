/**
 * Outer headers and masquerade addresses, in every mode, through the real pipeline, for every
 * packet of a conversation both ways. The oracle is the CNI's routes and the kernel's choice of a
 * source address, written from the arbitraries' address plan (node i: 192.168.0.(11+i), pods
 * 10.244.(i+1).0/24), not from kdp's pod-network.ts:
 *  - an encapsulated packet's outer destination is the underlay address of the node that owns
 *    the inner destination (flannel's and Calico's routes send a remote node's pod block to that
 *    node's VTEP or tunnel endpoint), and its outer source the sending node's;
 *  - MASQUERADE gives the address of the device the packet leaves by (net/netfilter/
 *    nf_nat_masquerade.c: inet_select_addr(out, nexthop, RT_SCOPE_UNIVERSE)): toward another
 *    node's pods on an overlay, the tunnel device's (flannel.1, vxlan.calico, tunl0: the first
 *    address of the node's block, .0); toward the node's own pods, the bridge's gateway address
 *    on kubenet (cbr0) and flannel (cni0, the bridge plugin's isGateway), .1; Calico's cali*
 *    veths have no address, so inet_select_addr falls back to the first universe-scope address
 *    of the host, eth0's; anything else leaves by eth0: the node's InternalIP;
 *  - no encapsulated datagram is larger than the underlay's MTU (1500 here): a full-sized packet
 *    (1500-byte inner IPv4, as a host or an outside client sends it; DF set, as Linux sets it on
 *    TCP and PMTU-probing sockets) that would need outer headers is dropped with "fragmentation
 *    needed" at the tunnel (ip_tunnel_xmit / vxlan_xmit_one -> the PMTU check), never sent.
 *
 * Runs in `npm test`: 60 scenarios (cluster + up to 4 conversations) per mode.
 */
import { test } from 'node:test';
import { modeNames } from '../../src/compile/index.js';
import type { TraceHop } from '../../src/dataplane/trace-recorder.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../src/net/l4.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { cidrContains, formatIp, parseCidr, parseIp } from '../../src/net/ipv4.js';
import { kClusterCidr, nodeIp, resolveScenario, scenarioArb, type ClusterSpec } from '../helpers/arbitraries.js';
import { checkProperty, holds, loggedContext, replyProbe, runs, scenarioReport, sendPacket, type SentPacket } from '../helpers/nat-assertions.js';

const kRuns = runs(60);
const podCidr = parseCidr(kClusterCidr)!;
const ipOf = (hostPort: string): number => parseIp(hostPort.split(':')[0]) >>> 0;
const nodeIndex = (h: TraceHop): number => Number(h.node.slice('node-'.length)) - 1;
/** The node whose pod block holds `ip` (10.244.(i+1).0/24), or -1. */
const blockOwner = (ip: number): number => (cidrContains(podCidr, ip) ? ((ip >>> 8) & 0xff) - 1 : -1);
const blockAddress = (node: number, last: number): number => parseIp(`10.244.${node + 1}.${last}`) >>> 0;
const overlay = (cs: ClusterSpec): boolean => cs.cni === 'flannel-vxlan' || cs.cni === 'calico-vxlan' || cs.cni === 'calico-ipip';

/** The address MASQUERADE must give a packet leaving node `node` for `dst` (see the header). */
function deviceAddress(cs: ClusterSpec, node: number, dst: number): number {
  const owner = blockOwner(dst);
  if (owner === node && (cs.cni === 'kubenet' || cs.cni === 'flannel-vxlan')) return blockAddress(node, 1);
  if (owner >= 0 && owner !== node && overlay(cs)) return blockAddress(node, 0);
  return nodeIp(node);
}

const kMtu = 1500;

function outerAndMasqueradeHold(cs: ClusterSpec, s: SentPacket): string {
  for (let h = 0; h < s.hops.length; h++) {
    const hop = s.hops[h];
    const node = nodeIndex(hop);
    if (hop.outer && hop.wireLen - 14 > kMtu) return `hop ${h}: an encapsulated datagram of ${hop.wireLen - 14} bytes left ${hop.node}, over the MTU ${kMtu}`;
    if (hop.outer && !s.hops[h - 1]?.outer) {
      const owner = blockOwner(ipOf(hop.dst));
      if (owner < 0) return `hop ${h}: encapsulated a packet for ${hop.dst}, which is no node's pod`;
      if (ipOf(hop.outer.dst) !== nodeIp(owner)) return `hop ${h}: outer destination ${hop.outer.dst} for inner ${hop.dst}, want node-${owner + 1}'s ${formatIp(nodeIp(owner))}`;
      if (ipOf(hop.outer.src) !== nodeIp(node)) return `hop ${h}: outer source ${hop.outer.src} leaving ${hop.node}, want ${formatIp(nodeIp(node))}`;
    }
    if (hop.action.startsWith('MASQUERADE to')) {
      const want = deviceAddress(cs, node, ipOf(hop.dst));
      if (ipOf(hop.src) !== want) return `hop ${h}: masqueraded on ${hop.node} to ${hop.src} toward ${hop.dst}, want the outgoing device's ${formatIp(want)}`;
    }
  }
  return '';
}

for (const mode of modeNames()) {
  test(`[${mode}] the outer destination is the node owning the inner one, and MASQUERADE takes the outgoing device's address`, () => {
    checkProperty(
      `${mode}: outer headers and masquerade addresses`,
      scenarioArb(),
      (sc) => {
        // Arrange
        const { cluster, packets } = resolveScenario(sc);
        const lc = loggedContext(cluster, mode);
        for (const p of packets) {
          // Act: a conversation, both ways.
          const first = sendPacket(lc, p.probe, TCP_SYN);
          const back = replyProbe(first, p.probe);
          const sent = [first];
          if (back) sent.push(sendPacket(lc, back, TCP_SYN | TCP_ACK), sendPacket(lc, { ...p.probe, payload: 512 }, TCP_PSH | TCP_ACK), sendPacket(lc, { ...back, payload: 256 }, TCP_PSH | TCP_ACK));
          // A full-sized data packet: 1500 bytes of IPv4, which fits the underlay only unencapsulated.
          if (back) sent.push(sendPacket(lc, { ...p.probe, payload: kMtu - 20 - (p.probe.proto === PROTO_TCP ? 20 : 8) }, TCP_PSH | TCP_ACK));
          // Assert
          for (const s of sent) holds(outerAndMasqueradeHold(sc.cluster, s));
        }
      },
      { numRuns: kRuns, ...scenarioReport(mode) },
    );
  });
}

test('regression: on flannel, a packet masqueraded toward the node\'s own pod leaves cni0 with the bridge\'s gateway address', () => {
  // Arrange: masqueradeAll, a client pod and the Service's one endpoint both on node-1.
  const cs: ClusterSpec = {
    cni: 'flannel-vxlan', nodes: 2, nodeExternalIPs: false, masqueradeAll: true,
    services: [{ kind: 'ClusterIP', externalIP: false, sourceRanges: false, externalLocal: false, internalLocal: false, affinity: false, ports: [{ udp: false, namedTarget: false }], endpoints: [{ node: 0, state: 'ready' }] }],
  };
  const { cluster, packets } = resolveScenario({ cluster: cs, packets: [{ src: 'pod', srcNode: 0, srcIndex: 0, dst: 'cluster-ip', service: 0, port: 0, dstNode: 0, flipProto: false, srcPort: 40000 }] });
  // Act
  const sent = sendPacket(loggedContext(cluster, 'iptables'), packets[0].probe);
  // Assert
  const masq = sent.hops.find((h) => h.action.startsWith('MASQUERADE to'));
  holds(masq && masq.src.startsWith('10.244.1.1:') ? '' : `masqueraded to ${masq?.src ?? 'nothing'}`);
});
