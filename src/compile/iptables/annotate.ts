/**
 * Maps an imported ruleset back onto a cluster: each KUBE-SVC/SVL/EXT/FW/SEP chain to its
 * service port (by recomputing kube-proxy's chain names), each DNAT rule to its endpoint row
 * (by SEP chain name, else by ip:port). Without a cluster, DNAT targets keep only ip:port.
 */
import { servicePortName, type Cluster } from '../../model/types.js';
import { endpointChainName, hostPort, serviceChainNames } from './chain-names.js';
import { T_DNAT, TABLE_NAT, type Ruleset } from './ruleset.js';
import { protoName } from '../../net/proto.js';

export function annotateRuleset(rs: Ruleset, cluster: Cluster): void {
  const chainPort = new Map<string, number>();
  const sepRow = new Map<string, number>();
  const byAddr = new Map<string, number>();
  const nameToPort = new Map<string, number>();
  const { ip, port } = cluster.endpoints;
  for (const p of cluster.ports) {
    const name = servicePortName(cluster, p);
    const proto = protoName(p.protocol);
    const n = serviceChainNames(name, proto);
    for (const c of [n.svc, n.svl, n.ext, n.fw]) chainPort.set(c, p.index);
    nameToPort.set(name, p.index);
    for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) {
      const hp = hostPort(ip[r], port[r]);
      const sep = endpointChainName(name, proto, hp);
      chainPort.set(sep, p.index);
      sepRow.set(sep, r);
      if (!byAddr.has(`${p.index}|${hp}`)) byAddr.set(`${p.index}|${hp}`, r);
    }
  }
  const cp = rs.chainPort as Int32Array;
  for (let c = 0; c < rs.chainCount; c++) {
    if (rs.chainTable[c] !== TABLE_NAT) continue;
    const p = chainPort.get(rs.chainName[c]);
    if (p !== undefined) cp[c] = p;
  }
  const rp = rs.rulePort as Int32Array;
  const re = rs.ruleEndpoint as Int32Array;
  for (let r = 0; r < rs.ruleCount; r++) {
    const c = rs.ruleChain[r];
    let p = cp[c];
    if (p < 0 && rs.ruleJump[r] >= 0) p = cp[rs.ruleJump[r]];
    if (p < 0 && rs.ruleComment[r] >= 0) {
      // Filter-table rules name their service in the comment: "ns/svc:port has no endpoints".
      const comment = rs.strings[rs.ruleComment[r]];
      const m = /^(\S+) (has no|health check|traffic not accepted|cluster IP|external IP|loadbalancer IP)/.exec(comment) ?? /^(\S+)$/.exec(comment);
      if (m) p = nameToPort.get(m[1]) ?? -1;
    }
    rp[r] = p;
    if (rs.ruleTarget[r] === T_DNAT) {
      const row = sepRow.get(rs.chainName[c]);
      const hp = `${(rs.ruleTargetA[r] >>> 24) & 255}.${(rs.ruleTargetA[r] >>> 16) & 255}.${(rs.ruleTargetA[r] >>> 8) & 255}.${rs.ruleTargetA[r] & 255}:${rs.ruleTargetB[r]}`;
      re[r] = row ?? byAddr.get(`${p}|${hp}`) ?? -1;
    }
  }
}
