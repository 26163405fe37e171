/**
 * results/machine.json names the commit that ran, or says it is not known and why: outside a git
 * checkout the commit is null with `gitCommitMissing`, never a placeholder such as "unknown" that
 * the report would print as if it were a commit (issue 21, item 10).
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { parseMachineJson } from '../../src/report/parse-machine.js';
import { renderReport } from '../../src/report/index.js';
import { kWorkerV8Flags } from '../../src/replay/pool.js';
import { gitCommitOf, machineInfo } from '../../src/replay/sweep.js';
import { kSyntheticMachine, syntheticSweep } from './synthetic.js';

const outside = mkdtempSync(join(tmpdir(), 'kdp-no-git-'));
after(() => rmSync(outside, { recursive: true, force: true }));
const repo = fileURLToPath(new URL('../../../', import.meta.url));

describe('the commit in machine.json', () => {
  it('is the checkout\'s HEAD inside one, and null with the reason outside', () => {
    const inside = gitCommitOf(repo);
    assert.match(inside.gitCommit ?? '', /^[0-9a-f]{40}$/);
    const m = machineInfo('kdp bench', outside);
    assert.equal(m.gitCommit, null);
    assert.match(m.gitCommitMissing ?? '', /is not a git checkout/);
    assert.doesNotMatch(JSON.stringify(m), /"unknown"/);
  });

  it('reads back as null with its reason, refuses null without one, and takes an old "unknown" as no commit', () => {
    const base = { ...kSyntheticMachine };
    const ok = parseMachineJson(JSON.stringify({ ...base, gitCommit: null, gitCommitMissing: '/x is not a git checkout' }));
    assert.ok('machine' in ok && ok.machine.gitCommit === null);
    const bare = parseMachineJson(JSON.stringify({ ...base, gitCommit: null }));
    assert.ok('problem' in bare && /without gitCommitMissing/.test(bare.problem));
    const old = parseMachineJson(JSON.stringify({ ...base, gitCommit: 'unknown' }));
    assert.ok('machine' in old && old.machine.gitCommit === null && old.machine.gitCommitMissing === 'recorded as "unknown"');
    assert.ok('problem' in parseMachineJson(JSON.stringify({ ...base, gitCommit: 7 })));
  });

  it('the report prints "not recorded" with the reason, not a commit', () => {
    const md = renderReport(syntheticSweep(), { ...kSyntheticMachine, gitCommit: null, gitCommitMissing: '/x is not a git checkout' }, {}).markdown;
    assert.match(md, /\| git commit \| not recorded \(\/x is not a git checkout\) \|/);
    assert.match(renderReport(syntheticSweep(), kSyntheticMachine, {}).markdown, /\| git commit \| `0000000` \|/);
  });
});

describe('the replay threads\' V8 flags in machine.json', () => {
  it('are recorded, read back, refused when not a list of strings, and printed beside Node.js', () => {
    const m = machineInfo('kdp bench', outside);
    assert.deepEqual(m.v8Flags, kWorkerV8Flags);
    assert.ok(kWorkerV8Flags.length > 0 && kWorkerV8Flags.every((f) => f.startsWith('--')));
    const back = parseMachineJson(JSON.stringify({ ...kSyntheticMachine, v8Flags: ['--max-inlined-bytecode-size-cumulative=5000'] }));
    assert.ok('machine' in back && back.machine.v8Flags?.[0] === '--max-inlined-bytecode-size-cumulative=5000');
    assert.ok('problem' in parseMachineJson(JSON.stringify({ ...kSyntheticMachine, v8Flags: '--x' })));
    assert.ok('problem' in parseMachineJson(JSON.stringify({ ...kSyntheticMachine, v8Flags: [5] })));
    const md = renderReport(syntheticSweep(), { ...kSyntheticMachine, v8Flags: ['--a=1', '--b'] }, {}).markdown;
    assert.match(md, /\| Node\.js \| [^|]*, replay threads with `--a=1` `--b` \|/);
    assert.doesNotMatch(renderReport(syntheticSweep(), kSyntheticMachine, {}).markdown, /replay threads with/);
  });

  it('record the process\'s Node.js options (execArgv), read back, refused when not strings, printed beside Node.js', () => {
    assert.deepEqual(machineInfo('kdp bench', outside).execArgv, process.execArgv);
    const back = parseMachineJson(JSON.stringify({ ...kSyntheticMachine, execArgv: ['--max-semi-space-size=64'] }));
    assert.ok('machine' in back && back.machine.execArgv?.[0] === '--max-semi-space-size=64');
    assert.ok('problem' in parseMachineJson(JSON.stringify({ ...kSyntheticMachine, execArgv: '--x' })));
    assert.ok('problem' in parseMachineJson(JSON.stringify({ ...kSyntheticMachine, execArgv: [1] })));
    const md = renderReport(syntheticSweep(), { ...kSyntheticMachine, execArgv: ['--max-semi-space-size=64'], v8Flags: ['--b'] }, {}).markdown;
    assert.match(md, /\| Node\.js \| [^|]*, started with `--max-semi-space-size=64`, replay threads with `--b` \|/);
    assert.doesNotMatch(renderReport(syntheticSweep(), { ...kSyntheticMachine, execArgv: [] }, {}).markdown, /started with/);
  });
});
