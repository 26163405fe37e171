/**
 * `-o` and `--pcap` as a shell user expects of `>`: a regular file (or a new path) is replaced
 * atomically, but a symlink, a FIFO or a device is written through, never replaced by a file; a
 * directory is refused with one line and exit 2 (issue 21, item 1).
 */
import { strict as assert } from 'node:assert';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { fixturePath } from '../helpers/cluster.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [kdp, ...args], { encoding: 'utf8', timeout: 60_000 });
const dir = mkdtempSync(join(tmpdir(), 'kdp-output-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('kdp -o and --pcap', () => {
  it('write through a symlink: the link stays a link and its target gets the output', () => {
    const target = join(dir, 'target.json');
    writeFileSync(target, 'old');
    const link = join(dir, 'link.json');
    symlinkSync(target, link);
    const r = run('generate', '--services', '3', '-o', link);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(lstatSync(link).isSymbolicLink(), 'the symlink is still a symlink');
    assert.equal(readlinkSync(link), target);
    assert.match(readFileSync(target, 'utf8'), /"kind": "List"/);
  });

  it('write through a FIFO: a reader on the other end gets the output, the FIFO stays a FIFO', async () => {
    const fifo = join(dir, 'pipe');
    assert.equal(spawnSync('mkfifo', [fifo]).status, 0);
    const reader = spawn('cat', [fifo]);
    let got = '';
    reader.stdout.setEncoding('utf8').on('data', (d: string) => (got += d));
    const exited = once(reader, 'exit');
    const r = run('generate', '--services', '3', '-o', fifo);
    const stillFifo = lstatSync(fifo).isFIFO();
    if (reader.exitCode === null) {
      // the old code renamed a file over the FIFO, so nothing ever opens it for writing
      setTimeout(() => reader.kill(), 2000).unref();
    }
    await exited;
    assert.equal(r.status, 0, r.stderr);
    assert.ok(stillFifo, 'the FIFO is still a FIFO');
    assert.match(got, /"kind": "List"/);
  });

  it('write to a character device without replacing it (/dev/null stays a device)', () => {
    const r = run('generate', '--services', '3', '-o', '/dev/null');
    assert.equal(r.status, 0, r.stderr);
    assert.ok(lstatSync('/dev/null').isCharacterDevice(), '/dev/null is still a character device');
  });

  it('a regular file is still replaced atomically, leaving no temporary file', () => {
    const file = join(dir, 'plain.json');
    writeFileSync(file, 'old');
    const r = run('generate', '--services', '3', '-o', file);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(statSync(file).isFile());
    assert.match(readFileSync(file, 'utf8'), /"kind": "List"/);
  });

  it('refuses a directory with one line and exit 2, for -o and for --pcap', () => {
    const d = join(dir, 'a-directory');
    mkdirSync(d);
    const o = run('generate', '--services', '3', '-o', d);
    assert.equal(o.status, 2, o.stderr);
    assert.match(o.stderr, /cannot write .*a-directory: it is a directory/);
    assert.doesNotMatch(o.stderr, /\n\s+at /, 'no stack trace');
    const p = run('trace', fixturePath('small-cluster.yaml'), '--src', '10.244.1.9:40000', '--dst', 'svc/default/web:http', '--pcap', d);
    assert.equal(p.status, 2, p.stderr);
    assert.match(p.stderr, /cannot write .*a-directory: it is a directory/);
    assert.equal(p.stderr.trim().split('\n').length, 1, p.stderr);
    assert.ok(statSync(d).isDirectory());
  });

  it('--pcap writes through a symlink too', () => {
    const target = join(dir, 'trace.pcap');
    const link = join(dir, 'trace-link.pcap');
    symlinkSync(target, link);
    const r = run('trace', fixturePath('small-cluster.yaml'), '--src', '10.244.1.9:40000', '--dst', 'svc/default/web:http', '--pcap', link);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readFileSync(target).readUInt32LE(0), 0x0a0d0d0a, 'a pcapng file (its Section Header Block) behind the link');
  });
});
