/**
 * A sweep's plan: the cells it means to run, one PlanLine per cell. `kdp bench --plan` prints it,
 * and every sweep writes it to `DIR/plan.jsonl` before its first cell, so that `kdp report` can
 * name the cells a sweep planned and did not finish (a failed shard, a stopped sweep) instead of
 * hiding them. Field names are relied on by other tools (jq over `kdp bench --plan`): add fields,
 * never rename them.
 *
 * Sharding: a cell belongs to shard `shardOfKey(key, N)` of N. The key is cellKeyString, whose
 * field order is fixed in result.ts, not taken from the command line: `--modes a,b` and
 * `--modes b,a` plan the same keys, and so the same shards, in every kdp version that keeps the
 * key (the golden assignments in test/report/plan.test.ts hold it to that).
 */
import { fmix32, fnv1a } from '../net/hash.js';
import { cellKeyString, type CellKey } from './result.js';

/** The plan's file in a results directory. */
export const kPlanFile = 'plan.jsonl';

export interface PlanLine extends CellKey {
  /** cellKeyString of the cell: the key results.jsonl and --resume use. */
  readonly key: string;
  readonly repeats: number;
  /** Seconds the cell is estimated to take on the machine that planned it (sweep.ts estimateCells). */
  readonly estimateSeconds: number;
  /** How the estimate was made: `model` (the modes' cost fields) or `calibrated` (scaled by this machine's earlier cells). */
  readonly estimateBasis: 'model' | 'calibrated';
  /** With a sharded sweep: the shard that runs the cell, 0..shards-1. */
  readonly shard?: number;
  readonly shards?: number;
}

/**
 * The shard of N that runs a cell: FNV-1a of the key, spread by MurmurHash3's finaliser (FNV-1a's
 * low bits alone follow the key's last characters too closely for a small modulus).
 */
export function shardOfKey(key: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError('shards must be a whole number from 1');
  return fmix32(fnv1a(key)) % shards;
}

/** Parses `I/N` (`--shard 2/8`): shard I of N, 0 <= I < N. Undefined when the text is not one. */
export function parseShard(text: string): { index: number; count: number } | undefined {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(text.trim());
  if (!m) return undefined;
  const index = Number(m[1]);
  const count = Number(m[2]);
  return count >= 1 && index < count ? { index, count } : undefined;
}

/** The results directory of shard I of N under a sweep's directory: `DIR/shard-I-of-N`. */
export function shardDirName(index: number, count: number): string {
  return `shard-${index}-of-${count}`;
}

/** The shard a directory name names (`shard-3-of-8`), if it is one. */
export function shardOfDirName(name: string): { index: number; count: number } | undefined {
  const m = /^shard-(\d+)-of-(\d+)$/.exec(name);
  return m && Number(m[1]) < Number(m[2]) ? { index: Number(m[1]), count: Number(m[2]) } : undefined;
}

/** Why `v` is not a PlanLine, or undefined if it is. */
export function planLineProblem(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return 'not a JSON object';
  const o = v as Record<string, unknown>;
  for (const f of ['key', 'mode', 'cni']) if (typeof o[f] !== 'string') return `${f} is not a string`;
  for (const f of ['services', 'endpointsPerService', 'workers', 'flows', 'seed', 'zipf', 'repeats', 'estimateSeconds']) {
    if (typeof o[f] !== 'number' || !Number.isFinite(o[f])) return `${f} is not a number`;
  }
  if (cellKeyString(o as unknown as CellKey) !== o.key) return `key "${String(o.key)}" is not the cell's key`;
  if ((o.shard === undefined) !== (o.shards === undefined)) return 'shard and shards go together';
  if (o.shards !== undefined) {
    const n = o.shards;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) return 'shards is not a whole number from 1';
    if (o.shard !== shardOfKey(o.key as string, n)) return `shard ${String(o.shard)} is not the key's shard of ${n}`;
  }
  return undefined;
}

/** The plan lines of a plan.jsonl text, and the line numbers of lines that are not one. */
export function parsePlanJsonl(text: string): { lines: PlanLine[]; malformed: { line: number; reason: string }[] } {
  const lines: PlanLine[] = [];
  const malformed: { line: number; reason: string }[] = [];
  const raw = text.split('\n');
  for (let i = 0; i < raw.length; i++) {
    const t = raw[i]!.trim();
    if (t === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(t);
    } catch (err) {
      malformed.push({ line: i + 1, reason: `not JSON (${(err as Error).message})` });
      continue;
    }
    const problem = planLineProblem(v);
    if (problem) malformed.push({ line: i + 1, reason: problem });
    else lines.push(v as PlanLine);
  }
  return { lines, malformed };
}
