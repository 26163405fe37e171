/**
 * Output files (`-o`, `--pcap`) behave as a shell's `>` would, without its half-written files: a
 * regular file or a new path is written into a temporary file beside the target and renamed over
 * it, so an interrupted or failed run never leaves half a file behind. Anything else is written
 * through, never replaced: a symlink keeps pointing where it did, and a FIFO or a device
 * (`-o /dev/null`, even as root) stays what it is. A directory is refused.
 */
import { once } from 'node:events';
import { lstat, open, readlink, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { EnvironmentError, fileSystemError, InvalidPathError } from '../errors.js';

/** Writes chunks to `file` (atomically when it is a regular file), or to stdout when `file` is undefined or '-'. */
export async function writeOutput(file: string | undefined, chunks: Iterable<string | Uint8Array>): Promise<void> {
  if (!file || file === '-') {
    await writeAll(process.stdout, chunks);
    return;
  }
  const kind = await targetKind(file);
  if (kind === 'directory') throw new InvalidPathError(`cannot write ${file}: it is a directory; name a file in it`);
  if (kind === 'through') await writeThrough(file, chunks);
  else await writeAtomic(file, chunks);
}

/** What `file` is now: nothing or a regular file (replace atomically), a directory, or something to write through. */
async function targetKind(file: string): Promise<'atomic' | 'directory' | 'through'> {
  try {
    const s = await lstat(file);
    if (s.isFile()) return 'atomic';
    return s.isDirectory() ? 'directory' : 'through';
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'atomic';
    throw fileSystemError(err, 'write', file);
  }
}

async function writeAtomic(file: string, chunks: Iterable<string | Uint8Array>): Promise<void> {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`);
  let handle;
  try {
    handle = await open(tmp, 'w');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      // ENOENT with the directory there is a filesystem that makes no files (procfs, sysfs).
      const there = await stat(dirname(file)).then((s) => s.isDirectory(), () => false);
      if (!there) throw new InvalidPathError(`cannot write ${file}: no directory ${dirname(file)}`);
      throw new EnvironmentError(`cannot write ${file}: the filesystem of ${dirname(file)} does not allow creating files`);
    }
    throw fileSystemError(err, 'write', file);
  }
  try {
    await streamInto(handle, chunks, file);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw fileSystemError(err, 'write', file);
  }
}

/** Opens `file` as `>` does (following a symlink, blocking on a FIFO until a reader comes) and writes into it. */
async function writeThrough(file: string, chunks: Iterable<string | Uint8Array>): Promise<void> {
  let handle;
  try {
    handle = await open(file, 'w');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      const target = await readlink(file).catch(() => undefined);
      if (target !== undefined) throw new InvalidPathError(`cannot write ${file}: it is a symlink to ${target}, whose directory does not exist`);
    }
    throw fileSystemError(err, 'write', file);
  }
  await streamInto(handle, chunks, file);
}

/** Writes every chunk into the open file and closes it; on failure the stream is destroyed (and the file closed). */
async function streamInto(handle: FileHandle, chunks: Iterable<string | Uint8Array>, file: string): Promise<void> {
  const out = handle.createWriteStream();
  try {
    await writeAll(out, chunks);
    out.end();
    await once(out, 'close');
  } catch (err) {
    out.destroy();
    throw fileSystemError(err, 'write', file);
  }
}

async function writeAll(out: Writable, chunks: Iterable<string | Uint8Array>): Promise<void> {
  for (const chunk of chunks) {
    if (!out.write(chunk)) await once(out, 'drain');
  }
}
