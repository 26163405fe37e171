/**
 * The compiled policy tables of one node as felix lays them out in the filter table (Calico
 * v3.29, felix/rules/static.go, endpoints.go, policy.go), as `iptables-save` text, with the sets
 * as `ipset save` text: what `iptables-restore` and `ipset restore` load.
 *
 *   FORWARD -> cali-FORWARD -> cali-from-wl-dispatch (-i cali+) -> cali-fw-<if>
 *                           -> cali-to-wl-dispatch   (-o cali+) -> cali-tw-<if>
 *   INPUT   -> cali-INPUT   -> cali-wl-to-host (-i cali+)     -> cali-from-wl-dispatch
 *   cali-fw-/cali-tw-<if>: ESTABLISHED,RELATED ACCEPT; INVALID DROP; clear the pass mark; each
 *     policy's cali-po-/cali-pi- chain in order, RETURN once one set the accept mark; the
 *     end-of-tier DROP unless a rule passed; the namespace profile (kns.<ns>: allow); DROP.
 *   cali-pi-/cali-po-<policy>: each rule's matches, then set the accept mark and RETURN (Allow),
 *     DROP (Deny), set the pass mark and RETURN (Pass), or LOG (Log: felix's LogAction,
 *     `--log-prefix "calico-packet: " --log-level 5` with FelixConfiguration's default logPrefix).
 *
 * It is rendered from the same typed arrays the policy stage reads, so the text and the
 * pipeline cannot disagree. Felix's mark bits are its defaults for `IptablesMarkMask` 0xffff0000:
 * accept 0x10000, pass 0x20000. Known differences from felix, as data: felix names its chains and
 * sets by a hash of the policy or selector (`cali-pi-_<hash>`, `cali40s:<hash>`), kdp by a hash of
 * its own names; felix expands several CIDRs into several rules, kdp matches them through
 * hash:net sets (`cali40net-` and `cali40not-`), the same packets.
 */
import { fnv1a } from '../../net/hash.js';
import { formatCidr, formatIp } from '../../net/ipv4.js';
import { PROTO_ICMP, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../net/proto.js';
import type { Cluster } from '../../model/types.js';
import { vethName } from '../../dataplane/pod-network.js';
import { DIR_EGRESS, DIR_INGRESS, type PolicyTables } from './policy-tables.js';

const kAcceptMark = '0x10000/0x10000';
const kPassMark = '0x20000/0x20000';

export interface FelixRendering {
  readonly iptables: string;
  readonly ipset: string;
  readonly chains: number;
  readonly rules: number;
}

const hex = (s: string): string => fnv1a(s).toString(16).padStart(8, '0');
const protoName = (p: number): string => (p === PROTO_TCP ? 'tcp' : p === PROTO_UDP ? 'udp' : p === PROTO_SCTP ? 'sctp' : p === PROTO_ICMP ? 'icmp' : String(p));

/** The filter table and the sets felix would program on `node` for the compiled policy. */
export function renderFelix(tables: PolicyTables, cluster: Cluster, node: number): FelixRendering {
  const cni = cluster.network.cni;
  const chains: string[] = [];
  const rules: string[] = [];
  const sets: string[] = [];
  const setName = new Map<string, string>();
  const chain = (name: string): void => void chains.push(`:${name} - [0:0]`);
  const add = (line: string): void => void rules.push(line);

  // ipsets: selector sets and named-port sets, as felix programs them (every set, every node).
  const selectorSet = (k: number): string => {
    const key = `s${k}`;
    let name = setName.get(key);
    if (!name) {
      name = `cali40s:${hex(tables.setNames[k])}${k.toString(36)}`.slice(0, 31);
      setName.set(key, name);
      const set = tables.sets[k];
      sets.push(`create ${name} hash:ip family inet hashsize 1024 maxelem 1048576`);
      const members: number[] = [];
      for (let s = 0; s < set.keys.length; s++) if (set.used[s] === 1) members.push(set.keys[s]);
      members.sort((a, b) => a - b);
      for (const ip of members) sets.push(`add ${name} ${formatIp(ip)}`);
    }
    return name;
  };
  const namedSet = (k: number): string => {
    const key = `n${k}`;
    let name = setName.get(key);
    if (!name) {
      name = `cali40n:${hex(tables.namedSetNames[k])}${k.toString(36)}`.slice(0, 31);
      setName.set(key, name);
      const t = tables.namedSets[k];
      sets.push(`create ${name} hash:ip,port family inet hashsize 1024 maxelem 1048576`);
      for (let s = 0; s < t.capacity; s++) {
        const b = t.key1(s);
        if (b !== 0) sets.push(`add ${name} ${formatIp(t.key0(s))},${protoName(b >>> 16)}:${b & 0xffff}`);
      }
    }
    return name;
  };
  const netSet = (prefix: string, a: number, b: number): string => {
    const cidrs: string[] = [];
    for (let i = a; i < b; i++) cidrs.push(formatCidr({ base: tables.netBase[i], prefix: maskPrefix(tables.netMask[i]) }));
    const key = `${prefix}${cidrs.join(',')}`;
    let name = setName.get(key);
    if (!name) {
      name = `${prefix}${hex(key)}`;
      setName.set(key, name);
      sets.push(`create ${name} hash:net family inet hashsize 1024 maxelem 1048576`);
      for (const c of cidrs) sets.push(`add ${name} ${c === '0.0.0.0/0' ? '0.0.0.0/1' : c}`);
      // hash:net refuses /0; two halves hold the same addresses.
      if (cidrs.includes('0.0.0.0/0')) sets.push(`add ${name} 128.0.0.0/1`);
    }
    return name;
  };

  /** The match text of one side of a rule (`src` or `dst`); one text per port group. */
  const entity = (e: number, side: 'src' | 'dst'): string[] => {
    if (e === 0) return [''];
    const parts: string[] = [];
    const set = tables.entSet[e];
    if (set >= 0) parts.push(`-m set --match-set ${selectorSet(set)} ${side}`);
    const notSet = tables.entNotSet[e];
    if (notSet >= 0) parts.push(`-m set ! --match-set ${selectorSet(notSet)} ${side}`);
    const [n0, n1] = [tables.entNet[2 * e], tables.entNet[2 * e + 1]];
    if (n1 > n0) parts.push(`-m set --match-set ${netSet('cali40net-', n0, n1)} ${side}`);
    const [x0, x1] = [tables.entNotNet[2 * e], tables.entNotNet[2 * e + 1]];
    if (x1 > x0) parts.push(`-m set ! --match-set ${netSet('cali40not-', x0, x1)} ${side}`);
    const flag = side === 'src' ? '--sports' : '--dports';
    const [q0, q1] = [tables.entNotPort[2 * e], tables.entNotPort[2 * e + 1]];
    for (let i = q0; i < q1; i += 15) parts.push(`-m multiport ! ${flag} ${portList(tables, i, Math.min(q1, i + 15))}`);
    const base = parts.join(' ');
    const [p0, p1] = [tables.entPort[2 * e], tables.entPort[2 * e + 1]];
    const named = tables.entNamed[e];
    if (p1 === p0 && named < 0) return [base];
    // multiport takes 15 ports a rule; each group, and the named ports, is a copy of the rule.
    const out: string[] = [];
    for (let i = p0; i < p1; i += 15) out.push(`${base} -m multiport ${flag} ${portList(tables, i, Math.min(p1, i + 15))}`.trim());
    if (named >= 0) out.push(`${base} -m set --match-set ${namedSet(named)} ${side === 'src' ? 'src,src' : 'dst,dst'}`.trim());
    return out;
  };

  const policyChains = new Map<string, string>();
  const policyChain = (p: number, d: number): string => {
    const policy = tables.policies[p];
    const key = `${p}/${d}`;
    let name = policyChains.get(key);
    if (name) return name;
    name = `${d === DIR_INGRESS ? 'cali-pi-' : 'cali-po-'}${hex(policy.name)}`;
    policyChains.set(key, name);
    chain(name);
    const r0 = tables.ruleStart[2 * p + d];
    const r1 = tables.ruleStart[2 * p + d + 1];
    for (let r = r0; r < r1; r++) {
      const proto = tables.ruleProto[r];
      const protoMatch = proto !== 0 ? `-p ${protoName(proto)}` : tables.ruleNotProto[r] !== 0 ? `! -p ${protoName(tables.ruleNotProto[r])}` : '';
      const action = tables.ruleAction[r];
      const comment = `-m comment --comment "cali:${policy.source} ${d === DIR_INGRESS ? 'ingress' : 'egress'} rule ${r - r0}"`;
      for (const src of entity(tables.ruleSrc[r], 'src')) {
        for (const dst of entity(tables.ruleDst[r], 'dst')) {
          const match = [protoMatch, src, dst].filter(Boolean).join(' ');
          const head = `-A ${name} ${comment}${match ? ` ${match}` : ''}`;
          if (action === 0) {
            add(`${head} -j MARK --set-xmark ${kAcceptMark}`);
            add(`-A ${name} -m mark --mark ${kAcceptMark} -j RETURN`);
          } else if (action === 1) add(`${head} -j DROP`);
          else if (action === 3) {
            add(`${head} -j MARK --set-xmark ${kPassMark}`);
            add(`-A ${name} -m mark --mark ${kPassMark} -j RETURN`);
          } else add(`${head} -j LOG --log-prefix "calico-packet: " --log-level 5`);
        }
      }
    }
    return name;
  };

  chain('cali-FORWARD');
  chain('cali-INPUT');
  chain('cali-from-wl-dispatch');
  chain('cali-to-wl-dispatch');
  chain('cali-wl-to-host');
  add('-A FORWARD -m comment --comment "cali:wUHhoiAYhphO9Mso" -j cali-FORWARD');
  add('-A INPUT -m comment --comment "cali:Cz_u1IQiXIMmKD4c" -j cali-INPUT');
  add('-A cali-INPUT -i cali+ -g cali-wl-to-host');
  add('-A cali-wl-to-host -j cali-from-wl-dispatch');
  add('-A cali-wl-to-host -m comment --comment "cali:Configured DefaultEndpointToHostAction" -j ACCEPT');
  add('-A cali-FORWARD -i cali+ -j cali-from-wl-dispatch');
  add('-A cali-FORWARD -o cali+ -j cali-to-wl-dispatch');
  add('-A cali-FORWARD -i cali+ -j ACCEPT');
  add('-A cali-FORWARD -o cali+ -j ACCEPT');
  const profiles = new Set<string>();
  const W = tables.workloadIp.length;
  for (let w = 0; w < W; w++) {
    if (tables.workloadNode[w] !== node) continue;
    const iface = vethName(cni, tables.workloadIp[w]);
    const ns = cluster.pods[tables.workloadPod[w]].namespace;
    for (const d of [DIR_EGRESS, DIR_INGRESS]) {
      const ep = `${d === DIR_EGRESS ? 'cali-fw-' : 'cali-tw-'}${iface}`;
      chain(ep);
      add(`-A ${d === DIR_EGRESS ? 'cali-from-wl-dispatch -i' : 'cali-to-wl-dispatch -o'} ${iface} -m comment --comment "cali:${ns}/${cluster.pods[tables.workloadPod[w]].name}" -g ${ep}`);
      add(`-A ${ep} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
      add(`-A ${ep} -m conntrack --ctstate INVALID -j DROP`);
      add(`-A ${ep} -j MARK --set-xmark 0x0/0x30000`);
      const k0 = tables.start[d][w];
      const k1 = tables.start[d][w + 1];
      for (let k = k0; k < k1; k++) {
        add(`-A ${ep} -m mark --mark 0x0/0x20000 -j ${policyChain(tables.list[d][k], d)}`);
        add(`-A ${ep} -m mark --mark ${kAcceptMark} -j RETURN`);
      }
      if (k1 > k0) add(`-A ${ep} -m comment --comment "cali:Drop if no policies passed packet" -m mark --mark 0x0/0x20000 -j DROP`);
      const profile = `${d === DIR_EGRESS ? 'cali-pro-' : 'cali-pri-'}kns.${ns}`.slice(0, 28);
      if (!profiles.has(profile)) {
        profiles.add(profile);
        chain(profile);
        add(`-A ${profile} -m comment --comment "cali:profile kns.${ns}: allow" -j MARK --set-xmark ${kAcceptMark}`);
        add(`-A ${profile} -m mark --mark ${kAcceptMark} -j RETURN`);
      }
      add(`-A ${ep} -j ${profile}`);
      add(`-A ${ep} -m mark --mark ${kAcceptMark} -j RETURN`);
      add(`-A ${ep} -m comment --comment "cali:Drop if no profiles matched" -j DROP`);
    }
  }
  add('-A cali-from-wl-dispatch -m comment --comment "cali:Unknown interface" -j DROP');
  add('-A cali-to-wl-dispatch -m comment --comment "cali:Unknown interface" -j DROP');
  const iptables = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ...chains, ...rules, 'COMMIT', ''].join('\n');
  return { iptables, ipset: sets.length > 0 ? `${sets.join('\n')}\n` : '', chains: chains.length, rules: rules.length };
}

/** The prefix length of a contiguous netmask. */
function maskPrefix(mask: number): number {
  return mask === 0 ? 0 : Math.clz32(~mask >>> 0);
}

function portList(tables: PolicyTables, a: number, b: number): string {
  const out: string[] = [];
  for (let i = a; i < b; i++) out.push(tables.portLo[i] === tables.portHi[i] ? String(tables.portLo[i]) : `${tables.portLo[i]}:${tables.portHi[i]}`);
  return out.join(',');
}
