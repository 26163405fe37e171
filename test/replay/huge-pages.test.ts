/**
 * Tables on 2 MiB pages (src/replay/huge-pages.ts): how kdp reads glibc's tunable and the kernel's
 * THP mode, that the premise holds on this machine (a process started with
 * `glibc.malloc.hugetlb=1` gets huge pages for a large typed array, one without does not), that
 * the `kdp` command's own shebang asks for them and leaves a user's own setting the last word,
 * and that machine.json records and the report prints it. The oracle for the tunable is glibc's
 * manual: GLIBC_TUNABLES is `name=value` pairs separated by colons, read in order.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { hugePages, mallocHugetlbOf, tablesOnHugePages, thpModeOf, withoutHugetlb } from '../../src/replay/huge-pages.js';
import { run } from '../../src/verify/sandbox.js';
import { parseMachineJson } from '../../src/report/parse-machine.js';
import { renderReport } from '../../src/report/index.js';
import { kSyntheticMachine, syntheticSweep } from '../report/synthetic.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'kdp-huge-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const here = hugePages();
const premise = here.thp === 'madvise' && here.glibc !== null && tablesOnHugePages('madvise', here.glibc, '1');
const noPremise = premise ? false : `needs transparent huge pages in madvise mode and glibc 2.35+ (here: THP ${here.thp ?? 'unreadable'}, glibc ${here.glibc ?? 'absent'})`;

/** An environment without GLIBC_TUNABLES, plus `extra`. */
function envWith(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (!('GLIBC_TUNABLES' in extra)) delete env.GLIBC_TUNABLES;
  return env;
}

/** AnonHugePages (kB) of a Node.js process that fills a 64 MiB Int32Array, started with `env`. */
function hugeKbOfChild(env: NodeJS.ProcessEnv): number {
  const script = "const a = new Int32Array(1 << 24); for (let i = 0; i < a.length; i += 1024) a[i] = i; process.stdout.write(/AnonHugePages:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/smaps_rollup', 'utf8'))[1])";
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8', timeout: 30_000 });
  assert.equal(r.status, 0, r.stderr);
  return Number(r.stdout);
}

describe('huge pages', () => {
  it('glibc.malloc.hugetlb: the last pair naming it wins, other tunables and look-alike names are not it', () => {
    assert.equal(mallocHugetlbOf(undefined), null);
    assert.equal(mallocHugetlbOf(''), null);
    assert.equal(mallocHugetlbOf('glibc.malloc.hugetlb=1'), '1');
    assert.equal(mallocHugetlbOf('glibc.malloc.hugetlb=1:'), '1');
    assert.equal(mallocHugetlbOf('glibc.malloc.hugetlb=1:glibc.malloc.hugetlb=0'), '0');
    assert.equal(mallocHugetlbOf('glibc.malloc.hugetlb=0:glibc.malloc.arena_max=2:glibc.malloc.hugetlb=2'), '2');
    assert.equal(mallocHugetlbOf('glibc.malloc.arena_max=2'), null);
    assert.equal(mallocHugetlbOf('glibc.malloc.hugetlbx=1:xglibc.malloc.hugetlb=1'), null);
  });

  it('the THP mode is the bracketed word; tables get huge pages with THP always, or madvise with malloc asking on glibc 2.35+', () => {
    assert.equal(thpModeOf('always [madvise] never\n'), 'madvise');
    assert.equal(thpModeOf('[always] madvise never'), 'always');
    assert.equal(thpModeOf('garbage'), null);
    assert.equal(tablesOnHugePages('always', null, null), true);
    assert.equal(tablesOnHugePages('madvise', '2.36', '1'), true);
    assert.equal(tablesOnHugePages('madvise', '2.34', '1'), false);
    assert.equal(tablesOnHugePages('madvise', '3.0', '1'), true);
    assert.equal(tablesOnHugePages('madvise', '2.36', '0'), false);
    assert.equal(tablesOnHugePages('madvise', '2.36', null), false);
    assert.equal(tablesOnHugePages('madvise', null, '1'), false);
    assert.equal(tablesOnHugePages('never', '2.36', '1'), false);
  });

  it('the premise: with the tunable a 64 MiB typed array sits on huge pages, without it not', { skip: noPremise }, () => {
    assert.ok(hugeKbOfChild(envWith({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1' })) >= 32 * 1024);
    assert.equal(hugeKbOfChild(envWith({})), 0);
  });

  it('the kdp command\'s shebang asks for them, and a user\'s GLIBC_TUNABLES has the last word; machine.json records what the run had', { skip: noPremise }, () => {
    const shebang = readFileSync(kdp, 'utf8').split('\n')[0];
    const m = /^#!(\S+) (.*)$/.exec(shebang);
    assert.ok(m, shebang);
    // As the kernel runs a script: the interpreter, the rest of the line as one argument, the script.
    const bench = (env: NodeJS.ProcessEnv, out: string) => {
      const r = spawnSync(m[1], [m[2], kdp, 'bench', '--services', '10', '--modes', 'ipvs', '--workers', '1', '--flows', '1000', '--out', out, '--no-report'], { env, encoding: 'utf8', timeout: 60_000 });
      assert.equal(r.status, 0, r.stderr);
      return { machine: JSON.parse(readFileSync(join(out, 'machine.json'), 'utf8')), stderr: r.stderr };
    };
    const asked = bench(envWith({}), join(scratch, 'asked'));
    assert.deepEqual(asked.machine.hugePages, { thp: 'madvise', glibc: here.glibc, mallocHugetlb: '1', tables: true });
    assert.doesNotMatch(asked.stderr, /4 KiB pages/);
    const refused = bench(envWith({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }), join(scratch, 'refused'));
    assert.deepEqual(refused.machine.hugePages, { thp: 'madvise', glibc: here.glibc, mallocHugetlb: '0', tables: false });
    // Plain `node main.js` asks for nothing, and bench says what that costs.
    const r = spawnSync(process.execPath, [kdp, 'bench', '--services', '10', '--modes', 'ipvs', '--workers', '1', '--flows', '1000', '--out', join(scratch, 'plain'), '--no-report'], { env: envWith({}), encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /tables will sit on 4 KiB pages; start Node\.js with GLIBC_TUNABLES=glibc\.malloc\.hugetlb=1/);
    assert.equal(JSON.parse(readFileSync(join(scratch, 'plain', 'machine.json'), 'utf8')).hugePages.tables, false);
  });

  it('the kernel\'s tools kdp times run without kdp\'s tunable, a user\'s other tunables kept', async () => {
    assert.ok(!('GLIBC_TUNABLES' in withoutHugetlb({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1:' })));
    assert.equal(withoutHugetlb({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=1:glibc.malloc.arena_max=2:glibc.malloc.hugetlb=0' }).GLIBC_TUNABLES, 'glibc.malloc.arena_max=2');
    assert.deepEqual(withoutHugetlb({ PATH: '/bin' }), { PATH: '/bin' });
    const saved = process.env.GLIBC_TUNABLES;
    process.env.GLIBC_TUNABLES = 'glibc.malloc.hugetlb=1:glibc.malloc.arena_max=2';
    try {
      const r = await run('sh', ['-c', 'printf %s "${GLIBC_TUNABLES-unset}"']);
      assert.equal(r.stdout, 'glibc.malloc.arena_max=2');
    } finally {
      if (saved === undefined) delete process.env.GLIBC_TUNABLES;
      else process.env.GLIBC_TUNABLES = saved;
    }
  });

  it('machine.json\'s record is read back, refused when malformed, and printed in the machine section', () => {
    const pages = { thp: 'madvise', glibc: '2.36', mallocHugetlb: '1', tables: true };
    const back = parseMachineJson(JSON.stringify({ ...kSyntheticMachine, hugePages: pages }));
    assert.ok('machine' in back && back.machine.hugePages?.tables === true);
    assert.ok('problem' in parseMachineJson(JSON.stringify({ ...kSyntheticMachine, hugePages: { ...pages, tables: 'yes' } })));
    assert.ok('problem' in parseMachineJson(JSON.stringify({ ...kSyntheticMachine, hugePages: { ...pages, thp: 1 } })));
    assert.ok('problem' in parseMachineJson(JSON.stringify({ ...kSyntheticMachine, resumes: [{ command: 'kdp bench --resume', date: 'd', gitCommit: null, hugePages: 'on' }] })));
    const md = (m: object) => renderReport(syntheticSweep(), { ...kSyntheticMachine, ...m }, {}).markdown;
    assert.match(md({ hugePages: pages }), /\| Huge pages \| tables on 2 MiB pages \(transparent huge pages `madvise`; glibc 2\.36, `glibc\.malloc\.hugetlb` `1`\) \|/);
    assert.match(md({ hugePages: { ...pages, mallocHugetlb: null, tables: false } }), /\| Huge pages \| tables on 4 KiB pages \(transparent huge pages `madvise`; glibc 2\.36, `glibc\.malloc\.hugetlb` unset\) \|/);
    const resumed = md({ hugePages: pages, resumes: [{ command: 'kdp bench --resume', date: 'd', gitCommit: null, hugePages: { ...pages, mallocHugetlb: '0', tables: false } }] });
    assert.match(resumed, /\| Huge pages \| tables on 2 MiB pages [^|]*; but `kdp bench --resume` ran with 4 KiB pages \|/);
    assert.doesNotMatch(md({}), /Huge pages/);
  });
});
