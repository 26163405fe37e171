/**
 * What a sync writes to the kernel, as the `nft -f` transaction kube-proxy would send, and how
 * much of it there is. A full sync (first sync, or after a failure: needFullSync) re-creates
 * and flushes every chain, set and map and writes everything. A partial sync (kube-proxy's
 * syncProxyRules with tryPartialSync) rewrites only the chains of services whose rules
 * changed, adds and deletes map/set elements one by one (nftElementStorage.ensureElem /
 * cleanupLeftoverKeys: a changed value is a delete plus an add), flushes chains that went
 * stale (deleted later, once no map element can still point at them) and deletes stale
 * affinity sets at once.
 */
import { baseChainText, elementKeyText, mapElementText, ruleText } from './rule-text.js';
import { servicePortKeyOfName } from './names.js';
import type { Chain, NftMap, NftSet, Ruleset } from './ruleset.js';
import { buildRuleset } from './build.js';
import type { Cluster } from '../../model/types.js';
import type { OneEndpointSync } from '../mode.js';
import { formatIp } from '../../net/ipv4.js';

export interface SyncReport {
  readonly full: boolean;
  /** Services ("ns/name") whose chains were rewritten (partial sync). */
  readonly changedServices: readonly string[];
  readonly chainsWritten: number;
  readonly rulesWritten: number;
  /** Service chains emptied because no service uses them any more (deleted a sync later). */
  readonly staleChains: number;
  readonly elementsAdded: number;
  readonly elementsDeleted: number;
  readonly setsAdded: number;
  readonly setsDeleted: number;
  /** The transaction, as `nft -f` input. */
  readonly text: string;
  /** UTF-8 bytes of `text` (it is ASCII). */
  readonly bytes: number;
}

const T = (rs: Ruleset): string => `${rs.family} ${rs.table}`;

function chainDecl(rs: Ruleset, c: Chain): string {
  const body: string[] = [];
  if (c.base) body.push(`type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority}`);
  if (c.comment !== undefined) body.push(`comment "${c.comment}"`);
  return `add chain ${T(rs)} ${c.name}${body.length ? ` { ${body.join(' ; ')} ; }` : ''}`;
}

function setDecl(rs: Ruleset, s: NftSet): string {
  const body = ['type ipv4_addr'];
  if (s.timeout > 0) body.push('flags dynamic,timeout', `timeout ${s.timeout}s`);
  if (s.comment !== undefined) body.push(`comment "${s.comment}"`);
  return `add set ${T(rs)} ${s.name} { ${body.join(' ; ')} ; }`;
}

function mapDecl(rs: Ruleset, m: NftMap): string {
  const type = m.key === 'addr.proto.port' ? 'ipv4_addr . inet_proto . inet_service' : 'inet_proto . inet_service';
  return `add map ${T(rs)} ${m.name} { type ${type} : verdict${m.comment !== undefined ? ` ; comment "${m.comment}"` : ''} ; }`;
}

/** Every element of the ruleset's static sets and maps: container -> key text -> element text. */
function elementIndex(rs: Ruleset): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const s of rs.sets) {
    if (s.timeout > 0) continue;
    const m = new Map<string, string>();
    for (const e of s.elements) m.set(formatIp(e), formatIp(e));
    out.set(s.name, m);
  }
  for (const mp of rs.maps) {
    const m = new Map<string, string>();
    for (const e of mp.elements) m.set(elementKeyText(mp.key, e), mapElementText(mp.key, e));
    out.set(mp.name, m);
  }
  return out;
}

function serviceOf(key: string): string {
  const parts = key.split('/');
  return parts.length >= 2 ? `${parts[0]}/${parts[1]}` : '';
}

/** The service an element belongs to, from its verdict's chain or its "ns/svc:port" comment. */
function elementService(text: string): string {
  const goto = /: (?:goto|jump) (\S+)$/.exec(text);
  const byChain = goto ? serviceOf(servicePortKeyOfName(goto[1])) : '';
  if (byChain !== '') return byChain;
  const comment = /comment "([^"]+)"/.exec(text);
  return comment ? comment[1].split(':')[0] : '';
}

function fixedShape(rs: Ruleset): string {
  const parts: string[] = [];
  for (const c of rs.chains) if (!c.name.includes('/')) parts.push(`${c.name}{${c.base ? baseChainText(c.base) : ''}${c.rules.map((r) => ruleText(r)).join(';')}}`);
  for (const s of rs.sets) if (s.timeout === 0) parts.push(`set ${s.name}`);
  for (const m of rs.maps) parts.push(`map ${m.name} ${m.key}`);
  return parts.join('\n');
}

function finish(lines: string[], r: Omit<SyncReport, 'text' | 'bytes'>): SyncReport {
  const text = lines.length ? `${lines.join('\n')}\n` : '';
  return { ...r, text, bytes: text.length };
}

/**
 * The lines of the transaction that loads `next` from scratch, each handed to `line` (without its
 * newline) in order, and what they write.
 */
function fullSyncLines(next: Ruleset, line: (text: string) => void): Omit<SyncReport, 'text' | 'bytes'> {
  line(`add table ${T(next)}${next.comment !== undefined ? ` { comment "${next.comment}" ; }` : ''}`);
  let elements = 0;
  let rules = 0;
  for (const [kind, i] of next.objectOrder) {
    if (kind === 'set') {
      const s = next.sets[i];
      line(setDecl(next, s));
      if (s.timeout === 0) line(`flush set ${T(next)} ${s.name}`);
    } else {
      line(mapDecl(next, next.maps[i]));
      line(`flush map ${T(next)} ${next.maps[i].name}`);
    }
  }
  for (const c of next.chains) {
    line(chainDecl(next, c));
    line(`flush chain ${T(next)} ${c.name}`);
  }
  for (const c of next.chains) {
    for (const r of c.rules) line(`add rule ${T(next)} ${c.name} ${ruleText(r, 'kube-proxy')}`);
    rules += c.rules.length;
  }
  for (const [name, m] of elementIndex(next)) {
    for (const text of m.values()) line(`add element ${T(next)} ${name} { ${text} }`);
    elements += m.size;
  }
  return {
    full: true,
    changedServices: [],
    chainsWritten: next.chains.length,
    rulesWritten: rules,
    staleChains: 0,
    elementsAdded: elements,
    elementsDeleted: 0,
    setsAdded: next.sets.length,
    setsDeleted: 0,
  };
}

/** The transaction that loads `next` from scratch (kube-proxy's full sync). */
export function fullSync(next: Ruleset): SyncReport {
  const lines: string[] = [];
  const report = fullSyncLines(next, (text) => {
    lines.push(text);
  });
  return finish(lines, report);
}

/**
 * The transaction from `prev` (what the kernel holds) to `next`: partial when only services
 * changed, full when `prev` is null or the fixed part of the table changed (which kube-proxy
 * only rewrites on a full sync).
 */
export function planSync(prev: Ruleset | null, next: Ruleset): SyncReport {
  if (prev === null || fixedShape(prev) !== fixedShape(next)) return fullSync(next);

  // Which services changed: any of their chains, affinity sets or elements differ.
  const chainText = (c: Chain): string => `${c.comment ?? ''}|${c.rules.map((r) => ruleText(r)).join('\n')}`;
  const prevChains = new Map(prev.chains.filter((c) => c.name.includes('/')).map((c) => [c.name, chainText(c)]));
  const nextChains = new Map(next.chains.filter((c) => c.name.includes('/')).map((c) => [c.name, chainText(c)]));
  const changed = new Set<string>();
  for (const [name, text] of nextChains) if (prevChains.get(name) !== text) changed.add(serviceOf(servicePortKeyOfName(name)));
  for (const name of prevChains.keys()) if (!nextChains.has(name)) changed.add(serviceOf(servicePortKeyOfName(name)));
  const prevAff = new Map(prev.sets.filter((s) => s.timeout > 0).map((s) => [s.name, s.timeout]));
  const nextAff = new Map(next.sets.filter((s) => s.timeout > 0).map((s) => [s.name, s.timeout]));
  for (const [name, t] of nextAff) if (prevAff.get(name) !== t) changed.add(serviceOf(servicePortKeyOfName(name)));
  for (const name of prevAff.keys()) if (!nextAff.has(name)) changed.add(serviceOf(servicePortKeyOfName(name)));

  const pe = elementIndex(prev);
  const ne = elementIndex(next);
  const adds: string[] = [];
  const dels: string[] = [];
  for (const [name, m] of ne) {
    const old = pe.get(name) ?? new Map<string, string>();
    for (const [key, text] of m) {
      const was = old.get(key);
      if (was === text) continue;
      if (was !== undefined) dels.push(`delete element ${T(next)} ${name} { ${key} }`);
      adds.push(`add element ${T(next)} ${name} { ${text} }`);
      const svc = elementService(text);
      if (svc) changed.add(svc);
    }
    for (const [key, text] of old) {
      if (m.has(key)) continue;
      dels.push(`delete element ${T(next)} ${name} { ${key} }`);
      const svc = elementService(text);
      if (svc) changed.add(svc);
    }
  }
  changed.delete('');

  const lines: string[] = [];
  let setsAdded = 0;
  let setsDeleted = 0;
  for (const s of next.sets) {
    if (s.timeout > 0 && changed.has(serviceOf(servicePortKeyOfName(s.name)))) {
      lines.push(setDecl(next, s));
      if (!prevAff.has(s.name)) setsAdded++;
    }
  }
  let chainsWritten = 0;
  let rulesWritten = 0;
  const ruleLines: string[] = [];
  for (const c of next.chains) {
    if (!c.name.includes('/') || !changed.has(serviceOf(servicePortKeyOfName(c.name)))) continue;
    lines.push(chainDecl(next, c), `flush chain ${T(next)} ${c.name}`);
    for (const r of c.rules) ruleLines.push(`add rule ${T(next)} ${c.name} ${ruleText(r, 'kube-proxy')}`);
    chainsWritten++;
    rulesWritten += c.rules.length;
  }
  let staleChains = 0;
  for (const name of prevChains.keys()) {
    if (nextChains.has(name)) continue;
    lines.push(`flush chain ${T(next)} ${name}`);
    staleChains++;
  }
  lines.push(...ruleLines, ...dels, ...adds);
  // Stale affinity sets go at once, after the rules that used them are gone.
  for (const name of prevAff.keys()) {
    if (nextAff.has(name)) continue;
    lines.push(`delete set ${T(next)} ${name}`);
    setsDeleted++;
  }
  return finish(lines, {
    full: false,
    changedServices: [...changed].sort(),
    chainsWritten,
    rulesWritten,
    staleChains,
    elementsAdded: adds.length,
    elementsDeleted: dels.length,
    setsAdded,
    setsDeleted,
  });
}

/**
 * The one-endpoint sync as kube-proxy's nftables mode runs it: the `nft -f` transaction from the
 * rules of `cluster` to those of `next`, which differ only in the Services `changed` (the
 * ProxyMode.syncOneEndpoint contract). Both sides are built for those Services alone (BuildOptions
 * services), which diff to the transaction the whole rulesets do (test/compile/nftables/sync.test.ts),
 * as kube-proxy's partial sync writes only the changed Services' chains and elements; the full
 * sync's size is counted from its lines, never joined into one text.
 */
export function nftablesOneEndpointSync(cluster: Cluster, next: Cluster, node: number, changed: readonly number[]): OneEndpointSync {
  // The full sync's size only: its lines are counted, not kept (~200 MB of text at 30k Services).
  let fullBytes = 0;
  const full = fullSyncLines(buildRuleset(cluster, { node }), (text) => {
    fullBytes += text.length + 1;
  });
  const services = new Set(changed);
  const r = planSync(buildRuleset(cluster, { node, services }), buildRuleset(next, { node, services }));
  return {
    fullBytes, fullRules: full.rulesWritten + full.elementsAdded,
    oneEndpointRewrittenBytes: r.bytes, oneEndpointRewrittenRules: r.rulesWritten + r.elementsAdded + r.elementsDeleted,
    oneEndpointRewrittenChains: r.chainsWritten,
  };
}
