/**
 * Tests that load rules into a throw-away network namespace (`unshare -n`: nothing on the host is
 * touched) skip with a visible reason where they cannot: a tool missing, no root, or unshare
 * refused by the sandbox.
 */
import { spawnSync } from 'node:child_process';

/** Why `unshare -n` with `tools` cannot run here, or undefined when it can. */
export function unshareSkipReason(...tools: readonly string[]): string | undefined {
  for (const tool of [...tools, 'unshare']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status !== 0) return `${tool} is not installed`;
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'needs root for unshare -n';
  if (spawnSync('unshare', ['-n', 'true']).status !== 0) return 'unshare -n is not permitted here';
  return undefined;
}
