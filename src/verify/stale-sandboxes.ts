/**
 * Namespaces left behind by a `kdp verify` (or kernel baseline) that was killed before it could
 * delete them (SIGKILL, a crash of Node itself, a power cut of the container), found and removed
 * by the next run.
 *
 * Ownership is recorded in the namespace itself, as the alias of its `lo`
 * (`kdp-owner pid=<pid> start=<ticks>`), written right after `ip netns add` and gone with the
 * namespace, so no record outlives what it describes. The start time is field 22 of
 * /proc/<pid>/stat (clock ticks after boot): a pid can be reused, a pid and its start time cannot.
 *
 * The rule, applied only to names of kdp's exact shape `kdpv-<pid>-<n>-<role>`:
 * - the owner pid does not exist: stale;
 * - the record names a start time that is not the live pid's: stale (the pid was reused);
 * - the pid is this process and the namespace is none of this process's sandboxes: stale (a
 *   dead run had our pid; `ip netns add` would fail with "File exists");
 * - otherwise (the owner lives, or lives with no record yet: it may be between `ip netns add`
 *   and writing the record) the namespace is left alone.
 * A stale namespace's processes (`ip netns pids`: a `conntrack -E`, a responder that missed its
 * lifeline) are killed by pid before the namespace is deleted by name: deleting the name alone
 * would leave them running in an unnamed namespace.
 */
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

export interface Owner {
  readonly pid: number;
  /** Clock ticks after boot when the process started (/proc/<pid>/stat field 22). */
  readonly start: string;
}

export interface SweepReport {
  /** Stale namespaces deleted. */
  readonly removed: readonly string[];
  /** Processes killed inside them. */
  readonly killed: readonly number[];
  /** Stale namespaces that could not be deleted, with the tool's message. */
  readonly failed: readonly string[];
}

const kName = /^kdpv-(\d+)-\d+-[a-z0-9]{1,8}$/;
const kRecord = /^kdp-owner pid=(\d+) start=(\d+)$/;

/** The process's identity, or null when it does not exist. */
export function ownerOf(pid: number): Owner | null {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces: count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = fields[22 - 3];
  return start !== undefined && /^\d+$/.test(start) ? { pid, start } : null;
}

/** The record written as `lo`'s alias. */
export function ownerRecord(owner: Owner): string {
  return `kdp-owner pid=${owner.pid} start=${owner.start}`;
}

export function parseOwnerRecord(text: string | undefined): Owner | null {
  const m = kRecord.exec(text ?? '');
  return m ? { pid: Number(m[1]), start: m[2] } : null;
}

/**
 * Whether a kdp namespace's owner is gone. `ours` says whether this process created the namespace.
 * Pure over its inputs, so the rule is tested without namespaces.
 */
export function ownerGone(namePid: number, record: Owner | null, live: Owner | null, self: Owner, ours: boolean): boolean {
  if (live === null) return true;
  if (record !== null && (record.pid !== namePid || record.start !== live.start)) return true;
  if (namePid === self.pid && !ours) return true;
  return false;
}

/** kdp's namespaces on this machine, by `ip netns list`. */
export function kdpNamespaces(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0])
    .filter((n) => kName.test(n));
}

function recordOf(ns: string): Owner | null {
  const r = spawnSync('ip', ['-n', ns, '-j', 'link', 'show', 'lo'], { encoding: 'utf8' });
  if (r.status !== 0) return null;
  try {
    const links = JSON.parse(r.stdout) as { ifalias?: string }[];
    return parseOwnerRecord(links[0]?.ifalias);
  } catch {
    return null;
  }
}

/** Deletes every kdp namespace whose owner is gone, after killing its processes. */
export function sweepStaleSandboxes(isOurs: (ns: string) => boolean): SweepReport {
  const self = ownerOf(process.pid) ?? { pid: process.pid, start: '' };
  const removed: string[] = [];
  const killed: number[] = [];
  const failed: string[] = [];
  for (const ns of kdpNamespaces()) {
    const namePid = Number(kName.exec(ns)![1]);
    if (!ownerGone(namePid, recordOf(ns), ownerOf(namePid), self, isOurs(ns))) continue;
    const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
    for (const p of (pids.stdout ?? '').split('\n')) {
      const pid = Number(p);
      if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        // exited meanwhile
      }
    }
    const del = spawnSync('ip', ['netns', 'del', ns], { encoding: 'utf8' });
    if (del.status === 0) removed.push(ns);
    else failed.push(`${ns}: ${(del.stderr ?? '').trim()}`);
  }
  return { removed, killed, failed };
}
