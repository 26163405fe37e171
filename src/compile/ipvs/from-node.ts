/**
 * An IPVS node's own state (`ipvsadm -S -n` or `-Ln`, and `ipset save`) as a dataplane over the
 * cluster it belongs to: the virtual services, real servers, weights, persistence and scheduler
 * come from ipvsadm; set memberships (which decide masquerade, firewalling and the NodePort
 * bitmaps) from the ipsets. Each virtual service is named after the cluster's Service port with
 * the same (protocol, address, port), each real server after its endpoint. What a dump leaves out
 * comes from kdp's compilation of the cluster for the node (both given: nothing does, but the
 * Local-policy fallback flag, which only explain() reads). IPVS mode's constant iptables rules
 * are kube-proxy's own, so they are not read from an iptables-save here.
 */
import { NotSupportedError, RuleParseError } from '../../errors.js';
import { formatIp, parseCidr } from '../../net/ipv4.js';
import { protoName, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../net/proto.js';
import type { Cluster, IpvsScheduler } from '../../model/types.js';
import { assembleIpvs, compileIpvs, newIpvsBuilder } from './build.js';
import type { IpvsDataplane } from './dataplane.js';
import type { IpsetSet } from './ipset-parse.js';
import type { IpvsadmService } from './parse-ipvsadm.js';
import { kMaglevDefaultSize } from './maglev.js';
import { portProtoKey } from '../tables/index.js';
import {
  F_BOUND, F_CLUSTER_IP, F_EXTERNAL_IP, F_EXTERNAL_IP_LOCAL, F_LB, F_LB_ALLOW_NODE, F_LB_FW, F_LB_LOCAL,
  F_LOCAL_FALLBACK, F_LOCAL_POLICY, F_PERSISTENT, kSchedulerIds, NP_HEALTH_CHECK, NP_SCTP, NP_SCTP_LOCAL,
  NP_TCP, NP_TCP_LOCAL, NP_UDP, NP_UDP_LOCAL, VS_CLUSTER_IP, VS_EXTERNAL_IP, VS_LOAD_BALANCER, VS_NODE_PORT,
  rsIp, rsPort, rsWeight, vsLive, vsRsStart, vsRsCount, vsFlags, vsServicePort,
} from './tables.js';

export interface IpvsNodeState {
  /** From `ipvsadm -S -n` or `-Ln`; absent: the cluster's compilation. */
  readonly services?: readonly IpvsadmService[];
  /** From `ipset save`; absent: the cluster's compilation. */
  readonly sets?: readonly IpsetSet[];
}

/** Set memberships that are VS flags, keyed like the VS (`10.96.0.10,tcp:80`). */
const kFlagSets: readonly (readonly [string, number])[] = [
  ['KUBE-CLUSTER-IP', F_CLUSTER_IP], ['KUBE-EXTERNAL-IP', F_EXTERNAL_IP], ['KUBE-EXTERNAL-IP-LOCAL', F_EXTERNAL_IP_LOCAL],
  ['KUBE-LOAD-BALANCER', F_LB], ['KUBE-LOAD-BALANCER-LOCAL', F_LB_LOCAL], ['KUBE-LOAD-BALANCER-FW', F_LB_FW],
];
const kSetBits = F_CLUSTER_IP | F_EXTERNAL_IP | F_EXTERNAL_IP_LOCAL | F_LB | F_LB_LOCAL | F_LB_FW | F_LB_ALLOW_NODE | F_BOUND;
/** bitmap:port sets and their nodePortBits bit. */
const kPortSets: readonly (readonly [string, number])[] = [
  ['KUBE-NODE-PORT-TCP', NP_TCP], ['KUBE-NODE-PORT-LOCAL-TCP', NP_TCP_LOCAL], ['KUBE-NODE-PORT-UDP', NP_UDP],
  ['KUBE-NODE-PORT-LOCAL-UDP', NP_UDP_LOCAL], ['KUBE-HEALTH-CHECK-NODE-PORT', NP_HEALTH_CHECK],
];

function kindOf(flags: number): number {
  if (flags & F_CLUSTER_IP) return VS_CLUSTER_IP;
  if (flags & F_LB) return VS_LOAD_BALANCER;
  if (flags & (F_EXTERNAL_IP | F_EXTERNAL_IP_LOCAL)) return VS_EXTERNAL_IP;
  return VS_NODE_PORT;
}

/** The dataplane a node with this ipvsadm and ipset state runs, named against `cluster`. */
export function ipvsFromNodeState(cluster: Cluster, node: number, state: IpvsNodeState): IpvsDataplane {
  const expected = compileIpvs(cluster, { node });
  const et = expected.tables;
  const expectedAt = (proto: number, ip: number, port: number): number => {
    const hit = et.table.find(ip, portProtoKey(proto, port));
    return hit < 0 ? -1 : et.table.rows[et.table.at(hit)];
  };
  const services: readonly IpvsadmService[] = state.services ?? fromTables(expected);
  const schedulers = new Set(services.map((s) => s.scheduler));
  if (schedulers.size > 1) throw new RuleParseError(`virtual services use several schedulers (${[...schedulers].join(', ')}); kube-proxy sets one per node`, services[1].line);
  const scheduler = (services[0]?.scheduler ?? expected.scheduler) as IpvsScheduler;
  if (!(scheduler in kSchedulerIds)) throw new NotSupportedError(`line ${services[0].line}: scheduler ${scheduler} is not one kube-proxy offers (rr, wrr, lc, sh, mh)`);

  const members = new Map<string, Set<string>>();
  for (const s of state.sets ?? []) members.set(s.name, new Set(s.members));
  const inSet = (name: string, entry: string): boolean => members.get(name)?.has(entry) ?? false;
  const { endpoints, ports } = cluster;
  const rowOf = (sp: number, ip: number, port: number): number => {
    if (sp >= 0) {
      const p = ports[sp];
      for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if (endpoints.ip[r] === ip && endpoints.port[r] === port) return r;
    }
    for (let r = 0; r < endpoints.ip.length; r++) if (endpoints.ip[r] === ip && endpoints.port[r] === port) return r;
    return -1;
  };

  // Virtual services in the order kdp compiles them (ipvsadm lists them sorted, the kernel keeps
  // no order that matters), those the cluster does not have after, as the dump lists them: the
  // iptables rules rendered per VS then come out in the compiled node's order.
  const rank = (s: IpvsadmService, k: number): number => {
    const ev = expectedAt(s.proto, s.ip, s.port);
    return ev >= 0 ? ev : et.vsCount + k;
  };
  const ordered = services.map((s, k) => [rank(s, k), s] as const).sort((x, y) => x[0] - y[0]).map(([, s]) => s);

  const b = newIpvsBuilder();
  for (const s of ordered) {
    const ev = expectedAt(s.proto, s.ip, s.port);
    const entry = `${formatIp(s.ip)},${protoName(s.proto)}:${s.port}`;
    let flags: number;
    let ranges: { base: number; prefix: number }[] = [];
    if (state.sets) {
      flags = 0;
      for (const [name, bit] of kFlagSets) if (inSet(name, entry)) flags |= bit;
      if (inSet('KUBE-IPVS-IPS', formatIp(s.ip))) flags |= F_BOUND;
      if (inSet('KUBE-LOAD-BALANCER-SOURCE-IP', `${entry},${formatIp(s.ip)}`)) flags |= F_LB_ALLOW_NODE;
      for (const m of members.get('KUBE-LOAD-BALANCER-SOURCE-CIDR') ?? []) {
        if (!m.startsWith(`${entry},`)) continue;
        const c = parseCidr(m.slice(entry.length + 1));
        if (c) ranges.push(c);
      }
    } else {
      flags = ev >= 0 ? vsFlags(et, ev) & kSetBits : 0;
      if (ev >= 0) for (let i = et.vsFwStart[ev]; i < et.vsFwStart[ev] + et.vsFwCount[ev]; i++) ranges.push({ base: et.fwBase[i], prefix: et.fwPrefix[i] });
    }
    if (ev >= 0) flags |= vsFlags(et, ev) & (F_LOCAL_POLICY | F_LOCAL_FALLBACK);
    if (s.persistent > 0) flags |= F_PERSISTENT;
    if (!(flags & F_LB_FW)) ranges = [];
    const sp = ev >= 0 ? vsServicePort(et, ev) : -1;
    b.ip.push(s.ip >>> 0); b.port.push(s.port); b.proto.push(s.proto); b.kind.push(ev >= 0 ? et.vsKind[ev] : kindOf(flags));
    b.flags.push(flags); b.timeout.push(s.persistent); b.sp.push(sp);
    b.rsStart.push(b.rsIp.length); b.rsCount.push(s.dests.length);
    b.fwStart.push(b.fwBase.length); b.fwCount.push(ranges.length);
    for (const c of ranges) { b.fwBase.push(c.base >>> 0); b.fwPrefix.push(c.prefix); }
    // mh: one Maglev table per distinct real-server list, as compileIpvs shares them.
    b.mhKey.push(s.dests.map((d) => `${d.ip}:${d.port}/${d.weight}`).join(' '));
    for (const d of s.dests) {
      if (d.forward !== 'masq') throw new NotSupportedError(`line ${d.line}: real server forwarding ${d.forward}; kube-proxy only masquerades (-m)`);
      const row = rowOf(sp, d.ip, d.port);
      b.rsIp.push(d.ip >>> 0); b.rsPort.push(d.port); b.rsRow.push(row); b.rsWeight.push(d.weight);
      const loop = state.sets
        ? inSet('KUBE-LOOP-BACK', `${formatIp(d.ip)},${protoName(s.proto)}:${d.port},${formatIp(d.ip)}`)
        : row >= 0 && endpoints.node[row] === node;
      b.rsLoop.push(loop ? 1 : 0);
    }
  }

  let nodePortBits = et.nodePortBits;
  let loopbackRows: readonly number[] = Array.from(et.loopbackRows.subarray(0, et.loopbackCount));
  if (state.sets) {
    nodePortBits = new Uint8Array(65536);
    for (const [name, bit] of kPortSets) for (const m of members.get(name) ?? []) if (/^\d+$/.test(m) && Number(m) < 65536) nodePortBits[Number(m)] |= bit;
    for (const [name, bit] of [['KUBE-NODE-PORT-SCTP-HASH', NP_SCTP], ['KUBE-NODE-PORT-LOCAL-SCTP-HASH', NP_SCTP_LOCAL]] as const) {
      for (const m of members.get(name) ?? []) {
        const port = /,sctp:(\d+)$/.exec(m);
        if (port && Number(port[1]) < 65536) nodePortBits[Number(port[1])] |= bit;
      }
    }
    const rows: number[] = [];
    for (const m of members.get('KUBE-LOOP-BACK') ?? []) {
      const e = /^(\d+\.\d+\.\d+\.\d+),(tcp|udp|sctp):(\d+),/.exec(m);
      if (!e) continue;
      const ip = m.slice(0, m.indexOf(','));
      const proto = e[2] === 'tcp' ? PROTO_TCP : e[2] === 'udp' ? PROTO_UDP : PROTO_SCTP;
      for (let r = 0; r < endpoints.ip.length; r++) {
        if (formatIp(endpoints.ip[r]) === ip && endpoints.port[r] === Number(e[3]) && ports[endpoints.servicePort[r]].protocol === proto && endpoints.node[r] === node) rows.push(r);
      }
    }
    loopbackRows = rows.sort((x, y) => x - y);
  }
  return assembleIpvs(cluster, node, scheduler, b, nodePortBits, loopbackRows, expected.nodePortAddresses, 0, { mhTableSize: et.mhSize || kMaglevDefaultSize });
}

/** The virtual services of a compiled node, as ipvsadm would list them (for a dump of ipsets alone). */
function fromTables(dp: IpvsDataplane): IpvsadmService[] {
  const t = dp.tables;
  const out: IpvsadmService[] = [];
  for (let v = 0; v < t.vsCount; v++) {
    if (!vsLive(t, v)) continue;
    const dests = [];
    for (let s = vsRsStart(t, v); s < vsRsStart(t, v) + vsRsCount(t, v); s++) dests.push({ ip: rsIp(t, s), port: rsPort(t, s), weight: rsWeight(t, s), forward: 'masq' as const, line: 0 });
    out.push({ proto: t.vsProto[v], ip: t.vsIp[v], port: t.vsPort[v], scheduler: dp.scheduler, schedFlags: [], persistent: vsFlags(t, v) & F_PERSISTENT ? t.vsTimeout[v] : 0, dests, line: 0 });
  }
  return out;
}
