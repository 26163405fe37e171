/** Reads a cluster file for a command, printing every diagnostic the way a compiler does. */
import { readFile, stat } from 'node:fs/promises';
import { formatDiagnostic, hasErrors, type Diagnostic } from '../model/diagnostics.js';
import { modeNames } from '../compile/index.js';
import { clipTokens } from './command.js';
import { loadCluster } from '../model/load.js';
import type { Cluster } from '../model/types.js';
import { fileSystemError, InvalidPathError, UsageError } from '../errors.js';
import { checkParseHeap, checkTextSize } from './size-limits.js';

export interface LoadedCluster {
  readonly cluster?: Cluster;
  readonly diagnostics: Diagnostic[];
  readonly kinds: Record<string, number>;
}

export async function readClusterFile(file: string | undefined): Promise<LoadedCluster> {
  if (!file) throw new UsageError('a cluster file is required (JSON or YAML, as `kubectl get ... -o json` prints it)');
  const name = file === '-' ? '<stdin>' : file;
  let text: string;
  try {
    if (file !== '-') checkTextSize(file, (await stat(file)).size, 'cluster file');
    text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code === 'ENOENT' ? new InvalidPathError(`no such file: ${file}`) : fileSystemError(err, 'read', file);
  }
  checkParseHeap(name, text);
  return loadCluster(text, name, { modes: modeNames() });
}

/** Standard input as text, refused past the size limit for `what` (a cluster file, a rule dump). */
export async function readStdin(what = 'cluster file'): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of process.stdin) {
    bytes += (chunk as Buffer).length;
    checkTextSize('<stdin>', bytes, what);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Prints diagnostics to stderr; returns false when any is an error. */
export function reportDiagnostics(diagnostics: readonly Diagnostic[], quiet = false): boolean {
  for (const d of diagnostics) if (!quiet || d.severity === 'error') process.stderr.write(`${clipTokens(formatDiagnostic(d))}\n`);
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  if (errors > 0) process.stderr.write(`kdp: ${errors} error${errors === 1 ? '' : 's'}; nothing was done\n`);
  return !hasErrors(diagnostics);
}

/** Loads and validates, or prints why not; the caller exits 2 on undefined. */
export async function requireCluster(file: string | undefined, quiet = false): Promise<Cluster | undefined> {
  const { cluster, diagnostics } = await readClusterFile(file);
  const ok = reportDiagnostics(diagnostics, quiet);
  return ok ? cluster : undefined;
}
