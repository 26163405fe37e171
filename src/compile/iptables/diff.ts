/**
 * Is a node in sync with its Services? The rules kube-proxy should have written for the node
 * (kdp's compilation of the cluster) against the rules the node has (its iptables-save), both
 * mapped onto the cluster's Service ports by kube-proxy's own chain names (annotate.ts):
 *
 *  - missingServices: a Service port the node should have rules for and has none.
 *  - staleServices: a Service the node's KUBE-SERVICES still sends to, that the cluster no longer
 *    has (its chains are named by no current Service port; named by kube-proxy's comment).
 *  - endpoints: per Service port present on both, the DNAT targets its chains reach that the node
 *    lacks (missing) and that it has beyond the cluster's (stale), as "ip:port".
 *  - orphanChains: KUBE-SVC/SVL/EXT/FW/SEP chains no Service port of the cluster owns (a failed
 *    sync or a crash leaves them; kube-proxy deletes them on its next full sync).
 *
 * What kube-proxy writes for a Service port is kdp's compilation, checked elsewhere against
 * kube-proxy's own source; this only compares two rulesets, so it holds for any node the
 * cluster file describes.
 */
import type { Cluster } from '../../model/types.js';
import { formatIp } from '../../net/ipv4.js';
import { diffViews, type NodeDiff, type ServiceView } from '../node-diff.js';
import { annotateRuleset } from './annotate.js';
import { compileRuleset } from './build.js';
import { isServiceChainName } from './chain-names.js';
import { kTableNames, T_DNAT, T_JUMP, TABLE_NAT, type Ruleset } from './ruleset.js';

/** Per Service port: whether any rule or chain is its, and the DNAT targets its chains reach. */
function serviceView(rs: Ruleset): ServiceView {
  const present = new Set<number>();
  const targets = new Map<number, Set<string>>();
  for (let c = 0; c < rs.chainCount; c++) if (rs.chainPort[c] >= 0) present.add(rs.chainPort[c]);
  for (let r = 0; r < rs.ruleCount; r++) if (rs.rulePort[r] >= 0) present.add(rs.rulePort[r]);
  // The chains a port owns, and the chains they jump to (its SEP chains, named for the endpoint).
  const owned = new Map<number, Set<number>>();
  for (let c = 0; c < rs.chainCount; c++) {
    const p = rs.chainPort[c];
    if (p < 0 || rs.chainTable[c] !== TABLE_NAT) continue;
    const set = owned.get(p) ?? new Set<number>();
    set.add(c);
    for (let r = rs.chainStart[c]; r < rs.chainEnd[c]; r++) if (rs.ruleTarget[r] === T_JUMP && rs.ruleJump[r] >= 0) set.add(rs.ruleJump[r]);
    owned.set(p, set);
  }
  for (const [p, chains] of owned) {
    const t = new Set<string>();
    for (const c of chains) {
      for (let r = rs.chainStart[c]; r < rs.chainEnd[c]; r++) if (rs.ruleTarget[r] === T_DNAT) t.add(`${formatIp(rs.ruleTargetA[r])}:${rs.ruleTargetB[r]}`);
    }
    targets.set(p, t);
  }
  return { present, targets };
}

/** The node's parsed ruleset (`actual`) against kdp's compilation of `cluster` for `node`. */
export function diffNode(cluster: Cluster, node: number, actual: Ruleset): NodeDiff {
  const expected = compileRuleset(cluster, { node });
  annotateRuleset(expected, cluster);
  annotateRuleset(actual, cluster);
  const orphanChains: string[] = [];
  const stale = new Set<string>();
  for (let c = 0; c < actual.chainCount; c++) {
    if (actual.chainPort[c] >= 0 || !isServiceChainName(actual.chainName[c])) continue;
    orphanChains.push(`${kTableNames[actual.chainTable[c]]}/${actual.chainName[c]}`);
  }
  // A stale Service: a KUBE-SERVICES (or KUBE-NODEPORTS) rule still sends to an unowned chain.
  for (let r = 0; r < actual.ruleCount; r++) {
    const j = actual.ruleJump[r];
    if (actual.ruleTarget[r] !== T_JUMP || j < 0 || actual.chainPort[j] >= 0 || !isServiceChainName(actual.chainName[j])) continue;
    const from = actual.chainName[actual.ruleChain[r]];
    if (from !== 'KUBE-SERVICES' && from !== 'KUBE-NODEPORTS' && from !== 'KUBE-EXTERNAL-SERVICES') continue;
    const comment = actual.ruleComment[r] >= 0 ? actual.strings[actual.ruleComment[r]] : '';
    stale.add(comment.split(' ')[0] || actual.chainName[j]);
  }
  return diffViews(cluster, node, 'iptables', serviceView(expected), serviceView(actual), stale, orphanChains);
}
