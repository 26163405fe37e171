/**
 * Which filter-table ACCEPT rules are a Service's answer, so that a trace says `decision: "accept"`
 * for them instead of "none": kube-proxy's health-check node port rules. Every other ACCEPT
 * (KUBE-FORWARD's masquerade-mark and conntrack rules, other owners' firewalls) lets the packet go
 * on as if no rule had spoken, which is what "none" already says.
 *
 * kube-proxy v1.33 writes them as
 * - iptables mode (pkg/proxy/iptables/proxier.go, "Capture healthCheckNodePorts"):
 *   `-A KUBE-NODEPORTS -m comment --comment "NS/SVC:PORT health check node port" -m tcp -p tcp --dport N -j ACCEPT`;
 * - IPVS mode (pkg/proxy/ipvs/proxier.go writeIptablesRules, "accept traffic towards health check node port"):
 *   `-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT`.
 * Both are recognised by what kube-proxy writes in them (the comment; the set), so a rule read
 * back from a node's dump is recognised as kdp's own compilation is.
 */
import { M_FOREIGN, T_ACCEPT, TABLE_FILTER, type Ruleset } from './ruleset.js';

const kHealthCheckComment = / health check node port$/;
const kHealthCheckSet = /--match-set KUBE-HEALTH-CHECK-NODE-PORT dst\b/;

/**
 * 1 for each rule whose ACCEPT is a Service's answer (see above), else 0. Built once per ruleset,
 * shared with workers beside it, and kept by an in-place update for the rules it writes.
 */
export function serviceAccepts(rs: Ruleset): Uint8Array {
  const out = new Uint8Array(rs.ruleCount);
  for (let r = 0; r < rs.ruleCount; r++) out[r] = serviceAccept(rs, r);
  return out;
}

/** 1 when rule r's ACCEPT is a Service's answer, else 0. */
export function serviceAccept(rs: Ruleset, r: number): number {
  if (rs.ruleTarget[r] !== T_ACCEPT || rs.chainTable[rs.ruleChain[r]] !== TABLE_FILTER) return 0;
  if (rs.ruleFlags[r] & M_FOREIGN) return kHealthCheckSet.test(rs.foreign[rs.ruleForeign[r]].text) ? 1 : 0;
  return rs.ruleComment[r] >= 0 && kHealthCheckComment.test(rs.strings[rs.ruleComment[r]]) ? 1 : 0;
}
