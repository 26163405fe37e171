/**
 * An oracle of kube-proxy's iptables mode for the first packet of a generated scenario: what the
 * node's rules do to it (DNAT, nothing, REJECT or DROP), which service port it addresses, every
 * endpoint the DNAT may pick and whether any of those paths masquerades. It is written from
 * kube-proxy v1.33's own source, not from kdp's compiler, so that a bug in code kdp's modes
 * share (src/compile/topology.ts, local-detector.ts, node-addresses.ts, the model) shows as a
 * disagreement instead of being copied into the reference:
 *
 *  - pkg/proxy/iptables/proxier.go syncProxyRules: hasEndpoints / hasInternalEndpoints /
 *    hasExternalEndpoints; the ClusterIP, externalIP and LB-IP captures in nat KUBE-SERVICES;
 *    the filter-table verdicts internalTrafficFilterTarget / externalTrafficFilterTarget
 *    (REJECT "has no endpoints", DROP "has no local endpoints") in filter KUBE-SERVICES and
 *    KUBE-EXTERNAL-SERVICES; the EXT chain (masquerade for eTP Cluster; for eTP Local the
 *    pod short-circuit, "masquerade LOCAL traffic" and "route LOCAL traffic" to the cluster
 *    chain); the FW chain for loadBalancerSourceRanges (usesFWChain) with the
 *    KUBE-PROXY-FIREWALL drop; the KUBE-NODEPORTS tail call (`-m addrtype --dst-type LOCAL`
 *    when NodePortAddresses.MatchAll, else `-d <ip>` per matching node IP); KUBE-SEP's hairpin
 *    masquerade (`-s <endpoint ip>`).
 *  - iptablesJumpChains (same file): filter KUBE-EXTERNAL-SERVICES is jumped from INPUT and
 *    FORWARD only, filter KUBE-SERVICES from FORWARD and OUTPUT, KUBE-PROXY-FIREWALL from INPUT,
 *    OUTPUT and FORWARD, so the node's own packets never meet KUBE-EXTERNAL-SERVICES.
 *  - the health-check node port ("Capture healthCheckNodePorts", same loop): for every service port
 *    whose Service kube-proxy keeps a health-check node port for (pkg/proxy/serviceport.go
 *    newBaseServiceInfo: only `apiservice.NeedsHealthCheck`, a LoadBalancer with
 *    externalTrafficPolicy Local), `-A KUBE-NODEPORTS -m comment --comment "<svc> health check
 *    node port" -m tcp -p tcp --dport N -j ACCEPT` in the filter table, whatever the endpoints.
 *    Filter KUBE-NODEPORTS is jumped from INPUT only, with no other match ("kubernetes health
 *    check service ports", iptablesJumpChains), and the rule names no address, so it takes TCP to
 *    every local address, nodePortAddresses or not (that setting places the health server's
 *    listener, not this rule).
 *  - pkg/proxy/topology.go CategorizeEndpoints, via endpointSets (nat-assertions.ts).
 *  - pkg/proxy/util/nodeport_addresses.go NewNodePortAddresses (a zero CIDR matches all) and
 *    cmd/kube-proxy/app/server.go ("primary" becomes the node's primary IP as a /32).
 *
 * The netfilter walk is the kernel's: nat PREROUTING (OUTPUT for the node's own packets), then
 * filter INPUT when the destination (after any DNAT) is a local address, FORWARD otherwise
 * (OUTPUT for the node's own), every kube-proxy filter jump guarded by `--ctstate NEW` (a first
 * packet is NEW). Left out, as kdp's pipeline leaves it out: the node's own packet to one of its
 * own addresses goes out by `lo` and crosses filter INPUT too (so on a real node it would meet
 * KUBE-EXTERNAL-SERVICES and the health-check ACCEPT as well).
 *
 * Masquerade is `Explanation.masquerade`'s meaning (src/compile/dataplane.ts): marked on any
 * candidate path, so a hairpin (the client is one of the candidates) counts.
 */
import { cidrContains, parseCidr, type Cidr } from '../../src/net/ipv4.js';
import { ENTRY_HOST, ENTRY_POD } from '../../src/dataplane/pipeline.js';
import type { Cluster, ModeName } from '../../src/model/types.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { effectiveService, healthCheckNodePortNumber, lbIp, nodeExternalIp, nodeIp, type ClusterSpec, type ResolvedPacket } from './arbitraries.js';
import { detectedSource, endpointSets, externalPolicyLocal } from './nat-assertions.js';

/** A mode's answer for a first packet, every random branch explored (the shape cross-mode compares). */
export interface ServiceAnswer {
  /** `accept`: a health-check node port's filter ACCEPT (no Service port is addressed; servicePort -1). */
  verdict: 'dnat' | 'none' | 'reject' | 'drop' | 'unknown' | 'accept';
  /** The addressed port (index into Cluster.ports) for DNAT, else -1. */
  servicePort: number;
  /** Every endpoint row the DNAT may pick, ascending; empty unless DNAT. */
  candidates: number[];
  /** Masquerade on any candidate path; null unless DNAT. */
  masquerade: boolean | null;
}

const kNone: ServiceAnswer = { verdict: 'none', servicePort: -1, candidates: [], masquerade: null };
const verdictOnly = (verdict: 'none' | 'reject' | 'drop'): ServiceAnswer => ({ ...kNone, verdict });

/** The node's own addresses by the address plan (its InternalIP, and ExternalIP when it has one). */
export function nodeAddressesOf(cs: ClusterSpec, node: number): number[] {
  return cs.nodeExternalIPs ? [nodeIp(node), nodeExternalIp(node)] : [nodeIp(node)];
}

/** `-m addrtype --dst-type LOCAL` / `--src-type LOCAL` on `node`: its addresses and 127.0.0.0/8. */
export function isLocalOn(cs: ClusterSpec, node: number, ip: number): boolean {
  return ip >>> 24 === 127 || nodeAddressesOf(cs, node).includes(ip >>> 0);
}

/**
 * Whether `mode` serves NodePorts on address `dst` of node `node`, by the spec's nodePortAddresses:
 *  - iptables, IPVS: unset or a zero CIDR is NodePortAddresses.MatchAll (every local address:
 *    iptables `-m addrtype --dst-type LOCAL`, IPVS every node IP); otherwise the node's IPs
 *    inside the CIDRs (GetNodeIPs); "primary" is the node's primary IP (server.go).
 *  - nftables: the same, but unset means ["primary"] (server_linux.go platformApplyDefaults).
 *  - userspace: openNodePort ignores nodePortAddresses (KUBE-NODEPORT-* are jumped with
 *    `-m addrtype --dst-type LOCAL`, pkg/proxy/userspace/proxier.go): every local address.
 *  - cilium: the agent does not read KubeProxyConfiguration; its NodePort frontends are the
 *    node's own addresses (pkg/loadbalancer, the node-address table), every one of them here.
 * Loopback destinations are never generated, so localhostNodePorts plays no part here.
 */
export function nodePortServed(mode: ModeName, cs: ClusterSpec, node: number, dst: number): boolean {
  if (!isLocalOn(cs, node, dst)) return false;
  const configured = cs.nodePortAddresses ?? (mode === 'nftables' ? ['primary'] : []);
  if (mode === 'userspace' || mode === 'cilium' || configured.length === 0) return true;
  if (configured.length === 1 && configured[0] === 'primary') return dst === nodeIp(node);
  const cidrs = configured.map((c) => parseCidr(c) as Cidr);
  if (cidrs.some((c) => c.prefix === 0)) return true;
  return cidrs.some((c) => cidrContains(c, dst));
}

/**
 * Whether `p` meets filter INPUT's health-check rule's address and port: it arrives at its node
 * (the node's own packets meet filter OUTPUT: the walk of the header) for one of the node's
 * addresses, on the health-check node port of a Service kube-proxy keeps one for (LoadBalancer,
 * Local policy; a stray field elsewhere is dropped by newBaseServiceInfo). The protocol is the
 * caller's: iptables mode's rule is `-m tcp -p tcp`.
 */
export function reachesHealthCheckPort(cs: ClusterSpec, p: ResolvedPacket): boolean {
  const { node, dstIp, dstPort, entry } = p.probe;
  if (entry === ENTRY_HOST || !isLocalOn(cs, node, dstIp)) return false;
  return cs.services.some((raw, j) => {
    const s = effectiveService(raw);
    return s.kind === 'LoadBalancer' && s.externalLocal && healthCheckNodePortNumber(j) === dstPort;
  });
}

/** kube-proxy iptables mode's answer for the first packet `p` on its node (see the header). */
export function iptablesAnswer(cs: ClusterSpec, cluster: Cluster, p: ResolvedPacket): ServiceAnswer {
  const sp = p.target.servicePort;
  if (sp < 0) {
    // (address, port, protocol) of no service port: nothing in nat; in filter only the health check.
    return reachesHealthCheckPort(cs, p) && p.probe.proto === PROTO_TCP ? { ...kNone, verdict: 'accept' } : kNone;
  }
  const { node, srcIp, dstIp, entry } = p.probe;
  const j = p.target.service;
  const via = p.target.via;
  const svc = effectiveService(cs.services[j]);
  const own = entry === ENTRY_HOST; // nat OUTPUT, filter OUTPUT

  // syncProxyRules' per-port booleans.
  const sets = endpointSets(cs, cluster, sp, node);
  const hasEndpoints = sets.hasAny;
  const hasInternalEndpoints = hasEndpoints && !(svc.internalLocal && sets.local.length === 0);
  const hasExternalEndpoints = hasEndpoints && !(externalPolicyLocal(svc) && sets.local.length === 0);
  const sourceRanges = svc.sourceRanges ? [parseCidr('203.0.113.0/25') as Cidr] : [];
  const usesFWChain = hasEndpoints && svc.kind === 'LoadBalancer' && sourceRanges.length > 0;
  // REJECT when the service has no endpoints at all, DROP when only the policy's local ones lack.
  const filterTarget: 'reject' | 'drop' = hasEndpoints ? 'drop' : 'reject';

  // How the node's local detector classes the source, and `--src-type LOCAL`.
  const source = detectedSource(cluster, node, srcIp, entry === ENTRY_POD, own);
  const srcLocal = own || isLocalOn(cs, node, srcIp);

  // KUBE-SEP-*: `-s <endpoint> -j KUBE-MARK-MASQ` then DNAT; masquerade on any candidate path.
  const dnat = (rows: readonly number[], marked: boolean): ServiceAnswer => ({
    verdict: 'dnat',
    servicePort: sp,
    candidates: [...rows].sort((a, b) => a - b),
    masquerade: marked || rows.some((r) => cluster.endpoints.ip[r] === srcIp),
  });

  // KUBE-EXT-*; null when the packet falls off its end (eTP Local without local endpoints).
  const ext = (): ServiceAnswer | null => {
    if (!externalPolicyLocal(svc)) return dnat(sets.cluster, true); // "masquerade traffic for ... external destinations"
    if (source === 'pod') return dnat(sets.cluster, false); // "pod traffic for ... external destinations"
    if (srcLocal) return dnat(sets.cluster, true); // "masquerade LOCAL traffic", then "route LOCAL traffic"
    return hasExternalEndpoints ? dnat(sets.local, false) : null;
  };

  // Nothing DNATed: the filter table decides (INPUT/FORWARD, or OUTPUT for the node's own).
  const filterExternal = (): ServiceAnswer => {
    // KUBE-PROXY-FIREWALL (INPUT, OUTPUT, FORWARD): "traffic not accepted by KUBE-FW-*".
    if (via === 'lb-ip' && usesFWChain) return verdictOnly('drop');
    if (own || hasExternalEndpoints) return kNone; // KUBE-EXTERNAL-SERVICES: INPUT and FORWARD only
    // The NodePort rule there is `-m addrtype --dst-type LOCAL`, whatever nodePortAddresses says.
    if (via === 'node-port' && !isLocalOn(cs, node, dstIp)) return kNone;
    return verdictOnly(filterTarget);
  };

  switch (via) {
    case 'cluster-ip': {
      if (!hasInternalEndpoints) return verdictOnly(filterTarget); // filter KUBE-SERVICES (FORWARD, OUTPUT)
      // KUBE-SVC-* / KUBE-SVL-*: masqueradeAll, else `<IfNotLocal> -j KUBE-MARK-MASQ`.
      return dnat(svc.internalLocal ? sets.local : sets.cluster, cs.masqueradeAll || source !== 'pod');
    }
    case 'external-ip':
      return (hasEndpoints ? ext() : null) ?? filterExternal();
    case 'lb-ip': {
      if (!hasEndpoints) return filterExternal();
      if (!usesFWChain) return ext() ?? filterExternal();
      // KUBE-FW-*: `-s <range> -j KUBE-EXT-*` per range, and `-s <lb ip>` when a range holds the node IP.
      const allowFromNode = sourceRanges.some((c) => cidrContains(c, nodeIp(node)));
      const accepted = sourceRanges.some((c) => cidrContains(c, srcIp)) || (allowFromNode && srcIp === lbIp(j));
      return (accepted ? ext() : null) ?? filterExternal();
    }
    case 'node-port':
      // The KUBE-NODEPORTS tail call of nat KUBE-SERVICES, then `--dport <nodePort> -j KUBE-EXT-*`.
      return (hasEndpoints && nodePortServed('iptables', cs, node, dstIp) ? ext() : null) ?? filterExternal();
    default:
      return kNone;
  }
}
