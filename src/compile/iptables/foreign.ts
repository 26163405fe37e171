/**
 * Rules of other owners on a real node (Docker, Calico `cali-*`, Cilium, flannel, libvirt,
 * NodeLocal DNSCache, firewalld): every match and target iptables-save can print, read into plain
 * data and evaluated for one first packet by the general walker (dataplane.ts). kube-proxy's own
 * rules never come here: parse.ts reads them into the Ruleset's typed arrays first, and only a rule
 * that does not fit those is read by `parseForeignRule`.
 *
 * Semantics are iptables-extensions(8)'s and the kernel's (xt_*.c), for the first packet of a new
 * connection (a TCP SYN): conntrack state NEW, status bits none of EXPECTED/SEEN_REPLY/ASSURED/
 * CONFIRMED (the entry is confirmed only after POSTROUTING), direction ORIGINAL. What depends on
 * something kdp does not know (the interface a packet came in on unless the trace names it, the
 * route an address has, bridging, sockets, rate limits, owners, byte strings) is an `opaque` or
 * an unknown answer: the walk stops there with `decision: "unknown"` naming the rule's line,
 * never a guess. A match whose verdict is certain is decided even next to an unknown one (a rule
 * with `-p udp` never matches a TCP packet, whatever else it says).
 */
import { RuleParseError } from '../../errors.js';
import { parseCidr, parseIp, prefixMask } from '../../net/ipv4.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../net/proto.js';
import { ipsetContains, type IpsetSet } from '../ipvs/ipset-parse.js';
import type { ForeignMatch, ForeignRule } from './foreign-rule.js';
import {
  CT_DNAT, CT_UNTRACKED, kCtStateNames, T_ACCEPT, T_DNAT, T_DROP, T_JUMP, T_MARK, T_MASQUERADE, T_NONE, T_NOTRACK, T_REJECT,
  T_RETURN, T_UNKNOWN, TF_GOTO, type RuleSpec,
} from './ruleset.js';

/** What a foreign match needs of the packet at the rule; one per dataplane, overwritten per rule. */
export interface ForeignPacket {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  proto: number;
  mark: number;
  ct: number;
  /** The connection's original tuple (before DNAT) and reply tuple's source (after it). */
  origDst: number;
  origDport: number;
  /** Interface names when the trace gave them, else '' (then `-i`/`-o` are unknown). */
  iif: string;
  oif: string;
  isLocal: (ip: number) => boolean;
  sets: ReadonlyMap<string, IpsetSet>;
  /** Why the last evaluation answered unknown. */
  why: string;
}

export const FM_NO = 0;
export const FM_YES = 1;
export const FM_UNKNOWN = 2;

// Protocol numbers /etc/protocols gives the names iptables-save prints (`-p icmp`, `-p gre`).
const kProtoNumbers: Readonly<Record<string, number>> = {
  all: 0, icmp: 1, igmp: 2, ipip: 4, ipencap: 4, tcp: 6, udp: 17, ipv6: 41, gre: 47, esp: 50, ah: 51, icmpv6: 58, 'ipv6-icmp': 58, ospf: 89, vrrp: 112, sctp: 132, udplite: 136,
};

const kCtStatusBits: Readonly<Record<string, number>> = { NONE: 0, EXPECTED: 1, SEEN_REPLY: 2, ASSURED: 4, CONFIRMED: 8 };

/** Options that take no value, and those that take two; every other `--option` takes one. */
const kNoValue = new Set(['--syn', '--rsource', '--rdest', '--set', '--rcheck', '--update', '--remove', '--reap', '--physdev-is-in', '--physdev-is-out', '--physdev-is-bridged',
  '--limit-iface-in', '--limit-iface-out', '--transparent', '--nowildcard', '--restore-skmark', '--return-nomatch', '--update-counters', '--update-subcounters', '--random',
  '--random-fully', '--persistent', '--notrack', '--save-mark', '--restore-mark', '--log-tcp-sequence', '--log-tcp-options', '--log-ip-options', '--log-uid', '--fragment', '--clamp-mss-to-pmtu',
  '--checksum-fill', '--strict', '--loose', '--validmark', '--accept-local', '--invert', '--dstlimit', '--ctexpire']);
const kTwoValues = new Set(['--tcp-flags', '--match-set']);
/** Options of the matches kdp evaluates that take one value (the value is read even if it starts with -). */
const kOneValue = new Set(['--sport', '--source-port', '--dport', '--destination-port', '--dports', '--destination-ports', '--sports', '--source-ports', '--ports', '--src-type',
  '--dst-type', '--mark', '--ctstate', '--state', '--ctstatus', '--ctorigsrc', '--ctorigdst', '--ctreplsrc', '--ctrepldst', '--ctorigsrcport', '--ctorigdstport', '--ctreplsrcport',
  '--ctrepldstport', '--ctproto', '--ctdir', '--comment', '--src-range', '--dst-range', '--mode', '--probability']);

function u32(text: string): number | undefined {
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(text)) return undefined;
  const v = Number(text);
  return v > 0xffffffff ? undefined : v >>> 0;
}

function portRange(text: string): [number, number] | undefined {
  const m = /^(\d+)?(?::(\d+)?)?$/.exec(text);
  if (!m || (m[1] === undefined && m[2] === undefined)) return undefined;
  const lo = m[1] === undefined ? 0 : Number(m[1]);
  const hi = text.includes(':') ? (m[2] === undefined ? 65535 : Number(m[2])) : lo;
  return lo <= hi && hi <= 65535 ? [lo, hi] : undefined;
}

const kTcpFlagBits: Readonly<Record<string, number>> = { FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128, ALL: 255, NONE: 0 };
function tcpFlags(text: string): number | undefined {
  let m = 0;
  for (const f of text.split(',')) {
    const b = kTcpFlagBits[f];
    if (b === undefined) return undefined;
    m |= b;
  }
  return m;
}

/**
 * Reads one rule of another owner (the words after `-A CHAIN`) into `spec`: its matches, its
 * target (a chain of the table, a known target, or T_UNKNOWN), and `spec.foreign`. Throws
 * RuleParseError only for text no iptables-save prints (an invalid address, a missing value);
 * an extension kdp does not know is an opaque match or an unknown target, never an error.
 */
export function parseForeignRule(w: readonly string[], text: string, lineNo: number, isChain: (name: string) => boolean): RuleSpec {
  const spec: RuleSpec = { order: [], target: T_NONE };
  const matches: ForeignMatch[] = [];
  let targetNote: string | undefined;
  let neg = false;
  let module = '';
  let moduleCount = 0;
  let opaqueModule = -1;
  let proto = -1;
  const bad = (msg: string): never => {
    throw new RuleParseError(msg, lineNo);
  };
  const need = (i: number): string => (i < w.length ? w[i] : bad(`missing value after "${w[i - 1]}"`));
  const range = (t: string, what: string): [number, number] => {
    if (/^[\d.]+-[\d.]+$/.test(t)) {
      const [a, b] = t.split('-').map(parseIp);
      if (a < 0 || b < 0) bad(`invalid ${what} range ${JSON.stringify(t)}`);
      return [a >>> 0, b >>> 0];
    }
    const c = t.includes('/') ? parseCidr(t) : parseIp(t) >= 0 ? { base: parseIp(t) >>> 0, prefix: 32 } : undefined;
    if (!c) return bad(`invalid ${what} ${JSON.stringify(t)}`);
    const mask = prefixMask(c.prefix);
    return [(c.base & mask) >>> 0, ((c.base & mask) | ~mask) >>> 0];
  };
  let i = 0;
  for (; i < w.length; i++) {
    const tok = w[i];
    if (tok === '!') {
      neg = true;
      continue;
    }
    const n = neg;
    neg = false;
    switch (tok) {
      case '-s': case '--source': case '-d': case '--destination': {
        const [lo, hi] = range(need(++i), 'address');
        matches.push({ k: 'addr', dir: tok === '-s' || tok === '--source' ? 'src' : 'dst', lo, hi, neg: n });
        break;
      }
      case '-i': case '--in-interface': case '-o': case '--out-interface':
        matches.push({ k: 'iface', dir: tok === '-i' || tok === '--in-interface' ? 'in' : 'out', name: need(++i), neg: n });
        break;
      case '-p': case '--protocol': {
        const t = need(++i).toLowerCase();
        const p = /^\d+$/.test(t) ? Number(t) : kProtoNumbers[t];
        if (p === undefined) matches.push({ k: 'opaque', text: `-p ${t}`, why: `protocol ${t} is not one kdp knows` });
        else {
          matches.push({ k: 'proto', proto: p, neg: n });
          if (!n) proto = p;
        }
        break;
      }
      case '-f': case '--fragment':
        matches.push({ k: 'frag', neg: n });
        break;
      case '-c': case '--set-counters':
        i += 2;
        break;
      case '-m': case '--match':
        module = need(++i);
        moduleCount++;
        break;
      case '-j': case '--jump': case '-g': case '--goto': {
        const target = need(++i);
        const opts = w.slice(i + 1);
        i = w.length;
        if (tok === '-g' || tok === '--goto') {
          if (!isChain(target)) bad(`goto to "${target}", which is no chain of this table`);
          spec.target = T_JUMP;
          spec.jump = target;
          spec.targetFlags = TF_GOTO;
          break;
        }
        targetNote = foreignTarget(spec, target, opts, isChain, bad);
        break;
      }
      default: {
        if (!tok.startsWith('--')) bad(`unexpected "${tok}" (an option starts with - or --)`);
        // An option kdp does not list takes its value unless the next word is itself an option.
        const next = w[i + 1];
        const known = kNoValue.has(tok) || kTwoValues.has(tok) || kOneValue.has(tok);
        const arity = kNoValue.has(tok) ? 0 : kTwoValues.has(tok) ? 2 : !known && (next === undefined || next === '!' || /^-[-a-zA-Z]/.test(next)) ? 0 : 1;
        const vals: string[] = [];
        for (let k = 0; k < arity; k++) vals.push(need(++i));
        const m = moduleMatch(module, moduleCount, proto, tok, vals, n, bad);
        const last = matches.at(-1);
        // One opaque match per module instance: its options are one thing kdp does not know.
        if (m?.k === 'opaque' && last?.k === 'opaque' && opaqueModule === moduleCount) matches[matches.length - 1] = { ...last, text: `${last.text} ${m.text.replace(/^-m \S+ /, '')}` };
        // --limit-iface-in/out qualifies the addrtype match before it.
        else if (m?.k === 'addrtype' && m.limitIface && last?.k === 'addrtype') matches[matches.length - 1] = { ...last, limitIface: true };
        else if (m) matches.push(m);
        if (m?.k === 'opaque') opaqueModule = moduleCount;
        else if (module === 'statistic' && tok === '--probability') {
          const p = Number(vals[0]);
          if (!(p >= 0 && p <= 1)) bad(`invalid probability ${JSON.stringify(vals[0])}`);
          spec.probability = p; // the walker's statistic branch, as for kube-proxy's own rules
        }
      }
    }
  }
  if (neg) bad('"!" at the end of the rule negates nothing');
  spec.foreign = { line: lineNo, text, matches, ...(targetNote !== undefined ? { targetNote } : {}) };
  return spec;
}

/**
 * One `--option` of module `module` (the rule's `instance`th `-m`) as a match, or undefined for an
 * option that only qualifies another (or none).
 */
function moduleMatch(module: string, instance: number, proto: number, opt: string, v: readonly string[], neg: boolean, bad: (m: string) => never): ForeignMatch | undefined {
  const opaque = (why: string): ForeignMatch => ({ k: 'opaque', text: `-m ${module} ${neg ? '! ' : ''}${opt}${v.length ? ` ${v.join(' ')}` : ''}`, why });
  const portsOf = (t: string): number[] => {
    const out: number[] = [];
    for (const p of t.split(',')) {
      const r = portRange(p);
      if (!r) bad(`invalid port ${JSON.stringify(p)}`);
      out.push(...(r as [number, number]));
    }
    return out;
  };
  const l4 = module === 'tcp' || module === 'udp' || module === 'sctp' || module === 'udplite' || (module === '' && (proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP));
  switch (module === '' && l4 ? 'tcp' : module === 'udp' || module === 'sctp' || module === 'udplite' ? 'tcp' : module) {
    case 'tcp':
      if (opt === '--sport' || opt === '--source-port' || opt === '--dport' || opt === '--destination-port') {
        return { k: 'ports', dir: opt.startsWith('--s') ? 'src' : 'dst', ranges: portsOf(v[0]), neg };
      }
      if (opt === '--tcp-flags') {
        const mask = tcpFlags(v[0]);
        const comp = tcpFlags(v[1]);
        if (mask === undefined || comp === undefined) bad(`invalid TCP flags ${JSON.stringify(v.join(' '))}`);
        return { k: 'tcpflags', mask: mask as number, comp: comp as number, neg };
      }
      if (opt === '--syn') return { k: 'tcpflags', mask: 0x17, comp: 0x02, neg };
      return opaque('a TCP/UDP option kdp does not evaluate');
    case 'multiport':
      if (opt === '--dports' || opt === '--destination-ports' || opt === '--sports' || opt === '--source-ports' || opt === '--ports') {
        return { k: 'ports', dir: opt === '--ports' ? 'any' : opt.startsWith('--d') ? 'dst' : 'src', ranges: portsOf(v[0]), neg };
      }
      return opaque('a multiport option kdp does not evaluate');
    case 'comment':
      return opt === '--comment' ? undefined : opaque('a comment option kdp does not know');
    case 'addrtype':
      if (opt === '--src-type' || opt === '--dst-type') return { k: 'addrtype', dir: opt === '--src-type' ? 'src' : 'dst', types: v[0].split(','), neg, limitIface: false };
      if (opt === '--limit-iface-in' || opt === '--limit-iface-out') return { k: 'addrtype', dir: 'dst', types: [], neg: false, limitIface: true };
      return opaque('an addrtype option kdp does not evaluate');
    case 'mark': {
      if (opt !== '--mark') return opaque('a mark option kdp does not evaluate');
      const [a, b] = v[0].split('/');
      const value = u32(a);
      const mask = b === undefined ? 0xffffffff : u32(b);
      if (value === undefined || mask === undefined) bad(`invalid mark ${JSON.stringify(v[0])}`);
      return { k: 'mark', value: value as number, mask: mask as number, neg };
    }
    case 'conntrack': case 'state': {
      if (opt === '--ctstate' || opt === '--state') {
        let mask = 0;
        for (const s of v[0].split(',')) {
          const bit = (kCtStateNames as readonly string[]).indexOf(s);
          if (bit < 0) bad(`unknown conntrack state "${s}"`);
          mask |= 1 << bit;
        }
        return { k: 'ctstate', mask, neg, mod: instance };
      }
      if (opt === '--ctstatus') {
        let mask = 0;
        for (const s of v[0].split(',')) {
          const bit = kCtStatusBits[s];
          if (bit === undefined) bad(`unknown conntrack status "${s}"`);
          mask |= bit as number;
        }
        return { k: 'ctstatus', mask, neg, mod: instance };
      }
      const addr = /^--ct(orig|repl)(src|dst)$/.exec(opt);
      if (addr) {
        const t = v[0];
        const c = t.includes('/') ? parseCidr(t) : parseIp(t) >= 0 ? { base: parseIp(t) >>> 0, prefix: 32 } : undefined;
        if (!c) bad(`invalid address ${JSON.stringify(t)}`);
        const mask = prefixMask((c as { prefix: number }).prefix);
        const base = ((c as { base: number }).base & mask) >>> 0;
        return { k: 'ctaddr', which: `${addr[1]}${addr[2]}` as 'origsrc', lo: base, hi: (base | ~mask) >>> 0, neg, mod: instance };
      }
      const port = /^--ct(orig|repl)(src|dst)port$/.exec(opt);
      if (port) {
        const r = portRange(v[0]);
        if (!r) bad(`invalid port ${JSON.stringify(v[0])}`);
        return { k: 'ctport', which: `${port[1]}${port[2]}` as 'origsrc', lo: (r as number[])[0], hi: (r as number[])[1], neg, mod: instance };
      }
      if (opt === '--ctproto') {
        const p = /^\d+$/.test(v[0]) ? Number(v[0]) : kProtoNumbers[v[0].toLowerCase()];
        return p === undefined ? opaque(`protocol ${v[0]} is not one kdp knows`) : { k: 'ctproto', proto: p, neg, mod: instance };
      }
      if (opt === '--ctdir') return { k: 'ctdir', original: v[0] === 'ORIGINAL', mod: instance };
      return opaque('a conntrack option kdp does not evaluate (expectations, timeouts, labels)');
    }
    case 'set':
      if (opt === '--match-set') {
        const flags = v[1].split(',');
        if (flags.some((f) => f !== 'src' && f !== 'dst')) bad(`set flags are src or dst, not ${JSON.stringify(v[1])}`);
        return { k: 'set', name: v[0], flags: flags as ('src' | 'dst')[], neg };
      }
      // --return-nomatch, counters: kube-proxy and Calico write none that change a first packet's answer.
      if (opt === '--return-nomatch' || opt.startsWith('--update-') || opt.startsWith('--packets') || opt.startsWith('--bytes')) return opt === '--return-nomatch' ? opaque('--return-nomatch') : undefined;
      return opaque('a set option kdp does not evaluate');
    case 'iprange':
      if (opt === '--src-range' || opt === '--dst-range') {
        const [a, b] = v[0].split('-').map(parseIp);
        if (a === undefined || b === undefined || a < 0 || b < 0) bad(`invalid address range ${JSON.stringify(v[0])}`);
        return { k: 'addr', dir: opt === '--src-range' ? 'src' : 'dst', lo: a >>> 0, hi: b >>> 0, neg };
      }
      return opaque('an iprange option kdp does not evaluate');
    case 'statistic':
      if (opt === '--mode' && v[0] === 'random') return undefined;
      if (opt === '--probability') return undefined;
      return opaque('statistic --mode nth counts packets of every flow before this one');
    case 'physdev':
      return opaque('whether the packet was bridged (br_netfilter) and on which port is not known to kdp');
    case 'socket':
      return opaque('whether a local socket owns the packet is not known to kdp');
    case 'recent':
      return opaque('this recent list holds what earlier packets left');
    default:
      // iptables itself refuses an option no module (nor -p's implicit one) takes.
      if (module === '' && proto < 0) bad(`option ${opt} outside any match module (iptables refuses it too)`);
      return opaque(module === '' ? `option ${opt} of protocol ${proto}` : `match module ${module} is not one kdp evaluates`);
  }
}

const kNonTerminating = new Set(['LOG', 'NFLOG', 'ULOG', 'TRACE', 'AUDIT', 'TCPMSS', 'CHECKSUM', 'TOS', 'DSCP', 'TTL', 'CLASSIFY', 'SECMARK', 'CONNSECMARK', 'NOTRACK']);

/** Fills in the target; returns a note (why it is unknown, or what of a range is traced). */
function foreignTarget(spec: RuleSpec, target: string, opts: readonly string[], isChain: (n: string) => boolean, bad: (m: string) => never): string | undefined {
  const opt = (name: string): string | undefined => {
    const k = opts.indexOf(name);
    return k >= 0 ? opts[k + 1] : undefined;
  };
  if (isChain(target)) {
    spec.target = T_JUMP;
    spec.jump = target;
    return undefined;
  }
  switch (target) {
    case 'ACCEPT': spec.target = T_ACCEPT; return undefined;
    case 'DROP': spec.target = T_DROP; return undefined;
    case 'RETURN': spec.target = T_RETURN; return undefined;
    case 'REJECT': spec.target = T_REJECT; return undefined;
    case 'NOTRACK': spec.target = T_NOTRACK; return undefined;
    case 'CT':
      // xt_CT: --notrack leaves the packet untracked; zones and helpers do not change a first packet's path.
      spec.target = opts.includes('--notrack') ? T_NOTRACK : T_NONE;
      return undefined;
    case 'MASQUERADE': case 'SNAT':
      spec.target = T_MASQUERADE;
      return undefined;
    case 'DNAT': {
      const to = opt('--to-destination') ?? bad('DNAT without --to-destination');
      const m = /^([\d.]+)(?:-([\d.]+))?(?::(\d+)(?:-(\d+))?)?$/.exec(to);
      const ip = m ? parseIp(m[1]) : -1;
      if (!m || ip < 0 || (m[2] !== undefined && parseIp(m[2]) < 0) || (m[3] !== undefined && (Number(m[3]) < 1 || Number(m[3]) > 65535))) bad(`invalid DNAT destination ${JSON.stringify(to)}`);
      const mm = m as RegExpExecArray;
      spec.target = T_DNAT;
      spec.dnatIp = ip >>> 0;
      spec.dnatPort = mm[3] === undefined ? 0 : Number(mm[3]); // 0: the port is kept
      if (mm[2] !== undefined || mm[4] !== undefined || opts.length > 2) return `DNAT to ${to}: kdp traces the first address and port of the range`;
      return undefined;
    }
    case 'MARK': case 'CONNMARK': {
      if (target === 'CONNMARK' && !opts.includes('--save-mark')) {
        spec.target = T_UNKNOWN;
        return 'CONNMARK sets the mark from the connection, which kdp does not track';
      }
      if (target === 'CONNMARK') return undefined; // --save-mark: the packet is unchanged
      const o = opts[0] ?? '';
      const [a, b] = (opts[1] ?? '').split('/');
      const v = u32(a);
      const mk = b === undefined ? undefined : u32(b);
      if (v === undefined || (b !== undefined && mk === undefined)) bad(`invalid MARK value ${JSON.stringify(opts[1] ?? '')}`);
      const val = v as number;
      spec.target = T_MARK;
      // libxt_MARK's translation of each form into (mark & ~mask) ^ value.
      if (o === '--set-xmark') [spec.markValue, spec.markMask] = [val, mk ?? 0xffffffff];
      else if (o === '--set-mark') [spec.markValue, spec.markMask] = [val, mk === undefined ? 0xffffffff : (mk | val) >>> 0];
      else if (o === '--or-mark') [spec.markValue, spec.markMask] = [val, val];
      else if (o === '--xor-mark') [spec.markValue, spec.markMask] = [val, 0];
      else if (o === '--and-mark') [spec.markValue, spec.markMask] = [0, ~val >>> 0];
      else bad(`unknown MARK option ${JSON.stringify(o)}`);
      return undefined;
    }
    default:
      if (kNonTerminating.has(target)) {
        spec.target = T_NONE; // logs, counts or rewrites nothing kdp's answer depends on
        return undefined;
      }
      spec.target = T_UNKNOWN;
      return `target ${target} is not one kdp evaluates`;
  }
}

function inIface(pattern: string, name: string): boolean {
  return pattern.endsWith('+') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

/** The routing type of an address, as far as kdp knows it (no routing table: others are unicast). */
function addrType(p: ForeignPacket, ip: number): string {
  if (p.isLocal(ip)) return 'LOCAL';
  if (ip >>> 28 === 14) return 'MULTICAST';
  if (ip >>> 0 === 0xffffffff) return 'BROADCAST';
  return 'UNICAST';
}

const inRanges = (ranges: readonly number[], v: number): boolean => {
  for (let k = 0; k < ranges.length; k += 2) if (v >= ranges[k] && v <= ranges[k + 1]) return true;
  return false;
};

/**
 * What a conntrack option other than --ctstate says of a packet without an entry (untracked):
 * xt_conntrack's conntrack_mt tests --ctstate first, then `if (ct == NULL) return
 * info->match_flags & XT_CONNTRACK_STATE;`, so the other options are never looked at: the match
 * holds exactly when its own `-m conntrack` has a --ctstate (which that option's case judges). A
 * rule may load the module twice (`-m conntrack --ctstate UNTRACKED -m conntrack --ctproto udp`):
 * each instance is its own match, so only the --ctstate of the option's instance counts.
 */
function withoutEntry(ms: readonly ForeignMatch[], mod: number): boolean {
  return ms.some((x) => x.k === 'ctstate' && x.mod === mod);
}

/**
 * One rule's matches for the packet: FM_NO when any match certainly fails, else FM_UNKNOWN when
 * one cannot be decided (the reason in `p.why`), else FM_YES. Called by the general walker only
 * (traces and imported dumps), never by the specialised decide(); a set match allocates its values.
 */
export function foreignMatches(rule: ForeignRule, p: ForeignPacket): number {
  let unknown = '';
  const ms = rule.matches;
  for (let k = 0; k < ms.length; k++) {
    const m = ms[k];
    let r: boolean | undefined;
    switch (m.k) {
      case 'addr': {
        const a = (m.dir === 'src' ? p.src : p.dst) >>> 0;
        r = (a >= m.lo && a <= m.hi) !== m.neg;
        break;
      }
      case 'iface': {
        const name = m.dir === 'in' ? p.iif : p.oif;
        r = name === '' ? undefined : inIface(m.name, name) !== m.neg;
        if (r === undefined && !unknown) unknown = `-${m.dir === 'in' ? 'i' : 'o'} ${m.name}: the packet's ${m.dir === 'in' ? 'input' : 'output'} interface is not known (trace it with --iif/--oif)`;
        break;
      }
      case 'proto':
        r = (m.proto === 0 || m.proto === p.proto) !== m.neg;
        break;
      case 'frag':
        r = m.neg; // kdp's packets are never fragments
        break;
      case 'ports': {
        const l4 = p.proto === PROTO_TCP || p.proto === PROTO_UDP || p.proto === PROTO_SCTP;
        const hit = m.dir === 'src' ? inRanges(m.ranges, p.sport) : m.dir === 'dst' ? inRanges(m.ranges, p.dport) : inRanges(m.ranges, p.sport) || inRanges(m.ranges, p.dport);
        r = l4 && hit !== m.neg;
        break;
      }
      case 'tcpflags':
        r = p.proto === PROTO_TCP && ((0x02 & m.mask) === m.comp) !== m.neg; // a first packet is a bare SYN
        break;
      case 'addrtype': {
        const t = addrType(p, m.dir === 'src' ? p.src : p.dst);
        // --limit-iface-in/out: LOCAL only for the interface's own addresses, which kdp does not know;
        // any other type is decided as without it.
        if (m.limitIface && t === 'LOCAL' && m.types.includes('LOCAL')) {
          r = undefined;
          if (!unknown) unknown = 'addrtype --limit-iface-in/out: which interface holds the local address is not known';
          break;
        }
        const known = m.types.every((x) => x === 'LOCAL' || x === 'MULTICAST' || x === 'BROADCAST' || x === 'UNICAST');
        r = known ? (m.types as readonly string[]).includes(t) !== m.neg : undefined;
        if (r === undefined && !unknown) unknown = `addrtype ${m.types.join(',')}: kdp has no routing table to know blackhole or unreachable routes`;
        break;
      }
      case 'mark':
        r = (((p.mark & m.mask) >>> 0) === m.value) !== m.neg;
        break;
      case 'ctstate':
        r = ((p.ct & m.mask) !== 0) !== m.neg;
        break;
      case 'ctstatus':
        r = (p.ct & CT_UNTRACKED) !== 0 ? withoutEntry(ms, m.mod) : m.neg; // a first packet has none of EXPECTED, SEEN_REPLY, ASSURED, CONFIRMED
        break;
      case 'ctaddr': case 'ctport': {
        if (p.ct & CT_UNTRACKED) { r = withoutEntry(ms, m.mod); break; }
        // Original tuple: the packet as it arrived; reply tuple: from the (DNATed) destination back to the source.
        const dnat = (p.ct & CT_DNAT) !== 0;
        const v = m.k === 'ctaddr'
          ? { origsrc: p.src, origdst: p.origDst, replsrc: dnat ? p.dst : p.origDst, repldst: p.src }[m.which]
          : { origsrc: p.sport, origdst: p.origDport, replsrc: dnat ? p.dport : p.origDport, repldst: p.sport }[m.which];
        r = ((v >>> 0) >= m.lo && (v >>> 0) <= m.hi) !== m.neg;
        break;
      }
      case 'ctproto':
        r = (p.ct & CT_UNTRACKED) !== 0 ? withoutEntry(ms, m.mod) : (m.proto === p.proto) !== m.neg;
        break;
      case 'ctdir':
        r = (p.ct & CT_UNTRACKED) !== 0 ? withoutEntry(ms, m.mod) : m.original; // a first packet goes in the original direction
        break;
      case 'set': {
        const set = p.sets.get(m.name);
        let hit: boolean | undefined;
        if (set) {
          const values = m.flags.slice(0, set.dimensions.length).map((f, d) =>
            set.dimensions[d] === 'port' ? (f === 'src' ? p.sport : p.dport) : f === 'src' ? p.src : p.dst);
          hit = ipsetContains(set, values, p.proto);
        }
        r = hit === undefined ? undefined : hit !== m.neg;
        if (r === undefined && !unknown) {
          unknown = set ? `set ${m.name} (${set.type}) is not one kdp evaluates with flags ${m.flags.join(',')}` : `set ${m.name} is not in any ipset save given beside the dump`;
        }
        break;
      }
      case 'opaque':
        r = undefined;
        if (!unknown) unknown = `${m.text}: ${m.why}`;
        break;
    }
    if (r === false) return FM_NO;
  }
  if (unknown) {
    p.why = unknown;
    return FM_UNKNOWN;
  }
  return FM_YES;
}

