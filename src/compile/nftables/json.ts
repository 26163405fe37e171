/**
 * The `ip kube-proxy` table in nft's JSON (libnftables-json(5), `nft -j list table ip kube-proxy`
 * / `nft -j list ruleset`), both ways. Rendered as nft 1.0.6 lists it, checked object for object
 * against the real tool (test/compile/nftables/json.test.ts), less the kernel's handles and nft's
 * own version in `metainfo`: nft 1.0.6 leaves table and chain comments out of JSON, so kdp does too
 * and reads them when a newer nft gives them. `nft -j list ruleset` holds every owner's tables:
 * only `ip kube-proxy` is read. Anything else in it is a RuleParseError naming the object.
 */
import { RuleParseError } from '../../errors.js';
import { formatIp, parseIp, type Cidr } from '../../net/ipv4.js';
import { parseProto, protoName } from '../../net/proto.js';
import { compareConcatKeys } from './rule-text.js';
import { kHooks, type Action, type BaseChainSpec, type Chain, type Hook, type Match, type MapElement, type MapKey, type NftMap, type NftSet, type Rule, type Ruleset, type Verdict } from './ruleset.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };

const payload = (protocol: string, field: string): Json => ({ payload: { protocol, field } });
const meta = (key: string): Json => ({ meta: { key } });
const match = (op: string, left: Json, right: Json): Json => ({ match: { op, left, right } });

function cidrJson(c: Cidr): Json {
  return c.prefix === 32 ? formatIp(c.base) : { prefix: { addr: formatIp(c.base), len: c.prefix } };
}

function verdictJson(v: Verdict): Json {
  return v.k === 'goto' || v.k === 'jump' ? { [v.k]: { target: v.chain } } : { [v.k]: null };
}

function matchJson(m: Match): Json {
  switch (m.k) {
    case 'ct-new':
      return match('in', { ct: { key: 'state' } }, 'new');
    case 'addr': {
      const sorted = [...m.cidrs].sort((a, b) => (a.base >>> 0) - (b.base >>> 0));
      return match(m.neg ? '!=' : '==', payload('ip', m.field), sorted.length === 1 ? cidrJson(sorted[0]) : { set: sorted.map(cidrJson) });
    }
    case 'addr-set':
      return match('==', payload('ip', m.field), `@${m.set}`);
    case 'fib-local':
      return match('==', { fib: { result: 'type', flags: [m.field] } }, 'local');
    case 'l4proto':
      return match('==', meta('l4proto'), protoName(m.proto));
    case 'dport':
      return match('==', payload(protoName(m.proto), 'dport'), m.port);
    case 'iifname':
      return match(m.neg ? '!=' : '==', meta('iifname'), m.name);
    case 'mark-zero':
      return match('==', { '&': [meta('mark'), m.mask >>> 0] }, 0);
  }
}

function actionJson(a: Action): Json {
  switch (a.k) {
    case 'vmap': {
      const key = a.key === 'addr.proto.port' ? [payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport')] : [meta('l4proto'), payload('th', 'dport')];
      return { vmap: { key: { concat: key }, data: `@${a.map}` } };
    }
    case 'numgen':
      return { vmap: { key: { numgen: { mode: 'random', mod: a.targets.length, offset: 0 } }, data: { set: a.targets.map((t, i) => [i, verdictJson(t)]) } } };
    case 'mark-or':
    case 'mark-xor':
      return { mangle: { key: meta('mark'), value: { [a.k === 'mark-or' ? '|' : '^']: [meta('mark'), a.mask >>> 0] } } };
    case 'masquerade':
      return { masquerade: { flags: 'fully-random' } };
    case 'dnat':
      return { dnat: { addr: formatIp(a.ip), port: a.port } };
    case 'update':
      return { set: { op: 'update', elem: payload('ip', 'saddr'), set: `@${a.set}` } };
    case 'reject':
      return { reject: { type: 'icmp', expr: 'port-unreachable' } };
    default:
      return verdictJson(a);
  }
}

function keyJson(key: MapKey, e: MapElement): Json {
  return { concat: key === 'addr.proto.port' ? [formatIp(e.ip), protoName(e.proto), e.port] : [protoName(e.proto), e.port] };
}

/** The objects of the table, in the order nft lists them: table, sets and maps, chains, rules. */
export function rulesetJsonObjects(rs: Ruleset): Json[] {
  const common = { family: rs.family, table: rs.table };
  const out: Json[] = [{ metainfo: { json_schema_version: 1 } }, { table: { family: rs.family, name: rs.table } }];
  for (const [kind, i] of rs.objectOrder) {
    if (kind === 'set') {
      const s: NftSet = rs.sets[i];
      const o: Obj = { family: rs.family, name: s.name, table: rs.table, type: 'ipv4_addr' };
      if (s.size > 0) o.size = s.size;
      if (s.timeout > 0) {
        o.flags = ['timeout'];
        o.timeout = s.timeout;
      }
      if (s.comment !== undefined) o.comment = s.comment;
      if (s.elements.length > 0) o.elem = [...s.elements].sort((a, b) => (a >>> 0) - (b >>> 0)).map(formatIp);
      out.push({ set: o });
    } else {
      const m: NftMap = rs.maps[i];
      const o: Obj = { family: rs.family, name: m.name, table: rs.table, type: m.key === 'addr.proto.port' ? ['ipv4_addr', 'inet_proto', 'inet_service'] : ['inet_proto', 'inet_service'] };
      if (m.comment !== undefined) o.comment = m.comment;
      o.map = 'verdict';
      if (m.elements.length > 0) {
        o.elem = [...m.elements].sort((a, b) => compareConcatKeys(m.key, a, b)).map((e) => [
          e.comment !== undefined ? { elem: { val: keyJson(m.key, e), comment: e.comment } } : keyJson(m.key, e),
          verdictJson(e.verdict),
        ]);
      }
      out.push({ map: o });
    }
  }
  for (const c of rs.chains) {
    const o: Obj = { ...common, name: c.name };
    if (c.base) Object.assign(o, { type: c.base.type, hook: c.base.hook, prio: c.base.priority, policy: 'accept' });
    out.push({ chain: o });
  }
  for (const c of rs.chains) {
    for (const r of c.rules) {
      const o: Obj = { ...common, chain: c.name };
      if (r.comment !== undefined) o.comment = r.comment;
      o.expr = [...r.matches.map(matchJson), actionJson(r.action)];
      out.push({ rule: o });
    }
  }
  return out;
}

/** `nft -j list table ip kube-proxy` as nft prints it: one line. */
export function renderRulesetJson(rs: Ruleset): string {
  return `${JSON.stringify({ nftables: rulesetJsonObjects(rs) })}\n`;
}

// ---- reading ----

class Where {
  constructor(readonly index: number, readonly what: string) {}
  fail(message: string): never {
    throw new RuleParseError(`nftables[${this.index}] (${this.what}): ${message}`, 1);
  }
}

const isObj = (v: Json | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const same = (a: Json | undefined, b: Json): boolean => JSON.stringify(a) === JSON.stringify(b);

function str(v: Json | undefined, w: Where, what: string): string {
  if (typeof v !== 'string') w.fail(`${what} must be a string, found ${JSON.stringify(v)}`);
  return v;
}

function ipOf(v: Json | undefined, w: Where): number {
  const ip = typeof v === 'string' ? parseIp(v) : undefined;
  if (ip === undefined) w.fail(`expected an IPv4 address, found ${JSON.stringify(v)}`);
  return ip;
}

function protoOf(v: Json | undefined, w: Where): number {
  const p = typeof v === 'string' ? parseProto(v) : undefined;
  if (p === undefined) w.fail(`expected tcp, udp or sctp, found ${JSON.stringify(v)}`);
  return p;
}

function portOf(v: Json | undefined, w: Where): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 65535) w.fail(`expected a port, found ${JSON.stringify(v)}`);
  return v;
}

function cidrOf(v: Json | undefined, w: Where): Cidr {
  if (typeof v === 'string') return { base: ipOf(v, w), prefix: 32 };
  if (isObj(v) && isObj(v.prefix)) {
    const len = v.prefix.len;
    if (typeof len !== 'number' || len < 0 || len > 32) w.fail(`bad prefix length ${JSON.stringify(len)}`);
    return { base: ipOf(v.prefix.addr, w), prefix: len };
  }
  return w.fail(`expected an address or prefix, found ${JSON.stringify(v)}`);
}

function verdictOf(v: Json | undefined, w: Where): Verdict {
  if (isObj(v)) {
    const [k] = Object.keys(v);
    if ((k === 'goto' || k === 'jump') && isObj(v[k])) return { k, chain: str((v[k] as Obj).target, w, `${k} target`) };
    if ((k === 'drop' || k === 'accept' || k === 'return') && v[k] === null) return { k };
  }
  return w.fail(`expected a verdict, found ${JSON.stringify(v)}`);
}

function matchOf(m: Obj, w: Where): Match {
  const { op, left, right } = m;
  const neg = op === '!=';
  if (op !== '==' && op !== '!=' && op !== 'in') w.fail(`unknown match operator ${JSON.stringify(op)}`);
  if (op === 'in') {
    if (same(left, { ct: { key: 'state' } }) && right === 'new') return { k: 'ct-new' };
    return w.fail(`unknown "in" match ${JSON.stringify(m)}`);
  }
  if (isObj(left) && isObj(left.payload) && left.payload.protocol === 'ip' && (left.payload.field === 'saddr' || left.payload.field === 'daddr')) {
    const field = left.payload.field;
    if (typeof right === 'string' && right.startsWith('@')) {
      if (neg) w.fail('a negated set match is not a shape kube-proxy writes');
      return { k: 'addr-set', field, set: right.slice(1) };
    }
    const cidrs = isObj(right) && Array.isArray(right.set) ? right.set.map((c) => cidrOf(c, w)) : [cidrOf(right, w)];
    return { k: 'addr', field, neg, cidrs };
  }
  if (isObj(left) && isObj(left.payload) && left.payload.field === 'dport' && !neg) {
    return { k: 'dport', proto: protoOf(left.payload.protocol, w), port: portOf(right, w) };
  }
  if (isObj(left) && isObj(left.fib) && left.fib.result === 'type' && right === 'local' && !neg) {
    const flags = left.fib.flags;
    const field = Array.isArray(flags) && flags.length === 1 ? flags[0] : undefined;
    if (field !== 'saddr' && field !== 'daddr') w.fail(`unknown fib flags ${JSON.stringify(flags)}`);
    return { k: 'fib-local', field };
  }
  if (same(left, meta('l4proto')) && !neg) return { k: 'l4proto', proto: protoOf(right, w) };
  if (same(left, meta('iifname'))) return { k: 'iifname', neg, name: str(right, w, 'iifname') };
  if (isObj(left) && Array.isArray(left['&']) && same(left['&'][0], meta('mark')) && typeof left['&'][1] === 'number' && right === 0 && !neg) {
    return { k: 'mark-zero', mask: left['&'][1] >>> 0 };
  }
  return w.fail(`a match kdp does not model: ${JSON.stringify(m)}`);
}

function actionOf(e: Obj, w: Where): Action {
  const [k] = Object.keys(e);
  const v = e[k];
  if (k === 'vmap' && isObj(v)) {
    if (isObj(v.key) && isObj(v.key.numgen)) {
      const ng = v.key.numgen;
      if (ng.mode !== 'random' || (ng.offset ?? 0) !== 0 || !isObj(v.data) || !Array.isArray(v.data.set)) w.fail(`unknown numgen ${JSON.stringify(v)}`);
      const pairs = v.data.set;
      const targets: Verdict[] = [];
      pairs.forEach((p, i) => {
        if (!Array.isArray(p) || p[0] !== i) w.fail(`numgen branches must be 0..${pairs.length - 1} in order, found ${JSON.stringify(p)}`);
        targets.push(verdictOf(p[1], w));
      });
      if (ng.mod !== targets.length) w.fail(`numgen mod ${JSON.stringify(ng.mod)} with ${targets.length} branches`);
      return { k: 'numgen', targets };
    }
    const map = str(v.data, w, 'vmap data');
    if (!map.startsWith('@')) w.fail(`a vmap kdp does not model: ${JSON.stringify(v)}`);
    if (same(v.key, { concat: [payload('ip', 'daddr'), meta('l4proto'), payload('th', 'dport')] })) return { k: 'vmap', key: 'addr.proto.port', map: map.slice(1) };
    if (same(v.key, { concat: [meta('l4proto'), payload('th', 'dport')] })) return { k: 'vmap', key: 'proto.port', map: map.slice(1) };
    return w.fail(`a vmap key kdp does not model: ${JSON.stringify(v.key)}`);
  }
  if (k === 'mangle' && isObj(v) && same(v.key, meta('mark')) && isObj(v.value)) {
    const op = Object.keys(v.value)[0];
    const args = v.value[op];
    if ((op === '|' || op === '^') && Array.isArray(args) && same(args[0], meta('mark')) && typeof args[1] === 'number') {
      return { k: op === '|' ? 'mark-or' : 'mark-xor', mask: args[1] >>> 0 };
    }
  }
  if (k === 'masquerade' && (same(v, { flags: 'fully-random' }) || same(v, { flags: ['fully-random'] }))) return { k: 'masquerade' };
  if (k === 'dnat' && isObj(v)) return { k: 'dnat', ip: ipOf(v.addr, w), port: portOf(v.port, w) };
  if (k === 'set' && isObj(v) && v.op === 'update' && same(v.elem, payload('ip', 'saddr')) && typeof v.set === 'string' && v.set.startsWith('@')) {
    return { k: 'update', set: v.set.slice(1) };
  }
  if (k === 'reject' && (v === null || same(v, { type: 'icmp', expr: 'port-unreachable' }))) return { k: 'reject' };
  return verdictOf(e, w);
}

function mapElementOf(item: Json, key: MapKey, w: Where): MapElement {
  if (!Array.isArray(item) || item.length !== 2) return w.fail(`a map element must be [key, verdict], found ${JSON.stringify(item)}`);
  let k = item[0];
  let comment: string | undefined;
  if (isObj(k) && isObj(k.elem)) {
    comment = typeof k.elem.comment === 'string' ? k.elem.comment : undefined;
    k = k.elem.val;
  }
  const parts = isObj(k) && Array.isArray(k.concat) ? k.concat : w.fail(`a map key must be a concatenation, found ${JSON.stringify(k)}`);
  const verdict = verdictOf(item[1], w);
  const base = key === 'addr.proto.port'
    ? { ip: parts.length === 3 ? ipOf(parts[0], w) : w.fail('address . protocol . port expected'), proto: protoOf(parts[1], w), port: portOf(parts[2], w) }
    : { ip: 0, proto: parts.length === 2 ? protoOf(parts[0], w) : w.fail('protocol . port expected'), port: portOf(parts[1], w) };
  return comment !== undefined ? { ...base, comment, verdict } : { ...base, verdict };
}

/** The `ip kube-proxy` table of an `nft -j list ruleset` or `nft -j list table ip kube-proxy` text. */
export function parseRulesetJson(text: string, table = 'kube-proxy'): Ruleset {
  let doc: Json;
  try {
    doc = JSON.parse(text) as Json;
  } catch (e) {
    throw new RuleParseError(`not JSON (nft -j output expected): ${(e as Error).message}`, 1);
  }
  const objects = isObj(doc) && Array.isArray(doc.nftables) ? doc.nftables : undefined;
  if (!objects) throw new RuleParseError('expected {"nftables": [...]} as nft -j prints it', 1);
  let found = false;
  let comment: string | undefined;
  const sets: NftSet[] = [];
  const maps: NftMap[] = [];
  const order: (readonly ['set' | 'map', number])[] = [];
  const chains: { name: string; base?: BaseChainSpec; comment?: string; rules: Rule[] }[] = [];
  const chainByName = new Map<string, (typeof chains)[number]>();
  objects.forEach((o, index) => {
    if (!isObj(o)) throw new RuleParseError(`nftables[${index}]: not an object`, 1);
    const [kind] = Object.keys(o);
    const v = o[kind];
    if (kind === 'metainfo' || !isObj(v)) return;
    const ours = v.family === 'ip' && (kind === 'table' ? v.name === table : v.table === table);
    if (!ours) return; // another owner's table (firewalld, Calico, Docker ...)
    const w: Where = new Where(index, `${kind} ${String(v.name ?? v.chain ?? '')}`);
    switch (kind) {
      case 'table':
        found = true;
        if (typeof v.comment === 'string') comment = v.comment;
        return;
      case 'set': {
        if (v.type !== 'ipv4_addr') w.fail(`set type ${JSON.stringify(v.type)}; kube-proxy's sets hold ipv4_addr`);
        const timeout = typeof v.timeout === 'number' ? v.timeout : 0;
        const elems = Array.isArray(v.elem) ? v.elem.map((e) => ipOf(e, w)) : [];
        const s: NftSet = { name: str(v.name, w, 'name'), timeout, size: typeof v.size === 'number' ? v.size : 0, elements: elems, ...(typeof v.comment === 'string' ? { comment: v.comment } : {}) };
        order.push(['set', sets.length]);
        sets.push(s);
        return;
      }
      case 'map': {
        const type = JSON.stringify(v.type);
        const key: MapKey = type === JSON.stringify(['ipv4_addr', 'inet_proto', 'inet_service']) ? 'addr.proto.port'
          : type === JSON.stringify(['inet_proto', 'inet_service']) ? 'proto.port' : w.fail(`map type ${type} is not one kube-proxy writes`);
        if (v.map !== 'verdict') w.fail(`map data ${JSON.stringify(v.map)}; kube-proxy's maps hold verdicts`);
        const elements = Array.isArray(v.elem) ? v.elem.map((e) => mapElementOf(e, key, w)) : [];
        order.push(['map', maps.length]);
        maps.push({ name: str(v.name, w, 'name'), key, elements, ...(typeof v.comment === 'string' ? { comment: v.comment } : {}) });
        return;
      }
      case 'chain': {
        const name = str(v.name, w, 'name');
        if (chainByName.has(name)) w.fail(`chain ${name} is listed twice`);
        const c: (typeof chains)[number] = { name, rules: [] };
        if (v.hook !== undefined) {
          const type = v.type === 'filter' || v.type === 'nat' ? v.type : w.fail(`chain type ${JSON.stringify(v.type)}`);
          if (!kHooks.includes(v.hook as Hook)) w.fail(`hook ${JSON.stringify(v.hook)}`);
          const priority = typeof v.prio === 'number' ? v.prio : w.fail(`priority ${JSON.stringify(v.prio)} must be a number`);
          if (v.policy !== undefined && v.policy !== 'accept') w.fail(`policy ${JSON.stringify(v.policy)}; kube-proxy's base chains accept`);
          c.base = { type, hook: v.hook as Hook, priority };
        }
        if (typeof v.comment === 'string') c.comment = v.comment;
        chains.push(c);
        chainByName.set(name, c);
        return;
      }
      case 'rule': {
        const c = chainByName.get(str(v.chain, w, 'chain')) ?? w.fail(`rule of chain ${String(v.chain)}, which is not listed before it`);
        const expr = Array.isArray(v.expr) ? v.expr : w.fail('a rule needs "expr"');
        if (expr.length === 0) w.fail('an empty rule');
        const matches: Match[] = [];
        for (let i = 0; i < expr.length - 1; i++) {
          const e = expr[i];
          const m = isObj(e) && isObj(e.match) ? e.match : w.fail(`expression ${i} is not a match: ${JSON.stringify(e)}`);
          matches.push(matchOf(m, w));
        }
        const tail = expr[expr.length - 1];
        const last = isObj(tail) ? tail : w.fail(`the last expression is not an object: ${JSON.stringify(tail)}`);
        const rule: Rule = { matches, action: actionOf(last, w), ...(typeof v.comment === 'string' ? { comment: v.comment } : {}) };
        c.rules.push(rule);
        return;
      }
      default:
        return; // counters, quotas, flowtables ...: not kube-proxy's
    }
  });
  if (!found) throw new RuleParseError(`no table ip ${table} in the JSON`, 1);
  const outChains: Chain[] = chains.map((c) => ({ name: c.name, rules: c.rules, ...(c.base ? { base: c.base } : {}), ...(c.comment !== undefined ? { comment: c.comment } : {}) }));
  return { family: 'ip', table, ...(comment !== undefined ? { comment } : {}), sets, maps, objectOrder: order, chains: outChains };
}
