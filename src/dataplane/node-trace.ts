/**
 * `kdp trace --node-state`: one first packet through the rules read from a real node (any format
 * a mode reads, see src/compile/node-state.ts), told in the same JSON shape as a cluster trace
 * (TraceResult). There is no pipeline around it: the node's rules are all kdp has, so the hops
 * are the rules the packet met, and what happens after the node (routing, the other node) is not
 * told. Every random branch is explored (explain()), as for a cluster trace; `endpoint` is the
 * one this flow's draw picks.
 */
import { HOOK_OUTPUT, VERDICT_DNAT, VERDICT_REDIRECT, newFirstPacket, newNatDecision, type ServiceDataplane } from '../compile/dataplane.js';
import { IptablesDataplane } from '../compile/iptables/index.js';
import { IpvsNodeDataplane } from '../compile/ipvs/node-state.js';
import { protocolName, servicePortName, type Cluster } from '../model/types.js';
import { formatIp } from '../net/ipv4.js';
import type { Protocol } from '../net/proto.js';
import type { TraceHop } from './trace-recorder.js';
import type { TraceResult } from './trace.js';

export interface NodePacket {
  readonly proto: number;
  readonly srcIp: number;
  readonly srcPort: number;
  readonly dstIp: number;
  readonly dstPort: number;
  /** HOOK_PREROUTING (arriving) or HOOK_OUTPUT (the node's own). */
  readonly hook: number;
  readonly fromPodInterface: boolean;
  /** Interface names, when known: `-i`/`-o` of other owners' rules are unknown without them. */
  readonly iif?: string;
  readonly oif?: string;
}

export interface NodeTraceOptions {
  /** With the cluster, DNAT targets are named as endpoints of its Services. */
  readonly cluster?: Cluster;
  readonly nodeName: string;
  /** The flow's random draw (statistic, numgen): the same seed picks the same endpoint. */
  readonly rand: number;
}

/**
 * A cluster trace's JSON (TraceResult), where the decision and the verdict may also be `unknown`:
 * a rule kdp cannot evaluate met the packet, named in `unknownAt`.
 */
export interface NodeTraceResult extends Omit<TraceResult, 'decision' | 'verdict' | 'reply'> {
  readonly decision: TraceResult['decision'] | 'unknown';
  readonly verdict: TraceResult['verdict'] | 'unknown';
  /** With decision `unknown`: the rule kdp stopped at, `line N: -A CHAIN ...`, and why. */
  readonly unknownAt?: string;
}

const kNoPolicyVerdict = { verdict: 'none', policy: null, rule: null } as const;

const ipPort = (ip: number, port: number): string => `${formatIp(ip)}:${port}`;

export function traceNodeState(dp: ServiceDataplane, p: NodePacket, opts: NodeTraceOptions): NodeTraceResult {
  const pkt = Object.assign(newFirstPacket(), { srcIp: p.srcIp, srcPort: p.srcPort, dstIp: p.dstIp, dstPort: p.dstPort, proto: p.proto, hook: p.hook, fromPodInterface: p.fromPodInterface, rand: opts.rand });
  const ipt = dp instanceof IptablesDataplane ? dp : undefined;
  if (ipt) {
    ipt.iif = p.iif ?? '';
    ipt.oif = p.oif ?? '';
  }
  const ex = dp.explain(pkt);
  const out = newNatDecision();
  dp.reset();
  dp.decide(pkt, out);
  const cluster = opts.cluster;
  // A candidate is an endpoint row of the cluster, or (a dump read without one) -2 - the DNAT rule.
  const target = (c: number): string => {
    if (c >= 0 && cluster) return ipPort(cluster.endpoints.ip[c], cluster.endpoints.port[c]);
    if (c <= -2 && ipt) {
      const r = -2 - c;
      return ipPort(ipt.rules.ruleTargetA[r], ipt.rules.ruleTargetB[r] || p.dstPort);
    }
    if (c <= -2 && dp instanceof IpvsNodeDataplane) return dp.realServerOf(c);
    return `endpoint #${c}`;
  };
  const rows = [...ex.candidates].sort((a, b) => a - b);
  const decision = ex.verdict === 'redirect' ? 'dnat' : ex.verdict;
  const dnat = out.verdict === VERDICT_DNAT || out.verdict === VERDICT_REDIRECT;
  const finalDst = dnat ? out.dnatIp : p.dstIp;
  const local = ipt ? p.hook !== HOOK_OUTPUT && (finalDst >>> 24 === 127 || ipt.localAddrs.includes(finalDst >>> 0)) : false;
  const verdict = decision === 'unknown' ? 'unknown' : decision === 'drop' ? 'dropped' : decision === 'reject' ? 'rejected' : local ? 'local' : 'delivered';
  const src = ipPort(p.srcIp, p.srcPort);
  const hops: TraceHop[] = ex.steps.map((s) => ({ node: opts.nodeName, at: s.where, action: `${s.action}: ${s.rule}`, src, dst: ipPort(p.dstIp, p.dstPort), ttl: 64, outer: null, wireLen: 0 }));
  const last = ex.steps.at(-1);
  return {
    mode: dp.mode,
    node: opts.nodeName,
    packet: { protocol: protocolName(p.proto as Protocol), src, dst: ipPort(p.dstIp, p.dstPort) },
    decision,
    service: cluster && ex.servicePort >= 0 ? servicePortName(cluster, cluster.ports[ex.servicePort]) : null,
    candidates: rows.map(target),
    endpoint: dnat && decision === 'dnat' ? ipPort(out.dnatIp, out.dnatPort) : null,
    masquerade: ex.masquerade,
    verdict,
    dropReason: (verdict === 'dropped' || verdict === 'rejected') && last ? `${last.where}: ${last.rule}` : null,
    hops,
    // A dump's cali-* chains are walked as rules of another owner: kdp names no policy verdict from them.
    policy: { egress: kNoPolicyVerdict, ingress: kNoPolicyVerdict },
    ...(ex.unknownAt !== undefined ? { unknownAt: ex.unknownAt } : {}),
  };
}
