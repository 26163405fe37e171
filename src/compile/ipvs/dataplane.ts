/**
 * kube-proxy's IPVS mode on one node, over the tables build.ts compiled: the virtual services
 * with their real servers and scheduler, and the ipsets and constant iptables rules that still
 * decide masquerade and firewalling.
 *
 * decide() follows a first packet through what the kernel runs, in hook order:
 *   nat PREROUTING/OUTPUT -> KUBE-SERVICES (ipset matches set the masquerade mark)
 *   filter INPUT -> KUBE-IPVS-FILTER, KUBE-PROXY-FIREWALL (only for packets arriving at the node:
 *     IPVS rewrites at LOCAL_IN after filter INPUT, but at LOCAL_OUT before it for the node's own)
 *   filter OUTPUT -> KUBE-IPVS-OUT-FILTER (node-originated packets to a firewalled LB IP)
 *   IPVS: service lookup, persistence template, scheduler, DNAT (masquerading forwarder)
 *   nat POSTROUTING -> KUBE-POSTROUTING: MASQUERADE if marked or in KUBE-LOOP-BACK (hairpin).
 * Reads: pkt.{srcIp,srcPort,dstIp,dstPort,proto,hook,fromPodInterface,now}. Writes: every field of
 * `out`. Per-instance state: rr/wrr cursors, lc connection counts, persistence templates.
 */
import { formatCidr, formatIp } from '../../net/ipv4.js';
import { servicePortName, type Cluster, type IpvsScheduler } from '../../model/types.js';
import {
  HOOK_PREROUTING, VERDICT_ACCEPT, kPrefetchMinBytes, VERDICT_DNAT, VERDICT_DROP, VERDICT_REJECT, kVerdictNames,
  type DataplaneStats, type Explanation, type FirstPacket, type InvalidDrop, type NatDecision, type ServiceDataplane, type TraceStep, clearDecision } from '../dataplane.js';
import { localDetector, type LocalDetector } from '../local-detector.js';
import { isLocalAddress, nodeAddresses } from '../node-addresses.js';
import { ExpiringTable, PairWord, portProtoKey } from '../tables/index.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP, protoName } from '../../net/proto.js';
import { kBatchSize } from '../../net/batch.js';
import { ipvsadmRealServerLine, ipvsadmServiceLine } from './ipvsadm-format.js';
import { schedulerPick } from './schedulers.js';
import {
  F_CLUSTER_IP, F_EXTERNAL_IP, F_EXTERNAL_IP_LOCAL, F_LB, F_LB_ALLOW_NODE, F_LB_FW, F_LB_LOCAL,
  F_LOCAL_FALLBACK, F_PERSISTENT, NP_HEALTH_CHECK, NP_SCTP, NP_SCTP_LOCAL, NP_TCP, NP_TCP_LOCAL, NP_UDP,
  NP_UDP_LOCAL, RsWord, VsWord, kSchedulerIds, realServerCount, rsIp, rsPort, rsRow, rsWeight, tablesBytes, vsFlags,
  vsRsCount, vsRsStart, vsServicePort, type IpvsTables,
} from './tables.js';

/**
 * kdp's choice, listed as modelled differently (README, "How a packet is run"): kube-proxy's IPVS
 * mode writes no INVALID drop (KUBE-FORWARD holds only its mark and RELATED,ESTABLISHED accepts,
 * proxier.go writeIptablesRules), and what IPVS does with such a packet follows its own connection
 * table, which kdp does not keep apart from conntrack.
 */
export const kIpvsInvalidDrop: InvalidDrop = {
  at: 'conntrack',
  words: 'kdp drops it (modelled differently: kube-proxy\'s IPVS mode writes no INVALID rule; IPVS\'s own connection table would decide)',
};

export interface IpvsDataplane extends ServiceDataplane {
  readonly mode: 'ipvs';
  /** The cluster the tables index into (updateServices moves it to the changed one). */
  cluster: Cluster;
  readonly scheduler: IpvsScheduler;
  readonly tables: IpvsTables;
  readonly detector: LocalDetector;
  /** Node addresses carrying NodePort virtual services (kube-proxy's nodeIPs). */
  readonly nodePortAddresses: readonly number[];
  /** The node IP kube-proxy compares with loadBalancerSourceRanges. */
  readonly nodeIp: number;
  /** Duplicate (proto, address, port) keys met while compiling: the first service keeps the VS. */
  readonly duplicateVirtualServices: number;
  /** A connection DNATed by decide() ended: lowers the real server's activeconns (lc). */
  connectionEnded(dstIp: number, proto: number, dstPort: number, endpointRow: number): void;
  prefetch(frame: Int32Array, count: number, node: Uint16Array, dstIp: Uint32Array, dstPort: Uint16Array, proto: Uint8Array): number;
  /** prefetch() reads nothing below this span of tables (kPrefetchMinBytes); a test lowers it to run over small ones. */
  prefetchMinBytes: number;
}

/** The per-instance state beside the tables: scheduler cursors, activeconns, persistence templates. */
export type IpvsState = Pick<IpvsTables, 'rrNext' | 'wrrCl' | 'wrrCw' | 'rsConns' | 'affinity'>;

export function ipvsState(vsCount: number, rsCount: number, affinityCapacity: number): IpvsState {
  return {
    rrNext: new Uint32Array(vsCount), wrrCl: new Int32Array(vsCount).fill(-1), wrrCw: new Int32Array(vsCount),
    rsConns: new Uint32Array(rsCount),
    // ip_vs_sched_persist: a template is refreshed by each new connection; an expired one is reused.
    affinity: new ExpiringTable({ capacity: affinityCapacity, hash: 'mix-pair', refreshOnHit: true, reuseExpired: true, values: true }),
  };
}

/** A dataplane over tables compiled elsewhere (another thread's, shared): only the state is new. */
export function ipvsDataplaneOver(
  cluster: Cluster, node: number, scheduler: IpvsScheduler, tables: IpvsTables,
  nodePortAddresses: readonly number[], nodeIp: number, duplicates: number,
): IpvsDataplane {
  return new IpvsDataplaneImpl(cluster, node, scheduler, tables, localDetector(cluster, node), nodePortAddresses, nodeIp, duplicates);
}

export class IpvsDataplaneImpl implements IpvsDataplane {
  readonly mode = 'ipvs' as const;
  readonly invalidDrop = kIpvsInvalidDrop;
  private readonly pick;
  private readonly masqueradeAll: boolean;
  private readonly dumpBytes: number;
  readonly generation: Int32Array;
  /** The node's own addresses (filter INPUT sees packets to them, and to kube-ipvs0's). */
  private readonly localAddrs: Uint32Array;
  /** prefetch()'s vectors, one entry a packet: the VS table's home slots, then its keys' slots, then VS indexes, then real-server slots; the packet's index in the batch. */
  private slotVec = new Int32Array(kBatchSize);
  private vsVec = new Int32Array(kBatchSize);
  private rsVec = new Int32Array(kBatchSize);
  private packetVec = new Int32Array(kBatchSize);
  prefetchMinBytes = kPrefetchMinBytes;

  constructor(
    /** The cluster the tables index into; updateServices moves it to the changed cluster (decisions read the tables only). */
    public cluster: Cluster,
    readonly node: number,
    readonly scheduler: IpvsScheduler,
    readonly tables: IpvsTables,
    readonly detector: LocalDetector,
    readonly nodePortAddresses: readonly number[],
    readonly nodeIp: number,
    readonly duplicateVirtualServices: number,
  ) {
    this.pick = schedulerPick(kSchedulerIds[scheduler]);
    this.masqueradeAll = cluster.proxy.masqueradeAll;
    this.dumpBytes = tablesBytes(tables);
    this.generation = tables.generation;
    this.localAddrs = Uint32Array.from(nodeAddresses(cluster, node));
  }

  /**
   * Whether the packet's destination port is in KUBE-HEALTH-CHECK-NODE-PORT. The set is a
   * bitmap:port, which holds no protocol: the kernel takes the port of TCP and UDP alike, of no
   * other protocol (ip_set_bitmap_port.c bitmap_port_kadt -> ip_set_get_ip_port).
   */
  private inHealthCheckSet(pkt: FirstPacket): boolean {
    return (pkt.proto === PROTO_TCP || pkt.proto === PROTO_UDP) && (this.tables.nodePortBits[pkt.dstPort] & NP_HEALTH_CHECK) !== 0;
  }

  /**
   * filter KUBE-NODE-PORT, jumped from INPUT: `-m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst
   * -j ACCEPT` (writeIptablesRules), for a packet no virtual service took that arrives for this
   * node (its addresses or kube-ipvs0's). KUBE-IPVS-FILTER lets the set's ports through first.
   */
  private healthCheckAccepts(pkt: FirstPacket): boolean {
    if (pkt.hook !== HOOK_PREROUTING || !this.inHealthCheckSet(pkt)) return false;
    return isLocalAddress(this.localAddrs, pkt.dstIp >>> 0) || this.tables.bound.has(pkt.dstIp);
  }

  /**
   * nat KUBE-SERVICES (and the chains it jumps to) for a packet to VS `v`: whether it leaves
   * marked for masquerade. Rule order as writeIptablesRules() writes it.
   */
  private natMark(v: number, pkt: FirstPacket): boolean {
    const t = this.tables;
    const src = pkt.srcIp >>> 0;
    if (src >>> 24 === 127) return false; // -s 127.0.0.0/8 -j RETURN
    const flags = vsFlags(t, v);
    let mark = false;
    // -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER: LOCAL set RETURNs, else MARK-MASQ.
    if (flags & F_LB && !(flags & F_LB_LOCAL)) mark = true;
    if (flags & F_CLUSTER_IP) {
      if (this.masqueradeAll) mark = true;
      else if (this.detector.implemented) {
        if (!this.detector.isLocal(src, pkt.fromPodInterface)) mark = true;
      } else if (src === t.vsIp[v]) mark = true; // "src,dst": node traffic sourced from the VIP
    }
    // externalIPs: MARK-MASQ (Cluster policy only), then ACCEPT (dst-type LOCAL always holds for a
    // bound or node address), so the NodePort jump below is never reached.
    if (flags & F_EXTERNAL_IP) return true;
    if (flags & F_EXTERNAL_IP_LOCAL) return mark;
    // -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT: every VS address is local (on kube-ipvs0 or
    // the node's own), and KUBE-NODE-PORT matches the destination *port* only (bitmap:port).
    const bits = t.nodePortBits[pkt.dstPort];
    if (bits !== 0) {
      const proto = pkt.proto;
      if (proto === PROTO_TCP) {
        if (bits & NP_TCP_LOCAL) return mark;
        if (bits & NP_TCP) mark = true;
      } else if (proto === PROTO_UDP) {
        if (bits & NP_UDP_LOCAL) return mark;
        if (bits & NP_UDP) mark = true;
      } else if (proto === PROTO_SCTP && t.nodePortIps.has(pkt.dstIp)) {
        if (bits & NP_SCTP_LOCAL) return mark;
        if (bits & NP_SCTP) mark = true;
      }
    }
    return mark;
  }

  /** filter INPUT KUBE-PROXY-FIREWALL / filter OUTPUT KUBE-IPVS-OUT-FILTER: true when dropped. */
  private firewalled(v: number, pkt: FirstPacket): boolean {
    const t = this.tables;
    const flags = vsFlags(t, v);
    if (!(flags & F_LB_FW)) return false;
    const src = pkt.srcIp >>> 0;
    if (pkt.hook !== HOOK_PREROUTING) {
      // Node-originated: IPVS rewrites at LOCAL_OUT, so INPUT is never met; only the OUTPUT filter
      // (-s lbIP -m ipvs --vaddr lbIP ... -j DROP) when no source range holds the node IP.
      return !(flags & F_LB_ALLOW_NODE) && src === t.vsIp[v];
    }
    const start = t.vsFwStart[v];
    const end = start + t.vsFwCount[v];
    for (let i = start; i < end; i++) {
      const p = t.fwPrefix[i];
      const mask = p === 0 ? 0 : (0xffffffff << (32 - p)) >>> 0;
      if (((src & mask) >>> 0) === t.fwBase[i]) return false;
    }
    if (flags & F_LB_ALLOW_NODE && src === t.vsIp[v]) return false; // KUBE-LOAD-BALANCER-SOURCE-IP
    return true; // -A KUBE-SOURCE-RANGES-FIREWALL -j DROP
  }

  // Cost: ~430 ns per ClusterIP first packet at 1k Services, 1.3 hash probes a decision (SERVICES=1000 TIME=700 node dist/bench/compile/lookup.bench.js, 2026-12-02, same shared machine: upper bounds).
  // In the pipeline the service-nat stage takes ~151, 156, 224, 261 and 277 ns a first packet at 10, 100, 1k, 10k and 30k Services, batch 256 (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md).
  decide(pkt: FirstPacket, out: NatDecision): void {
    const t = this.tables;
    clearDecision(out);
    const hit = t.table.find(pkt.dstIp, portProtoKey(pkt.proto, pkt.dstPort));
    // A miss the prefix filter answers read one word of it: one step, as the kernel's one bucket.
    out.work = t.table.lastProbes || 1;
    const v = hit < 0 ? -1 : t.table.rows[t.table.at(hit)];
    if (v < 0) {
      // KUBE-IPVS-FILTER: a new connection to an address on kube-ipvs0 that no set entry covers
      // (no VS for that port) is rejected, so VIPs do not expose the node's own listeners.
      if (t.bound.has(pkt.dstIp) && !this.inHealthCheckSet(pkt)) out.verdict = VERDICT_REJECT;
      else if (this.healthCheckAccepts(pkt)) out.verdict = VERDICT_ACCEPT;
      return;
    }
    out.servicePort = vsServicePort(t, v);
    let masq = this.natMark(v, pkt);
    if (this.firewalled(v, pkt)) {
      out.verdict = VERDICT_DROP;
      return;
    }
    const flags = vsFlags(t, v);
    let slot = -1;
    const persistent = (flags & F_PERSISTENT) !== 0;
    if (persistent) {
      t.affinity.clock[0] = pkt.now;
      const hit = vsRsCount(t, v) > 0 ? t.affinity.lookup(v, pkt.srcIp, t.vsTimeout[v]) : -1;
      const rel = hit < 0 ? -1 : t.affinity.value[hit];
      if (rel >= 0 && rel < vsRsCount(t, v) && rsWeight(t, vsRsStart(t, v) + rel) > 0) slot = vsRsStart(t, v) + rel;
    }
    if (slot < 0) {
      slot = vsRsCount(t, v) === 0 ? -1 : this.pick(t, v, pkt.srcIp >>> 0, pkt.srcPort);
      if (slot < 0) {
        // ip_vs_leave(): "ICMP_PORT_UNREACH is sent here no matter it is TCP/UDP".
        out.verdict = VERDICT_REJECT;
        return;
      }
      if (persistent) t.affinity.remember(v, pkt.srcIp, slot - vsRsStart(t, v), t.vsTimeout[v]);
    }
    t.rsConns[slot]++;
    const rs = t.rs;
    const o = slot * RsWord.STRIDE;
    const ip = rs[o + RsWord.IP] >>> 0;
    if (ip === pkt.srcIp >>> 0 && t.rsLoopback[slot] === 1) masq = true; // KUBE-LOOP-BACK
    out.verdict = VERDICT_DNAT;
    out.endpoint = rs[o + RsWord.ROW];
    out.dnatIp = ip;
    out.dnatPort = rs[o + RsWord.PORT];
    out.masquerade = masq;
  }

  // decide()'s chain of reads, level by level over the frame's packets for this node: the VS
  // table's home slot (key and row), the VS's fields and rr cursor, the real server rr would pick
  // (another scheduler's pick is guessed as rr's: a hint). Each loop is short and writes no value
  // it missed on, so the core keeps many misses in flight: ~30 ns a line at 30k Services, where
  // loops that walked each packet's levels through the dataplane's fields and stored what they
  // missed on took ~100-160 ns a line inside the same stage, hardly better than decide() itself.
  // Six lines a packet: the home slot's key and row, the VS's row (tables.ts VsWord) and rr cursor,
  // the real server's row (RsWord) and activeconns; thirteen with an array a field, when it cost
  // ~165 ns a first packet at 30k Services, which decide()
  // then finds in cache: the service-nat stage took 411 ns a first packet at 30k against 549
  // without, a new flow 1,104 ns against 1,237; in cache, at 100 Services, it adds its own work,
  // 227 ns against 180 (`kdp bench --services 100,30000 --modes ipvs --workers 1 --flows 500000`,
  // medians of three runs alternated with the build before, 2026-12-06). Below kPrefetchMinBytes
  // of tables it returns at once (the 100-Service figure above is from before that gate: with
  // it, 153 ns against 184 ungated, three runs of each alternated).
  prefetch(frame: Int32Array, count: number, node: Uint16Array, dstIp: Uint32Array, dstPort: Uint16Array, proto: Uint8Array): number {
    const t = this.tables;
    if (prefetchSpan(t) < this.prefetchMinBytes) return 0;
    if (this.slotVec.length < count) {
      this.slotVec = new Int32Array(count);
      this.vsVec = new Int32Array(count);
      this.rsVec = new Int32Array(count);
      this.packetVec = new Int32Array(count);
    }
    const sv = this.slotVec;
    const vv = this.vsVec;
    const rv = this.rsVec;
    const pv = this.packetVec;
    const table = t.table;
    const me = this.node;
    let c = 0;
    for (let k = 0; k < count; k++) {
      const i = frame[k];
      if (node[i] !== me) continue;
      const s = table.home(dstIp[i], portProtoKey(proto[i], dstPort[i]));
      if (s < 0) continue;
      sv[c] = s;
      pv[c++] = i;
    }
    const rows = table.rows;
    const w = table.stride;
    let acc = 0;
    // The slot's key and value: one line (PairTable).
    for (let k = 0; k < c; k++) acc ^= rows[sv[k] * w + PairWord.K1];
    // The key's own slot, where it sits past its home (PairTable.findFrom, over the lines just
    // read), whose value names another VS: the service-nat stage took 285 ns a first packet at 10k
    // Services, not 313, and 314 at 30k, not 334 (`kdp bench --services 10000,30000 --modes
    // ipvs,nftables,cilium --workers 1 --flows 1000000`, three runs of each build alternated,
    // 2026-12-07).
    for (let k = 0; k < c; k++) {
      const i = pv[k];
      const s = table.findFrom(sv[k], dstIp[i], portProtoKey(proto[i], dstPort[i]));
      if (s >= 0) sv[k] = s;
    }
    for (let k = 0; k < c; k++) vv[k] = rows[sv[k] * w + PairWord.VALUE];
    const { vs, rrNext } = t;
    for (let k = 0; k < c; k++) {
      const v = vv[k];
      acc ^= vs[v * VsWord.STRIDE] ^ vs[v * VsWord.STRIDE + VsWord.STRIDE - 1] ^ rrNext[v];
    }
    for (let k = 0; k < c; k++) {
      const o = vv[k] * VsWord.STRIDE;
      const pos = rrNext[vv[k]];
      rv[k] = vs[o + VsWord.RS_START] + (pos < vs[o + VsWord.RS_COUNT] ? pos : 0);
    }
    const { rs, rsConns } = t;
    for (let k = 0; k < c; k++) {
      const r = rv[k];
      acc ^= rs[r * RsWord.STRIDE] ^ rs[r * RsWord.STRIDE + RsWord.STRIDE - 1] ^ rsConns[r];
    }
    return acc | 0;
  }

  connectionEnded(dstIp: number, proto: number, dstPort: number, endpointRow: number): void {
    const t = this.tables;
    const hit = t.table.find(dstIp, portProtoKey(proto, dstPort));
    if (hit < 0) return;
    const v = t.table.rows[t.table.at(hit)];
    for (let s = vsRsStart(t, v); s < vsRsStart(t, v) + vsRsCount(t, v); s++) {
      if (rsRow(t, s) === endpointRow && t.rsConns[s] > 0) {
        t.rsConns[s]--;
        return;
      }
    }
  }

  /** Forgets scheduler state and persistence templates. */
  reset(): void {
    const t = this.tables;
    t.rrNext.fill(0);
    t.wrrCl.fill(-1);
    t.wrrCw.fill(0);
    t.rsConns.fill(0);
    t.affinity.clear();
  }

  explain(pkt: FirstPacket): Explanation {
    const t = this.tables;
    const steps: TraceStep[] = [];
    const hit = t.table.find(pkt.dstIp, portProtoKey(pkt.proto, pkt.dstPort));
    const probes = t.table.lastProbes;
    const v = hit < 0 ? -1 : t.table.rows[t.table.at(hit)];
    const key = `${formatIp(pkt.dstIp)}:${pkt.dstPort}`;
    if (v < 0) {
      steps.push({ where: 'ipvs', rule: `(no virtual service ${key})`, action: probes === 0 ? 'no match (no virtual service in its /16)' : `no match (${probes} probes)` });
      const reject = t.bound.has(pkt.dstIp) && !this.inHealthCheckSet(pkt);
      if (reject) {
        steps.push({ where: 'filter/KUBE-IPVS-FILTER', rule: '-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable', action: 'REJECT' });
      }
      const accept = !reject && this.healthCheckAccepts(pkt);
      if (accept) {
        steps.push({ where: 'filter/KUBE-NODE-PORT', rule: '-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT', action: 'ACCEPT' });
      }
      return { verdict: reject ? 'reject' : accept ? 'accept' : 'none', servicePort: -1, candidates: [], masquerade: false, steps };
    }
    const sp = vsServicePort(t, v);
    const flags = vsFlags(t, v);
    // A virtual service read from a node's dump that no Service of the cluster has: sp is -1.
    const name = sp >= 0 ? servicePortName(this.cluster, this.cluster.ports[sp]) : '(no Service of the cluster)';
    const mark = this.natMark(v, pkt);
    for (const [bit, set] of [[F_CLUSTER_IP, 'KUBE-CLUSTER-IP'], [F_EXTERNAL_IP, 'KUBE-EXTERNAL-IP'], [F_EXTERNAL_IP_LOCAL, 'KUBE-EXTERNAL-IP-LOCAL'], [F_LB, 'KUBE-LOAD-BALANCER'], [F_LB_LOCAL, 'KUBE-LOAD-BALANCER-LOCAL'], [F_LB_FW, 'KUBE-LOAD-BALANCER-FW']] as const) {
      if (flags & bit) steps.push({ where: 'ipset', rule: `add ${set} ${key.replace(':', `,${protoName(pkt.proto)}:`)}`, action: 'member' });
    }
    const np = t.nodePortBits[pkt.dstPort];
    if (np & (NP_TCP | NP_UDP | NP_SCTP)) steps.push({ where: 'nat/KUBE-NODE-PORT', rule: `port ${pkt.dstPort} in KUBE-NODE-PORT-${protoName(pkt.proto).toUpperCase()}${np & (NP_TCP_LOCAL | NP_UDP_LOCAL | NP_SCTP_LOCAL) ? ' and KUBE-NODE-PORT-LOCAL-*' : ''}`, action: np & (NP_TCP_LOCAL | NP_UDP_LOCAL | NP_SCTP_LOCAL) ? 'RETURN' : 'KUBE-MARK-MASQ' });
    steps.push({ where: 'nat/KUBE-SERVICES', rule: `${name} via ${key}`, action: mark ? 'MARK 0x4000 (masquerade)' : 'no mark' });
    if (this.firewalled(v, pkt)) {
      const ranges: string[] = [];
      for (let i = t.vsFwStart[v]; i < t.vsFwStart[v] + t.vsFwCount[v]; i++) ranges.push(formatCidr({ base: t.fwBase[i], prefix: t.fwPrefix[i] }));
      steps.push({ where: pkt.hook === HOOK_PREROUTING ? 'filter/KUBE-SOURCE-RANGES-FIREWALL' : 'filter/KUBE-IPVS-OUT-FILTER', rule: `source ${formatIp(pkt.srcIp)} not in ${ranges.join(',')}`, action: 'DROP' });
      // Dropped in filter, it never reaches POSTROUTING: not masqueraded, as decide() says.
      return { verdict: 'drop', servicePort: sp, candidates: [], masquerade: false, steps };
    }
    steps.push({ where: 'ipvs', rule: ipvsadmServiceLine(t, v, this.scheduler), action: `virtual service (${probes} probes), ${vsRsCount(t, v)} real servers` });
    const candidates: number[] = [];
    let masq = mark;
    for (let s = vsRsStart(t, v); s < vsRsStart(t, v) + vsRsCount(t, v); s++) {
      if (rsWeight(t, s) === 0) continue;
      candidates.push(rsRow(t, s));
      const loop = t.rsLoopback[s] === 1 && rsIp(t, s) === pkt.srcIp >>> 0;
      if (loop) masq = true;
      steps.push({ where: 'ipvs', rule: ipvsadmRealServerLine(t, v, s), action: `DNAT ${formatIp(rsIp(t, s))}:${rsPort(t, s)}${loop ? ' (KUBE-LOOP-BACK: MASQUERADE)' : ''}` });
    }
    if (candidates.length === 0) {
      steps.push({ where: 'ipvs', rule: 'ip_vs_leave()', action: 'no destination available: ICMP port unreachable' });
      return { verdict: 'reject', servicePort: sp, candidates, masquerade: false, steps };
    }
    if (flags & F_LOCAL_FALLBACK) steps.push({ where: 'ipvs', rule: 'syncEndpoint: no local endpoints', action: 'cluster endpoints used (kubernetes PR 97081)' });
    return { verdict: kVerdictNames[VERDICT_DNAT], servicePort: sp, candidates, masquerade: masq, steps };
  }

  stats(): DataplaneStats {
    const t = this.tables;
    return {
      mode: 'ipvs',
      rules: t.vsCount - t.vsGone + realServerCount(t),
      chains: 11,
      tableBytes: this.dumpBytes,
      virtualServices: t.vsCount - t.vsGone,
      realServers: realServerCount(t),
      boundAddresses: t.bound.size,
      hashCapacity: t.table.capacity,
      scheduler: this.scheduler,
      maglevTables: t.mhUsed - t.mhGone,
    };
  }
}

/** The bytes of the arrays prefetch() reads: the VS table, the VS fields and the real-server rows. */
function prefetchSpan(t: IpvsTables): number {
  return t.table.bytes + t.vs.byteLength + t.rrNext.byteLength + t.rs.byteLength + t.rsConns.byteLength;
}
