/**
 * Writes a whole file under a temporary name beside it and renames it into place, so a reader
 * never sees half of it (the report's Markdown and charts, a sweep's machine.json and plan.jsonl);
 * a failed write removes the temporary file and is one error naming the file (exit 2 or 3).
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { fileSystemError } from './errors.js';

export function writeAtomic(file: string, content: string): void {
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    writeFileSync(tmp, content, 'utf8');
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw fileSystemError(err, 'write', file);
  }
}
