/**
 * Hostile flag values and inputs (issue 21, item 10): an empty value is refused rather than read
 * as 0, a huge bad token is shortened in the error, an empty cluster file is refused, and more
 * workers than cores is said not to measure a parallel speed-up.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [kdp, ...args], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' });
const dir = mkdtempSync(join(tmpdir(), 'kdp-flags-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const tinyBench = ['--services', '10', '--modes', 'iptables', '--flows', '100', '--no-report'];

describe('flag values', () => {
  it('an empty or blank value is refused with exit 2, not read as 0 or as the default', () => {
    for (const [args, name] of [
      [['generate', '--services', ''], 'services'],
      [['generate', '--services', ' '], 'services'],
      [['generate', '--seed', ''], 'seed'],
      [['bench', '--zipf', '', '--out', join(dir, 'z1'), ...tinyBench], 'zipf'],
      [['bench', '--zipf', ' ', '--out', join(dir, 'z2'), ...tinyBench], 'zipf'],
      [['bench', '--conntrack', '', '--out', join(dir, 'c1'), ...tinyBench], 'conntrack'],
      [['bench', '--conntrack', 'kernel', '--out', join(dir, 'c2'), ...tinyBench], 'conntrack'],
    ] as const) {
      const r = run(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`--${name} `), r.stderr);
    }
  });

  it('--churn-kernel without --churn is refused with exit 2, saying to give --churn R', () => {
    const r = run('bench', '--churn-kernel', '--out', join(dir, 'ck'), ...tinyBench);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /--churn-kernel .*give --churn R too/);
  });

  it('a huge bad token is shortened in the error, not copied whole', () => {
    const huge = 'x'.repeat(100_000); // one argument may hold at most 128 KiB (MAX_ARG_STRLEN)
    const r = run('generate', '--services', huge);
    assert.equal(r.status, 2);
    assert.ok(r.stderr.length < 1000, `stderr is ${r.stderr.length} characters`);
    assert.match(r.stderr, /100,000 characters/);
    const dump = join(dir, 'huge.rules');
    writeFileSync(dump, `*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -s ${'9'.repeat(200_000)} -j ACCEPT\nCOMMIT\n`);
    const d = run('compile', '--from-iptables-save', dump);
    assert.equal(d.status, 2);
    assert.ok(d.stderr.length < 1000, `stderr is ${d.stderr.length} characters`);
    const cluster = join(dir, 'huge.yaml');
    writeFileSync(cluster, `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  clusterIP: ${'9'.repeat(200_000)}\n  ports: [{port: 80}]\n`);
    const c = run('inspect', cluster);
    assert.equal(c.status, 2);
    assert.ok(c.stderr.length < 2000, `stderr is ${c.stderr.length} characters`);
    assert.match(c.stderr, /huge\.yaml:5: error: /);
  });

  it('an empty cluster file, or one of comments only, is refused with exit 2', () => {
    for (const [name, text] of [['empty.yaml', ''], ['blank.json', '  \n'], ['comments.yaml', '# nothing here\n---\n']] as const) {
      const f = join(dir, name);
      writeFileSync(f, text);
      const r = run('inspect', f);
      assert.equal(r.status, 2, `${name}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`${name.replace('.', '\\.')}:1: error: .*no Kubernetes objects`));
    }
  });

  it('more workers than cores warns that the figure is not a parallel speed-up', () => {
    const workers = String(cpus().length + 1);
    const r = run('bench', '--workers', workers, '--out', join(dir, 'w'), ...tinyBench);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`warning: --workers ${workers} is more than this machine's ${cpus().length} cores.*not a parallel speed-up`));
  });
});
