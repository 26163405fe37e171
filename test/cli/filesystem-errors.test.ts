/**
 * Filesystem errors end a command with one line saying what and where, and exit 2 (the path
 * given is the wrong kind of thing) or 3 (the machine refuses: procfs, permissions, a full or
 * read-only disk), never a loop, never a stack trace with exit 1 (issue 21, items 3 and 8).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { fixturePath } from '../helpers/cluster.js';
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

  it('-o in a directory whose filesystem makes no files (procfs) is exit 3, not "no directory"', () => {
    endsCleanly(run('generate', '--services', '3', '-q', '-o', '/proc/kdp.json'), 3, /cannot write \/proc\/kdp\.json: the filesystem of \/proc does not allow creating files$/);
  });

  it('report --out /proc/x/B.md ends with one line and exit 3', () => {
    const r = run('report', '--results', results, '--out', '/proc/kdp-x/B.md', '--charts', join(dir, 'charts'));
    endsCleanly(r, 3, /cannot create the directory \/proc\/kdp-x/);
  });
});

/**
 * Runs kdp with a small tmpfs mounted at `mnt` in a mount namespace of its own (nothing is left
 * mounted, whatever happens); undefined where unshare or mount is not allowed.
 */
function withTmpfs(mnt: string, options: string, ...args: string[]): ReturnType<typeof run> | undefined {
  mkdirSync(mnt, { recursive: true });
  const quoted = [process.execPath, kdp, ...args].map((a) => `'${a}'`).join(' ');
  const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs -o ${options} tmpfs '${mnt}' || exit 97; exec ${quoted}`], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  return r.status === 97 || r.error ? undefined : r;
}

describe('environment errors end with one line and exit 2 or 3 (issue 21, item 8)', () => {
  it('bench --out naming a file: exit 2, saying so', () => {
    const file = join(dir, 'a-file');
    writeFileSync(file, 'x');
    const r = run('bench', '--out', file, '--services', '10', '--modes', 'iptables', '--flows', '100', '--no-report');
    endsCleanly(r, 2, /cannot create the directory .*a-file: .*a-file is a file, not a directory$/);
  });

  it('-o naming a dangling symlink whose directory is missing: exit 2, naming the link and its target', () => {
    const link = join(dir, 'dangling');
    symlinkSync(join(dir, 'no-such-dir', 'x.json'), link);
    const r = run('generate', '--services', '3', '-o', link);
    endsCleanly(r, 2, /cannot write .*dangling: it is a symlink to .*no-such-dir\/x\.json, whose directory does not exist$/);
  });

  it('a full disk: -o /dev/full and a results directory with no room for machine.json exit 3', (t) => {
    endsCleanly(run('generate', '--services', '3', '-o', '/dev/full'), 3, /cannot write \/dev\/full: no space left on the device$/);
    const mnt = join(dir, 'full');
    const r = withTmpfs(mnt, 'size=4k', 'bench', '--out', mnt, '--services', '10', '--modes', 'iptables', '--flows', '100', '--no-report');
    if (!r) return t.skip('cannot mount a tmpfs here');
    endsCleanly(r, 3, /cannot write .*full\/machine\.json: no space left on the device$/);
  });

  it('a read-only disk: -o, bench --out and report exit 3 naming the path', (t) => {
    const mnt = join(dir, 'ro');
    const o = withTmpfs(mnt, 'ro', 'generate', '--services', '3', '-o', join(mnt, 'c.json'));
    if (!o) return t.skip('cannot mount a tmpfs here');
    endsCleanly(o, 3, /cannot write .*ro\/c\.json: the filesystem is read-only$/);
    endsCleanly(withTmpfs(mnt, 'ro', 'bench', '--out', mnt, '--services', '10', '--modes', 'iptables', '--flows', '100', '--no-report')!, 3, /ro\/results\.lock: the filesystem is read-only$/);
    endsCleanly(withTmpfs(mnt, 'ro', 'report', '--results', results, '--out', join(mnt, 'B.md'), '--charts', join(dir, 'charts-ro'))!, 3, /cannot write .*ro\/B\.md: the filesystem is read-only$/);
  });

  it('a path error points at the path, not at --help', () => {
    const d = join(dir, 'a-dir');
    mkdirSync(d, { recursive: true });
    const r = run('generate', '--services', '3', '-o', d);
    assert.equal(r.status, 2);
    assert.doesNotMatch(r.stderr, /--help/);
  });

  it('a YAML alias bomb in a cluster file is refused with exit 2 and the line', () => {
    const bomb = join(dir, 'bomb.yaml');
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (const [k, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd'], ['f', 'e']]) levels.push(`${k}: &${k} [${Array(9).fill(`*${prev}`).join(',')}]`);
    writeFileSync(bomb, ['apiVersion: v1', 'kind: List', ...levels, 'items: [*f]', ''].join('\n'));
    const r = run('inspect', bomb);
    assert.notEqual(r.signal, 'SIGKILL');
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /bomb\.yaml:1: error: .*aliases/);
    assert.doesNotMatch(r.stderr, /\n\s+at |internal error/);
    assert.ok(existsSync(fixturePath('small-cluster.yaml')));
  });
});

describe('an input path that is a directory (issue 21, item 8)', () => {
  it('inspect and compile --from-iptables-save say "it is a directory" with exit 2, without the errno text', () => {
    for (const r of [run('inspect', dir), run('compile', '--from-iptables-save', dir)]) {
      endsCleanly(r, 2, /cannot read .*kdp-fs-errors-\w+: it is a directory$/);
    }
  });
});

describe('--help says what the exit statuses mean', () => {
  // trace's help belongs with its engine parts (another part of issue 12); it says 0 and 2.
  for (const command of ['generate', 'inspect', 'compile', 'bench', 'report', 'verify']) {
    it(`kdp ${command} --help names exit statuses 2 and 3`, () => {
      const r = run(command, '--help');
      assert.equal(r.status, 0);
      assert.match(r.stdout, /Exit status: 0 [\s\S]*; 2 [\s\S]*; 3 /);
    });
  }
});
