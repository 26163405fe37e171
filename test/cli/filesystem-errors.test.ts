/**
 * Filesystem errors end a command with one line saying what and where, and exit 2 (the path
 * given is the wrong kind of thing) or 3 (the machine refuses: procfs, permissions, a full or
 * read-only disk), never a loop, never a stack trace with exit 1 (issue 21, items 3 and 8).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { syntheticSweep } from '../report/synthetic.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
/** Killed after 30 s: a command that spins fails the test instead of hanging it. */
const run = (...args: string[]) => spawnSync(process.execPath, [kdp, ...args], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
const dir = mkdtempSync(join(tmpdir(), 'kdp-fs-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const results = join(dir, 'results');
mkdirSync(results);
writeFileSync(join(results, 'results.jsonl'), syntheticSweep().map((c) => `${JSON.stringify(c)}\n`).join(''));

/** Exit `status`, and stderr's last line matches `message` with no stack trace anywhere. */
function endsCleanly(r: ReturnType<typeof run>, status: number, message: RegExp): void {
  assert.notEqual(r.signal, 'SIGKILL', `killed after 30 s: the command hangs\n${r.stderr}`);
  assert.equal(r.status, status, r.stderr);
  const lines = r.stderr.trim().split('\n');
  assert.match(lines[lines.length - 1]!, message);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error/, 'no stack trace');
}

describe('a directory kdp cannot create', () => {
  it('bench --out /proc/x ends with one line and exit 3, not a loop', () => {
    const r = run('bench', '--out', '/proc/kdp-x', '--services', '10', '--modes', 'iptables', '--flows', '1000', '--workers', '1', '--no-report');
    endsCleanly(r, 3, /cannot create the directory \/proc\/kdp-x/);
  });

  it('report --charts /proc/x/charts ends with one line and exit 3', () => {
    const r = run('report', '--results', results, '--out', join(dir, 'B.md'), '--charts', '/proc/kdp-x/charts');
    endsCleanly(r, 3, /cannot create the directory \/proc\/kdp-x/);
  });

  it('report --out /proc/x/B.md ends with one line and exit 3', () => {
    const r = run('report', '--results', results, '--out', '/proc/kdp-x/B.md', '--charts', join(dir, 'charts'));
    endsCleanly(r, 3, /cannot create the directory \/proc\/kdp-x/);
  });
});
