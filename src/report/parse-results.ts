/**
 * Reads `results.jsonl` text: one CellResult per line, appended by the sweep. A line that is not
 * JSON or not a schema-1 cell is skipped and reported by its line number, never guessed at; a
 * crash mid-write leaves half a line at the end, reported as torn. A cell key that appears twice was re-run: the last line is
 * the newest measurement, so it wins.
 */
import { type CellResult, cellKeyString } from './result.js';

export interface MalformedLine {
  /** 1-based, as editors count. */
  readonly line: number;
  readonly reason: string;
}

export interface ParsedResults {
  /** One per cell key, the last line for each. */
  readonly results: CellResult[];
  readonly malformed: MalformedLine[];
  /** Well-formed lines replaced by a later line with the same cell key. */
  readonly superseded: number;
}

export function parseResultsJsonl(text: string): ParsedResults {
  const byKey = new Map<string, CellResult>();
  const malformed: MalformedLine[] = [];
  let superseded = 0;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      // The last line without its newline is a write cut short (a crash); `kdp bench --resume` runs its cell again.
      const torn = i === lines.length - 1;
      malformed.push({ line: i + 1, reason: torn ? 'torn (a write cut short; --resume runs its cell again)' : `not JSON (${(err as Error).message})` });
      continue;
    }
    const problem = cellProblem(value);
    if (problem) {
      malformed.push({ line: i + 1, reason: problem });
      continue;
    }
    const cell = value as CellResult;
    const key = cellKeyString(cell);
    if (byKey.has(key)) superseded++;
    byKey.delete(key); // re-inserted below, so the order is that of the winning lines
    byKey.set(key, cell);
  }
  return { results: [...byKey.values()], malformed, superseded };
}

/** Why `v` is not a CellResult this report can read, or undefined if it is. */
export function cellProblem(v: unknown): string | undefined {
  if (!isObject(v)) return 'not a JSON object';
  if (v.schema !== 1) return `schema ${JSON.stringify(v.schema)} is not supported (this report reads schema 1)`;
  for (const f of ['mode', 'cni', 'finishedAt', 'decisionChecksum']) if (typeof v[f] !== 'string') return `${f} is not a string`;
  for (const f of ['services', 'endpointsPerService', 'workers', 'flows', 'seed', 'zipf', 'packets', 'wireBytes', 'gbitPerSecond']) {
    if (!isNumber(v[f])) return `${f} is not a number`;
  }
  if (v.conntrack !== undefined && v.conntrack !== 'fit' && v.conntrack !== 'kube-proxy') return 'conntrack is neither "fit" nor "kube-proxy"';
  const groups: Record<string, readonly string[]> = {
    newFlow: ['nsPerFlow', 'perSecond'],
    established: ['packetsPerSecond', 'nsPerPacket'],
    sync: ['fullMs', 'oneEndpointMs', 'oneEndpointRewrittenBytes'],
    memory: ['tableBytes', 'conntrackBytesPerEntry'],
    limits: ['randomReadNs', 'scanNsPerElement'],
  };
  for (const [g, fields] of Object.entries(groups)) {
    const o = v[g];
    if (!isObject(o)) return `${g} is missing`;
    for (const f of fields) if (!isNumber(o[f])) return `${g}.${f} is not a number`;
  }
  for (const g of ['newFlow', 'established']) {
    const s = (v[g] as Record<string, unknown>).spread;
    if (s !== undefined && !(isObject(s) && ['median', 'min', 'max', 'runs'].every((f) => isNumber(s[f])))) return `${g}.spread is not a Spread`;
  }
  const inCache = (v.established as Record<string, unknown>).inCache;
  if (inCache !== undefined && !(isObject(inCache) && ['flows', 'nsPerPacket', 'conntrackBytes'].every((f) => isNumber(inCache[f])))) {
    return 'established.inCache is not { flows, nsPerPacket, conntrackBytes }';
  }
  const parallel = (v.limits as Record<string, unknown>).parallel;
  if (parallel !== undefined && !(isObject(parallel) && ['threads', 'readSpeedup', 'writeSpeedup', 'computeSpeedup'].every((f) => isNumber(parallel[f])))) {
    return 'limits.parallel is not { threads, readSpeedup, writeSpeedup, computeSpeedup }';
  }
  const allNodes = (v.memory as Record<string, unknown>).allNodesTableBytes;
  if (allNodes !== undefined && !isNumber(allNodes)) return 'memory.allNodesTableBytes is not a number';
  if (v.iptables !== undefined && !(isObject(v.iptables) && isNumber(v.iptables.rulesPerFirstPacket) && isNumber(v.iptables.nsPerRule))) {
    return 'iptables is not { rulesPerFirstPacket, nsPerRule }';
  }
  return undefined;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isNumber(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
