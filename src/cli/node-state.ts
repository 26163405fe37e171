/**
 * `--node-state DIR|FILE[:FORMAT]...`: the files copied off a node, read for `kdp trace` and
 * `kdp diff`. A directory gives its files (not hidden ones, in name order); `-` is standard input.
 * Every problem of every file is printed as FILE:LINE: message, as a compiler does.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ServiceDataplane } from '../compile/dataplane.js';
import { loadNodeState, splitFormatSuffix, type NodeStateFile } from '../compile/node-state.js';
import { fileSystemError, InvalidPathError, RuleParseError, RuleParseErrors } from '../errors.js';
import type { Cluster } from '../model/types.js';
import type { ProxyMode } from '../compile/mode.js';
import { clipTokens } from './command.js';
import { readStdin } from './cluster-file.js';
import { checkTextSize } from './size-limits.js';

/** One file (or standard input for `-`), never a directory's files. */
export async function readNodeStateFile(path: string, format: string | undefined): Promise<NodeStateFile> {
  if (path === '-') return { path: '<stdin>', text: await readStdin('rule dump'), ...(format ? { format } : {}) };
  try {
    checkTextSize(path, (await stat(path)).size, 'rule dump');
    return { path, text: await readFile(path, 'utf8'), ...(format ? { format } : {}) };
  } catch (err) {
    throw (err as NodeJS.ErrnoException).code === 'ENOENT' ? new InvalidPathError(`no such file: ${path}`) : fileSystemError(err, 'read', path);
  }
}

/** The files the arguments name, a directory expanded to its files. */
export async function readNodeStateFiles(args: readonly string[]): Promise<NodeStateFile[]> {
  const files: NodeStateFile[] = [];
  for (const arg of args) {
    const { path, format } = splitFormatSuffix(arg);
    let dir = false;
    if (path !== '-') {
      try {
        dir = (await stat(path)).isDirectory();
      } catch (err) {
        throw (err as NodeJS.ErrnoException).code === 'ENOENT' ? new InvalidPathError(`no such file or directory: ${path}`) : fileSystemError(err, 'read', path);
      }
    }
    if (!dir) {
      files.push(await readNodeStateFile(path, format));
      continue;
    }
    const names = (await readdir(path, { withFileTypes: true })).filter((e) => e.isFile() && !e.name.startsWith('.')).map((e) => e.name).sort();
    if (names.length === 0) throw new InvalidPathError(`${path}: the directory has no files (put the node's iptables-save, ipset save, nft or ipvsadm output in it)`);
    for (const n of names) files.push(await readNodeStateFile(join(path, n), format));
  }
  return files;
}

/**
 * The node's dataplane, or undefined after printing every problem (FILE:LINE: message) to
 * stderr: the caller exits 2.
 */
export function nodeStateOrReport(command: string, files: readonly NodeStateFile[], cluster: Cluster | undefined, node: number | undefined, mode?: ProxyMode): ServiceDataplane | undefined {
  try {
    return loadNodeState(files, cluster, node, mode);
  } catch (err) {
    if (!(err instanceof RuleParseError)) throw err;
    const problems = err instanceof RuleParseErrors ? err.problems : [err];
    for (const p of problems) process.stderr.write(`kdp ${command}: ${p.file ?? files[0]?.path ?? ''}:${p.line}: ${clipTokens(p.message.replace(/^line \d+: /, ''))}\n`);
    process.stderr.write(`kdp ${command}: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the node's files; nothing was done\n`);
    return undefined;
  }
}
