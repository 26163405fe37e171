/**
 * Every mode agrees with kube-proxy: for random clusters and packets, the iptables, IPVS,
 * nftables and userspace dataplanes (compiled for the node where the packet meets the rules)
 * give the decision, service, full set of eligible endpoints and masquerade that an oracle of
 * kube-proxy's iptables mode gives (test/helpers/iptables-oracle.ts, written from kube-proxy's
 * source, not from kdp's), except where kube-proxy's own modes differ. iptables mode must equal
 * the oracle; each known difference of another mode is listed below with the kube-proxy source
 * that shows it, and is applied as a precise prediction of how the mode's answer differs from
 * the oracle's (so a difference outside its documented condition still fails). With the oracle
 * as the reference, a bug in code the modes share (topology, local detection, node addresses,
 * the model) fails here even when every mode repeats it.
 *
 * Differences (the iptables-mode oracle is the reference; see also test/compile/{nftables,ipvs,userspace}):
 *  N-D1 nftables: a ClusterIP on a port/protocol no service uses is REJECTed.
 *       pkg/proxy/nftables/proxier.go setupNFTables, chain `cluster-ips-check`:
 *       "Reject traffic to invalid ports of ClusterIPs". iptables mode: no rule, none.
 *  N-D2 nftables: an unallocated address inside a ServiceCIDR is DROPped (same chain, "Drop
 *       traffic to unallocated ClusterIPs"). iptables mode: none.
 *  N-D3 nftables: NodePorts answer on the node's primary IP only by default
 *       (cmd/kube-proxy/app/server_linux.go platformApplyDefaults: nodePortAddresses ["primary"]);
 *       iptables mode serves every local address, here the node's ExternalIP too. With
 *       nodePortAddresses set, both serve the node IPs inside it.
 *  N-D7 nftables: a NodePort on a local address outside nodePortAddresses is nothing to
 *       nftables, endpoints or not: the no-endpoint check matches `ip daddr @nodeport-ips`
 *       (nodePortEndpointsCheckChain, setupNFTables). iptables mode's KUBE-EXTERNAL-SERVICES
 *       NodePort rule matches `-m addrtype --dst-type LOCAL` (every local address), so a port
 *       without (local) endpoints is REJECTed / DROPped there on every local address.
 *  N-D5 nftables: node-originated traffic to an externalIP or LB IP of a service without
 *       endpoints is REJECTed: nftablesJumpChains jumps service-endpoints-check (the
 *       no-endpoint-services map, which holds external addresses too) from filter-output.
 *       (Under eTP Local without a local endpoint it once DROPped too; since kubernetes PR 132456,
 *       1.33 PR 133969, filter-output runs at priority 0, after nat-output has short-circuited
 *       the node's own packet to the cluster endpoints, as iptables mode does.) iptables mode puts these
 *       verdicts in KUBE-EXTERNAL-SERVICES ("has no endpoints" REJECT, "has no local endpoints"
 *       DROP), jumped from INPUT and FORWARD only (iptablesJumpChains), so the node's own packet
 *       goes on (none), or short-circuits to the cluster endpoints ("route LOCAL traffic").
 *  N-D6 nftables: like I-D6, the LB source-range firewall (firewall-check, jumped from
 *       filter-prerouting-pre-dnat / filter-output-pre-dnat at priority -110, before
 *       service-endpoints-check at 0) DROPs outsiders, the node's own packets included, even when
 *       the service has no endpoints; iptables mode REJECTs them (no KUBE-FW without endpoints).
 *  N-D8 nftables: no rule for a health-check node port: syncProxyRules only hands the ports to
 *       the service health server (serviceHealthServer.SyncServices), and no chain of the
 *       kube-proxy table names them (pkg/proxy/nftables/proxier.go, setupNFTables and
 *       syncProxyRules). iptables mode ACCEPTs TCP to it in filter KUBE-NODEPORTS (INPUT).
 *  I-D1/D2/D4 IPVS: a Local policy uses the local endpoints, else the cluster endpoints
 *       (pkg/proxy/ipvs/proxier.go syncEndpoint, kubernetes PR 97081: "Allow access from local
 *       PODs even if no local endpoints exist"), for every source; a virtual service without
 *       real servers answers ICMP port unreachable (net/netfilter/ipvs/ip_vs_core.c ip_vs_leave):
 *       REJECT. iptables mode: "has no local endpoints" DROP in filter KUBE-SERVICES (ClusterIP) or
 *       KUBE-EXTERNAL-SERVICES (external addresses), and pod/node
 *       traffic to external addresses short-circuits to KUBE-SVC (all cluster endpoints).
 *       No masquerade follows from the policy itself (KUBE-NODE-PORT-LOCAL / KUBE-LOAD-BALANCER-LOCAL
 *       / KUBE-EXTERNAL-IP-LOCAL RETURN before KUBE-MARK-MASQ).
 *  I-D6 IPVS: LB source ranges are enforced in filter INPUT (KUBE-SOURCE-RANGES-FIREWALL, before
 *       IPVS at LOCAL_IN) for every LB with ranges, endpoints or not (KUBE-LOAD-BALANCER-FW ipset);
 *       iptables mode writes its KUBE-FW / KUBE-PROXY-FIREWALL drop only when the service has
 *       endpoints (usesFWChain), so without endpoints it REJECTs instead.
 *  I-D3 IPVS: any bound VIP (ClusterIP, externalIP, LB IP) on a port/protocol without a virtual
 *       service is REJECTed (KUBE-IPVS-FILTER in writeIptablesRules, issue 72236).
 *  I-D7 IPVS: NodePort virtual services exist only on the node IPs nodePortAddresses selects
 *       (syncProxyRules' nodeIPs, from GetNodeIPs); another local address has no virtual service
 *       and KUBE-IPVS-FILTER does not cover node IPs, so it is nothing, endpoints or not
 *       (iptables mode: REJECT / DROP there without (local) endpoints, as N-D7).
 *  I-D8 IPVS: the health-check ACCEPT (`-A KUBE-NODE-PORT -m set --match-set
 *       KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT`, writeIptablesRules; INPUT jumps KUBE-NODE-PORT)
 *       matches a bitmap:port set, which holds no protocol: the kernel matches the destination
 *       port of TCP and UDP alike (net/netfilter/ipset/ip_set_bitmap_port.c bitmap_port_kadt,
 *       ip_set_get_ip_port), so UDP to the port is ACCEPTed too. iptables mode: `-m tcp -p tcp`.
 *  U-D1 userspace: no masquerade mark at all; the proxy's own connection carries the node's
 *       address (pkg/proxy/userspace/proxier.go, proxysocket.go): masquerade is not compared.
 *  U-D2 userspace: no traffic policies, no terminating fallback, no REJECT for an empty
 *       service: LoadBalancerRR gets the Endpoints' ready addresses only (roundrobin.go
 *       OnEndpointsUpdate) and every service port is a portal (REDIRECT), endpoints or not.
 *  U-D3 userspace: loadBalancerSourceRanges are not enforced (openPortal has no source match).
 *  U-D4 userspace: externalIP portals skip packets that came through a bridge
 *       (`-m physdev ! --physdev-is-in`) unless the externalIP is local: pods on kubenet do not
 *       reach externalIPs through the proxy; and the host portal for an externalIP carries
 *       `-m addrtype --dst-type LOCAL` (openOnePortal), so the node's own traffic to a
 *       non-local externalIP is not captured either.
 *  U-D5 userspace: nodePortAddresses is not honoured: openNodePort opens the NodePort on every
 *       local address (KUBE-NODEPORT-* jumped with `-m addrtype --dst-type LOCAL`).
 *  U-D6 userspace: no health-check node port: ServiceInfo has no such field and no portal or
 *       filter rule names one (pkg/proxy/userspace/proxier.go): none.
 *  Cilium (v1.17; sources in the README's difference table): a pod's or the node's own traffic is
 *  translated at its socket (bpf/bpf_sock.c __sock4_xlate_fwd), traffic arriving at the node's
 *  device at tc (bpf/lib/nodeport.h nodeport_lb4); the first packet is explained where it meets them.
 *  C-D1 in-cluster traffic (socket) to any frontend uses the backends of internalTrafficPolicy
 *       (the internal-scope entry, SVC_FLAG_TWO_SCOPES, lb4_lookup_service with scope switch);
 *       iptables mode applies internalTrafficPolicy to ClusterIPs only and short-circuits pod
 *       traffic to external addresses to every cluster endpoint.
 *  C-D2 a socket's connect() to a Service without backends fails; at the device, a frontend
 *       without backends answers service-no-backend-response (reject by default), Local policy
 *       included (iptables mode DROPs under eTP Local).
 *  C-D3 an externalIP is not translated at a socket unless it is the node's own address
 *       (sock4_skip_xlate): none.
 *  C-D4 a ClusterIP is not routable from outside (SVC_FLAG_ROUTABLE unset unless
 *       bpf-lb-external-clusterip): DROP_IS_CLUSTER_IP.
 *  C-D5 NodePorts answer at the device on the node's own addresses; sockets reach any node's
 *       NodePort by the wildcard 0.0.0.0:port entry (sock4_wildcard_lookup_full).
 *  C-D6 loadBalancerSourceRanges are checked at the device only (nodeport_lb4 lb4_src_range_ok),
 *       before the backend count, so outsiders are dropped even without backends.
 *  C-D7 SNAT at the device only toward a backend on another node (nodeport_nat_ipv4_fwd); none
 *       at the socket.
 *  C-D8 SCTP ports are not load-balanced: the agent leaves them out without enable-sctp (default
 *       false), and sockets never translate SCTP (bpf_sock.c sock_proto_enabled).
 *  C-D10 a health-check node port is no frontend: the agent serves it from an ordinary listening
 *       socket (pkg/service/healthserver, `Addr: ":<port>"`), so the datapath lets it pass: none.
 *
 * Runs in `npm test`: 300 scenarios (cluster + up to 4 packets, every mode, every node).
 */
import { test } from 'node:test';
import { modeNames, compileDataplane } from '../../src/compile/index.js';
import { HOOK_OUTPUT, HOOK_PREROUTING, HOOK_SOCKET, newFirstPacket, type Explanation, type ServiceDataplane } from '../../src/compile/dataplane.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD } from '../../src/dataplane/pipeline.js';
import type { Cluster, ModeName } from '../../src/model/types.js';
import { formatIp, cidrContains, parseCidr } from '../../src/net/ipv4.js';
import { PROTO_SCTP, PROTO_UDP } from '../../src/net/proto.js';
import { kServiceCidr, resolveScenario, scenarioArb, type ClusterSpec, type ResolvedPacket } from '../helpers/arbitraries.js';
import { iptablesAnswer, nodePortServed, reachesHealthCheckPort, type ServiceAnswer } from '../helpers/iptables-oracle.js';
import { checkProperty, detectedSource, eligibleRows, endpointSets, holds, runs, scenarioReport, type SourceClass, type Via } from '../helpers/nat-assertions.js';

const kRuns = runs(300);
const serviceCidr = parseCidr(kServiceCidr)!;

function answerOf(ex: Explanation): ServiceAnswer {
  const verdict = ex.verdict === 'redirect' ? 'dnat' : ex.verdict;
  return {
    verdict,
    servicePort: verdict === 'dnat' ? ex.servicePort : -1,
    candidates: verdict === 'dnat' ? [...new Set(ex.candidates)].sort((a, b) => a - b) : [],
    masquerade: verdict === 'dnat' ? ex.masquerade : null,
  };
}

const show = (c: Cluster, a: ServiceAnswer): string =>
  `${a.verdict}${a.verdict === 'dnat' ? ` port#${a.servicePort} [${a.candidates.map((r) => formatIp(c.endpoints.ip[r])).join(', ')}] masq=${a.masquerade}` : ''}`;

/** What the packet addresses, in the deciding node's terms. */
function classify(cluster: Cluster, p: ResolvedPacket): { vip: 'cluster-ip' | 'external-ip' | 'lb-ip' | null; src: SourceClass } {
  const { dstIp, srcIp } = p.probe;
  const vip = cluster.services.some((s) => s.clusterIPs.includes(dstIp))
    ? 'cluster-ip'
    : cluster.services.some((s) => s.externalIPs.includes(dstIp))
      ? 'external-ip'
      : cluster.services.some((s) => s.loadBalancerIPs.includes(dstIp))
        ? 'lb-ip'
        : null;
  const src: SourceClass = detectedSource(cluster, p.probe.node, srcIp, p.probe.entry === ENTRY_POD, p.probe.entry === ENTRY_HOST);
  return { vip, src };
}

/** The answer `mode` must give, from the oracle's answer for iptables mode and the documented differences. */
function predict(mode: ModeName, ref: ServiceAnswer, cs: ClusterSpec, cluster: Cluster, p: ResolvedPacket): { want: ServiceAnswer; compareMasq: boolean } {
  const k = classify(cluster, p);
  const sp = p.target.servicePort;
  const via = p.target.via as Via;
  const none: ServiceAnswer = { verdict: 'none', servicePort: -1, candidates: [], masquerade: null };
  if (mode === 'iptables') return { want: ref, compareMasq: true };
  // Where the mode opens NodePorts (N-D3, N-D7, I-D7, U-D5): elsewhere a NodePort is nothing to it.
  const served = via !== 'node-port' || nodePortServed(mode, cs, p.probe.node, p.probe.dstIp);
  if (mode === 'nftables') {
    if (sp < 0 && k.vip === 'cluster-ip') return { want: { ...none, verdict: 'reject' }, compareMasq: true }; // N-D1
    if (sp < 0 && k.vip === null && cidrContains(serviceCidr, p.probe.dstIp)) return { want: { ...none, verdict: 'drop' }, compareMasq: true }; // N-D2
    if (!served) return { want: none, compareMasq: true }; // N-D3, N-D7
    if (sp >= 0 && (via === 'external-ip' || via === 'lb-ip')) {
      const svc = cluster.services[cluster.ports[sp].service];
      const sets = endpointSets(cs, cluster, sp, p.probe.node);
      if (svc.loadBalancerSourceRanges.length > 0 && via === 'lb-ip' && sets.cluster.length === 0 && !svc.loadBalancerSourceRanges.some((c) => cidrContains(c, p.probe.srcIp))) {
        return { want: { ...none, verdict: 'drop' }, compareMasq: true }; // N-D6
      }
      if (p.probe.entry === ENTRY_HOST && sets.cluster.length === 0) return { want: { ...none, verdict: 'reject' }, compareMasq: true }; // N-D5
    }
    if (ref.verdict === 'accept') return { want: none, compareMasq: true }; // N-D8
    return { want: ref, compareMasq: true };
  }
  if (mode === 'ipvs') {
    if (sp < 0 && k.vip === null && p.probe.proto === PROTO_UDP && reachesHealthCheckPort(cs, p)) return { want: { ...none, verdict: 'accept' }, compareMasq: true }; // I-D8
    if (sp < 0) return { want: k.vip !== null ? { ...none, verdict: 'reject' } : ref, compareMasq: true }; // I-D3
    if (!served) return { want: none, compareMasq: true }; // I-D7
    const svc = cluster.services[cluster.ports[sp].service];
    // I-D6: the source-range firewall (filter INPUT, before IPVS at LOCAL_IN) for every LB with
    // ranges, endpoints or not (the KUBE-LOAD-BALANCER-FW ipset is filled regardless of endpoints).
    // The node's own packets meet IPVS at LOCAL_OUT, before filter INPUT (only KUBE-IPVS-OUT-FILTER,
    // for a source equal to the LB IP, applies to them).
    if (via === 'lb-ip' && p.probe.entry !== ENTRY_HOST && svc.loadBalancerSourceRanges.length > 0 && !svc.loadBalancerSourceRanges.some((c) => cidrContains(c, p.probe.srcIp))) {
      return { want: { ...none, verdict: 'drop' }, compareMasq: true };
    }
    const rows = [...eligibleRows('ipvs', cs, cluster, sp, p.probe.node, via, k.src)].sort((a, b) => a - b);
    if (rows.length === 0) return { want: { ...none, verdict: 'reject' }, compareMasq: true }; // I-D2 (ip_vs_leave)
    const localPolicy = via === 'cluster-ip' ? svc.internalTrafficPolicy === 'Local' : svc.externalTrafficPolicy === 'Local';
    if (!localPolicy) return { want: { ...ref, verdict: 'dnat', servicePort: sp, candidates: rows }, compareMasq: ref.verdict === 'dnat' };
    const hairpin = rows.some((r) => cluster.endpoints.ip[r] === p.probe.srcIp);
    // I-D1/D4: no masquerade from the Local policy's path; Cluster-style masquerade only for
    // ClusterIP rules (off-cluster source, masqueradeAll) and hairpin (KUBE-LOOP-BACK).
    const masq = via === 'cluster-ip' ? (ref.verdict === 'dnat' ? ref.masquerade : null) : hairpin || k.src === 'host' ? null : false;
    return { want: { verdict: 'dnat', servicePort: sp, candidates: rows, masquerade: masq }, compareMasq: masq !== null };
  }
  if (mode === 'cilium') {
    const socket = p.probe.entry === ENTRY_POD || p.probe.entry === ENTRY_HOST;
    if (sp < 0 || cluster.ports[sp].protocol === PROTO_SCTP) return { want: none, compareMasq: true }; // C-D8, C-D10
    const anyNode = cluster.nodes.some((n) => n.internalIPs.includes(p.probe.dstIp) || n.externalIPs.includes(p.probe.dstIp));
    const svc = cluster.services[cluster.ports[sp].service];
    const sets = endpointSets(cs, cluster, sp, p.probe.node);
    if (socket) {
      if (via === 'external-ip') return { want: none, compareMasq: true }; // C-D3
      const loopback = p.probe.entry === ENTRY_HOST && p.probe.dstIp >>> 24 === 127;
      if (via === 'node-port' && !anyNode && !loopback) return { want: none, compareMasq: true }; // C-D5
      const rows = svc.internalTrafficPolicy === 'Local' ? sets.local : sets.cluster; // C-D1, C-D5
      if (rows.length === 0) return { want: { ...none, verdict: 'reject' }, compareMasq: true }; // C-D2
      return { want: { verdict: 'dnat', servicePort: sp, candidates: [...rows], masquerade: false }, compareMasq: true }; // C-D7
    }
    if (via === 'cluster-ip') return { want: { ...none, verdict: 'drop' }, compareMasq: true }; // C-D4
    if (!served) return { want: none, compareMasq: true };
    if (via === 'lb-ip' && svc.loadBalancerSourceRanges.length > 0 && !svc.loadBalancerSourceRanges.some((c) => cidrContains(c, p.probe.srcIp))) {
      return { want: { ...none, verdict: 'drop' }, compareMasq: true }; // C-D6
    }
    const rows = svc.externalTrafficPolicy === 'Local' ? sets.local : sets.cluster;
    if (rows.length === 0) return { want: { ...none, verdict: 'reject' }, compareMasq: true }; // C-D2
    const masq = rows.some((r) => cluster.endpoints.node[r] !== p.probe.node); // C-D7
    return { want: { verdict: 'dnat', servicePort: sp, candidates: [...rows], masquerade: masq }, compareMasq: true };
  }
  // userspace
  if (ref.verdict === 'accept') return { want: none, compareMasq: false }; // U-D6
  if (sp < 0 || !served) return { want: ref, compareMasq: false };
  if (via === 'external-ip' && p.probe.entry === ENTRY_POD && (cs.cni === 'kubenet' || cs.cni === 'flannel-vxlan')) return { want: none, compareMasq: false }; // U-D4
  if (via === 'external-ip' && p.probe.entry === ENTRY_HOST) return { want: none, compareMasq: false }; // U-D4 (host portal: local externalIPs only)
  const ready = [...endpointSets(cs, cluster, sp, p.probe.node).ready].sort((a, b) => a - b);
  return { want: { verdict: 'dnat', servicePort: sp, candidates: ready, masquerade: null }, compareMasq: false }; // U-D2, U-D3, U-D5
}

test('every mode gives the answer of the kube-proxy iptables oracle, but for the documented differences', () => {
  checkProperty(
    'cross-mode agreement with the oracle',
    scenarioArb(),
    (sc) => {
      // Arrange: every mode compiled for every node the packets enter.
      const { cluster, packets } = resolveScenario(sc);
      const dps = new Map<string, ServiceDataplane>();
      const dp = (mode: ModeName, node: number): ServiceDataplane => {
        const key = `${mode}/${node}`;
        if (!dps.has(key)) dps.set(key, compileDataplane(cluster, mode, node));
        return dps.get(key)!;
      };
      for (const p of packets) {
        const pkt = newFirstPacket();
        Object.assign(pkt, {
          srcIp: p.probe.srcIp, srcPort: p.probe.srcPort, dstIp: p.probe.dstIp, dstPort: p.probe.dstPort, proto: p.probe.proto,
          hook: p.probe.entry === ENTRY_HOST ? HOOK_OUTPUT : HOOK_PREROUTING, fromPodInterface: p.probe.entry === ENTRY_POD,
        });
        // A local socket's first packet meets a socket-LB mode at connect() (the pipeline's socket stage).
        const atSocket = { ...pkt, hook: p.probe.entry === ENTRY_EXTERNAL ? pkt.hook : HOOK_SOCKET };
        const ref = iptablesAnswer(sc.cluster, cluster, p);
        for (const mode of modeNames()) {
          // Act: every branch of every mode's rules for this first packet.
          const d = dp(mode, p.probe.node);
          const got = answerOf(d.explain(d.socketLb ? atSocket : pkt));
          const { want, compareMasq } = predict(mode, ref, sc.cluster, cluster, p);
          // Assert
          const g = { ...got, masquerade: compareMasq ? got.masquerade : null };
          const w = { ...want, masquerade: compareMasq ? want.masquerade : null };
          holds(JSON.stringify(g) === JSON.stringify(w) ? '' : `${mode} says ${show(cluster, g)}; the iptables oracle says ${show(cluster, ref)}, so ${mode} should say ${show(cluster, w)}`);
        }
      }
    },
    { numRuns: kRuns, ...scenarioReport() },
  );
});
