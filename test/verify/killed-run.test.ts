/**
 * A `kdp verify` killed with SIGKILL cannot delete its namespaces; the next run must. The owner
 * rule is checked first as a table (no root), then on namespaces this test creates itself, then
 * end to end: verify is killed while its probes are in flight, its helpers must die with it (the
 * lifeline), and the next verify removes every namespace and process the dead run left.
 *
 * Safety: the test creates only namespaces named after pids it owns or a pid that has exited,
 * and in `finally` deletes each by name (killing the processes inside first); every wait is a
 * bounded loop.
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { sweepStaleNow } from '../../src/verify/sandbox.js';
import { missingRequirements } from '../../src/verify/requirements.js';
import { ownerGone, ownerOf, ownerRecord, parseOwnerRecord, type Owner } from '../../src/verify/stale-sandboxes.js';
import { fixturePath } from '../helpers/cluster.js';

const rootSkip = process.platform !== 'linux' || process.getuid?.() !== 0 ? 'needs root on Linux (network namespaces)' : undefined;
const missing = missingRequirements('iptables');
const verifySkip = missing.length > 0 ? `needs root, ip, conntrack and iptables-restore (missing: ${missing.join('; ')})` : undefined;
const mainJs = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('owner rule: a namespace is stale exactly when its owner is gone, whatever the pid reuse', () => {
  const self: Owner = { pid: 100, start: '5000' };
  const other: Owner = { pid: 200, start: '7000' };
  const rows: [string, number, Owner | null, Owner | null, boolean, boolean][] = [
    // name, name's pid, record, live process with that pid, made by this process, stale?
    ['owner pid gone, no record', 200, null, null, false, true],
    ['owner pid gone, with record', 200, other, null, false, true],
    ['owner alive, record matches', 200, other, other, false, false],
    ['owner alive, no record yet (between netns add and the alias)', 200, null, other, false, false],
    ['pid reused: record start differs from the live process', 200, other, { pid: 200, start: '9999' }, false, true],
    ['record names another pid than the name', 200, { pid: 201, start: '7000' }, other, false, true],
    ['our pid, not one of our sandboxes (a dead run had our pid)', 100, null, self, false, true],
    ['our pid, our own sandbox', 100, self, self, true, false],
  ];
  for (const [name, pid, record, live, ours, stale] of rows) assert.equal(ownerGone(pid, record, live, self, ours), stale, name);
});

test('owner record: /proc start time read, written as an alias and read back', () => {
  const me = ownerOf(process.pid);
  assert.ok(me && /^\d+$/.test(me.start), 'this process has a start time');
  assert.deepEqual(parseOwnerRecord(ownerRecord(me)), me);
  assert.equal(parseOwnerRecord('some alias'), null);
  assert.equal(parseOwnerRecord(undefined), null);
  // A child started later has a later (or equal, within one tick) start time.
  const child = spawn('sleep', ['5']);
  try {
    const c = ownerOf(child.pid!);
    assert.ok(c && BigInt(c.start) >= BigInt(me.start));
  } finally {
    child.kill('SIGKILL');
  }
});

function netnsList(): string[] {
  return (spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '').split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

function pidsIn(ns: string): number[] {
  return (spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean).map(Number);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function removeByName(names: readonly string[]): void {
  for (const ns of names) {
    if (!netnsList().includes(ns)) continue;
    for (const pid of pidsIn(ns)) if (pid !== process.pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

/** A pid that belonged to a process that has exited (and, checked, is not in use again). */
function deadPid(): number {
  for (let i = 0; i < 10; i++) {
    const r = spawnSync('true');
    if (r.pid && !alive(r.pid)) return r.pid;
  }
  throw new Error('no dead pid found in 10 tries');
}

function addNs(name: string, record?: Owner): void {
  assert.equal(spawnSync('ip', ['netns', 'add', name]).status, 0, `ip netns add ${name}`);
  const alias = record ? ['alias', ownerRecord(record)] : [];
  assert.equal(spawnSync('ip', ['-n', name, 'link', 'set', 'lo', 'up', ...alias]).status, 0);
}

test('the sweep removes the namespaces of gone owners (and their processes) and leaves live owners\' alone', { skip: rootSkip }, async () => {
  // Arrange: a live owner (a child of this test), a dead pid, and this process's own pid.
  const owner = spawn('sleep', ['300']);
  const dead = deadPid();
  const liveOwner = ownerOf(owner.pid!)!;
  const names = {
    deadWithProcess: `kdpv-${dead}-0-t1`,
    reused: `kdpv-${owner.pid}-0-t2`,
    liveRecorded: `kdpv-${owner.pid}-1-t3`,
    liveUnrecorded: `kdpv-${owner.pid}-2-t4`,
    ownPidNotOurs: `kdpv-${process.pid}-900-t5`,
    notKdp: `kdpvx-${dead}-0-t6`,
  };
  let inside: ChildProcess | undefined;
  try {
    addNs(names.deadWithProcess, { pid: dead, start: '1' });
    inside = spawn('ip', ['netns', 'exec', names.deadWithProcess, 'sleep', '300'], { stdio: 'ignore' });
    for (let i = 0; i < 100 && pidsIn(names.deadWithProcess).length === 0; i++) await sleep(20);
    assert.equal(pidsIn(names.deadWithProcess).length, 1, 'a process runs inside the dead run\'s namespace');
    addNs(names.reused, { pid: owner.pid!, start: String(BigInt(liveOwner.start) + 1n) });
    addNs(names.liveRecorded, liveOwner);
    addNs(names.liveUnrecorded);
    addNs(names.ownPidNotOurs);
    addNs(names.notKdp);

    // Act
    const report = sweepStaleNow();

    // Assert
    const after = new Set(netnsList());
    for (const stale of [names.deadWithProcess, names.reused, names.ownPidNotOurs]) {
      assert.ok(!after.has(stale), `${stale} removed`);
      assert.ok(report.removed.includes(stale), `${stale} reported`);
    }
    for (const kept of [names.liveRecorded, names.liveUnrecorded, names.notKdp]) assert.ok(after.has(kept), `${kept} left alone`);
    assert.ok(report.killed.includes(inside.pid!), 'the process inside was killed');
    for (let i = 0; i < 100 && inside.exitCode === null && inside.signalCode === null; i++) await sleep(20);
    assert.equal(inside.signalCode, 'SIGKILL');
  } finally {
    removeByName(Object.values(names));
    inside?.kill('SIGKILL');
    owner.kill('SIGKILL');
  }
});

function helpersOf(pids: readonly number[]): number[] {
  return pids.filter((pid) => {
    try {
      return /responder\.js|agent\.js/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
    } catch {
      return false;
    }
  });
}

test('kdp verify killed with SIGKILL: its helpers die with it, and the next run removes its namespaces and processes', { skip: verifySkip, timeout: 180_000 }, async () => {
  // Arrange: a run with enough probes to be killed while the agents and responders work.
  const victim = spawn(process.execPath, [mainJs, 'verify', fixturePath('small-cluster.json'), '--mode', 'iptables', '--probes', '5000', '--seed', '3'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  victim.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
  const prefix = `kdpv-${victim.pid}-`;
  const theirs = (): string[] => netnsList().filter((n) => n.startsWith(prefix));
  try {
    let helpers: number[] = [];
    for (let i = 0; i < 600 && helpers.length < 3 && victim.exitCode === null; i++) {
      await sleep(50);
      helpers = helpersOf(theirs().flatMap(pidsIn));
    }
    assert.ok(helpers.length >= 3, `responders and an agent running before the kill (saw ${helpers.length}); stderr: ${stderr}`);

    // Act 1: SIGKILL, so that no handler of the run can clean up.
    const everything = theirs().flatMap(pidsIn);
    victim.kill('SIGKILL');
    for (let i = 0; i < 100 && victim.signalCode === null; i++) await sleep(20);
    assert.equal(victim.signalCode, 'SIGKILL');

    // Assert 1: the namespaces are left behind (the fault), but the helpers die by their lifeline.
    const left = theirs();
    assert.equal(left.length, 5, `the killed run left its 5 namespaces: ${left.join(', ')}`);
    for (let i = 0; i < 250 && helpers.some(alive); i++) await sleep(20);
    assert.deepEqual(helpers.filter(alive), [], 'responders and agents exit within 5 s of their parent');

    // Act 2: the next run.
    const next = spawnSync(process.execPath, [mainJs, 'verify', fixturePath('small-cluster.json'), '--mode', 'iptables', '--probes', '0'], { encoding: 'utf8', timeout: 120_000 });

    // Assert 2: it said so, removed every namespace of the dead pid, and nothing of it runs.
    assert.equal(next.status, 0, next.stderr);
    assert.match(next.stderr, new RegExp(`removed \\d+ namespace\\(s\\) of runs that died[^\\n]*${prefix}`));
    assert.deepEqual(theirs(), []);
    for (let i = 0; i < 100 && everything.some(alive); i++) await sleep(20);
    assert.deepEqual(everything.filter(alive), [], 'no process of the dead run is left');
  } finally {
    victim.kill('SIGKILL');
    removeByName(theirs());
  }
});
