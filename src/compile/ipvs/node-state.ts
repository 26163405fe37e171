/**
 * An IPVS node's state read whole: its `ipvsadm -S -n` (or `-Ln`), `ipset save` and
 * `iptables-save` as one dataplane, in the kernel's order for a first packet:
 *
 *   nat PREROUTING / OUTPUT (iptables-save: kube-proxy's KUBE-SERVICES marks, other owners' rules)
 *   -> IPVS at LOCAL_OUT for the node's own packet (ip_vs_local_request4, before filter OUTPUT)
 *   -> filter INPUT for an arriving one (KUBE-IPVS-FILTER, KUBE-PROXY-FIREWALL, health checks)
 *   -> IPVS at LOCAL_IN (ip_vs_remote_request4, after filter INPUT): the virtual service of
 *      ipvsadm picks a real server (ip_vs_leave's ICMP port unreachable when it has none)
 *   -> nat POSTROUTING on the DNATed packet (KUBE-POSTROUTING's mark and KUBE-LOOP-BACK set).
 *
 * The iptables walk is IptablesDataplane's (decideBalanced/explainBalanced put IPVS's DNAT
 * between its hooks), the virtual services and schedulers are IpvsDataplane's over ipvsadm and the
 * sets. kube-ipvs0's addresses are local to the node (kube-proxy binds every virtual service
 * address there), so packets to them meet filter INPUT, as on the node.
 * Where this differs from kdp's compiled IPVS mode is listed in kIpvsNodeDifferences.
 */
import {
  HOOK_OUTPUT, VERDICT_DNAT, VERDICT_DROP, VERDICT_REJECT, VERDICT_UNKNOWN, newNatDecision,
  type DataplaneStats, type Explanation, type FirstPacket, type NatDecision, type ServiceDataplane,
} from '../dataplane.js';
import { formatIp } from '../../net/ipv4.js';
import type { IptablesDataplane } from '../iptables/dataplane.js';
import { kIpvsInvalidDrop, type IpvsDataplane } from './dataplane.js';
import { rsIp, rsPort, rsRow, rsWeight, vsLive, vsRsCount, vsRsStart } from './tables.js';
import { portProtoKey } from '../tables/index.js';

/** Addresses of every virtual service: kube-ipvs0's and the node's NodePort addresses. */
export function virtualServiceAddresses(ipvs: IpvsDataplane): number[] {
  const t = ipvs.tables;
  const live: number[] = [];
  for (let v = 0; v < t.vsCount; v++) if (vsLive(t, v)) live.push(t.vsIp[v]);
  return [...new Set(live)];
}

export class IpvsNodeDataplane implements ServiceDataplane {
  readonly mode = 'ipvs' as const;
  readonly invalidDrop = kIpvsInvalidDrop;
  readonly node: number;
  private readonly pick = newNatDecision();

  constructor(
    readonly iptables: IptablesDataplane,
    readonly ipvs: IpvsDataplane,
  ) {
    this.node = ipvs.node;
  }

  /** The virtual service a first packet meets (its destination, protocol and port), or -1. */
  private virtualService(pkt: FirstPacket): number {
    const t = this.ipvs.tables;
    const hit = t.table.find(pkt.dstIp >>> 0, portProtoKey(pkt.proto, pkt.dstPort));
    return hit < 0 ? -1 : t.table.rows[t.table.at(hit)];
  }

  /** Not a hot path: a node's dump is traced, not benchmarked. */
  decide(pkt: FirstPacket, out: NatDecision): void {
    const ipt = this.iptables;
    if (this.virtualService(pkt) < 0) return ipt.decideGeneric(pkt, out);
    // The iptables rules before IPVS may end the packet (KUBE-IPVS-FILTER, source ranges).
    ipt.decideGeneric(pkt, out);
    if (out.verdict === VERDICT_DROP || out.verdict === VERDICT_REJECT || out.verdict === VERDICT_UNKNOWN) return;
    const p = this.pick;
    this.ipvs.decide(pkt, p);
    if (p.verdict !== VERDICT_DNAT) {
      out.verdict = p.verdict;
      out.servicePort = p.servicePort;
      out.endpoint = -1;
      return;
    }
    ipt.decideBalanced(pkt, p.dnatIp, p.dnatPort, out);
    if (out.verdict === VERDICT_DNAT) out.endpoint = p.endpoint;
    out.servicePort = p.servicePort;
  }

  explain(pkt: FirstPacket): Explanation {
    const ipt = this.iptables;
    const before = ipt.explain(pkt);
    const v = this.virtualService(pkt);
    if (v < 0) return before;
    const lb = this.ipvs.explain(pkt);
    const stopped = before.verdict === 'drop' || before.verdict === 'reject' || before.verdict === 'unknown';
    // The node's own packet meets IPVS before any filter rule: its filter OUTPUT is walked per real server below.
    if (stopped && pkt.hook !== HOOK_OUTPUT) return { ...before, servicePort: lb.servicePort };
    // No real server (ip_vs_leave's reject), or IPVS mode's drop of the node's own packet from an LB
    // address outside its source ranges (KUBE-IPVS-OUT-FILTER's `-m ipvs` rule, which kdp does not
    // evaluate in a dump): IPVS's answer.
    if (lb.verdict !== 'dnat') return { ...lb, steps: [...before.steps, ...lb.steps] };
    const steps: typeof before.steps[number][] = [];
    const candidates: number[] = [];
    let masquerade = false;
    // Every real server IPVS may pick (weight above 0, as ipvs.explain's candidates), the node's own
    // listing's address even when the cluster has no such endpoint.
    const t = this.ipvs.tables;
    for (let s = vsRsStart(t, v); s < vsRsStart(t, v) + vsRsCount(t, v); s++) {
      if (rsWeight(t, s) === 0) continue;
      const ex = ipt.explainBalanced(pkt, rsIp(t, s), rsPort(t, s));
      if (ex.verdict !== 'dnat') return { ...ex, servicePort: lb.servicePort, candidates: [] };
      if (ex.masquerade) masquerade = true;
      // A real server the cluster has no endpoint for (a stale one) is named by its slot: -2 - slot.
      candidates.push(rsRow(t, s) >= 0 ? rsRow(t, s) : -2 - s);
      for (const st of ex.steps) if (!steps.some((x) => x.rule === st.rule && x.action === st.action)) steps.push(st);
    }
    return { verdict: 'dnat', servicePort: lb.servicePort, candidates, masquerade, steps };
  }

  /** The real server of a candidate -2 - slot (explain()'s name for one the cluster lacks), "ip:port". */
  realServerOf(candidate: number): string {
    const t = this.ipvs.tables;
    const s = -2 - candidate;
    return `${formatIp(rsIp(t, s))}:${rsPort(t, s)}`;
  }

  stats(): DataplaneStats {
    const a = this.ipvs.stats();
    const b = this.iptables.stats();
    return { ...a, iptablesRules: b.rules, iptablesChains: b.chains, tableBytes: a.tableBytes + b.tableBytes };
  }

  reset(): void {
    this.ipvs.reset();
    this.iptables.reset();
  }
}
