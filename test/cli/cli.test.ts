/** The kdp command line as a user and a script see it: output, files and exit statuses. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { fixturePath } from '../helpers/cluster.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [kdp, ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'kdp-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('kdp', () => {
  it('prints usage for --help (0) and for no command (2)', () => {
    const help = run('--help');
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Commands:[\s\S]*generate[\s\S]*inspect/);
    assert.equal(run().status, 2);
    const unknown = run('frobnicate');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
  });

  it('generate writes a cluster that inspect reads back', () => {
    const out = join(dir, 'c.json');
    const gen = run('generate', '--services', '50', '--endpoints', '3', '--nodes', '4', '--seed', '9', '-o', out);
    assert.equal(gen.status, 0, gen.stderr);
    assert.match(gen.stderr, /50 services/);
    const inspect = run('inspect', out, '--json');
    assert.equal(inspect.status, 0, inspect.stderr);
    const { summary } = JSON.parse(inspect.stdout);
    assert.equal(summary.services.total, 50);
    assert.equal(summary.nodes.total, 4);
    assert.equal(summary.network.cni, 'calico-vxlan');
    assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
  });

  it('generate refuses bad options with exit 2, naming the option', () => {
    const r = run('generate', '--services', 'many');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--services takes a whole number/);
    assert.equal(run('generate', '--services', '5', '--cni', 'weave').status, 2);
  });

  it('inspect summarises the fixture for a person', () => {
    const r = run('inspect', fixturePath('small-cluster.yaml'));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /Services:\s+3 \(ClusterIP 2, LoadBalancer 1/);
    assert.match(r.stdout, /node node-1: pod CIDR 10\.244\.1\.0\/24/);
  });

  it('inspect prints every error with file, line, object and field, and exits 2', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec:\n  clusterIP: 10.0.0.999\n  ports: [{port: 0}]\n');
    const r = run('inspect', bad);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bad\.yaml:5: error: Service shop\/web spec\.clusterIP: "10\.0\.0\.999" is not a valid IPv4 address/);
    assert.match(r.stderr, /bad\.yaml:6: error: Service shop\/web spec\.ports\[0\]\.port: port 0 is out of range/);
    assert.match(r.stderr, /2 errors; nothing was done/);
  });

  it('inspect of a missing file exits 2 with the path', () => {
    const r = run('inspect', join(dir, 'nope.json'));
    assert.equal(r.status, 2);
    assert.match(r.stderr, /no such file: .*nope\.json/);
  });

  it('generate -o leaves no partial file when it fails', () => {
    const target = join(dir, 'missing-dir', 'x.json');
    const r = run('generate', '--services', '5', '-o', target);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /cannot write .*x\.json: no directory/);
    assert.throws(() => readFileSync(target));
  });
});
