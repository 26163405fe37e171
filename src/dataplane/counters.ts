/**
 * What a context counts while batches run: drops by reason, ends by kind, time per stage, and
 * the scalar counters named in kCounterNames (bytes on the wire, service decisions and their
 * cost, bytes the userspace proxy copied). One list of names serves the stages (fields), a new
 * run (`reset`) and the plain records that cross threads and are merged (`addInto`,
 * `addCounterRecord`), so a new counter is added in one place.
 */
import { kDropNames, kEndNames, kStageNames } from './next.js';

/** The scalar counters, by the name they carry in shard results. */
export const kCounterNames = [
  'wireBytes', // bytes that crossed the underlay, outer headers included
  'encapBytes', // the part of wireBytes that was overlay headers
  'proxyCopiedBytes', // userspace mode: payload bytes copied through the proxy
  'decisions', // new flows decided by the service NAT
  'decisionWork', // rules or probes those decisions cost
] as const;
export type CounterName = (typeof kCounterNames)[number];

/** The counters as plain data (labels for keys; stage time in ns), as shard results carry them. */
export type CounterRecord = Record<CounterName, number> & {
  readonly drops: Record<string, number>;
  readonly ends: Record<string, number>;
  readonly stageNs: Record<string, number>;
};

export class Counters implements Record<CounterName, number> {
  readonly drops = new Uint32Array(kDropNames.length);
  readonly ends = new Uint32Array(kEndNames.length);
  /** Milliseconds per stage id, when the context has a clock. */
  readonly stageMs = new Float64Array(kStageNames.length);
  wireBytes = 0;
  encapBytes = 0;
  proxyCopiedBytes = 0;
  decisions = 0;
  decisionWork = 0;

  /** Zeroes every counter (the arrays are kept: stages may hold them). */
  reset(): void {
    this.drops.fill(0);
    this.ends.fill(0);
    this.stageMs.fill(0);
    for (const name of kCounterNames) this[name] = 0;
  }

  /** Adds these counters into `into`: drops that happened, every end, stages that took time. */
  addInto(into: CounterRecord): void {
    for (const name of kCounterNames) into[name] += this[name];
    for (let k = 1; k < kDropNames.length; k++) if (this.drops[k] > 0) add(into.drops, kDropNames[k], this.drops[k]);
    for (let k = 1; k < kEndNames.length; k++) add(into.ends, kEndNames[k], this.ends[k]);
    addStageNs(into.stageNs, this.stageMs);
  }
}

/** Adds stage times in ms by stage id (a Counters.stageMs, or a share of it) into ns by stage name: stages that took time. */
export function addStageNs(into: Record<string, number>, stageMs: Float64Array): void {
  for (let k = 1; k < kStageNames.length; k++) if (stageMs[k] > 0) add(into, kStageNames[k], stageMs[k] * 1e6);
}

export function emptyCounterRecord(): CounterRecord {
  const r = { drops: {}, ends: {}, stageNs: {} } as Partial<CounterRecord>;
  for (const name of kCounterNames) (r as Record<CounterName, number>)[name] = 0;
  return r as CounterRecord;
}

/** Adds one plain record into another (the merge of shards). */
export function addCounterRecord(into: CounterRecord, from: CounterRecord): void {
  for (const name of kCounterNames) into[name] += from[name];
  for (const key of ['drops', 'ends', 'stageNs'] as const) for (const [k, v] of Object.entries(from[key])) add(into[key], k, v);
}

function add(into: Record<string, number>, key: string, v: number): void {
  into[key] = (into[key] ?? 0) + v;
}
