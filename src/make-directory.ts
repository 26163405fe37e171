/**
 * Creates a directory and its missing parents, for the results directory and the report's
 * folders. Node's own `mkdirSync(p, { recursive: true })` spins forever where mkdir answers
 * ENOENT although the parent exists (procfs and sysfs: `kdp bench --out /proc/x` never returned,
 * and Ctrl-C could not stop it), so this walks the path itself: every level is tried once, and a
 * refusal is one error naming the path: exit 2 when the path is the wrong kind of thing (a file in
 * the way), exit 3 when the machine refuses (procfs, permissions, a read-only disk).
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { EnvironmentError, fileSystemError, InvalidPathError } from './errors.js';

export function makeDirectory(path: string): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    let isDirectory: boolean;
    try {
      isDirectory = statSync(p).isDirectory();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fileSystemError(err, 'create the directory', path);
      missing.push(p);
      if (dirname(p) === p) break;
      continue;
    }
    if (!isDirectory) throw new InvalidPathError(`cannot create the directory ${path}: ${p} is a file, not a directory`);
    break;
  }
  for (let k = missing.length - 1; k >= 0; k--) {
    const d = missing[k]!;
    try {
      mkdirSync(d);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(d).isDirectory()) continue; // made meanwhile by another process
      // The parent exists (it was made or found above), so ENOENT means this filesystem makes no directories.
      if (code === 'ENOENT') throw new EnvironmentError(`cannot create the directory ${path}: the filesystem of ${dirname(d)} does not allow it`);
      throw fileSystemError(err, 'create the directory', path);
    }
  }
}
