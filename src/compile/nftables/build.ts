/**
 * Cluster -> the `ip kube-proxy` table, as kube-proxy's nftables proxier writes it on a full
 * sync into an empty table (pkg/proxy/nftables/proxier.go: setupNFTables, syncProxyRules,
 * writeServiceToEndpointRules), for one node. Objects come out in creation order, which is the
 * order `nft list table` prints them in; services go in model order where kube-proxy ranges
 * over a Go map (random order), so that the output is deterministic.
 *
 * Layout followed: kube-proxy after kubernetes PR 132456 (in 1.33 from PR 133969): the firewall
 * check in `filter-prerouting-pre-dnat` / `filter-output-pre-dnat` at `dstnat - 10`, so that
 * loadBalancerSourceRanges see the address the client asked for; every other filter chain
 * (`filter-input`, `filter-forward`, `filter-output`: `service-endpoints-check`,
 * `nodeport-endpoints-check`, `cluster-ips-check`) at priority 0, after DNAT, so that a packet
 * kube-proxy already sent to an endpoint is not dropped by a "no endpoints" element of the
 * address it was sent to (pod and host traffic to an eTP=Local LB IP on a node without local
 * endpoints). Source: pkg/proxy/nftables/proxier_test.go `baseRules` at commit 81810de6.
 */
import { nodeAddresses } from '../node-addresses.js';
import { cidrContains, type Cidr } from '../../net/ipv4.js';
import { servicePortName, shouldSkipService, type Cluster, type ServicePort } from '../../model/types.js';
import { localDetector, type LocalDetector } from '../local-detector.js';
import {
  categorizeEndpoints,
  externallyAccessible,
  externalPolicyLocal,
  internalPolicyLocal,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from '../topology.js';
import { affinitySetOf, hashedPortNames, type PortNames } from './names.js';
import { kTableName, type BaseChainSpec, type Chain, type MapElement, type MapKey, type Match, type NftMap, type NftSet, type Rule, type Ruleset, type Verdict, withChainIndex } from './ruleset.js';

export const kChainServices = 'services';
export const kMapServiceIps = 'service-ips';
export const kMapServiceNodePorts = 'service-nodeports';
export const kSetNodePortIps = 'nodeport-ips';
export const kSetClusterIps = 'cluster-ips';
export const kChainServiceEndpointsCheck = 'service-endpoints-check';
export const kChainNodePortEndpointsCheck = 'nodeport-endpoints-check';
export const kMapNoEndpointServices = 'no-endpoint-services';
export const kMapNoEndpointNodePorts = 'no-endpoint-nodeports';
export const kChainReject = 'reject-chain';
export const kChainClusterIpsCheck = 'cluster-ips-check';
export const kMapFirewallIps = 'firewall-ips';
export const kChainFirewallCheck = 'firewall-check';
export const kChainMarkMasq = 'mark-for-masquerade';
export const kChainMasquerading = 'masquerading';

/** The interface names kdp's model does not carry: kubenet's bridge and the usual veth prefix. */
export const kBridgeInterface = 'cbr0';
export const kInterfacePrefix = 'veth';

const DSTNAT = -100;
const SRCNAT = 100;
const FILTER = 0;
const kBaseChains: readonly (readonly [string, BaseChainSpec])[] = [
  ['filter-prerouting-pre-dnat', { type: 'filter', hook: 'prerouting', priority: DSTNAT - 10 }],
  ['filter-output-pre-dnat', { type: 'filter', hook: 'output', priority: DSTNAT - 10 }],
  ['filter-input', { type: 'filter', hook: 'input', priority: FILTER }],
  ['filter-forward', { type: 'filter', hook: 'forward', priority: FILTER }],
  ['filter-output', { type: 'filter', hook: 'output', priority: FILTER }],
  ['nat-prerouting', { type: 'nat', hook: 'prerouting', priority: DSTNAT }],
  ['nat-output', { type: 'nat', hook: 'output', priority: DSTNAT }],
  ['nat-postrouting', { type: 'nat', hook: 'postrouting', priority: SRCNAT }],
];

/** nftablesJumpChains: [destination, source, "ct state new"?], in kube-proxy's order. */
const kJumpChains: readonly (readonly [string, string, boolean])[] = [
  [kChainNodePortEndpointsCheck, 'filter-input', true],
  [kChainServiceEndpointsCheck, 'filter-input', true],
  [kChainServiceEndpointsCheck, 'filter-forward', true],
  [kChainServiceEndpointsCheck, 'filter-output', true],
  [kChainFirewallCheck, 'filter-prerouting-pre-dnat', true],
  [kChainFirewallCheck, 'filter-output-pre-dnat', true],
  [kChainServices, 'nat-output', false],
  [kChainServices, 'nat-prerouting', false],
  [kChainMasquerading, 'nat-postrouting', false],
  [kChainClusterIpsCheck, 'filter-forward', true],
  [kChainClusterIpsCheck, 'filter-output', true],
];

/** What the node's NodePorts listen on: kube-proxy's NodePortAddresses for this mode. */
export interface NodePortAddresses {
  /** A 0.0.0.0/0 entry: every local address (the `fib daddr type local` rule). */
  readonly matchAll: boolean;
  /** Otherwise the addresses of the `nodeport-ips` set. */
  readonly ips: readonly number[];
}

/**
 * nftables mode's default differs from iptables mode's: with no nodePortAddresses configured,
 * kube-proxy uses ["primary"] (cmd/kube-proxy/app/server_linux.go, platformApplyDefaults), so
 * NodePorts answer on the node's primary IP only, not on every local address.
 */
export function nodePortAddresses(cluster: Cluster, node: number): NodePortAddresses {
  const n = cluster.nodes[node];
  const { nodePortAddresses: cidrs, nodePortPrimaryOnly } = cluster.proxy;
  const primary = n && n.internalIPs.length > 0 ? [n.internalIPs[0]] : [];
  if (cidrs.some((c) => c.prefix === 0)) return { matchAll: true, ips: [] };
  if (cidrs.length === 0) return { matchAll: false, ips: primary };
  const ips = new Set<number>(nodePortPrimaryOnly ? primary : []);
  const addrs = nodeAddresses(cluster, node);
  for (const ip of addrs) {
    // Loopback is refused ("localhost NodePorts are not supported" in nftables mode).
    if (ip >>> 24 === 127) continue;
    if (cidrs.some((c) => cidrContains(c, ip))) ips.add(ip);
  }
  return { matchAll: false, ips: [...ips] };
}

/** The detector's IfLocalNFT / IfNotLocalNFT match (pkg/proxy/util/localdetector.go). */
function detectorMatch(det: LocalDetector, local: boolean, ifname: string): Match {
  if (det.byInterface) return { k: 'iifname', neg: !local, name: ifname };
  return { k: 'addr', field: 'saddr', neg: !local, cidrs: det.cidrs };
}

export interface BuildOptions {
  readonly node: number;
  /**
   * Only these Services' ports are written (chains, map and set elements); the fixed part in
   * full. Two such builds from clusters that differ only in these Services diff to the same
   * transaction as the whole rulesets do (planSync), at the cost of the changed Services alone.
   */
  readonly services?: ReadonlySet<number>;
}

class Builder {
  readonly sets: NftSet[] = [];
  readonly maps: NftMap[] = [];
  readonly order: (readonly ['set' | 'map', number])[] = [];
  /** Chains in creation order, and their positions by name (the ruleset's chainIndex). */
  readonly chains: { name: string; base?: BaseChainSpec; comment?: string; rules: Rule[] }[] = [];
  readonly index = new Map<string, number>();

  chain(name: string, base?: BaseChainSpec, comment?: string): Rule[] {
    const i = this.index.get(name);
    if (i !== undefined) return this.chains[i].rules;
    const c = { name, rules: [], ...(base ? { base } : {}), ...(comment !== undefined ? { comment } : {}) };
    this.index.set(name, this.chains.length);
    this.chains.push(c);
    return c.rules;
  }
  set(s: NftSet): void {
    this.order.push(['set', this.sets.length]);
    this.sets.push(s);
  }
  map(name: string, key: MapKey, comment: string): MapElement[] {
    const elements: MapElement[] = [];
    this.order.push(['map', this.maps.length]);
    this.maps.push({ name, key, comment, elements });
    return elements;
  }
}

const goto_ = (chain: string): Verdict => ({ k: 'goto', chain });
const jumpMasq: Rule['action'] = { k: 'jump', chain: kChainMarkMasq };

export function buildRuleset(cluster: Cluster, options: BuildOptions): Ruleset {
  const { node } = options;
  const b = new Builder();
  const det = localDetector(cluster, node);
  const ifname = cluster.proxy.detectLocalMode === 'InterfaceNamePrefix' ? `${kInterfacePrefix}*` : kBridgeInterface;
  const npa = nodePortAddresses(cluster, node);
  const masqMark = (1 << cluster.proxy.masqueradeBit) >>> 0;
  const nodeIP = cluster.nodes[node]?.internalIPs[0] ?? -1;

  // setupNFTables
  for (const [name, spec] of kBaseChains) b.chain(name, spec);
  for (const [dst, src, ctNew] of kJumpChains) {
    b.chain(dst);
    b.chain(src).push({ matches: ctNew ? [{ k: 'ct-new' }] : [], action: { k: 'jump', chain: dst } });
  }
  for (const name of [kChainServices, kChainClusterIpsCheck, kChainMasquerading, kChainMarkMasq]) b.chain(name);
  b.chain(kChainMarkMasq).push({ matches: [], action: { k: 'mark-or', mask: masqMark } });
  const masq = b.chain(kChainMasquerading);
  masq.push({ matches: [{ k: 'mark-zero', mask: masqMark }], action: { k: 'return' } });
  masq.push({ matches: [], action: { k: 'mark-xor', mask: masqMark } });
  masq.push({ matches: [], action: { k: 'masquerade' } });

  const clusterIps: ClusterIps = { ips: [], seen: new Set() };
  b.set({ name: kSetClusterIps, comment: 'Active ClusterIPs', timeout: 0, size: 0, elements: clusterIps.ips });
  const cipCheck = b.chain(kChainClusterIpsCheck);
  cipCheck.push({ matches: [{ k: 'addr-set', field: 'daddr', set: kSetClusterIps }], action: { k: 'reject' }, comment: 'Reject traffic to invalid ports of ClusterIPs' });
  if (cluster.serviceCIDRs.length > 0) {
    cipCheck.push({ matches: [{ k: 'addr', field: 'daddr', neg: false, cidrs: cluster.serviceCIDRs, anonSet: true }], action: { k: 'drop' }, comment: 'Drop traffic to unallocated ClusterIPs' });
  }
  if (!npa.matchAll) b.set({ name: kSetNodePortIps, comment: 'IPs that accept NodePort traffic', timeout: 0, size: 0, elements: [...npa.ips] });

  const noEpSvc = b.map(kMapNoEndpointServices, 'addr.proto.port', 'vmap to drop or reject packets to services with no endpoints');
  const noEpNp = b.map(kMapNoEndpointNodePorts, 'proto.port', 'vmap to drop or reject packets to service nodeports with no endpoints');
  b.chain(kChainReject, undefined, 'helper for @no-endpoint-services / @no-endpoint-nodeports').push({ matches: [], action: { k: 'reject' } });
  b.chain(kChainServiceEndpointsCheck).push({ matches: [], action: { k: 'vmap', key: 'addr.proto.port', map: kMapNoEndpointServices } });
  const noLocalhost: Match = { k: 'addr', field: 'daddr', neg: true, cidrs: [{ base: 0x7f000000, prefix: 8 }] };
  b.chain(kChainNodePortEndpointsCheck).push({
    matches: npa.matchAll ? [noLocalhost] : [{ k: 'addr-set', field: 'daddr', set: kSetNodePortIps }],
    action: { k: 'vmap', key: 'proto.port', map: kMapNoEndpointNodePorts },
  });
  const fwIps = b.map(kMapFirewallIps, 'addr.proto.port', 'destinations that are subject to LoadBalancerSourceRanges');
  b.chain(kChainFirewallCheck).push({ matches: [], action: { k: 'vmap', key: 'addr.proto.port', map: kMapFirewallIps } });
  const svcIps = b.map(kMapServiceIps, 'addr.proto.port', 'ClusterIP, ExternalIP and LoadBalancer IP traffic');
  const svcNps = b.map(kMapServiceNodePorts, 'proto.port', 'NodePort traffic');
  const services = b.chain(kChainServices);
  services.push({ matches: [], action: { k: 'vmap', key: 'addr.proto.port', map: kMapServiceIps } });
  services.push({
    matches: npa.matchAll ? [{ k: 'fib-local', field: 'daddr' }, noLocalhost] : [{ k: 'addr-set', field: 'daddr', set: kSetNodePortIps }],
    action: { k: 'vmap', key: 'proto.port', map: kMapServiceNodePorts },
  });

  // syncProxyRules, per service port.
  const only = options.services;
  for (const port of cluster.ports) {
    const svc = cluster.services[port.service];
    if (shouldSkipService(svc) || (only !== undefined && !only.has(port.service))) continue;
    writeServicePort(b, cluster, port, node, det, ifname, nodeIP, clusterIps, { noEpSvc, noEpNp, fwIps, svcIps, svcNps }, hashedPortNames(cluster, port));
  }

  const chains: Chain[] = b.chains;
  return withChainIndex({ family: 'ip', table: kTableName, comment: 'rules for kube-proxy', sets: b.sets, maps: b.maps, objectOrder: b.order, chains }, b.index);
}

/**
 * One Service port's objects alone, as buildRuleset writes them for it: its chains (by name, in
 * creation order) and its elements of each verdict map (by map name). What an in-place endpoint
 * update (update.ts) writes into the port's room in a compiled program, with the names its room
 * already holds (`names`), so that nothing is hashed again. Cost: O(the port's rows).
 */
export function buildServicePortObjects(cluster: Cluster, node: number, port: ServicePort, names: PortNames = hashedPortNames(cluster, port)): { readonly chains: ReadonlyMap<string, readonly Rule[]>; readonly elements: ReadonlyMap<string, readonly MapElement[]> } {
  const b = new Builder();
  const det = localDetector(cluster, node);
  const ifname = cluster.proxy.detectLocalMode === 'InterfaceNamePrefix' ? `${kInterfacePrefix}*` : kBridgeInterface;
  const nodeIP = cluster.nodes[node]?.internalIPs[0] ?? -1;
  const m: Maps = { noEpSvc: [], noEpNp: [], fwIps: [], svcIps: [], svcNps: [] };
  writeServicePort(b, cluster, port, node, det, ifname, nodeIP, { ips: [], seen: new Set() }, m, names);
  const chains = new Map<string, readonly Rule[]>();
  for (const c of b.chains) chains.set(c.name, c.rules);
  const elements = new Map<string, readonly MapElement[]>([
    [kMapNoEndpointServices, m.noEpSvc],
    [kMapNoEndpointNodePorts, m.noEpNp],
    [kMapFirewallIps, m.fwIps],
    [kMapServiceIps, m.svcIps],
    [kMapServiceNodePorts, m.svcNps],
  ]);
  return { chains, elements };
}

interface Maps {
  noEpSvc: MapElement[];
  noEpNp: MapElement[];
  fwIps: MapElement[];
  svcIps: MapElement[];
  svcNps: MapElement[];
}

/** The cluster-ips set's elements in the order ports add them, each once (kube-proxy's activeClusterIPs). */
interface ClusterIps {
  readonly ips: number[];
  /** The same addresses, to test membership in O(1): a list scan made the build quadratic in Services. */
  readonly seen: Set<number>;
}

function writeServicePort(
  b: Builder,
  cluster: Cluster,
  port: ServicePort,
  node: number,
  det: LocalDetector,
  ifname: string,
  nodeIP: number,
  clusterIps: ClusterIps,
  m: Maps,
  names: PortNames,
): void {
  const svc = cluster.services[port.service];
  const proto = port.protocol;
  const clusterIP = svc.clusterIPs[0];
  const nameString = servicePortName(cluster, port);
  const { service: clusterPolicyChain, local: localPolicyChain, external: externalChain, firewall: fwChain } = names;
  const cat = categorizeEndpoints(cluster, port, node);
  const hasEndpoints = cat.hasAnyEndpoints;
  const affinity = svc.affinity.clientIP;
  // A row's chain name is the port's memo's (names.ts): its declaration, its rules, the jumps to it
  // and compileProgram's room share one string, whose hash every name-keyed map computes once.
  const epChain = (row: number): string => names.endpointChain(row);
  const affSet = (row: number): string => affinitySetOf(epChain(row));

  for (const row of cat.allReachable) b.chain(epChain(row));
  const usesClusterPolicyChain = cat.cluster.length > 0 && usesClusterEndpoints(svc, port);
  if (usesClusterPolicyChain) b.chain(clusterPolicyChain);
  const usesLocalPolicyChain = cat.local.length > 0 && usesLocalEndpoints(svc, port);
  if (usesLocalPolicyChain) b.chain(localPolicyChain);

  let internalTrafficChain = clusterPolicyChain;
  let hasInternalEndpoints = hasEndpoints;
  if (internalPolicyLocal(svc)) {
    internalTrafficChain = localPolicyChain;
    if (cat.local.length === 0) hasInternalEndpoints = false;
  }
  let externalPolicyChain = clusterPolicyChain;
  let hasExternalEndpoints = hasEndpoints;
  if (externalPolicyLocal(svc, port)) {
    externalPolicyChain = localPolicyChain;
    if (cat.local.length === 0) hasExternalEndpoints = false;
  }
  const usesExternalChain = hasEndpoints && externallyAccessible(svc, port);
  if (usesExternalChain) b.chain(externalChain);

  let internalFilter: Verdict = { k: 'drop' };
  let externalFilter: Verdict = { k: 'drop' };
  if (!hasEndpoints) {
    internalFilter = goto_(kChainReject);
    externalFilter = goto_(kChainReject);
  }

  const el = (ip: number, p: number, verdict: Verdict, comment?: string): MapElement =>
    comment === undefined ? { ip, proto, port: p, verdict } : { ip, proto, port: p, comment, verdict };

  if (!clusterIps.seen.has(clusterIP)) {
    clusterIps.seen.add(clusterIP);
    clusterIps.ips.push(clusterIP);
  }
  if (hasInternalEndpoints) m.svcIps.push(el(clusterIP, port.port, goto_(internalTrafficChain)));
  else m.noEpSvc.push(el(clusterIP, port.port, internalFilter, nameString));

  for (const eip of svc.externalIPs) {
    if (hasEndpoints) m.svcIps.push(el(eip, port.port, goto_(externalChain)));
    if (!hasExternalEndpoints) m.noEpSvc.push(el(eip, port.port, externalFilter, nameString));
  }
  const usesFWChain = svc.loadBalancerIPs.length > 0 && svc.loadBalancerSourceRanges.length > 0;
  if (usesFWChain) b.chain(fwChain);
  for (const lb of svc.loadBalancerIPs) {
    if (hasEndpoints) m.svcIps.push(el(lb, port.port, goto_(externalChain)));
    if (usesFWChain) m.fwIps.push(el(lb, port.port, goto_(fwChain)));
  }
  if (!hasExternalEndpoints) for (const lb of svc.loadBalancerIPs) m.noEpSvc.push(el(lb, port.port, externalFilter, nameString));
  if (port.nodePort !== 0) {
    if (hasEndpoints) m.svcNps.push({ ip: 0, proto, port: port.nodePort, verdict: goto_(externalChain) });
    if (!hasExternalEndpoints) m.noEpNp.push({ ip: 0, proto, port: port.nodePort, comment: nameString, verdict: externalFilter });
  }

  // Internal traffic: masquerade off-cluster sources (or everything with masqueradeAll).
  if (hasInternalEndpoints) {
    const head: Match[] = [
      { k: 'addr', field: 'daddr', neg: false, cidrs: [{ base: clusterIP, prefix: 32 }] },
      { k: 'dport', proto, port: port.port },
    ];
    if (cluster.proxy.masqueradeAll) b.chain(internalTrafficChain).push({ matches: head, action: jumpMasq });
    else if (det.implemented) b.chain(internalTrafficChain).push({ matches: [...head, detectorMatch(det, false, ifname)], action: jumpMasq });
  }

  if (usesExternalChain) {
    const ext = b.chain(externalChain);
    if (!externalPolicyLocal(svc, port)) {
      ext.push({ matches: [], action: jumpMasq });
    } else {
      if (det.implemented) ext.push({ matches: [detectorMatch(det, true, ifname)], action: goto_(clusterPolicyChain), comment: 'short-circuit pod traffic' });
      ext.push({ matches: [{ k: 'fib-local', field: 'saddr' }], action: jumpMasq, comment: 'masquerade local traffic' });
      ext.push({ matches: [{ k: 'fib-local', field: 'saddr' }], action: goto_(clusterPolicyChain), comment: 'short-circuit local traffic' });
    }
    if (hasExternalEndpoints) ext.push({ matches: [], action: goto_(externalPolicyChain) });
  }

  if (usesFWChain) {
    const sources: Cidr[] = [...svc.loadBalancerSourceRanges];
    if (nodeIP >= 0 && sources.some((c) => cidrContains(c, nodeIP))) for (const lb of svc.loadBalancerIPs) sources.push({ base: lb, prefix: 32 });
    b.chain(fwChain).push({ matches: [{ k: 'addr', field: 'saddr', neg: true, cidrs: sources, anonSet: true }], action: { k: 'drop' } });
  }

  if (affinity) {
    for (const row of cat.allReachable) {
      b.set({ name: affSet(row), timeout: svc.affinity.timeoutSeconds, size: 65535, elements: [] });
    }
  }
  const writeToEndpoints = (chain: string, rows: readonly number[]): void => {
    const rules = b.chain(chain);
    if (affinity) for (const row of rows) rules.push({ matches: [{ k: 'addr-set', field: 'saddr', set: affSet(row) }], action: goto_(epChain(row)) });
    rules.push({ matches: [], action: { k: 'numgen', targets: rows.map((r) => goto_(epChain(r))) } });
  };
  if (usesClusterPolicyChain) writeToEndpoints(clusterPolicyChain, cat.cluster);
  if (usesLocalPolicyChain) writeToEndpoints(localPolicyChain, cat.local);

  const ep = cluster.endpoints;
  for (const row of cat.allReachable) {
    const rules = b.chain(epChain(row));
    rules.push({ matches: [{ k: 'addr', field: 'saddr', neg: false, cidrs: [{ base: ep.ip[row], prefix: 32 }] }], action: jumpMasq });
    if (affinity) rules.push({ matches: [], action: { k: 'update', set: affSet(row) } });
    rules.push({ matches: [{ k: 'l4proto', proto }], action: { k: 'dnat', ip: ep.ip[row], port: ep.port[row] } });
  }
}
