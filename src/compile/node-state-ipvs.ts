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
} from './dataplane.js';
import type { IptablesDataplane } from './iptables/dataplane.js';
import type { IpvsDataplane } from './ipvs/dataplane.js';
import { portProtoKey } from './ipvs/tables.js';

/** Addresses of every virtual service: kube-ipvs0's and the node's NodePort addresses. */
export function virtualServiceAddresses(ipvs: IpvsDataplane): number[] {
  const t = ipvs.tables;
  return [...new Set(Array.from(t.vsIp.subarray(0, t.vsCount)))];
}

export class IpvsNodeDataplane implements ServiceDataplane {
  readonly mode = 'ipvs' as const;
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
    return hit < 0 ? -1 : t.table.values[hit];
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
    if (this.virtualService(pkt) < 0) return before;
    const lb = this.ipvs.explain(pkt);
    const stopped = before.verdict === 'drop' || before.verdict === 'reject' || before.verdict === 'unknown';
    // The node's own packet meets IPVS before any filter rule: its filter OUTPUT is walked per real server below.
    if (stopped && pkt.hook !== HOOK_OUTPUT) return { ...before, servicePort: lb.servicePort };
    if (lb.verdict !== 'dnat') return { ...lb, steps: [...before.steps, ...lb.steps] };
    const steps: typeof before.steps[number][] = [];
    let masquerade = false;
    const cluster = this.ipvs.cluster;
    for (const row of lb.candidates) {
      const ex = ipt.explainBalanced(pkt, cluster.endpoints.ip[row], cluster.endpoints.port[row]);
      if (ex.verdict !== 'dnat') return { ...ex, servicePort: lb.servicePort, candidates: [] };
      if (ex.masquerade) masquerade = true;
      for (const s of ex.steps) if (!steps.some((x) => x.rule === s.rule && x.action === s.action)) steps.push(s);
    }
    return { verdict: 'dnat', servicePort: lb.servicePort, candidates: lb.candidates, masquerade, steps };
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
