/**
 * Several results sources (a sweep's directory, each shard's directory, the `kubectl logs` of a
 * sharded Job) merged into what one report can honestly draw: cells grouped by the machine that
 * measured them, since a ratio of two machines' times measures the machines, not the modes; and
 * the cells the sweep planned (plan.jsonl) and no source holds, each with the reason.
 * Pure: the file edge is write.ts.
 */
import { cellProblem } from './parse-results.js';
import { planLineProblem, type PlanLine } from './plan.js';
import { cellKeyString, memoryGiB, type CellResult, type KernelMissing, type MachineInfo } from './result.js';
import { parseMachineJson } from './parse-machine.js';

/** One results directory, or one run in a log. */
export interface ResultSource {
  /** Where it came from: a directory, or `FILE run N` for the N-th machine record in a log. */
  readonly label: string;
  /** One per cell key, the last line winning. */
  readonly results: readonly CellResult[];
  readonly machine?: MachineInfo;
  readonly plan?: readonly PlanLine[];
  /** Kernel baseline points given up, and why (kernel-missing.jsonl). */
  readonly kernelMissing?: readonly KernelMissing[];
}

/** Cells measured on one machine, from one or more sources. */
export interface MachineGroup {
  /** The first source's record (the group's members agree on every field machineClass reads). */
  readonly machine?: MachineInfo;
  readonly results: CellResult[];
  readonly sources: string[];
  /** Why kernel baseline points of this machine were not measured. */
  readonly kernelMissing: KernelMissing[];
}

export interface MissingCell {
  readonly cell: PlanLine;
  readonly why: string;
}

export interface MergedResults {
  readonly groups: MachineGroup[];
  /** Planned cells that no source holds, in plan order. */
  readonly missing: MissingCell[];
  /** Planned cells in all (0: no source had a plan). */
  readonly planned: number;
  readonly warnings: string[];
}

/**
 * What makes two machine records "like": the same CPU model, cores, memory (in whole GiB: the
 * kernel's total moves by a few hundred kB between boots of one machine), Node.js, platform,
 * kernel and kdp commit. The date, the command (each shard's differs) and the Kubernetes node do
 * not: shards of one Job on a pool of identical nodes are one machine for the report.
 */
export function machineClass(m: MachineInfo | undefined): string {
  return m === undefined ? 'unknown' : JSON.stringify([m.cpuModel, m.cores, memoryGiB(m), m.node, m.platform, m.kernel, m.gitCommit]);
}


export function mergeSources(sources: readonly ResultSource[]): MergedResults {
  const warnings: string[] = [];
  const groups = new Map<string, { machine?: MachineInfo; byKey: Map<string, CellResult>; sources: string[]; kernelMissing: KernelMissing[] }>();
  for (const s of sources) {
    const k = machineClass(s.machine);
    let g = groups.get(k);
    if (!g) {
      g = { ...(s.machine ? { machine: s.machine } : {}), byKey: new Map(), sources: [], kernelMissing: [] };
      groups.set(k, g);
    }
    g.sources.push(s.label);
    g.kernelMissing.push(...(s.kernelMissing ?? []));
    for (const r of s.results) {
      const key = cellKeyString(r);
      const prev = g.byKey.get(key);
      // A cell run twice (a retried pod, a re-run shard): the newer measurement wins, as the last line does in one file.
      if (!prev || r.finishedAt >= prev.finishedAt) g.byKey.set(key, r);
    }
  }
  const present = new Set<string>();
  for (const g of groups.values()) for (const k of g.byKey.keys()) present.add(k);

  const planned = new Map<string, PlanLine>();
  let firstPlan: { label: string; keys: Set<string> } | undefined;
  for (const s of sources) {
    if (!s.plan) continue;
    const keys = new Set(s.plan.map((l) => l.key));
    if (!firstPlan) firstPlan = { label: s.label, keys };
    else if (keys.size !== firstPlan.keys.size || [...keys].some((k) => !firstPlan!.keys.has(k))) {
      warnings.push(`the plans of ${firstPlan.label} and ${s.label} differ (were the shards run with the same flags?); missing cells are counted against both`);
    }
    for (const l of s.plan) if (!planned.has(l.key)) planned.set(l.key, l);
  }
  // Which shards left any record at all: a shard with none is a failed index (or logs not gathered).
  const reported = new Set(sources.flatMap((s) => (s.machine?.shard ? [`${s.machine.shard.index}/${s.machine.shard.count}`] : [])));
  const missing: MissingCell[] = [];
  for (const l of planned.values()) {
    if (present.has(l.key)) continue;
    let why: string;
    if (l.shard === undefined || l.shards === undefined) why = 'not finished: the sweep failed or was stopped before it (`kdp bench --resume` with the same flags runs it)';
    else if (!reported.has(`${l.shard}/${l.shards}`)) why = `shard ${l.shard}/${l.shards} left no results: its pod failed before writing, or its output was not gathered`;
    else why = `shard ${l.shard}/${l.shards} did not finish it: the cell failed or the shard was stopped (\`kdp bench --shard ${l.shard}/${l.shards} --resume\` with the same flags runs it)`;
    missing.push({ cell: l, why });
  }
  return {
    groups: [...groups.values()].map((g) => ({ ...(g.machine ? { machine: g.machine } : {}), results: [...g.byKey.values()], sources: g.sources, kernelMissing: g.kernelMissing })),
    missing,
    planned: planned.size,
    warnings,
  };
}

/**
 * The runs in a log (`kubectl logs` of a sharded Job whose shards ran `kdp bench --stdout`): each
 * `{"machine": …}` line starts a run, `{"plan": …}` lines are its plan, other JSON lines are its
 * results. Lines that are not JSON objects (progress on stderr, which the log interleaves) are
 * skipped; a `[pod/…] ` prefix (`kubectl logs --prefix`) is removed. Malformed JSON lines are
 * warnings with their line numbers.
 */
export function parseResultsLog(text: string, label: string): { sources: ResultSource[]; warnings: string[] } {
  const sources: ResultSource[] = [];
  const warnings: string[] = [];
  let current: { machine?: MachineInfo; byKey: Map<string, CellResult>; plan: PlanLine[]; label: string } | undefined;
  const flush = (): void => {
    if (current) sources.push({ label: current.label, results: [...current.byKey.values()], ...(current.machine ? { machine: current.machine } : {}), ...(current.plan.length ? { plan: current.plan } : {}) });
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim().replace(/^\[[^\]]*\]\s+(?=\{)/, '');
    if (!t.startsWith('{')) continue;
    let v: Record<string, unknown>;
    try {
      v = JSON.parse(t) as Record<string, unknown>;
    } catch (err) {
      warnings.push(`${label} line ${i + 1}: not JSON (${(err as Error).message}; a write cut short when its pod was killed?)`);
      continue;
    }
    if (v !== null && typeof v === 'object' && 'machine' in v) {
      flush();
      const m = parseMachineJson(JSON.stringify(v.machine));
      if ('problem' in m) warnings.push(`${label} line ${i + 1}: machine record ignored, ${m.problem}`);
      current = { ...('machine' in m ? { machine: m.machine } : {}), byKey: new Map(), plan: [], label: `${label} run ${sources.length + 1}` };
      continue;
    }
    current ??= { byKey: new Map(), plan: [], label: `${label} run ${sources.length + 1}` };
    if (v !== null && typeof v === 'object' && 'plan' in v) {
      const problem = planLineProblem(v.plan);
      if (problem) warnings.push(`${label} line ${i + 1}: plan line skipped, ${problem}`);
      else current.plan.push(v.plan as PlanLine);
      continue;
    }
    const problem = cellProblem(v);
    if (problem) {
      warnings.push(`${label} line ${i + 1}: skipped, ${problem}`);
      continue;
    }
    const r = v as unknown as CellResult;
    current.byKey.delete(cellKeyString(r));
    current.byKey.set(cellKeyString(r), r);
  }
  flush();
  return { sources, warnings };
}
