/**
 * Text renderings of a compiled IPVS node: `ipvsadm -S -n` and the iptables rules kube-proxy's
 * IPVS mode writes (writeIptablesRules, createAndLinkKubeChain), in iptables-save layout.
 */
import { formatCidr, formatIp } from '../../net/ipv4.js';
import type { IpvsDataplane } from './dataplane.js';
import { ipvsadmListRealServerLine, ipvsadmListServiceLine, ipvsadmRealServerLine, ipvsadmServiceLine, kIpvsadmListHeader } from './ipvsadm-format.js';
import { ipsetInfo, ipvsIpsets } from './ipsets.js';
import { F_LB_ALLOW_NODE, F_LB_FW, rsIp, rsPort, vsFlags, vsLive, vsRsCount, vsRsStart } from './tables.js';
import { comment, kFilterBuiltins, kNatBuiltins, renderSaveTables, type SaveTable } from '../iptables/save-layout.js';

/** ipvsadm's ipvs_cmp_services / ipvs_cmp_dests order: protocol, address, port. */
export function sortedVirtualServices(dp: IpvsDataplane): number[] {
  const t = dp.tables;
  const order = Array.from({ length: t.vsCount }, (_, i) => i).filter((v) => vsLive(t, v));
  return order.sort((a, b) => t.vsProto[a] - t.vsProto[b] || t.vsIp[a] - t.vsIp[b] || t.vsPort[a] - t.vsPort[b]);
}

export function sortedRealServers(dp: IpvsDataplane, v: number): number[] {
  const t = dp.tables;
  const slots: number[] = [];
  for (let s = vsRsStart(t, v); s < vsRsStart(t, v) + vsRsCount(t, v); s++) slots.push(s);
  return slots.sort((a, b) => rsIp(t, a) - rsIp(t, b) || rsPort(t, a) - rsPort(t, b));
}

/** `ipvsadm -S -n`: every virtual service, then its real servers, both sorted as ipvsadm sorts. */
export function renderIpvsadmSave(dp: IpvsDataplane): string {
  const lines: string[] = [];
  for (const v of sortedVirtualServices(dp)) {
    lines.push(ipvsadmServiceLine(dp.tables, v, dp.scheduler));
    for (const s of sortedRealServers(dp, v)) lines.push(ipvsadmRealServerLine(dp.tables, v, s));
  }
  return lines.join('\n') + (lines.length ? '\n' : '');
}

/** `ipvsadm -Ln`: the same services and real servers, in the listing form, sorted alike. */
export function renderIpvsadmList(dp: IpvsDataplane): string {
  const lines: string[] = [...kIpvsadmListHeader];
  for (const v of sortedVirtualServices(dp)) {
    lines.push(ipvsadmListServiceLine(dp.tables, v, dp.scheduler));
    for (const s of sortedRealServers(dp, v)) lines.push(ipvsadmListRealServerLine(dp.tables, s));
  }
  return lines.join('\n') + '\n';
}

function markHex(dp: IpvsDataplane): string {
  return `0x${(1 << dp.cluster.proxy.masqueradeBit).toString(16)}`;
}

/** The `-s`/`-i` negation LocalTrafficDetector.IfNotLocal() adds, in iptables-save order. */
function ifNotLocal(dp: IpvsDataplane): string {
  const d = dp.detector;
  if (d.byInterface) return dp.cluster.proxy.detectLocalMode === 'BridgeInterface' ? '! -i cbr0 ' : '! -i veth+ ';
  return `! -s ${formatCidr(d.cidrs[0])} `;
}

/** The nat and filter tables kube-proxy's IPVS mode owns, as iptables-save prints them. */
export function ipvsIptablesTables(dp: IpvsDataplane, sets: ReadonlyMap<string, ReadonlySet<string>> = ipvsIpsets(dp)): SaveTable[] {
  const nonEmpty = (name: string): boolean => sets.get(name)!.size > 0;
  const c = (name: string): string => comment(ipsetInfo(name).comment);
  const mark = markHex(dp);
  const nat: string[] = [];
  const filter: string[] = [];

  // createAndLinkKubeChain: jumps prepended to the built-in chains (so the last listed is first).
  nat.push('-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  nat.push('-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES');
  nat.push('-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING');
  filter.push('-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER');
  filter.push('-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL');
  filter.push('-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT');
  filter.push('-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL');
  filter.push('-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD');
  filter.push('-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER');

  nat.push('-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN');
  // ipsetWithIptablesChain, in its order, for sets with entries.
  if (nonEmpty('KUBE-LOOP-BACK')) nat.push(`-A KUBE-POSTROUTING ${c('KUBE-LOOP-BACK')} -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE`);
  if (nonEmpty('KUBE-LOAD-BALANCER')) nat.push(`-A KUBE-SERVICES ${c('KUBE-LOAD-BALANCER')} -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER`);
  if (nonEmpty('KUBE-LOAD-BALANCER-LOCAL')) nat.push(`-A KUBE-LOAD-BALANCER ${c('KUBE-LOAD-BALANCER-LOCAL')} -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN`);
  for (const [proto, local, all, match] of [
    ['tcp', 'KUBE-NODE-PORT-LOCAL-TCP', 'KUBE-NODE-PORT-TCP', 'dst'],
    ['udp', 'KUBE-NODE-PORT-LOCAL-UDP', 'KUBE-NODE-PORT-UDP', 'dst'],
    ['sctp', 'KUBE-NODE-PORT-LOCAL-SCTP-HASH', 'KUBE-NODE-PORT-SCTP-HASH', 'dst,dst'],
  ] as const) {
    if (nonEmpty(local)) nat.push(`-A KUBE-NODE-PORT -p ${proto} ${c(local)} -m set --match-set ${local} ${match} -j RETURN`);
    if (nonEmpty(all)) nat.push(`-A KUBE-NODE-PORT -p ${proto} ${c(all)} -m set --match-set ${all} ${match} -j KUBE-MARK-MASQ`);
  }
  if (nonEmpty('KUBE-LOAD-BALANCER-FW')) filter.push(`-A KUBE-PROXY-FIREWALL ${c('KUBE-LOAD-BALANCER-FW')} -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL`);
  if (nonEmpty('KUBE-LOAD-BALANCER-SOURCE-CIDR')) filter.push(`-A KUBE-SOURCE-RANGES-FIREWALL ${c('KUBE-LOAD-BALANCER-SOURCE-CIDR')} -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN`);
  if (nonEmpty('KUBE-LOAD-BALANCER-SOURCE-IP')) filter.push(`-A KUBE-SOURCE-RANGES-FIREWALL ${c('KUBE-LOAD-BALANCER-SOURCE-IP')} -m set --match-set KUBE-LOAD-BALANCER-SOURCE-IP dst,dst,src -j RETURN`);

  if (nonEmpty('KUBE-CLUSTER-IP')) {
    const base = `${c('KUBE-CLUSTER-IP')} -m set --match-set KUBE-CLUSTER-IP`;
    if (dp.cluster.proxy.masqueradeAll) nat.push(`-A KUBE-SERVICES ${base} dst,dst -j KUBE-MARK-MASQ`);
    else if (dp.detector.implemented) nat.push(`-A KUBE-SERVICES ${ifNotLocal(dp)}${base} dst,dst -j KUBE-MARK-MASQ`);
    else nat.push(`-A KUBE-SERVICES ${base} src,dst -j KUBE-MARK-MASQ`);
  }
  const externalIpRules = (set: string): void => {
    nat.push(`-A KUBE-SERVICES ${c(set)} -m set --match-set ${set} dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    nat.push(`-A KUBE-SERVICES ${c(set)} -m set --match-set ${set} dst,dst -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (nonEmpty('KUBE-EXTERNAL-IP')) {
    nat.push(`-A KUBE-SERVICES ${c('KUBE-EXTERNAL-IP')} -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ`);
    externalIpRules('KUBE-EXTERNAL-IP');
  }
  if (nonEmpty('KUBE-EXTERNAL-IP-LOCAL')) externalIpRules('KUBE-EXTERNAL-IP-LOCAL');
  nat.push('-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT');
  nat.push('-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ');
  filter.push('-A KUBE-SOURCE-RANGES-FIREWALL -j DROP');
  const t = dp.tables;
  for (let v = 0; v < t.vsCount; v++) {
    if (!vsLive(t, v)) continue;
    const f = vsFlags(t, v);
    if (f & F_LB_FW && !(f & F_LB_ALLOW_NODE)) {
      const ip = formatIp(t.vsIp[v]);
      filter.push(`-A KUBE-IPVS-OUT-FILTER -s ${ip}/32 -m ipvs --vaddr ${ip}/32 --vproto ${t.vsProto[v]} --vport ${t.vsPort[v]} -j DROP`);
    }
  }
  // acceptIPVSTraffic
  if (nonEmpty('KUBE-CLUSTER-IP')) nat.push('-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT');
  if (nonEmpty('KUBE-LOAD-BALANCER')) nat.push('-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT');
  filter.push(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`);
  filter.push('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  filter.push(`-A KUBE-NODE-PORT ${c('KUBE-HEALTH-CHECK-NODE-PORT')} -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT`);
  for (const s of ['KUBE-LOAD-BALANCER', 'KUBE-CLUSTER-IP', 'KUBE-EXTERNAL-IP', 'KUBE-EXTERNAL-IP-LOCAL']) filter.push(`-A KUBE-IPVS-FILTER -m set --match-set ${s} dst,dst -j RETURN`);
  filter.push('-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN');
  filter.push('-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable');
  nat.push(`-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`);
  nat.push(`-A KUBE-POSTROUTING -j MARK --set-xmark ${mark}/0x0`);
  nat.push(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${dp.cluster.proxy.randomFully ? ' --random-fully' : ''}`);
  nat.push(`-A KUBE-MARK-MASQ -j MARK --set-xmark ${mark}/${mark}`);

  return [
    { name: 'nat', builtins: kNatBuiltins, chains: ['KUBE-SERVICES', 'KUBE-POSTROUTING', 'KUBE-NODE-PORT', 'KUBE-LOAD-BALANCER', 'KUBE-MARK-MASQ'], rules: nat },
    { name: 'filter', builtins: kFilterBuiltins, chains: ['KUBE-FORWARD', 'KUBE-NODE-PORT', 'KUBE-PROXY-FIREWALL', 'KUBE-SOURCE-RANGES-FIREWALL', 'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER'], rules: filter },
  ];
}

export function renderIpvsIptablesSave(dp: IpvsDataplane, sets?: ReadonlyMap<string, ReadonlySet<string>>): string {
  return renderSaveTables(ipvsIptablesTables(dp, sets));
}
