/**
 * Reads `machine.json`. A field of the wrong type makes the whole file unusable rather than
 * half-trusted: the machine section would otherwise print "undefined" for a CPU.
 */
import type { MachineInfo } from './result.js';

const kStrings = ['cpuModel', 'node', 'platform', 'kernel', 'date', 'command'] as const;
const kNumbers = ['cores', 'memoryBytes'] as const;

/** The machine, or why the text is not one. */
export function parseMachineJson(text: string): { machine: MachineInfo } | { problem: string } {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    return { problem: `not JSON (${(err as Error).message})` };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return { problem: 'not a JSON object' };
  const o = v as Record<string, unknown>;
  for (const f of kStrings) if (typeof o[f] !== 'string') return { problem: `${f} is not a string` };
  for (const f of kNumbers) if (typeof o[f] !== 'number' || !Number.isFinite(o[f])) return { problem: `${f} is not a number` };
  if (o.v8Flags !== undefined && (!Array.isArray(o.v8Flags) || !o.v8Flags.every((x) => typeof x === 'string'))) return { problem: 'v8Flags is not a list of strings' };
  if (o.execArgv !== undefined && (!Array.isArray(o.execArgv) || !o.execArgv.every((x) => typeof x === 'string'))) return { problem: 'execArgv is not a list of strings' };
  const runs = [o, ...(Array.isArray(o.resumes) ? (o.resumes as unknown[]) : [])];
  for (const r of runs) {
    const run = typeof r === 'object' && r !== null ? (r as Record<string, unknown>) : {};
    if (run.sweep !== undefined && !isSweepRun(run.sweep)) return { problem: 'a run\'s sweep record is not { elapsedMs, cells, ran, skipped, failed: numbers; stopped, defaultSweep: booleans }' };
    if (run.hugePages !== undefined && !isHugePages(run.hugePages)) return { problem: 'a run\'s hugePages record is not { thp, glibc, mallocHugetlb: strings or null; tables: a boolean }' };
  }
  // A commit is a commit id, or null with the reason; "unknown" (kdp before issue 21) is no commit.
  if (o.gitCommit === 'unknown') return { machine: { ...(o as unknown as MachineInfo), gitCommit: null, gitCommitMissing: 'recorded as "unknown"' } };
  if (o.gitCommit !== null && typeof o.gitCommit !== 'string') return { problem: 'gitCommit is neither a string nor null' };
  if (o.gitCommit === null && typeof o.gitCommitMissing !== 'string') return { problem: 'gitCommit is null without gitCommitMissing saying why' };
  return { machine: o as unknown as MachineInfo };
}

function isSweepRun(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return ['elapsedMs', 'cells', 'ran', 'skipped', 'failed'].every((f) => typeof r[f] === 'number' && Number.isFinite(r[f])) && typeof r.stopped === 'boolean' && typeof r.defaultSweep === 'boolean';
}

function isHugePages(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  const text = (x: unknown): boolean => x === null || typeof x === 'string';
  return text(o.thp) && text(o.glibc) && text(o.mallocHugetlb) && typeof o.tables === 'boolean';
}
