/**
 * Output files are written whole or not at all: into a temporary file beside the target, then
 * renamed over it, so an interrupted or failed run never leaves a half-written file behind.
 */
import { once } from 'node:events';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { UsageError } from '../errors.js';

/** Writes chunks to `file` atomically, or to stdout when `file` is undefined or '-'. */
export async function writeOutput(file: string | undefined, chunks: Iterable<string | Uint8Array>): Promise<void> {
  if (!file || file === '-') {
    await writeAll(process.stdout, chunks);
    return;
  }
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  let handle;
  try {
    handle = await open(tmp, 'w');
  } catch (err) {
    throw new UsageError(`cannot write ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? `no directory ${dirname(file)}` : (err as Error).message}`);
  }
  const out = handle.createWriteStream();
  try {
    await writeAll(out, chunks);
    out.end();
    await once(out, 'close');
    await rename(tmp, file);
  } catch (err) {
    out.destroy();
    await rm(tmp, { force: true });
    throw err;
  }
}

async function writeAll(out: Writable, chunks: Iterable<string | Uint8Array>): Promise<void> {
  for (const chunk of chunks) {
    if (!out.write(chunk)) await once(out, 'drain');
  }
}
