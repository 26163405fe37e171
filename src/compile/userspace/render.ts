/**
 * The userspace proxier's iptables rules (iptablesInit, openOnePortal, openNodePort) in
 * iptables-save layout, e.g.
 *   -A KUBE-PORTALS-CONTAINER -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j REDIRECT --to-ports 32768
 *   -A KUBE-PORTALS-HOST -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j DNAT --to-destination 192.168.0.11:32768
 */
import { formatIp } from '../../net/ipv4.js';
import { servicePortName } from '../../model/types.js';
import { comment, kFilterBuiltins, kNatBuiltins, renderSaveTables, type SaveTable } from '../iptables/save-layout.js';
import { kGoneProto, NODEPORT_CONTAINER, type UserspaceRules } from './tables.js';
import { protoName } from '../../net/proto.js';

const kChains = ['KUBE-PORTALS-CONTAINER', 'KUBE-PORTALS-HOST', 'KUBE-NODEPORT-CONTAINER', 'KUBE-NODEPORT-HOST'] as const;

/** One portal rule as iptables-save prints it (`-d`, `-p` first; then comment, proto, extra matches). */
export function portalRuleText(dp: UserspaceRules, i: number): string {
  const t = dp.tables;
  const kind = t.ruleKind[i];
  const sp = t.ruleServicePort[i];
  const port = dp.cluster.ports[sp];
  const proto = protoName(port.protocol);
  let s = `-A ${kChains[kind]}`;
  if (t.ruleIp[i] !== 0) s += ` -d ${formatIp(t.ruleIp[i])}/32`;
  s += ` -p ${proto} ${comment(servicePortName(dp.cluster, port))} -m ${proto} --dport ${t.rulePort[i]}`;
  if (t.ruleMatch[i] & 1) s += ' -m physdev ! --physdev-is-in';
  if (t.ruleMatch[i] & 2) s += ' -m addrtype --dst-type LOCAL';
  const proxyPort = t.proxyPort[sp];
  const container = kind === 0 || kind === 2;
  if (container && t.listenIp === 0) s += ` -j REDIRECT --to-ports ${proxyPort}`;
  else s += ` -j DNAT --to-destination ${formatIp(t.listenIp !== 0 ? t.listenIp : t.nodeIp)}:${proxyPort}`;
  return s;
}

export function userspaceIptablesTables(dp: UserspaceRules): SaveTable[] {
  const t = dp.tables;
  const nat: string[] = [
    '-A PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-CONTAINER',
    '-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-CONTAINER',
    '-A OUTPUT -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-HOST',
    '-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-HOST',
  ];
  const filter: string[] = ['-A INPUT -m comment --comment "Ensure that non-local NodePort traffic can flow" -j KUBE-NODEPORT-NON-LOCAL'];
  for (let k = 0; k < 4; k++) for (let i = t.chainStart[k]; i < t.chainEnd[k]; i++) {
    if (t.ruleProto[i] === kGoneProto) continue;
    nat.push(portalRuleText(dp, i));
    if (k === NODEPORT_CONTAINER) {
      // iptablesNonLocalNodePortArgs: after REDIRECT, INPUT sees the proxy port.
      const port = dp.cluster.ports[t.ruleServicePort[i]];
      const proto = protoName(port.protocol);
      filter.push(`-A KUBE-NODEPORT-NON-LOCAL -p ${proto} ${comment(servicePortName(dp.cluster, port))} -m ${proto} --dport ${t.proxyPort[port.index]} -m state --state NEW -j ACCEPT`);
    }
  }
  return [
    { name: 'nat', builtins: kNatBuiltins, chains: [...kChains], rules: nat },
    { name: 'filter', builtins: kFilterBuiltins, chains: ['KUBE-NODEPORT-NON-LOCAL'], rules: filter },
  ];
}

export function renderUserspaceIptablesSave(dp: UserspaceRules): string {
  return renderSaveTables(userspaceIptablesTables(dp));
}
