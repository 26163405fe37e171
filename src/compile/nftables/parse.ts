/**
 * Reads `nft list table ip kube-proxy` text (what renderRuleset writes, or a real node's
 * listing, with `-a` handles or without) back into a Ruleset. Anything outside the shapes kube-proxy writes is a
 * RuleParseError naming the line, never a rule silently skipped: a dataplane built from a
 * half-understood ruleset would decide wrongly without saying so.
 */
import { RuleParseError } from '../../errors.js';
import { parseTimeText } from './render.js';
import { parseMapElement, parsePriority, parseRule, tokenize, Tokens } from './rule-text.js';
import type { Action, BaseChainSpec, Chain, Hook, MapElement, MapKey, NftMap, NftSet, Rule, Ruleset } from './ruleset.js';
import { chainIndex, kHooks } from './ruleset.js';

interface Ref {
  readonly kind: 'chain' | 'set' | 'map';
  readonly name: string;
  readonly line: number;
}

export function parseRuleset(text: string): Ruleset {
  // `nft -a list` ends each object and rule line with its handle: `... # handle 51`.
  const lines = text.split('\n').map((l) => l.replace(/\s+# handle \d+\s*$/, ''));
  let i = 0;
  const refs: Ref[] = [];
  const sets: NftSet[] = [];
  const maps: NftMap[] = [];
  const order: (readonly ['set' | 'map', number])[] = [];
  const chains: Chain[] = [];
  const names = new Set<string>();
  let comment: string | undefined;

  const skipBlank = (): void => {
    while (i < lines.length && (lines[i].trim() === '' || lines[i].trim().startsWith('#'))) i++;
  };
  skipBlank();
  if (i >= lines.length) throw new RuleParseError('no table', 1);
  const head = new Tokens(tokenize(lines[i], i + 1), i + 1);
  head.expect('table', 'ip');
  const table = head.name();
  head.expect('{');
  if (!head.done()) throw new RuleParseError('unexpected text after "{"', i + 1);
  i++;

  /** Joins an `elements = { ... }` block that nft wraps over several lines. */
  const elementsTokens = (t: Tokens): Tokens => {
    const start = i + 1;
    let toks = t.toks.slice(t.pos);
    let depth = toks.filter((x) => x === '{').length - toks.filter((x) => x === '}').length;
    while (depth > 0) {
      i++;
      if (i >= lines.length) throw new RuleParseError('unterminated elements block', start);
      const more = tokenize(lines[i], i + 1);
      depth += more.filter((x) => x === '{').length - more.filter((x) => x === '}').length;
      toks = toks.concat(more);
    }
    const et = new Tokens(toks, start);
    et.expect('{');
    return et;
  };

  const declare = (name: string, line: number): void => {
    if (names.has(name)) throw new RuleParseError(`"${name}" is declared twice`, line);
    names.add(name);
  };

  for (;;) {
    skipBlank();
    if (i >= lines.length) throw new RuleParseError('table is not closed', lines.length);
    const line = i + 1;
    const t = new Tokens(tokenize(lines[i], line), line);
    const w = t.next();
    if (w === '}') {
      if (!t.done()) throw new RuleParseError('unexpected text after "}"', line);
      i++;
      break;
    }
    if (w === 'comment') {
      comment = t.string();
      i++;
      continue;
    }
    if (w !== 'set' && w !== 'map' && w !== 'chain') throw new RuleParseError(`expected set, map or chain, found "${w}"`, line);
    const name = t.name();
    t.expect('{');
    declare(name, line);
    i++;
    if (w === 'chain') {
      let base: BaseChainSpec | undefined;
      let chainComment: string | undefined;
      const rules: Rule[] = [];
      for (;;) {
        skipBlank();
        if (i >= lines.length) throw new RuleParseError(`chain ${name} is not closed`, line);
        const ln = i + 1;
        const toks = tokenize(lines[i], ln);
        const ct = new Tokens(toks, ln);
        i++;
        if (toks[0] === '}') break;
        if (toks[0] === 'type' && rules.length === 0) {
          ct.next();
          const type = ct.next();
          if (type !== 'filter' && type !== 'nat') throw new RuleParseError(`unsupported chain type ${type}`, ln);
          ct.expect('hook');
          const hook = ct.next() as Hook;
          if (!kHooks.includes(hook)) throw new RuleParseError(`unsupported hook ${hook}`, ln);
          ct.expect('priority');
          const priority = parsePriority(ct);
          ct.expect(';');
          if (ct.peek() === 'policy') {
            ct.expect('policy', 'accept', ';');
          }
          if (!ct.done()) throw new RuleParseError('unexpected text after the chain type', ln);
          base = { type, hook, priority };
        } else if (toks[0] === 'comment' && rules.length === 0) {
          ct.next();
          chainComment = ct.string();
        } else {
          const rule = parseRule(ct);
          noteRefs(rule, ln, refs);
          rules.push(rule);
        }
      }
      chains.push({ name, rules, ...(base ? { base } : {}), ...(chainComment !== undefined ? { comment: chainComment } : {}) });
      continue;
    }
    // set or map body
    let key: MapKey | 'addr' | undefined;
    let objComment: string | undefined;
    let timeout = 0;
    let size = 0;
    let flags = false;
    const setElements: number[] = [];
    const mapElements: MapElement[] = [];
    for (;;) {
      skipBlank();
      if (i >= lines.length) throw new RuleParseError(`${w} ${name} is not closed`, line);
      const ln = i + 1;
      const bt = new Tokens(tokenize(lines[i], ln), ln);
      const kw = bt.next();
      if (kw === '}') {
        i++;
        break;
      }
      if (kw === 'type') {
        const rest = bt.toks.slice(1).join(' ');
        if (w === 'set' && rest === 'ipv4_addr') key = 'addr';
        else if (w === 'map' && rest === 'ipv4_addr . inet_proto . inet_service : verdict') key = 'addr.proto.port';
        else if (w === 'map' && rest === 'inet_proto . inet_service : verdict') key = 'proto.port';
        else throw new RuleParseError(`unsupported ${w} type "${rest}"`, ln);
      } else if (kw === 'size' && w === 'set') {
        size = bt.int(1 << 30);
      } else if (kw === 'flags' && w === 'set') {
        bt.expect('dynamic');
        if (bt.next() !== ',' || bt.next() !== 'timeout') throw new RuleParseError('only "flags dynamic,timeout" is supported', ln);
        flags = true;
      } else if (kw === 'timeout' && w === 'set') {
        timeout = parseTimeText(bt.next());
        if (!(timeout > 0)) throw new RuleParseError('invalid timeout', ln);
      } else if (kw === 'comment') {
        objComment = bt.string();
      } else if (kw === 'elements') {
        if (key === undefined) throw new RuleParseError('elements before type', ln);
        bt.expect('=');
        const et = elementsTokens(bt);
        for (;;) {
          if (key === 'addr') {
            setElements.push(et.ip());
            // Dynamic (affinity) elements carry their live timers: state, not configuration.
            while (et.peek() === 'timeout' || et.peek() === 'expires') {
              et.next();
              et.next();
            }
          } else {
            const e = parseMapElement(et, key);
            if (e.verdict.k === 'goto' || e.verdict.k === 'jump') refs.push({ kind: 'chain', name: e.verdict.chain, line: et.line });
            mapElements.push(e);
          }
          const sep = et.next();
          if (sep === '}') break;
          if (sep !== ',') throw new RuleParseError(`expected "," or "}" between elements, found "${sep}"`, et.line);
        }
        if (!et.done()) throw new RuleParseError('unexpected text after elements', et.line);
      } else {
        throw new RuleParseError(`unsupported ${w} attribute "${kw}"`, ln);
      }
      i++;
    }
    if (key === undefined) throw new RuleParseError(`${w} ${name} has no type`, line);
    if (w === 'set') {
      if (flags !== timeout > 0) throw new RuleParseError(`set ${name}: a timeout needs "flags dynamic,timeout"`, line);
      order.push(['set', sets.length]);
      sets.push({ name, timeout, size, elements: flags ? [] : setElements, ...(objComment !== undefined ? { comment: objComment } : {}) });
    } else {
      order.push(['map', maps.length]);
      maps.push({ name, key: key as MapKey, elements: mapElements, ...(objComment !== undefined ? { comment: objComment } : {}) });
    }
  }
  skipBlank();
  if (i < lines.length) throw new RuleParseError('text after the table', i + 1);

  const rs: Ruleset = { family: 'ip', table, ...(comment !== undefined ? { comment } : {}), sets, maps, objectOrder: order, chains };
  const chainNames = chainIndex(rs);
  const setNames = new Set(sets.map((s) => s.name));
  const mapNames = new Set(maps.map((m) => m.name));
  for (const r of refs) {
    const ok = r.kind === 'chain' ? chainNames.has(r.name) : r.kind === 'set' ? setNames.has(r.name) : mapNames.has(r.name);
    if (!ok) throw new RuleParseError(`unknown ${r.kind} "${r.name}"`, r.line);
  }
  return rs;
}

function noteRefs(rule: Rule, line: number, refs: Ref[]): void {
  for (const m of rule.matches) if (m.k === 'addr-set') refs.push({ kind: 'set', name: m.set, line });
  const a: Action = rule.action;
  if (a.k === 'jump' || a.k === 'goto') refs.push({ kind: 'chain', name: a.chain, line });
  else if (a.k === 'vmap') refs.push({ kind: 'map', name: a.map, line });
  else if (a.k === 'update') refs.push({ kind: 'set', name: a.set, line });
  else if (a.k === 'numgen') for (const v of a.targets) if (v.k === 'goto' || v.k === 'jump') refs.push({ kind: 'chain', name: v.chain, line });
}
