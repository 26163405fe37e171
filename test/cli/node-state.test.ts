/** `kdp trace --node-state` and `kdp compile --from` as a person at a broken node uses them. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { fixturePath } from '../helpers/cluster.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (args: string[], input?: string) => spawnSync(process.execPath, [kdp, ...args], { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
const dir = mkdtempSync(join(tmpdir(), 'kdp-node-state-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = fixturePath('small-cluster.yaml');
const save = run(['compile', fixture, '--mode', 'iptables']).stdout;
const ipvsSave = run(['compile', fixture, '--mode', 'ipvs', '--format', 'iptables-save']).stdout;
const ipvsSets = run(['compile', fixture, '--mode', 'ipvs', '--format', 'ipset']).stdout;

describe('kdp trace --node-state', () => {
  it('gives the cluster trace\'s decision, service, candidates and masquerade, with the same JSON fields', () => {
    const file = join(dir, 'node-1.save');
    writeFileSync(file, save);
    const cluster = JSON.parse(run(['trace', fixture, '--src', '10.244.1.9:40000', '--dst', 'svc/default/web:http', '--json']).stdout);
    const r = run(['trace', '--node-state', file, fixture, '--src', '10.244.1.9:40000', '--dst', 'svc/default/web:http', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const t = JSON.parse(r.stdout);
    for (const k of ['mode', 'node', 'packet', 'decision', 'service', 'candidates', 'masquerade']) assert.deepEqual(t[k], cluster[k], k);
    for (const k of Object.keys(cluster)) assert.ok(k in t, `field ${k}`);
  });

  // The JSON contract (kdp trace --help: policy {egress, ingress: {verdict, policy, rule}}): a
  // kubenet cluster enforces no Calico policy, so both directions are none, naming no policy or rule.
  it('names no policy verdict in either direction on a cluster without Calico policy', () => {
    const file = join(dir, 'node-1-policy.save');
    writeFileSync(file, save);
    const r = run(['trace', '--node-state', file, fixture, '--src', '10.244.1.9:40000', '--dst', 'svc/default/web:http', '--json']);
    assert.equal(r.status, 0, r.stderr);
    const none = { verdict: 'none', policy: null, rule: null };
    assert.deepEqual(JSON.parse(r.stdout).policy, { egress: none, ingress: none });
  });

  it('reads standard input, a directory, and FILE:FORMAT; without a cluster, DNAT targets keep their address', () => {
    const d = join(dir, 'node-dir');
    mkdirSync(d);
    writeFileSync(join(d, 'iptables'), ipvsSave);
    writeFileSync(join(d, 'sets'), ipvsSets);
    const fromStdin = run(['trace', '--node-state', '-', '--src', '10.244.1.9', '--dst', '10.96.0.10:80', '--json'], save);
    assert.equal(fromStdin.status, 0, fromStdin.stderr);
    const t = JSON.parse(fromStdin.stdout);
    assert.equal(t.decision, 'dnat');
    assert.deepEqual(t.candidates, ['10.244.1.5:8080', '10.244.2.7:8080']);
    assert.equal(t.service, null);
    // The IPVS node's iptables rules with its sets: a ClusterIP from outside the pod network is marked for masquerade there.
    const ipvs = run(['trace', '--node-state', join(d, 'iptables'), '--node-state', `${join(d, 'sets')}:ipset`, fixture, '--src', '192.168.0.11', '--from', 'outside', '--dst', '10.96.0.10:80', '--json']);
    assert.equal(ipvs.status, 0, ipvs.stderr);
    assert.equal(JSON.parse(ipvs.stdout).masquerade, true);
    // Without the sets, the same packet stops at the first -m set rule: unknown, naming the line.
    const noSets = run(['trace', '--node-state', join(d, 'iptables'), '--src', '192.168.0.99', '--dst', '10.96.0.10:80', '--json']);
    assert.equal(noSets.status, 0, noSets.stderr);
    const u = JSON.parse(noSets.stdout);
    assert.equal(u.decision, 'unknown');
    assert.match(u.unknownAt, /^line \d+: -A KUBE-\S+ .*--match-set/);
    // The directory gives both files: the same answer as naming them.
    const fromDir = run(['trace', '--node-state', d, fixture, '--src', '192.168.0.11', '--from', 'outside', '--dst', '10.96.0.10:80', '--json']);
    assert.equal(fromDir.status, 0, fromDir.stderr);
    assert.deepEqual(JSON.parse(fromDir.stdout), JSON.parse(ipvs.stdout));
  });

  it('lists every problem of the node\'s files as FILE:LINE and exits 2', () => {
    const bad = join(dir, 'bad.save');
    writeFileSync(bad, '*nat\n:X - [0:0]\n-A X -s 999.1.1.1 -j RETURN\n-A NOPE -j RETURN\nCOMMIT\n');
    const r = run(['trace', '--node-state', bad, '--src', '10.0.0.1', '--dst', '10.96.0.10:80']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad\.save:3: .*999\.1\.1\.1/);
    assert.match(r.stderr, /bad\.save:4: .*NOPE/);
    const missing = run(['trace', '--node-state', join(dir, 'nope'), '--src', '10.0.0.1', '--dst', '10.96.0.10:80']);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /no such file or directory/);
    const unknownFormat = join(dir, 'hello.txt');
    writeFileSync(unknownFormat, 'hello\n');
    const u = run(['trace', '--node-state', unknownFormat, '--src', '10.0.0.1', '--dst', '10.96.0.10:80']);
    assert.equal(u.status, 2);
    assert.match(u.stderr, /name it as .*:FORMAT/);
  });
});

describe('kdp compile --from', () => {
  it('reads standard input and any mode\'s format, and keeps --from-iptables-save', () => {
    const s = run(['compile', '--from', '-', '--stats'], save);
    assert.equal(s.status, 0, s.stderr);
    assert.match(s.stdout, /rules: 67/);
    const nft = join(dir, 'node.nft');
    writeFileSync(nft, run(['compile', fixture, '--mode', 'nftables']).stdout);
    const n = run(['compile', '--from', nft, fixture]);
    assert.equal(n.status, 0, n.stderr);
    assert.equal(JSON.parse(n.stdout).mode, 'nftables');
    const wrong = run(['compile', '--from', nft, '--mode', 'iptables', fixture]);
    assert.equal(wrong.status, 2);
    const alias = join(dir, 'alias.save');
    writeFileSync(alias, save);
    assert.equal(run(['compile', '--from-iptables-save', alias, '--stats']).status, 0);
  });
});
