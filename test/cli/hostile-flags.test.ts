/**
 * Fuzzed flag values through the real command line (issue 21, done-when): whatever the values,
 * kdp exits 0, 2 or 3, says why on stderr when it is not 0, prints no stack trace and does not
 * hang. Each run spawns kdp, so `npm test` runs a few dozen; scale with KDP_PROPERTY_RUNS.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import fc from 'fast-check';
import { fixturePath } from '../helpers/cluster.js';
import { checkProperty, runs } from '../helpers/nat-assertions.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kdp-hostile-flags-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Flag values an adversary tries; numbers stay small so a valid one runs in well under a second. */
const value = fc.oneof(
  fc.constantFrom('', ' ', '-1', '0', '1.5', '1e2', '0x10', '1_0', 'abc', '１', '4294967296', '-', '--', '-o', 'x'.repeat(3000), '/proc/x', '/dev/null', dir),
  fc.integer({ min: -3, max: 40 }).map(String),
  fc.string({ maxLength: 8 }),
);

const invocation = fc.oneof(
  fc.tuple(fc.subarray(['--services', '--endpoints', '--nodes', '--seed', '--cni', '--mode', '-o']), fc.array(value, { minLength: 7, maxLength: 7 }))
    .map(([flags, values]) => ['generate', ...flags.flatMap((f, k) => [f, f === '-o' ? join(dir, `g${values[k]!.length}`) : values[k]!])]),
  fc.tuple(fc.subarray(['--mode', '--node', '--format', '-o']), fc.array(value, { minLength: 4, maxLength: 4 }))
    .map(([flags, values]) => ['compile', fixturePath('small-cluster.yaml'), ...flags.flatMap((f, k) => [f, values[k]!])]),
  fc.tuple(value, value).map(([src, dst]) => ['trace', fixturePath('small-cluster.yaml'), '--src', src, '--dst', dst]),
);

test('any flag values: exit 0, 2 or 3, a reason on stderr, no stack trace, no hang', () => {
  checkProperty(
    'hostile flag values',
    invocation,
    (args) => {
      const r = spawnSync(process.execPath, [kdp, ...args], { cwd: dir, encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
      assert.notEqual(r.signal, 'SIGKILL', 'hangs');
      assert.ok([0, 2, 3].includes(r.status ?? -1), `exit ${r.status}: ${r.stderr.slice(0, 2000)}`);
      if (r.status !== 0) assert.match(r.stderr, /kdp/);
      assert.doesNotMatch(r.stderr, /\n\s+at |internal error/, r.stderr.slice(0, 2000));
    },
    { numRuns: runs(30), describe: (a) => JSON.stringify(a.map((s) => (s.length > 60 ? `${s.slice(0, 20)}…(${s.length})` : s))) },
  );
});
