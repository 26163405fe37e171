/**
 * Cluster -> iptables tables for one node, laid out as kube-proxy 1.33's iptables proxier
 * (pkg/proxy/iptables/proxier.go, syncProxyRules) writes them: the same chains, the same rules in
 * the same order with the same comments, so that a rendering can be diffed against a real node.
 *
 * Endpoint selection is not re-implemented here: it comes from ../topology.ts
 * (CategorizeEndpoints); the "is this traffic local" test from ../local-detector.ts.
 */
import { nodeAddresses } from '../node-addresses.js';
import { withRoom } from '../tables/capacity.js';
import { cidrContains, parseCidr, type Cidr } from '../../net/ipv4.js';
import { servicePortName, shouldSkipService, type Cluster, type Service, type ServicePort } from '../../model/types.js';
import { InvalidArgumentError } from '../../errors.js';
import { localDetector, type LocalDetector } from '../local-detector.js';
import { categorizeEndpoints, externalPolicyLocal, externallyAccessible, internalPolicyLocal, usesClusterEndpoints, usesLocalEndpoints, type EndpointCategories } from '../topology.js';
import { hostPort, portChainNames } from './chain-names.js';
import {
  CT_DNAT, CT_ESTABLISHED, CT_INVALID, CT_NEW, CT_RELATED, POLICY_ACCEPT, RulesetBuilder, T_ACCEPT, T_DNAT, T_DROP, T_JUMP, T_MARK, T_MASQUERADE,
  T_NONE, T_REJECT, T_RETURN, TABLE_FILTER, TABLE_MANGLE, TABLE_NAT, TF_MARK_OR, TF_MARK_XOR, TF_RANDOM_FULLY, TOK_ADDRTYPE, TOK_COMMENT,
  TOK_CONNTRACK, TOK_DPORT, TOK_DST, TOK_IFACE, TOK_MARK, TOK_NFACCT, TOK_PROTO, TOK_RECENT, TOK_SRC, TOK_STATISTIC, kBuiltinChains,
  type ChainSpec, type RuleSpec, type Ruleset,
} from './ruleset.js';
import { PROTO_TCP, protoName } from '../../net/proto.js';

export interface IptablesCompileOptions {
  /** Node index (into Cluster.nodes) the rules are compiled for. */
  readonly node: number;
  /** nfacct counters exist (kube-proxy adds `-m nfacct` only when it could create them). Default: the cluster's `proxy.nfacct`. */
  readonly nfacct?: boolean;
  /** iptables supports `--random-fully` (any iptables >= 1.6.2). Default: the cluster's `proxy.randomFully`. */
  readonly randomFully?: boolean;
  /** nf_conntrack_tcp_be_liberal is set: kube-proxy then omits the INVALID drop rule. Default: the cluster's `proxy.conntrack.tcpBeLiberal`. */
  readonly conntrackTCPLiberal?: boolean;
  /** Interface names for the interface-based local detectors (not in the cluster model). */
  readonly bridgeInterface?: string;
  readonly interfaceNamePrefix?: string;
}

export const kLargeClusterEndpointsThreshold = 1000;

const kKubeServices = 'KUBE-SERVICES';
const kKubeExternalServices = 'KUBE-EXTERNAL-SERVICES';
const kKubeNodePorts = 'KUBE-NODEPORTS';
const kKubePostrouting = 'KUBE-POSTROUTING';
const kKubeMarkMasq = 'KUBE-MARK-MASQ';
const kKubeForward = 'KUBE-FORWARD';
const kKubeProxyFirewall = 'KUBE-PROXY-FIREWALL';
const kKubeProxyCanary = 'KUBE-PROXY-CANARY';
const kKubeletFirewall = 'KUBE-FIREWALL';

/** The chains kube-proxy writes every Service's rules into, besides its own (update-services.ts adds and removes them). */
export const kServiceSharedChains: readonly (readonly [number, string])[] = [
  [TABLE_NAT, kKubeServices], [TABLE_FILTER, kKubeServices], [TABLE_FILTER, kKubeExternalServices], [TABLE_FILTER, kKubeProxyFirewall],
  [TABLE_NAT, kKubeNodePorts], [TABLE_FILTER, kKubeNodePorts],
];

const kLoopback = parseCidr('127.0.0.0/8') as Cidr;
const kLoopbackIp = 0x7f000001;

/**
 * What `-m addrtype --dst-type LOCAL` matches on the node, as this mode lists it: 127.0.0.1 and
 * the node's own addresses. The loopback is listed because the nodePortAddresses loop may open
 * NodePorts on it (localhost NodePorts); the walkers match all of 127.0.0.0/8 by prefix anyway
 * (`isLocalAddress`).
 */
export function nodeLocalAddresses(cluster: Cluster, node: number): number[] {
  return [kLoopbackIp, ...nodeAddresses(cluster, node)];
}

const host = (ip: number): Cidr => ({ base: ip >>> 0, prefix: 32 }) as Cidr;

/** Compiles the cluster into the tables a node running kube-proxy (iptables mode) holds. */
export function compileRuleset(cluster: Cluster, options: IptablesCompileOptions): Ruleset {
  return compileTables(cluster, options, false).rules;
}

/**
 * The same tables with room for in-place endpoint updates (update.ts): dead KUBE-SEP- chains and
 * spare KUBE-SVC-/SVL- rules that no reader sees, and per Service port what the room holds.
 * Cost: O(rules + chains), 0.85 s at 10,000 Services of 10 endpoints and 2.99 s at 30,000
 * (`sync.fullMs`, the median of three builds, in the benchmark of record of 2026-12-07 at 46e2266;
 * 0.87 s and 3.13 s at 0392e2b, 1.01 s and 3.30 s at 0c599b2, on a slower hour of the shared
 * machine, and 1.36 s and 5.47 s at 37e2b7a), against 16.7 s for the kernel's iptables-restore of
 * the same text at 10,000 (the record).
 */
export function compileRulesetWithRoom(cluster: Cluster, options: IptablesCompileOptions): { rules: Ruleset; plans: RoomPlan[]; large: boolean } {
  return compileTables(cluster, options, true);
}

/** A Service port's room, as the compile laid it out (room.ts reads its chains' ids once they are laid out). */
export interface RoomPlan {
  readonly port: number;
  /** portShape of the port's chains when compiled: an update that changes it recompiles. */
  readonly shape: number;
  /** Its KUBE-SVC-/KUBE-SVL- chains with spare rules, and how many rules at their head an update keeps (the masquerade rule). */
  readonly chains: { readonly chain: ChainSpec; readonly keep: number }[];
  /** Rows the node could ever reach (roomRows), and their KUBE-SEP- chains, row by row as they are declared. */
  readonly rows: readonly number[];
  readonly seps: ChainSpec[];
}

/** What a Service port's chains look like for the node, besides which endpoints they hold. */
export interface PortChains {
  readonly hasEndpoints: boolean;
  readonly hasInternal: boolean;
  readonly hasExternal: boolean;
  readonly usesClusterPolicyChain: boolean;
  readonly usesLocalPolicyChain: boolean;
}

/** kube-proxy's per-port flags of syncProxyRules, from CategorizeEndpoints' lists. */
export function portChains(svc: Service, port: ServicePort, cats: EndpointCategories): PortChains {
  const hasEndpoints = cats.hasAnyEndpoints;
  return {
    hasEndpoints,
    hasInternal: hasEndpoints && (!internalPolicyLocal(svc) || cats.local.length > 0),
    hasExternal: hasEndpoints && (!externalPolicyLocal(svc, port) || cats.local.length > 0),
    usesClusterPolicyChain: cats.cluster.length > 0 && usesClusterEndpoints(svc, port),
    usesLocalPolicyChain: cats.local.length > 0 && usesLocalEndpoints(svc, port),
  };
}

/**
 * The flags as one number: two states with the same shape differ only inside the port's
 * KUBE-SVC-/SVL- and KUBE-SEP- chains (every KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS,
 * filter, KUBE-EXT- and KUBE-FW- rule of the port follows from these flags and the Service).
 */
export function portShape(p: PortChains): number {
  return (p.hasEndpoints ? 1 : 0) | (p.hasInternal ? 2 : 0) | (p.hasExternal ? 4 : 0) | (p.usesClusterPolicyChain ? 8 : 0) | (p.usesLocalPolicyChain ? 16 : 0);
}

/** Rows the node may ever send a port's traffic to: every row, or only its own under Local policy alone. */
export function roomRows(cluster: Cluster, svc: Service, port: ServicePort, node: number): number[] {
  const rows: number[] = [];
  const all = usesClusterEndpoints(svc, port);
  for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) if (all || cluster.endpoints.node[r] === node) rows.push(r);
  return rows;
}

/**
 * The rules of a KUBE-SVC-/KUBE-SVL- chain after its masquerade rule, as kube-proxy's
 * writeServiceToEndpointRules writes them: with ClientIP affinity a `-m recent --rcheck` jump per
 * endpoint, then one jump per endpoint, endpoint i of n taken with probability 1/(n-i) printed
 * `%0.10f`, the last unconditional. `sepName` and `address` name a row's chain and its "ip:port".
 */
export function endpointJumpRules(svc: Service, name: string, rows: readonly number[], large: boolean, sepName: (row: number) => string, address: (row: number) => string): RuleSpec[] {
  const out: RuleSpec[] = [];
  if (svc.affinity.clientIP) {
    for (const row of rows) {
      const sep = sepName(row);
      // Order arrays are written whole: one that grows by push takes room for 17 tokens.
      const spec: RuleSpec = { order: large ? [TOK_RECENT] : [TOK_COMMENT, TOK_RECENT], recent: { name: sep, check: true, seconds: svc.affinity.timeoutSeconds, reap: true }, target: T_JUMP, jump: sep, inRestore: true };
      if (!large) spec.comment = `${name} -> ${address(row)}`;
      out.push(spec);
    }
  }
  const count = rows.length;
  for (let i = 0; i < count; i++) {
    const row = rows[i];
    const drawn = i < count - 1;
    const order = large ? (drawn ? [TOK_STATISTIC] : []) : drawn ? [TOK_COMMENT, TOK_STATISTIC] : [TOK_COMMENT];
    const spec: RuleSpec = { order, target: T_JUMP, jump: sepName(row), inRestore: true };
    if (!large) spec.comment = `${name} -> ${address(row)}`;
    if (drawn) spec.probability = probabilityWritten(count - i);
    out.push(spec);
  }
  return out;
}

/** 1/k as kube-proxy prints it (%0.10f) and iptables parses that text back, once per k. */
const kProbabilityWritten: number[] = [];
function probabilityWritten(k: number): number {
  return (kProbabilityWritten[k] ??= Number((1 / k).toFixed(10)));
}

function compileTables(cluster: Cluster, options: IptablesCompileOptions, room: boolean): { rules: Ruleset; plans: RoomPlan[]; large: boolean } {
  const roomPlans: RoomPlan[] = [];
  const node = options.node;
  if (!Number.isInteger(node) || node < 0 || node >= cluster.nodes.length) {
    throw new InvalidArgumentError(`options.node must index Cluster.nodes (0..${cluster.nodes.length - 1}), got ${node}`);
  }
  const nfacct = options.nfacct ?? cluster.proxy.nfacct;
  const randomFully = options.randomFully ?? cluster.proxy.randomFully;
  const proxy = cluster.proxy;
  const b = new RulesetBuilder();
  const bit = proxy.masqueradeBit;
  const masqMark = (1 << bit) >>> 0;

  // Built-in chains and the jumps kube-proxy installs with `iptables -I` (not part of the
  // restore input); created in kube-proxy's list order, each prepended, so the last listed
  // jump ends up first in its built-in chain.
  for (let t = 0; t < 3; t++) for (const name of kBuiltinChains[t]) b.chain(t, name, { policy: POLICY_ACCEPT });
  for (const t of [TABLE_MANGLE, TABLE_NAT, TABLE_FILTER]) b.chain(t, kKubeProxyCanary);
  const jumps: [number, string, string, string, boolean][] = [
    [TABLE_FILTER, kKubeExternalServices, 'INPUT', 'kubernetes externally-visible service portals', true],
    [TABLE_FILTER, kKubeExternalServices, 'FORWARD', 'kubernetes externally-visible service portals', true],
    [TABLE_FILTER, kKubeNodePorts, 'INPUT', 'kubernetes health check service ports', false],
    [TABLE_FILTER, kKubeServices, 'FORWARD', 'kubernetes service portals', true],
    [TABLE_FILTER, kKubeServices, 'OUTPUT', 'kubernetes service portals', true],
    [TABLE_FILTER, kKubeForward, 'FORWARD', 'kubernetes forwarding rules', false],
    [TABLE_FILTER, kKubeProxyFirewall, 'INPUT', 'kubernetes load balancer firewall', true],
    [TABLE_FILTER, kKubeProxyFirewall, 'OUTPUT', 'kubernetes load balancer firewall', true],
    [TABLE_FILTER, kKubeProxyFirewall, 'FORWARD', 'kubernetes load balancer firewall', true],
    [TABLE_NAT, kKubeServices, 'OUTPUT', 'kubernetes service portals', false],
    [TABLE_NAT, kKubeServices, 'PREROUTING', 'kubernetes service portals', false],
    [TABLE_NAT, kKubePostrouting, 'POSTROUTING', 'kubernetes postrouting rules', false],
    [TABLE_FILTER, kKubeletFirewall, 'INPUT', '', false],
    [TABLE_FILTER, kKubeletFirewall, 'OUTPUT', '', false],
  ];
  for (const [t, dst, src, comment, ctNew] of jumps) {
    b.chain(t, dst);
    const spec: RuleSpec = { order: [], target: T_JUMP, jump: dst };
    if (ctNew) {
      spec.ctstate = { mask: CT_NEW, neg: false };
      spec.order.push(TOK_CONNTRACK);
    }
    if (comment) {
      spec.comment = comment;
      spec.order.push(TOK_COMMENT);
    }
    const chain = b.chain(t, src);
    b.add(chain, spec);
    chain.rules.unshift(chain.rules.pop()!);
  }

  // kube-proxy's restore input starts with these chain lines, in this order.
  const f = (name: string): ChainSpec => b.chain(TABLE_FILTER, name, { inRestore: true });
  const n = (name: string): ChainSpec => b.chain(TABLE_NAT, name, { inRestore: true });
  for (const name of [kKubeServices, kKubeExternalServices, kKubeForward, kKubeNodePorts, kKubeProxyFirewall]) f(name);
  for (const name of [kKubeServices, kKubeNodePorts, kKubePostrouting, kKubeMarkMasq]) n(name);
  // Chain lines are ordered by first declaration; re-stamp so restore order follows kube-proxy.
  let seq = 1000;
  for (const name of [kKubeServices, kKubeExternalServices, kKubeForward, kKubeNodePorts, kKubeProxyFirewall]) f(name).seq = seq++;
  for (const name of [kKubeServices, kKubeNodePorts, kKubePostrouting, kKubeMarkMasq]) n(name).seq = seq++;

  const post = n(kKubePostrouting);
  b.add(post, { order: [TOK_MARK], mark: { value: masqMark, mask: masqMark, neg: true }, target: T_RETURN, inRestore: true });
  b.add(post, { order: [], target: T_MARK, markValue: masqMark, markMask: 0, targetFlags: TF_MARK_XOR, inRestore: true });
  b.add(post, { order: [TOK_COMMENT], comment: 'kubernetes service traffic requiring SNAT', target: T_MASQUERADE, targetFlags: randomFully ? TF_RANDOM_FULLY : 0, inRestore: true });
  b.add(n(kKubeMarkMasq), { order: [], target: T_MARK, markValue: masqMark, markMask: masqMark, targetFlags: TF_MARK_OR, inRestore: true });

  const { matchAll: nodePortMatchAll, cidrs: npCidrs, localhost: localhostNodePorts } = nodePortScope(cluster, node);
  if (localhostNodePorts) {
    const fw = f(kKubeletFirewall);
    fw.seq = seq++;
    b.add(fw, {
      order: [TOK_COMMENT, TOK_DST, TOK_SRC, TOK_CONNTRACK], comment: 'block incoming localnet connections', dst: kLoopback, src: kLoopback, srcNeg: true,
      ctstate: { mask: CT_RELATED | CT_ESTABLISHED | CT_DNAT, neg: true }, target: T_DROP, inRestore: true,
    });
  }

  const totalEndpoints = proxiedEndpoints(cluster);
  // Each endpoint's jump and KUBE-SEP- pair, and a port's dozen rules at most (affinity adds more: the store grows).
  b.reserve(3 * totalEndpoints + 12 * cluster.ports.length + 64);

  const ctx = portContext(cluster, options, room, roomPlans, seq, totalEndpoints);
  for (const svc of cluster.services) {
    if (shouldSkipService(svc)) continue;
    writeServicePorts(ctx, b, svc);
  }

  // Finally, the tail call to KUBE-NODEPORTS: the last rule of KUBE-SERVICES.
  const tailComment = 'kubernetes service nodeports; NOTE: this must be the last rule in this chain';
  if (nodePortMatchAll) {
    const spec: RuleSpec = { order: [TOK_COMMENT, TOK_ADDRTYPE], comment: tailComment, dstLocal: true, target: T_JUMP, jump: kKubeNodePorts, inRestore: true };
    if (!localhostNodePorts) {
      spec.dst = kLoopback;
      spec.dstNeg = true;
      spec.order.push(TOK_DST);
    }
    b.add(n(kKubeServices), spec);
  } else {
    for (const ip of nodeLocalAddresses(cluster, node)) {
      if (!npCidrs.some((c) => cidrContains(c, ip))) continue;
      if (ip >>> 24 === 127 && !localhostNodePorts) continue;
      b.add(n(kKubeServices), { order: [TOK_COMMENT, TOK_DST], comment: tailComment, dst: host(ip), target: T_JUMP, jump: kKubeNodePorts, inRestore: true });
    }
  }
  const fwd = f(kKubeForward);
  if (!(options.conntrackTCPLiberal ?? cluster.proxy.conntrack.tcpBeLiberal)) {
    const spec: RuleSpec = { order: [TOK_CONNTRACK], ctstate: { mask: CT_INVALID, neg: false }, target: T_DROP, inRestore: true };
    if (nfacct) {
      spec.nfacct = 'ct_state_invalid_dropped_pkts';
      spec.order.push(TOK_NFACCT);
    }
    b.add(fwd, spec);
  }
  b.add(fwd, { order: [TOK_COMMENT, TOK_MARK], comment: 'kubernetes forwarding rules', mark: { value: masqMark, mask: masqMark, neg: false }, target: T_ACCEPT, inRestore: true });
  b.add(fwd, { order: [TOK_COMMENT, TOK_CONNTRACK], comment: 'kubernetes forwarding conntrack rule', ctstate: { mask: CT_RELATED | CT_ESTABLISHED, neg: false }, target: T_ACCEPT, inRestore: true });

  if (room) {
    // Room for Services added in place (update-services.ts): an eighth more in each chain a
    // Service writes rules into, and spare chains with an eighth more rules for their own chains.
    for (const [t, name] of kServiceSharedChains) {
      const c = b.chain(t, name);
      b.room(c, withRoom(c.rules.length, 16) - c.rules.length);
    }
    const size = b.size();
    b.spareChains(TABLE_NAT, withRoom(size.chains) - size.chains, withRoom(size.rules, 256) - size.rules);
  }
  return { rules: b.build({ sort: true }), plans: roomPlans, large: ctx.large };
}

/** Endpoint rows of the Services kube-proxy programs: over kLargeClusterEndpointsThreshold, large cluster mode drops the per-endpoint comments. */
export function proxiedEndpoints(cluster: Cluster): number {
  let total = 0;
  for (const svc of cluster.services) {
    if (shouldSkipService(svc)) continue;
    for (const p of svc.ports) total += cluster.ports[p].endpointCount;
  }
  return total;
}

/**
 * Where the node opens NodePorts: NodePortAddresses.MatchAll (pkg/proxy/util/nodeport_addresses.go
 * NewNodePortAddresses: no CIDRs, or a zero CIDR, "Ignore everything else"; then the tail call is
 * `--dst-type LOCAL`), the CIDRs otherwise, and whether localhost NodePorts are open.
 */
function nodePortScope(cluster: Cluster, node: number): { matchAll: boolean; cidrs: readonly Cidr[]; localhost: boolean } {
  const proxy = cluster.proxy;
  const matchAll = !proxy.nodePortPrimaryOnly && (proxy.nodePortAddresses.length === 0 || proxy.nodePortAddresses.some((c) => c.prefix === 0));
  const cidrs: readonly Cidr[] = proxy.nodePortPrimaryOnly ? [host(cluster.nodes[node].internalIPs[0] ?? 0)] : proxy.nodePortAddresses;
  return { matchAll, cidrs, localhost: proxy.localhostNodePorts && (matchAll || cidrs.some((c) => cidrContains(c, kLoopbackIp))) };
}

/** The PortContext of `cluster`'s node `options.node`, chain lines numbered from `seq`; `endpoints` is proxiedEndpoints(cluster). */
export function portContext(cluster: Cluster, options: IptablesCompileOptions, room: boolean, roomPlans: RoomPlan[], seq: number, endpoints: number): PortContext {
  const node = options.node;
  const proxy = cluster.proxy;
  const detector = localDetector(cluster, node);
  const ifaceName = proxy.detectLocalMode === 'BridgeInterface' ? (options.bridgeInterface ?? 'cbr0') : `${options.interfaceNamePrefix ?? 'veth'}+`;
  return {
    cluster, node, room, roomPlans, seq: { next: seq },
    nfacct: options.nfacct ?? proxy.nfacct,
    large: endpoints > kLargeClusterEndpointsThreshold,
    detector,
    // kube-proxy's LocalTrafficDetector.IfLocal() / IfNotLocal() as match fields.
    localMatch: (neg) => (detector.byInterface ? { iface: { name: ifaceName, neg }, tok: TOK_IFACE } : { src: detector.cidrs[0], srcNeg: neg, tok: TOK_SRC }),
    nodeIP: cluster.nodes[node].internalIPs[0] ?? 0,
    localhostNodePorts: nodePortScope(cluster, node).localhost,
  };
}

/** What every Service port's rules depend on besides the Service: the node and kube-proxy's options, resolved once. */
export interface PortContext {
  readonly cluster: Cluster;
  readonly node: number;
  readonly nfacct: boolean;
  readonly large: boolean;
  readonly detector: LocalDetector;
  readonly localMatch: (neg: boolean) => Partial<RuleSpec> & { tok: number };
  readonly nodeIP: number;
  readonly localhostNodePorts: boolean;
  /** Room for in-place updates (compileRulesetWithRoom), and where its plans go. */
  readonly room: boolean;
  readonly roomPlans: RoomPlan[];
  /** The next chain line's place in kube-proxy's restore order. */
  readonly seq: { next: number };
}

/** Where a Service's rules go: a compile's RulesetBuilder, or an in-place update's collector (update-services.ts). */
export type RuleSink = Pick<RulesetBuilder, 'chain' | 'add' | 'spare'>;

/**
 * Service `svc`'s rules, port by port, as syncProxyRules writes them: its rules in the shared
 * chains (KUBE-SERVICES, KUBE-EXTERNAL-SERVICES, KUBE-NODEPORTS, KUBE-PROXY-FIREWALL) and its own
 * KUBE-SVC-, KUBE-SVL-, KUBE-EXT-, KUBE-FW- and KUBE-SEP- chains.
 */
export function writeServicePorts(ctx: PortContext, b: RuleSink, svc: Service): void {
  const { cluster, node, nfacct, large, detector, localMatch, nodeIP, localhostNodePorts, room, roomPlans } = ctx;
  const proxy = cluster.proxy;
  const { ip: epIp, port: epPort } = cluster.endpoints;
  const f = (name: string): ChainSpec => b.chain(TABLE_FILTER, name, { inRestore: true });
  const n = (name: string): ChainSpec => b.chain(TABLE_NAT, name, { inRestore: true });
  const natChainLine = (name: string, port: number): ChainSpec => {
    const c = b.chain(TABLE_NAT, name, { inRestore: true, port });
    c.seq = ctx.seq.next++;
    return c;
  };
  const clusterIP = host(svc.clusterIPs[0]);
  for (const pi of svc.ports) {
    const port = cluster.ports[pi];
    const proto = port.protocol;
    const protoLower = protoName(proto);
    const name = servicePortName(cluster, port);
    const chainNames = portChainNames(port, name, protoLower);
    const names = chainNames.service;
    const cats = categorizeEndpoints(cluster, port, node);
    const { hasEndpoints, hasInternal, hasExternal, usesClusterPolicyChain, usesLocalPolicyChain } = portChains(svc, port, cats);
    const internalChain = internalPolicyLocal(svc) ? names.svl : names.svc;
    const extLocal = externalPolicyLocal(svc, port);
    const externalPolicyChain = extLocal ? names.svl : names.svc;
    const usesExternalChain = hasEndpoints && externallyAccessible(svc, port);
    const usesFWChain = hasEndpoints && svc.loadBalancerIPs.length > 0 && svc.loadBalancerSourceRanges.length > 0;
    const lbChain = usesFWChain ? names.fw : names.ext;
    let internalFilterTarget = T_NONE;
    let internalFilterComment = '';
    let externalFilterTarget = T_NONE;
    let externalFilterComment = '';
    if (!hasEndpoints) {
      internalFilterTarget = externalFilterTarget = T_REJECT;
      internalFilterComment = externalFilterComment = `${name} has no endpoints`;
    } else {
      if (!hasInternal) {
        internalFilterTarget = T_DROP;
        internalFilterComment = `${name} has no local endpoints`;
      }
      if (!hasExternal) {
        externalFilterTarget = T_DROP;
        externalFilterComment = `${name} has no local endpoints`;
      }
    }
    // Service-owned nat chains are declared up front so jumps resolve; the restore order
    // of their chain lines is stamped where kube-proxy writes them (below).
    const svcRule = (extra: Partial<RuleSpec>, order: number[]): RuleSpec => ({
      order: [TOK_COMMENT, TOK_PROTO, ...order], proto, port: pi, inRestore: true, target: T_NONE, ...extra,
    });

    // Capture the ClusterIP.
    if (hasInternal) {
      b.chain(TABLE_NAT, internalChain, { port: pi });
      b.add(n(kKubeServices), svcRule({ comment: `${name} cluster IP`, dst: clusterIP, dport: port.port, target: T_JUMP, jump: internalChain }, [TOK_DST, TOK_DPORT]));
    } else {
      b.add(f(kKubeServices), svcRule({ comment: internalFilterComment, dst: clusterIP, dport: port.port, target: internalFilterTarget }, [TOK_DST, TOK_DPORT]));
    }
    // Capture externalIPs.
    for (const eip of svc.externalIPs) {
      if (hasEndpoints) {
        b.chain(TABLE_NAT, names.ext, { port: pi });
        b.add(n(kKubeServices), svcRule({ comment: `${name} external IP`, dst: host(eip), dport: port.port, target: T_JUMP, jump: names.ext }, [TOK_DST, TOK_DPORT]));
      }
      if (!hasExternal) {
        b.add(f(kKubeExternalServices), svcRule({ comment: externalFilterComment, dst: host(eip), dport: port.port, target: externalFilterTarget }, [TOK_DST, TOK_DPORT]));
      }
    }
    // Capture load-balancer ingress.
    for (const lbip of svc.loadBalancerIPs) {
      if (hasEndpoints) {
        b.chain(TABLE_NAT, lbChain, { port: pi });
        b.add(n(kKubeServices), svcRule({ comment: `${name} loadbalancer IP`, dst: host(lbip), dport: port.port, target: T_JUMP, jump: lbChain }, [TOK_DST, TOK_DPORT]));
      }
      if (usesFWChain) {
        b.add(f(kKubeProxyFirewall), svcRule({ comment: `${name} traffic not accepted by ${names.fw}`, dst: host(lbip), dport: port.port, target: T_DROP }, [TOK_DST, TOK_DPORT]));
      }
    }
    if (!hasExternal) {
      for (const lbip of svc.loadBalancerIPs) {
        b.add(f(kKubeExternalServices), svcRule({ comment: externalFilterComment, dst: host(lbip), dport: port.port, target: externalFilterTarget }, [TOK_DST, TOK_DPORT]));
      }
    }
    // Capture NodePorts.
    if (port.nodePort !== 0) {
      if (hasEndpoints) {
        b.chain(TABLE_NAT, names.ext, { port: pi });
        if (localhostNodePorts && nfacct) {
          b.add(n(kKubeNodePorts), svcRule({ comment: name, dst: kLoopback, dport: port.nodePort, nfacct: 'localhost_nps_accepted_pkts', target: T_JUMP, jump: names.ext }, [TOK_DST, TOK_DPORT, TOK_NFACCT]));
        }
        b.add(n(kKubeNodePorts), svcRule({ comment: name, dport: port.nodePort, target: T_JUMP, jump: names.ext }, [TOK_DPORT]));
      }
      if (!hasExternal) {
        b.add(f(kKubeExternalServices), {
          order: [TOK_COMMENT, TOK_ADDRTYPE, TOK_PROTO, TOK_DPORT], comment: externalFilterComment, dstLocal: true, proto, dport: port.nodePort,
          target: externalFilterTarget, port: pi, inRestore: true,
        });
      }
    }
    // Capture healthCheckNodePorts.
    if (svc.healthCheckNodePort !== 0) {
      b.add(f(kKubeNodePorts), {
        order: [TOK_COMMENT, TOK_PROTO, TOK_DPORT], comment: `${name} health check node port`, proto: PROTO_TCP, dport: svc.healthCheckNodePort,
        target: T_ACCEPT, port: pi, inRestore: true,
      });
    }

    // Service chains. kube-proxy writes the internal masquerade rule before any chain line.
    const pendingRules: [string, RuleSpec][] = [];
    if (hasInternal) {
      const base = { comment: `${name} cluster IP`, dst: clusterIP, dport: port.port, target: T_JUMP, jump: kKubeMarkMasq };
      if (proxy.masqueradeAll) {
        pendingRules.push([internalChain, svcRule(base, [TOK_DST, TOK_DPORT])]);
      } else if (detector.implemented) {
        const lm = localMatch(true);
        pendingRules.push([internalChain, svcRule({ ...base, ...lm, tok: undefined } as Partial<RuleSpec>, [TOK_DST, TOK_DPORT, lm.tok])]);
      }
    }
    const emit = (chain: string, spec: RuleSpec): void => {
      b.add(b.chain(TABLE_NAT, chain, { port: pi }), spec);
    };
    for (const [c, spec] of pendingRules) emit(c, spec);

    if (usesExternalChain) {
      natChainLine(names.ext, pi);
      if (!extLocal) {
        emit(names.ext, { order: [TOK_COMMENT], comment: `masquerade traffic for ${name} external destinations`, target: T_JUMP, jump: kKubeMarkMasq, inRestore: true });
      } else {
        if (detector.implemented) {
          const lm = localMatch(false);
          const spec: RuleSpec = { order: [TOK_COMMENT, lm.tok], comment: `pod traffic for ${name} external destinations`, target: T_JUMP, jump: names.svc, inRestore: true };
          if (lm.iface) spec.iface = lm.iface;
          else {
            spec.src = lm.src;
            spec.srcNeg = false;
          }
          emit(names.ext, spec);
        }
        emit(names.ext, { order: [TOK_COMMENT, TOK_ADDRTYPE], comment: `masquerade LOCAL traffic for ${name} external destinations`, srcLocal: true, target: T_JUMP, jump: kKubeMarkMasq, inRestore: true });
        emit(names.ext, { order: [TOK_COMMENT, TOK_ADDRTYPE], comment: `route LOCAL traffic for ${name} external destinations`, srcLocal: true, target: T_JUMP, jump: names.svc, inRestore: true });
      }
      if (hasExternal) emit(names.ext, { order: [], target: T_JUMP, jump: externalPolicyChain, inRestore: true });
    }
    if (usesFWChain) {
      natChainLine(names.fw, pi);
      let allowFromNode = false;
      for (const cidr of svc.loadBalancerSourceRanges) {
        emit(names.fw, { order: [TOK_COMMENT, TOK_SRC], comment: `${name} loadbalancer IP`, src: cidr, target: T_JUMP, jump: names.ext, inRestore: true });
        if (cidrContains(cidr, nodeIP)) allowFromNode = true;
      }
      if (allowFromNode) {
        for (const lbip of svc.loadBalancerIPs) {
          emit(names.fw, { order: [TOK_COMMENT, TOK_SRC], comment: `${name} loadbalancer IP`, src: host(lbip), target: T_JUMP, jump: names.ext, inRestore: true });
        }
      }
      emit(names.fw, { order: [TOK_COMMENT], comment: `other traffic to ${name} will be dropped by KUBE-PROXY-FIREWALL`, target: T_NONE, inRestore: true });
    }
    // Hashed once per row (portChainNames): its chain is named by the jumps to it and by the chain itself.
    const sepName = (row: number): string => chainNames.endpoint(row - port.endpointStart, epIp[row], epPort[row]);
    const rowAddress = (row: number): string => hostPort(epIp[row], epPort[row]);
    // With room (kdp's own dataplane, update.ts): every row the node could ever reach gets its
    // KUBE-SEP- chain, dead while unreachable, and the KUBE-SVC-/SVL- chains spare rules for
    // the rows they do not hold now, so that any readiness change fits. A port whose rows name
    // one endpoint twice (one chain for two rows) gets none and is recompiled instead.
    const candidates = room ? roomRows(cluster, svc, port, node) : undefined;
    const sepNames = candidates?.map(sepName);
    const roomy = sepNames !== undefined && new Set(sepNames).size === sepNames.length;
    const writeServiceToEndpoints = (chain: string, rows: readonly number[], spareRows: readonly number[] | undefined): void => {
      // The KUBE-SEP- chains it jumps to are declared below, each reachable row's (a superset).
      const c = natChainLine(chain, pi);
      const keep = c.rules.length;
      for (const spec of endpointJumpRules(svc, name, rows, large, sepName, rowAddress)) b.add(c, spec);
      if (spareRows === undefined || plan === undefined) return;
      const held = new Set(rows);
      b.spare(c, endpointJumpRules(svc, name, spareRows.filter((row) => !held.has(row)), large, sepName, rowAddress));
      plan.chains.push({ chain: c, keep });
    };
    const plan: RoomPlan | undefined = roomy ? { port: pi, shape: portShape({ hasEndpoints, hasInternal, hasExternal, usesClusterPolicyChain, usesLocalPolicyChain }), chains: [], rows: candidates!, seps: [] } : undefined;
    if (plan) roomPlans.push(plan);
    const localRows = plan ? plan.rows.filter((row) => cluster.endpoints.node[row] === node) : undefined;
    if (usesClusterPolicyChain) writeServiceToEndpoints(names.svc, cats.cluster, plan?.rows);
    if (usesLocalPolicyChain) writeServiceToEndpoints(names.svl, cats.local, localRows);
    const reachable = plan ? new Set(cats.allReachable) : undefined;
    for (const row of plan ? plan.rows : cats.allReachable) {
      const sep = sepName(row);
      const live = reachable === undefined || reachable.has(row);
      const c = natChainLine(sep, pi);
      c.live = live;
      plan?.seps.push(c);
      const affinity = svc.affinity.clientIP;
      const masq: RuleSpec = { order: large ? [TOK_SRC] : [TOK_COMMENT, TOK_SRC], src: host(epIp[row]), target: T_JUMP, jump: kKubeMarkMasq, inRestore: true };
      const dnatOrder = large ? (affinity ? [TOK_RECENT, TOK_PROTO] : [TOK_PROTO]) : affinity ? [TOK_COMMENT, TOK_RECENT, TOK_PROTO] : [TOK_COMMENT, TOK_PROTO];
      const dnat: RuleSpec = { order: dnatOrder, proto, target: T_DNAT, dnatIp: epIp[row], dnatPort: epPort[row], endpoint: row, inRestore: true };
      if (!large) masq.comment = dnat.comment = name;
      if (affinity) dnat.recent = { name: sep, check: false, seconds: 0, reap: false };
      b.add(c, masq);
      b.add(c, dnat);
    }
  }
}
