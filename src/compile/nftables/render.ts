/**
 * A ruleset as `nft list table ip kube-proxy` prints it (nft 1.0.x): table comment, then sets
 * and maps in creation order, then chains in creation order, one blank line between objects,
 * set elements sorted the way nft sorts them and wrapped the way it wraps them (two plain
 * addresses a line, one map element a line). The text is also valid `nft -f` input.
 *
 * One thing cannot be reproduced: kube-proxy iterates services in Go map order, so a real
 * node's chain order differs from run to run; kdp uses model order.
 */
import { formatIp } from '../../net/ipv4.js';
import { baseChainText, compareConcatKeys, mapElementText, ruleText } from './rule-text.js';
import type { Chain, NftMap, NftSet, Ruleset } from './ruleset.js';

const kWrap = '\n\t\t\t     ';

/** nft's time format: 10800 -> "3h", 93784 -> "1d2h3m4s". */
export function timeText(seconds: number): string {
  if (seconds === 0) return '0s';
  let s = seconds;
  let out = '';
  for (const [unit, size] of [['d', 86400], ['h', 3600], ['m', 60], ['s', 1]] as const) {
    const n = Math.floor(s / size);
    if (n > 0) out += `${n}${unit}`;
    s -= n * size;
  }
  return out;
}

export function parseTimeText(text: string): number {
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  if (!m || text === '') return NaN;
  return Number(m[1] ?? 0) * 86400 + Number(m[2] ?? 0) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
}

function elementsBlock(items: readonly string[], perLine: number): string {
  let out = '\t\telements = { ';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += i % perLine === 0 ? `,${kWrap}` : ', ';
    out += items[i];
  }
  return `${out} }\n`;
}

function renderSet(s: NftSet): string {
  let out = `\tset ${s.name} {\n\t\ttype ipv4_addr\n`;
  if (s.size > 0) out += `\t\tsize ${s.size}\n`;
  if (s.timeout > 0) out += `\t\tflags dynamic,timeout\n\t\ttimeout ${timeText(s.timeout)}\n`;
  if (s.comment !== undefined) out += `\t\tcomment "${s.comment}"\n`;
  if (s.elements.length > 0) {
    const sorted = [...s.elements].sort((a, b) => (a >>> 0) - (b >>> 0));
    out += elementsBlock(sorted.map(formatIp), 2);
  }
  return `${out}\t}\n`;
}

function renderMap(m: NftMap): string {
  const type = m.key === 'addr.proto.port' ? 'ipv4_addr . inet_proto . inet_service' : 'inet_proto . inet_service';
  let out = `\tmap ${m.name} {\n\t\ttype ${type} : verdict\n`;
  if (m.comment !== undefined) out += `\t\tcomment "${m.comment}"\n`;
  if (m.elements.length > 0) {
    const sorted = [...m.elements].sort((a, b) => compareConcatKeys(m.key, a, b));
    out += elementsBlock(sorted.map((e) => mapElementText(m.key, e)), 1);
  }
  return `${out}\t}\n`;
}

function renderChain(c: Chain): string {
  let out = `\tchain ${c.name} {\n`;
  if (c.base) out += `\t\t${baseChainText(c.base)}\n`;
  if (c.comment !== undefined) out += `\t\tcomment "${c.comment}"\n`;
  for (const r of c.rules) out += `\t\t${ruleText(r)}\n`;
  return `${out}\t}\n`;
}

export function renderRuleset(rs: Ruleset): string {
  return [...rulesetChunks(rs)].join('');
}

/**
 * The same text one set, map or chain at a time, so that a ruleset of any size is written out as
 * it is made, never held as one string (V8 caps a string at 512 MiB).
 */
export function* rulesetChunks(rs: Ruleset): Generator<string> {
  yield `table ${rs.family} ${rs.table} {\n${rs.comment !== undefined ? `\tcomment "${rs.comment}"\n` : ''}`;
  let first = true;
  const sep = (): string => (first ? ((first = false), '') : '\n');
  for (const [kind, i] of rs.objectOrder) yield sep() + (kind === 'set' ? renderSet(rs.sets[i]) : renderMap(rs.maps[i]));
  for (const c of rs.chains) yield sep() + renderChain(c);
  yield '}\n';
}
