/**
 * The ipsets kube-proxy's IPVS mode keeps (pkg/proxy/ipvs/ipset.go constants, proxier.go
 * ipsetInfo) and their entries for a compiled node, plus `ipset save` rendering.
 *
 * Entries are the strings kube-proxy's ipset Entry.String() produces, which are also what
 * `ipset save` prints: `10.96.0.10,tcp:80`, `10.244.1.5,tcp:8080,10.244.1.5`,
 * `192.0.2.10,tcp:443,198.51.100.0/24`, and bare ports for bitmap:port.
 */
import { formatCidr, formatIp } from '../../net/ipv4.js';
import { fmix32, fnv1a } from '../../net/hash.js';
import type { IpvsDataplane } from './dataplane.js';
import {
  F_BOUND, F_CLUSTER_IP, F_EXTERNAL_IP, F_EXTERNAL_IP_LOCAL, F_LB, F_LB_ALLOW_NODE, F_LB_FW, F_LB_LOCAL,
  NP_HEALTH_CHECK, NP_SCTP, NP_SCTP_LOCAL, NP_TCP, NP_TCP_LOCAL, NP_UDP, NP_UDP_LOCAL, VS_NODE_PORT, vsLive,
  vsFlags,
} from './tables.js';
import { parseProto, PROTO_SCTP, PROTO_TCP, PROTO_UDP, protoName } from '../../net/proto.js';

export type IpsetType = 'hash:ip,port,ip' | 'hash:ip,port' | 'hash:ip,port,net' | 'bitmap:port' | 'hash:ip';

export interface IpsetInfo {
  readonly name: string;
  readonly type: IpsetType;
  /** The comment kube-proxy puts on the iptables rule that matches the set. */
  readonly comment: string;
}

/** proxier.go's ipsetInfo, in its order. */
export const kIpvsIpsets: readonly IpsetInfo[] = [
  { name: 'KUBE-LOOP-BACK', type: 'hash:ip,port,ip', comment: 'Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose' },
  { name: 'KUBE-CLUSTER-IP', type: 'hash:ip,port', comment: 'Kubernetes service cluster ip + port for masquerade purpose' },
  { name: 'KUBE-EXTERNAL-IP', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port for masquerade and filter purpose' },
  { name: 'KUBE-EXTERNAL-IP-LOCAL', type: 'hash:ip,port', comment: 'Kubernetes service external ip + port with externalTrafficPolicy=local' },
  { name: 'KUBE-LOAD-BALANCER', type: 'hash:ip,port', comment: 'Kubernetes service lb portal' },
  { name: 'KUBE-LOAD-BALANCER-FW', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port for load balancer with sourceRange' },
  { name: 'KUBE-LOAD-BALANCER-LOCAL', type: 'hash:ip,port', comment: 'Kubernetes service load balancer ip + port with externalTrafficPolicy=local' },
  { name: 'KUBE-LOAD-BALANCER-SOURCE-IP', type: 'hash:ip,port,ip', comment: 'Kubernetes service load balancer ip + port + source IP for packet filter purpose' },
  { name: 'KUBE-LOAD-BALANCER-SOURCE-CIDR', type: 'hash:ip,port,net', comment: 'Kubernetes service load balancer ip + port + source cidr for packet filter purpose' },
  { name: 'KUBE-NODE-PORT-TCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port for masquerade purpose' },
  { name: 'KUBE-NODE-PORT-LOCAL-TCP', type: 'bitmap:port', comment: 'Kubernetes nodeport TCP port with externalTrafficPolicy=local' },
  { name: 'KUBE-NODE-PORT-UDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port for masquerade purpose' },
  { name: 'KUBE-NODE-PORT-LOCAL-UDP', type: 'bitmap:port', comment: 'Kubernetes nodeport UDP port with externalTrafficPolicy=local' },
  { name: 'KUBE-NODE-PORT-SCTP-HASH', type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'" },
  { name: 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', type: 'hash:ip,port', comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'" },
  { name: 'KUBE-HEALTH-CHECK-NODE-PORT', type: 'bitmap:port', comment: 'Kubernetes health check node port' },
  { name: 'KUBE-IPVS-IPS', type: 'hash:ip', comment: 'Kubernetes all IPVS IPs' },
];

export function ipsetInfo(name: string): IpsetInfo {
  const i = kIpvsIpsets.find((s) => s.name === name);
  if (!i) throw new RangeError(`unknown ipset ${name}`);
  return i;
}


/** Every set's entries, in the order `ipset save` would print them (see sortEntries). */
export function ipvsIpsetEntries(dp: IpvsDataplane): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [name, entries] of ipvsIpsets(dp)) out.set(name, sortEntries([...entries]));
  return out;
}

/**
 * Every set's entries, unordered: what a sync compares and a rule's presence asks (sorting them,
 * ~0.3 s a call at 30k Services, is for what is printed).
 */
export function ipvsIpsets(dp: IpvsDataplane): Map<string, Set<string>> {
  const t = dp.tables;
  const sets = new Map<string, Set<string>>();
  for (const s of kIpvsIpsets) sets.set(s.name, new Set());
  const add = (name: string, e: string): void => void sets.get(name)!.add(e);
  const { endpoints, ports, services } = dp.cluster;
  for (let i = 0; i < t.loopbackCount; i++) {
    const r = t.loopbackRows[i];
    const svc = services[ports[endpoints.servicePort[r]].service];
    if (svc.clusterIPs.length === 0) continue; // a row of a Service since removed (service-change.ts)
    const ip = formatIp(endpoints.ip[r]);
    add('KUBE-LOOP-BACK', `${ip},${protoName(ports[endpoints.servicePort[r]].protocol)}:${endpoints.port[r]},${ip}`);
  }
  for (let v = 0; v < t.vsCount; v++) {
    if (!vsLive(t, v)) continue;
    const f = vsFlags(t, v);
    const e = `${formatIp(t.vsIp[v])},${protoName(t.vsProto[v])}:${t.vsPort[v]}`;
    if (f & F_CLUSTER_IP) add('KUBE-CLUSTER-IP', e);
    if (f & F_EXTERNAL_IP) add('KUBE-EXTERNAL-IP', e);
    if (f & F_EXTERNAL_IP_LOCAL) add('KUBE-EXTERNAL-IP-LOCAL', e);
    if (f & F_LB) add('KUBE-LOAD-BALANCER', e);
    if (f & F_LB_LOCAL) add('KUBE-LOAD-BALANCER-LOCAL', e);
    if (f & F_LB_FW) {
      add('KUBE-LOAD-BALANCER-FW', e);
      for (let i = t.vsFwStart[v]; i < t.vsFwStart[v] + t.vsFwCount[v]; i++) add('KUBE-LOAD-BALANCER-SOURCE-CIDR', `${e},${formatCidr({ base: t.fwBase[i], prefix: t.fwPrefix[i] })}`);
      if (f & F_LB_ALLOW_NODE) add('KUBE-LOAD-BALANCER-SOURCE-IP', `${e},${formatIp(t.vsIp[v])}`);
    }
    if (f & F_BOUND) add('KUBE-IPVS-IPS', formatIp(t.vsIp[v]));
    if (t.vsKind[v] === VS_NODE_PORT && t.vsProto[v] !== PROTO_TCP && t.vsProto[v] !== PROTO_UDP) {
      const bits = t.nodePortBits[t.vsPort[v]];
      if (bits & NP_SCTP) add('KUBE-NODE-PORT-SCTP-HASH', e);
      if (bits & NP_SCTP_LOCAL) add('KUBE-NODE-PORT-LOCAL-SCTP-HASH', e);
    }
  }
  for (let p = 0; p < 65536; p++) {
    const bits = t.nodePortBits[p];
    if (bits === 0) continue;
    if (bits & NP_TCP) add('KUBE-NODE-PORT-TCP', String(p));
    if (bits & NP_TCP_LOCAL) add('KUBE-NODE-PORT-LOCAL-TCP', String(p));
    if (bits & NP_UDP) add('KUBE-NODE-PORT-UDP', String(p));
    if (bits & NP_UDP_LOCAL) add('KUBE-NODE-PORT-LOCAL-UDP', String(p));
    if (bits & NP_HEALTH_CHECK) add('KUBE-HEALTH-CHECK-NODE-PORT', String(p));
  }
  return sets;
}

/** Numeric order of each comma field (addresses by value, ports by number). The kernel prints
 * bitmap sets in port order, as here, and hash sets in bucket order, which depends on a random
 * initval; kdp sorts them so its output is stable (`ipset save | sort` compares equal). */
export function sortEntries(entries: string[]): string[] {
  // Each entry's key is made once, not at every comparison: the comparator asked for ~2 n log n
  // keys (split, a regex per field), most of the ipvs 30k cell's main-thread time and garbage.
  const key = (e: string): number[] =>
    e.split(/[,:/.]/).map((x) => (/^\d+$/.test(x) ? Number(x) : parseProto(x) ?? PROTO_SCTP));
  const keyed = entries.map((e) => ({ e, k: key(e) }));
  keyed.sort(({ k: ka }, { k: kb }) => {
    for (let i = 0; i < Math.min(ka.length, kb.length); i++) if (ka[i] !== kb[i]) return ka[i] - kb[i];
    return ka.length - kb.length;
  });
  for (let i = 0; i < keyed.length; i++) entries[i] = keyed[i]!.e;
  return entries;
}

export interface IpsetSaveOptions {
  /**
   * ipset >= 7.11 prints `bucketsize 12 initval 0x…` on hash sets; the initval is random per set
   * on a real node. Default: deterministic (a hash of the name). `false` prints the older layout.
   */
  readonly initval?: ((name: string) => number) | false;
  /** Print sets with no entries too (kube-proxy creates every set). Default true. */
  readonly includeEmpty?: boolean;
}

/** `ipset save` of kube-proxy's sets for the node, in ipset 7.17's layout. */
export function renderIpsetSave(dp: IpvsDataplane, options: IpsetSaveOptions = {}): string {
  const entries = ipvsIpsetEntries(dp);
  const initval = options.initval === undefined ? nameHash : options.initval;
  const lines: string[] = [];
  for (const s of kIpvsIpsets) {
    const list = entries.get(s.name)!;
    if (list.length === 0 && options.includeEmpty === false) continue;
    lines.push(createLine(s, initval));
    for (const e of list) lines.push(`add ${s.name} ${e}`);
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

/** FNV-1a of the set name, mixed: a stable stand-in for the kernel's random initval. */
export function nameHash(name: string): number {
  return fmix32(fnv1a(name));
}

/** `create` as kube-proxy's CreateSet asks for it (family inet, hashsize 1024, maxelem 65536,
 * range 0-65535), printed as `ipset save` prints the header back. */
export function createLine(s: IpsetInfo, initval: ((name: string) => number) | false = false): string {
  if (s.type === 'bitmap:port') return `create ${s.name} bitmap:port range 0-65535`;
  const extra = initval ? ` bucketsize 12 initval 0x${(initval(s.name) >>> 0).toString(16).padStart(8, '0')}` : '';
  return `create ${s.name} ${s.type} family inet hashsize 1024 maxelem 65536${extra}`;
}
