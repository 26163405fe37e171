/**
 * One sweep at a time in a results directory: two sweeps appending to one results.jsonl (and
 * rewriting machine.json) would interleave two runs in one report. The owner writes
 * `DIR/results.lock` with O_EXCL, recording its pid, its start time (field 22 of /proc/PID/stat,
 * so a pid the kernel has since reused for another process does not count) and its command. A
 * lock whose owner is gone (killed with SIGKILL, a second Ctrl-C) is stale and taken over.
 */
import { hostname } from 'node:os';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EnvironmentError, fileSystemError } from '../errors.js';

interface LockOwner {
  readonly pid: number;
  /** Start time in clock ticks since boot, from /proc; undefined where there is no /proc. */
  readonly startTicks?: number;
  readonly host: string;
  readonly command: string;
  readonly startedAt: string;
}

/** Takes DIR's lock for this process (taking over a stale one, told through `log`); returns its release. */
export function lockResults(dir: string, command: string, log: (line: string) => void): () => void {
  const file = join(dir, 'results.lock');
  const me: LockOwner = { pid: process.pid, startTicks: startTicksOf(process.pid), host: hostname(), command, startedAt: new Date().toISOString() };
  const text = `${JSON.stringify(me)}\n`;
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, text, { flag: 'wx' });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        rmSync(file, { force: true }); // a full disk can leave the file created but empty: no lock to trip over later
        throw fileSystemError(err, 'lock', file);
      }
    }
    const owner = readOwner(file);
    // A second EEXIST means another sweep took the stale lock between our look and our write.
    if (owner === undefined || attempt > 0 || isAlive(owner)) {
      const who = owner ? `pid ${owner.pid}${owner.host !== me.host ? ` on ${owner.host}` : ''}, started ${owner.startedAt}: ${owner.command}` : 'an owner kdp cannot read';
      throw new EnvironmentError(`${dir} is in use by another sweep (${who}); wait for it to finish or use another --out (the lock is ${file}: remove it if no sweep runs)`);
    }
    log(`kdp bench: took over ${file} from pid ${owner.pid}, which is gone (${owner.command}, started ${owner.startedAt})`);
    rmSync(file, { force: true });
  }
  return () => {
    if (readOwner(file)?.pid === me.pid) rmSync(file, { force: true });
  };
}

function readOwner(file: string): LockOwner | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as LockOwner;
    return Number.isInteger(v.pid) && v.pid > 0 ? v : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the lock's owner still runs: the same pid with the same start time, on this host. */
function isAlive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true; // another machine sharing the directory: kdp cannot tell
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const now = startTicksOf(owner.pid);
  return owner.startTicks === undefined || now === undefined || now === owner.startTicks;
}

/** Field 22 of /proc/PID/stat (after the command name, which may hold spaces and parentheses). */
function startTicksOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}
