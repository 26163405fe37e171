/**
 * TTL on every packet of a conversation, in every mode, through the real pipeline: at delivery,
 * TTL = the TTL sent − the routers passed, for the handshake, the data after it and the replies.
 *
 * The oracle counts routers from the kernel's rules, not from kdp's route stage: a node that
 * forwards a packet decrements its TTL (net/ipv4/ip_forward.c ip_forward: ip_decrease_ttl), one
 * that sends it (ip_local_out) or receives it (ip_local_deliver) does not; a packet a pod sends
 * to a neighbour on its own bridge (kubenet's cbr0, flannel's cni0: the destination it wrote is
 * on-link; with Cilium's socket LB, the backend connect() gave it) is switched, not routed, even
 * with br_netfilter's conntrack on it; Calico's pods have
 * /32 routes to their veths, so even a neighbour is routed. The overlay's outer header has a TTL
 * of its own; the inner one is what the endpoint reads. The userspace proxy ends the client's
 * connection at its socket and sends the bytes on in a new packet of its own (TTL 64,
 * net.ipv4.ip_default_ttl), so each side of the proxy is counted from its own sender.
 *
 * Runs in `npm test`: 60 scenarios (cluster + up to 4 conversations) per mode.
 */
import { test } from 'node:test';
import { modeNames } from '../../src/compile/index.js';
import { END_EXTERNAL, END_HOST, END_POD } from '../../src/dataplane/next.js';
import { ENTRY_HOST, ENTRY_POD } from '../../src/dataplane/pipeline.js';
import type { TraceHop } from '../../src/dataplane/trace-recorder.js';
import type { Probe } from '../../src/dataplane/trace.js';
import { TCP_ACK, TCP_PSH, TCP_SYN } from '../../src/net/l4.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { kClusterCidr, resolveScenario, scenarioArb, type ClusterSpec } from '../helpers/arbitraries.js';
import { checkProperty, holds, loggedContext, replyProbe, runs, scenarioReport, sendPacket, type SentPacket } from '../helpers/nat-assertions.js';
import { cidrContains, parseCidr } from '../../src/net/ipv4.js';

const kRuns = runs(60);
const kDefaultTtl = 64; // net.ipv4.ip_default_ttl
const kProxyHop = 'kube-proxy (userspace)';
const podCidr = parseCidr(kClusterCidr)!;
/**
 * The node whose pods' bridge `ip` is a pod on, in the arbitraries' address plan (node i's pods
 * are 10.244.(i+1).0/24), or -1: .0 and .1 are the node's own (flannel.1, cbr0/cni0), and a
 * packet to them goes up the bridge into the host, which routes whatever it forwards.
 */
const podNodeOf = (ip: number): number => (cidrContains(podCidr, ip) && (ip & 0xff) > 1 ? ((ip >>> 8) & 0xff) - 1 : -1);

/** Routers a stretch of hops passed, from the kernel's rules (see the header). */
function routers(cs: ClusterSpec, hops: readonly TraceHop[], fromHost: boolean, fromPod: boolean, sentDst: number, delivered: 'pod' | 'host' | 'external'): number {
  let visits = 0;
  for (let h = 0; h < hops.length; h++) if (h === 0 || hops[h].node !== hops[h - 1].node) visits++;
  let n = visits;
  if (fromHost) n--; // ip_local_out: no TTL change at the sender
  if (delivered === 'host' && !(fromHost && visits === 1)) n--; // ip_local_deliver: none at the receiver
  const bridge = cs.cni === 'kubenet' || cs.cni === 'flannel-vxlan';
  const node = Number(hops[0].node.slice('node-'.length)) - 1;
  if (delivered === 'pod' && fromPod && bridge && visits === 1 && podNodeOf(sentDst) === node) n--; // switched on the bridge
  return n;
}

const ipOf = (hostPort: string): number => hostPort.split(':')[0].split('.').reduce((a, o) => a * 256 + Number(o), 0);

/** TTL delivered = TTL sent − routers, for each stretch of a packet's path (split at the userspace proxy). */
function ttlHolds(cs: ClusterSpec, s: SentPacket, probe: Probe): string {
  if (s.end !== END_POD && s.end !== END_HOST && s.end !== END_EXTERNAL) return '';
  const delivered = s.end === END_POD ? 'pod' : s.end === END_HOST ? 'host' : 'external';
  const cut = s.hops.findIndex((h) => h.at === kProxyHop);
  // With socket LB (Cilium) what the pod writes on its eth0 is already the backend, whose bridge decides.
  const onWire = s.hops.find((h) => h.at === 'pod eth0');
  const sentDst = onWire ? ipOf(onWire.dst) : probe.dstIp;
  const stretches = cut < 0 ? [{ hops: s.hops, fromHost: probe.entry === ENTRY_HOST, fromPod: probe.entry === ENTRY_POD, ttl: s.hops[0].ttl, dst: sentDst }] : [{ hops: s.hops.slice(cut), fromHost: true, fromPod: false, ttl: kDefaultTtl, dst: ipOf(s.hops[cut].dst) }];
  const { hops, fromHost, fromPod, ttl, dst } = stretches[0];
  const want = ttl - routers(cs, hops, fromHost, fromPod, dst, delivered);
  const got = s.hops[s.hops.length - 1].ttl;
  return got === want ? '' : `delivered (${delivered}) with TTL ${got}, want ${want} (sent with ${ttl}${cut >= 0 ? ' by the userspace proxy' : ''}; path ${hops.map((h) => `${h.node}/${h.at}:${h.ttl}`).join(' ')})`;
}

for (const mode of modeNames()) {
  test(`[${mode}] TTL at delivery is the TTL sent less the routers passed, for every packet of a conversation both ways`, () => {
    checkProperty(
      `${mode}: TTL = sent − routed hops`,
      scenarioArb(),
      (sc) => {
        // Arrange
        const { cluster, packets } = resolveScenario(sc);
        const lc = loggedContext(cluster, mode);
        for (const p of packets) {
          // Act: the handshake, then data both ways (TCP), or two exchanges (UDP).
          const tcp = p.probe.proto === PROTO_TCP;
          const first = sendPacket(lc, p.probe, TCP_SYN);
          const back = replyProbe(first, p.probe);
          const conversation: [string, SentPacket, Probe][] = [['first packet', first, p.probe]];
          if (back) {
            conversation.push(['first reply', sendPacket(lc, back, TCP_SYN | TCP_ACK), back]);
            conversation.push([tcp ? 'ACK' : 'second packet', sendPacket(lc, p.probe, TCP_ACK), p.probe]);
            conversation.push(['data', sendPacket(lc, { ...p.probe, payload: 512 }, TCP_PSH | TCP_ACK), p.probe]);
            conversation.push(['data reply', sendPacket(lc, { ...back, payload: 256 }, TCP_PSH | TCP_ACK), back]);
          }
          // Assert
          for (const [what, s, probe] of conversation) holds(ttlHolds(sc.cluster, s, probe), what);
        }
      },
      { numRuns: kRuns, ...scenarioReport(mode) },
    );
  });
}

test('[userspace] regression: the proxy writes the reply to the client in a packet of its own, with TTL 64', () => {
  // Arrange: a client pod on node-1, its Service's one endpoint on node-2 (kubenet).
  const cs: ClusterSpec = {
    cni: 'kubenet', nodes: 2, nodeExternalIPs: false, masqueradeAll: false,
    services: [{ kind: 'ClusterIP', externalIP: false, sourceRanges: false, externalLocal: false, internalLocal: false, affinity: false, ports: [{ udp: false, namedTarget: false }], endpoints: [{ node: 1, state: 'ready' }] }],
  };
  const { cluster, packets } = resolveScenario({ cluster: cs, packets: [{ src: 'pod', srcNode: 0, srcIndex: 0, dst: 'cluster-ip', service: 0, port: 0, dstNode: 0, flipProto: false, srcPort: 40000 }] });
  const lc = loggedContext(cluster, 'userspace');
  // Act
  const first = sendPacket(lc, packets[0].probe, TCP_SYN);
  const reply = sendPacket(lc, replyProbe(first, packets[0].probe)!, TCP_SYN | TCP_ACK);
  // Assert: node-2 routed the endpoint's reply (63) to the proxy, whose own packet starts at 64
  // and reaches the client over cbr0 from OUTPUT (no router).
  holds(reply.end === END_POD ? '' : `reply ended ${reply.end}`);
  holds(reply.hops[reply.hops.length - 1].ttl === kDefaultTtl ? '' : `the client reads TTL ${reply.hops[reply.hops.length - 1].ttl}`);
});
