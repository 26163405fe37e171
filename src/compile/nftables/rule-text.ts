/**
 * Rules, verdicts, elements and priorities as text, both ways, in the form `nft list table`
 * prints them (nft 1.0.x): `meta mark set meta mark | 0x00004000` rather than kube-proxy's
 * input `mark set mark or 0x4000`, `priority dstnat - 10`, `/32` written as a bare address,
 * anonymous sets sorted. The parser also takes kube-proxy's own input spellings, so a ruleset
 * from `tx.String()` or from a node reads the same.
 */
import { RuleParseError } from '../../errors.js';
import { formatCidr, formatIp, parseCidr, parseIp, type Cidr } from '../../net/ipv4.js';
import type { Action, BaseChainSpec, Hook, MapElement, MapKey, Match, Rule, Verdict } from './ruleset.js';
import { parseProto, protoName } from '../../net/proto.js';

function protoOf(text: string | undefined, line: number): number {
  const p = parseProto(text);
  if (p !== undefined) return p;
  throw new RuleParseError(`expected tcp, udp or sctp, found ${JSON.stringify(text ?? 'end of line')}`, line);
}

export const hex32 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
/** Go's `%#08x` (kube-proxy's masqueradeMark): the 0x counts towards the width of 8. */
const goHex08 = (n: number): string => `0x${(n >>> 0).toString(16).padStart(6, '0')}`;

/**
 * Which spelling a rule is written in: `list`, as `nft list` prints it, or `kube-proxy`, as
 * kube-proxy's nftables proxier writes it into its transactions (`mark set mark or 0x004000`,
 * `ip saddr != { 203.0.113.0/25 }`, `numgen random mod 2 vmap { 0 : goto a , 1 : goto b }`).
 */
export type RuleSpelling = 'list' | 'kube-proxy';

function cidrText(c: Cidr): string {
  return c.prefix === 32 ? formatIp(c.base) : formatCidr(c);
}

export function verdictText(v: Verdict): string {
  return v.k === 'goto' || v.k === 'jump' ? `${v.k} ${v.chain}` : v.k;
}

function matchText(m: Match, spelling: RuleSpelling): string {
  switch (m.k) {
    case 'ct-new':
      return 'ct state new';
    case 'addr': {
      const op = m.neg ? '!= ' : '';
      if (spelling === 'kube-proxy' && m.anonSet) return `ip ${m.field} ${op}{ ${m.cidrs.map(cidrText).join(', ')} }`;
      if (m.cidrs.length === 1) return `ip ${m.field} ${op}${cidrText(m.cidrs[0])}`;
      const sorted = [...m.cidrs].sort((a, b) => (a.base >>> 0) - (b.base >>> 0));
      return `ip ${m.field} ${op}{ ${sorted.map(cidrText).join(', ')} }`;
    }
    case 'addr-set':
      return `ip ${m.field} @${m.set}`;
    case 'fib-local':
      return `fib ${m.field} type local`;
    case 'l4proto':
      return `meta l4proto ${protoName(m.proto)}`;
    case 'dport':
      return `${protoName(m.proto)} dport ${m.port}`;
    case 'iifname':
      return `iifname ${m.neg ? '!= ' : ''}"${m.name}"`;
    case 'mark-zero':
      return spelling === 'kube-proxy' ? `mark and ${goHex08(m.mask)} == 0` : `meta mark & ${hex32(m.mask)} == ${hex32(0)}`;
  }
}

function actionText(a: Action, spelling: RuleSpelling): string {
  switch (a.k) {
    case 'vmap':
      return a.key === 'addr.proto.port'
        ? `ip daddr . meta l4proto . th dport vmap @${a.map}`
        : `meta l4proto . th dport vmap @${a.map}`;
    case 'numgen':
      return `numgen random mod ${a.targets.length} vmap { ${a.targets.map((t, i) => `${i} : ${verdictText(t)}`).join(spelling === 'kube-proxy' ? ' , ' : ', ')} }`;
    case 'mark-or':
      return spelling === 'kube-proxy' ? `mark set mark or ${goHex08(a.mask)}` : `meta mark set meta mark | ${hex32(a.mask)}`;
    case 'mark-xor':
      return spelling === 'kube-proxy' ? `mark set mark xor ${goHex08(a.mask)}` : `meta mark set meta mark ^ ${hex32(a.mask)}`;
    case 'masquerade':
      return 'masquerade fully-random';
    case 'dnat':
      return `dnat to ${formatIp(a.ip)}:${a.port}`;
    case 'update':
      return `update @${a.set} { ip saddr }`;
    case 'reject':
      return 'reject';
    default:
      return verdictText(a);
  }
}

export function ruleText(r: Rule, spelling: RuleSpelling = 'list'): string {
  const parts = r.matches.map((m) => matchText(m, spelling));
  // The vmap lookups keep their key expression in the action; a preceding `ip daddr @set`
  // match (service-nodeports) prints before it, as in kube-proxy's rule.
  parts.push(actionText(r.action, spelling));
  if (r.comment !== undefined) parts.push(`comment "${r.comment}"`);
  return parts.join(' ');
}

const kNamedPriorities: Record<string, number> = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 };

/** As nft 1.0.x lists a base chain's priority: names only where that nft accepts them. */
export function priorityText(hook: Hook, priority: number): string {
  const named = (name: string, base: number): string => {
    const d = priority - base;
    return d === 0 ? name : d > 0 ? `${name} + ${d}` : `${name} - ${-d}`;
  };
  if (hook === 'prerouting' && Math.abs(priority + 100) <= 10) return named('dstnat', -100);
  if (hook === 'postrouting' && Math.abs(priority - 100) <= 10) return named('srcnat', 100);
  // `filter` is a name on every hook (nft 1.0.6 lists priority 0 as `priority filter`).
  if (Math.abs(priority) <= 10) return named('filter', 0);
  return String(priority);
}

export function baseChainText(b: BaseChainSpec): string {
  return `type ${b.type} hook ${b.hook} priority ${priorityText(b.hook, b.priority)}; policy accept;`;
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Splits a line into words, quoted strings (kept with their quotes) and the `{ } ,` marks. */
export function tokenize(text: string, line: number): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === ' ' || c === '\t') {
      i++;
    } else if (c === '"') {
      const end = text.indexOf('"', i + 1);
      if (end < 0) throw new RuleParseError('unterminated string', line);
      out.push(text.slice(i, end + 1));
      i = end + 1;
    } else if (c === '{' || c === '}' || c === ',' || c === ';') {
      out.push(c);
      i++;
    } else {
      let j = i;
      while (j < text.length && !' \t{},;"'.includes(text[j])) j++;
      out.push(text.slice(i, j));
      i = j;
    }
  }
  return out;
}

export class Tokens {
  pos = 0;
  constructor(
    readonly toks: readonly string[],
    readonly line: number,
  ) {}
  peek(o = 0): string | undefined {
    return this.toks[this.pos + o];
  }
  next(): string {
    const t = this.toks[this.pos++];
    if (t === undefined) throw new RuleParseError('unexpected end of line', this.line);
    return t;
  }
  expect(...words: string[]): void {
    for (const w of words) {
      const t = this.toks[this.pos];
      if (t !== w) throw new RuleParseError(`expected "${w}", found ${JSON.stringify(t ?? 'end of line')}`, this.line);
      this.pos++;
    }
  }
  done(): boolean {
    return this.pos >= this.toks.length;
  }
  string(): string {
    const t = this.next();
    if (t.length < 2 || t[0] !== '"' || t[t.length - 1] !== '"') throw new RuleParseError(`expected a quoted string, found ${t}`, this.line);
    return t.slice(1, -1);
  }
  int(max: number): number {
    const t = this.next();
    const n = /^[0-9]+$/.test(t) ? Number(t) : /^0x[0-9a-f]+$/i.test(t) ? parseInt(t, 16) : NaN;
    if (!Number.isInteger(n) || n > max) throw new RuleParseError(`expected a number up to ${max}, found ${t}`, this.line);
    return n;
  }
  name(): string {
    const t = this.next();
    if (!/^[A-Za-z_.][A-Za-z0-9_./-]*$/.test(t)) throw new RuleParseError(`invalid object name ${JSON.stringify(t)}`, this.line);
    return t;
  }
  ip(): number {
    const t = this.next();
    const ip = parseIp(t);
    if (Number.isNaN(ip) || ip < 0) throw new RuleParseError(`invalid IPv4 address ${JSON.stringify(t)}`, this.line);
    return ip >>> 0;
  }
  cidr(): Cidr {
    const t = this.next();
    const c = t.includes('/') ? parseCidr(t) : (() => {
      const ip = parseIp(t);
      return Number.isNaN(ip) || ip < 0 ? undefined : ({ base: ip >>> 0, prefix: 32 } as Cidr);
    })();
    if (!c) throw new RuleParseError(`invalid address or CIDR ${JSON.stringify(t)}`, this.line);
    return c;
  }
}

export function parseVerdict(t: Tokens): Verdict {
  const w = t.next();
  if (w === 'goto' || w === 'jump') return { k: w, chain: t.name() };
  if (w === 'drop' || w === 'accept' || w === 'return') return { k: w };
  throw new RuleParseError(`expected a verdict, found ${JSON.stringify(w)}`, t.line);
}

function parseMark(t: Tokens): number {
  return t.int(0xffffffff);
}

/** Parses one rule (the whole token list). */
export function parseRule(t: Tokens): Rule {
  const matches: Match[] = [];
  let action: Action | undefined;
  while (!t.done() && action === undefined) {
    const w = t.next();
    if (w === 'ct') {
      t.expect('state', 'new');
      matches.push({ k: 'ct-new' });
    } else if (w === 'ip') {
      const field = t.next();
      if (field !== 'saddr' && field !== 'daddr') throw new RuleParseError(`expected saddr or daddr, found ${field}`, t.line);
      const n = t.peek();
      if (n === '.' && field === 'daddr') {
        t.expect('.', 'meta', 'l4proto', '.', 'th', 'dport', 'vmap');
        action = { k: 'vmap', key: 'addr.proto.port', map: setRef(t) };
      } else if (n !== undefined && n.startsWith('@')) {
        matches.push({ k: 'addr-set', field, set: setRef(t) });
      } else {
        let neg = false;
        if (t.peek() === '!=') {
          t.next();
          neg = true;
        }
        const cidrs: Cidr[] = [];
        if (t.peek() === '{') {
          t.next();
          for (;;) {
            cidrs.push(t.cidr());
            const sep = t.next();
            if (sep === '}') break;
            if (sep !== ',') throw new RuleParseError(`expected "," or "}", found ${sep}`, t.line);
          }
        } else {
          cidrs.push(t.cidr());
        }
        matches.push({ k: 'addr', field, neg, cidrs });
      }
    } else if (w === 'fib') {
      const field = t.next();
      if (field !== 'saddr' && field !== 'daddr') throw new RuleParseError(`expected saddr or daddr, found ${field}`, t.line);
      t.expect('type', 'local');
      matches.push({ k: 'fib-local', field });
    } else if (w === 'meta' && t.peek() === 'l4proto') {
      t.next();
      if (t.peek() === '.') {
        t.expect('.', 'th', 'dport', 'vmap');
        action = { k: 'vmap', key: 'proto.port', map: setRef(t) };
      } else {
        matches.push({ k: 'l4proto', proto: protoOf(t.next(), t.line) });
      }
    } else if ((w === 'meta' && t.peek() === 'mark') || w === 'mark') {
      if (w === 'meta') t.next();
      const op = t.next();
      if (op === '&' || op === 'and') {
        const mask = parseMark(t);
        t.expect('==');
        if (parseMark(t) !== 0) throw new RuleParseError('only "mark & MASK == 0" is supported', t.line);
        matches.push({ k: 'mark-zero', mask });
      } else if (op === 'set') {
        if (t.peek() === 'meta') t.next();
        t.expect('mark');
        const o = t.next();
        const mask = parseMark(t);
        if (o === '|' || o === 'or') action = { k: 'mark-or', mask };
        else if (o === '^' || o === 'xor') action = { k: 'mark-xor', mask };
        else throw new RuleParseError(`unsupported mark operator ${o}`, t.line);
      } else {
        throw new RuleParseError(`unsupported mark expression "${op}"`, t.line);
      }
    } else if (parseProto(w) !== undefined) {
      t.expect('dport');
      matches.push({ k: 'dport', proto: protoOf(w, t.line), port: t.int(65535) });
    } else if (w === 'iifname') {
      let neg = false;
      if (t.peek() === '!=') {
        t.next();
        neg = true;
      }
      matches.push({ k: 'iifname', neg, name: t.string() });
    } else if (w === 'jump' || w === 'goto') {
      action = { k: w, chain: t.name() };
    } else if (w === 'drop' || w === 'accept' || w === 'return' || w === 'reject') {
      action = { k: w };
    } else if (w === 'masquerade') {
      t.expect('fully-random');
      action = { k: 'masquerade' };
    } else if (w === 'numgen') {
      t.expect('random', 'mod');
      const n = t.int(1 << 20);
      t.expect('vmap', '{');
      const targets: Verdict[] = [];
      for (;;) {
        const idx = t.int(n);
        if (idx !== targets.length) throw new RuleParseError(`numgen branch ${idx} out of order (expected ${targets.length})`, t.line);
        t.expect(':');
        targets.push(parseVerdict(t));
        const sep = t.next();
        if (sep === '}') break;
        if (sep !== ',') throw new RuleParseError(`expected "," or "}", found ${sep}`, t.line);
      }
      if (targets.length !== n) throw new RuleParseError(`numgen mod ${n} has ${targets.length} branches`, t.line);
      action = { k: 'numgen', targets };
    } else if (w === 'dnat') {
      t.expect('to');
      const spec = t.next();
      const m = /^([0-9.]+):([0-9]+)$/.exec(spec);
      const ip = m ? parseIp(m[1]) : NaN;
      if (!m || Number.isNaN(ip) || ip < 0 || Number(m[2]) > 65535) throw new RuleParseError(`invalid dnat target ${spec}`, t.line);
      action = { k: 'dnat', ip: ip >>> 0, port: Number(m[2]) };
    } else if (w === 'update') {
      const set = setRef(t);
      t.expect('{', 'ip', 'saddr', '}');
      action = { k: 'update', set };
    } else {
      throw new RuleParseError(`unsupported rule expression "${w}"`, t.line);
    }
  }
  if (action === undefined) throw new RuleParseError('rule has no action', t.line);
  let comment: string | undefined;
  if (t.peek() === 'comment') {
    t.next();
    comment = t.string();
  }
  if (!t.done()) throw new RuleParseError(`unexpected "${t.peek()}" after the rule's action`, t.line);
  return comment === undefined ? { matches, action } : { matches, action, comment };
}

function setRef(t: Tokens): string {
  const w = t.next();
  if (!w.startsWith('@') || w.length < 2) throw new RuleParseError(`expected @set, found ${w}`, t.line);
  return w.slice(1);
}

export function parsePriority(t: Tokens): number {
  const w = t.next();
  let base: number;
  if (w in kNamedPriorities) base = kNamedPriorities[w];
  else if (/^-?[0-9]+$/.test(w)) return Number(w);
  else throw new RuleParseError(`invalid priority ${w}`, t.line);
  const op = t.peek();
  if (op === '+' || op === '-') {
    t.next();
    const d = t.int(1000);
    return op === '+' ? base + d : base - d;
  }
  return base;
}

// ---------------------------------------------------------------------------------------------
// Elements

export function elementKeyText(key: MapKey | 'addr', e: { ip: number; proto: number; port: number }): string {
  if (key === 'addr') return formatIp(e.ip);
  const pp = `${protoName(e.proto)} . ${e.port}`;
  return key === 'addr.proto.port' ? `${formatIp(e.ip)} . ${pp}` : pp;
}

export function mapElementText(key: MapKey, e: MapElement): string {
  const comment = e.comment !== undefined ? ` comment "${e.comment}"` : '';
  return `${elementKeyText(key, e)}${comment} : ${verdictText(e.verdict)}`;
}

export function parseMapElement(t: Tokens, key: MapKey): MapElement {
  const ip = key === 'addr.proto.port' ? t.ip() : 0;
  if (key === 'addr.proto.port') t.expect('.');
  const proto = protoOf(t.next(), t.line);
  t.expect('.');
  const port = t.int(65535);
  let comment: string | undefined;
  if (t.peek() === 'comment') {
    t.next();
    comment = t.string();
  }
  t.expect(':');
  const verdict = parseVerdict(t);
  return comment === undefined ? { ip, proto, port, verdict } : { ip, proto, port, comment, verdict };
}

/**
 * The order `nft list` prints a set's elements in (nft sorts them before printing): a plain
 * address set numerically; a concatenation as one little-endian number over its raw key (each
 * component in network order, padded to a 4-byte register), so the port's low byte is the most
 * significant. Checked against nft 1.0.6 (`tcp . 256` lists before `tcp . 1`).
 */
export function compareConcatKeys(key: MapKey, a: MapElement, b: MapElement): number {
  const bytes = (e: MapElement): number[] => {
    const ipBytes = key === 'addr.proto.port' ? [e.ip >>> 24, (e.ip >>> 16) & 255, (e.ip >>> 8) & 255, e.ip & 255] : [];
    return [...ipBytes, e.proto, 0, 0, 0, e.port >>> 8, e.port & 255, 0, 0];
  };
  const x = bytes(a);
  const y = bytes(b);
  for (let i = x.length - 1; i >= 0; i--) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}
