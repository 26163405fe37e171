/**
 * Sizes past what one process holds are refused up front with the figure and, where one exists,
 * the way to raise the limit (exit 2), instead of "Invalid string length" or a heap exhaustion
 * minutes later; and the rule renderers write text of any size in chunks (issue 21, item 9).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { renderRuleChunks, renderRules } from '../../src/compile/index.js';
import { checkGenerateFile, checkGenerateHeap, checkParseHeap, kFileBytesPerEndpoint, kFileBytesPerService, kMaxTextChars } from '../../src/cli/size-limits.js';
import { TooLargeError } from '../../src/errors.js';
import { loadClusterOrThrow } from '../../src/model/load.js';
import { generateCluster } from '../../src/model/synthetic.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (nodeArgs: string[], ...args: string[]) => spawnSync(process.execPath, [...nodeArgs, kdp, ...args], { encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL', maxBuffer: 1 << 26 });
const dir = mkdtempSync(join(tmpdir(), 'kdp-size-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function refused(r: ReturnType<typeof run>, message: RegExp): void {
  assert.notEqual(r.signal, 'SIGKILL', 'killed after 60 s: not refused up front');
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, message);
  assert.doesNotMatch(r.stderr, /\n\s+at |internal error|Invalid string length|heap out of memory/);
}

describe('generate', () => {
  it('refuses a cluster past the heap at once, naming the figure and --max-old-space-size', () => {
    const t0 = Date.now();
    const r = run(['--max-old-space-size=1024'], 'generate', '--services', '1000000', '--endpoints', '1', '-o', join(dir, 'never.json'));
    refused(r, /1,000,000 Services x 1 endpoint need about [\d,]+ MiB of heap, and this process may use [\d,]+ MiB: run with NODE_OPTIONS=--max-old-space-size=\d+/);
    assert.ok(Date.now() - t0 < 20_000, 'refused before generating');
  });

  it('refuses a file kdp could not read back (past 512 MiB), and keeps what fits', () => {
    assert.throws(() => checkGenerateFile(290_000, 10), (e: Error) => e instanceof TooLargeError && /512 MiB/.test(e.message));
    assert.doesNotThrow(() => checkGenerateFile(270_000, 10));
    assert.throws(() => checkGenerateHeap(200_000, 10, 2 ** 30), TooLargeError);
    assert.doesNotThrow(() => checkGenerateHeap(100_000, 10, 2 ** 33));
  });

  it("the file-size estimate is never below the file generate writes", () => {
    // Past 2,000 objects generate writes one compact line per object, the only case where size matters.
    for (const [services, endpoints] of [[3000, 0], [3000, 1], [2500, 10], [1100, 100]] as const) {
      const r = run([], 'generate', '--services', String(services), '--endpoints', String(endpoints), '--nodes', '3', '-q');
      assert.equal(r.status, 0, r.stderr);
      const estimate = services * (kFileBytesPerService + endpoints * kFileBytesPerEndpoint);
      const actual = Buffer.byteLength(r.stdout);
      assert.ok(actual <= estimate && actual > estimate * 0.8, `${services} x ${endpoints}: ${actual} bytes, estimate ${estimate}`);
    }
  });
});

describe('reading a cluster file', () => {
  it('refuses a file past V8 string limit before reading it (exit 2, the figure)', () => {
    const big = join(dir, 'huge.json');
    writeFileSync(big, '');
    truncateSync(big, kMaxTextChars + 1); // sparse: no disk used
    const r = run([], 'inspect', big);
    refused(r, /huge\.json is [\d,]+ MiB: kdp reads a cluster file as one string and V8 caps a string at 512 MiB/);
  });

  it('refuses a parse that would not fit the heap, with the figure and how to raise it; YAML costs more than JSON', () => {
    const json = `{"apiVersion":"v1","kind":"List","items":[${'{"kind":"Foo"},'.repeat(60_000)}{"kind":"Foo"}]}`; // ~900 KB
    const yaml = `apiVersion: v1\nkind: List\nitems:\n${'- kind: Foo\n'.repeat(80_000)}`; // ~900 KB
    assert.doesNotThrow(() => checkParseHeap('c.json', json, 10 * 2 ** 20));
    assert.throws(() => checkParseHeap('c.yaml', yaml, 10 * 2 ** 20), (e: Error) => e instanceof TooLargeError && /YAML\) needs about [\d,]+ MiB of heap.*--max-old-space-size=\d+.*as JSON/.test(e.message));
    assert.throws(() => checkParseHeap('c.json', json, 4 * 2 ** 20), (e: Error) => /JSON\) needs about/.test(e.message));
  });
});

describe('rendering rules in chunks', () => {
  const cluster = generateCluster({ services: 1500, endpoints: 5, nodes: 2, seed: 1 });
  for (const [mode, format] of [['iptables', 'iptables-save'], ['nftables', 'nft']] as const) {
    it(`${format}: many chunks, none holding much more than 64 KiB, together the whole text`, () => {
      const chunks = [...renderRuleChunks(cluster, mode, 0, format)];
      const text = renderRules(cluster, mode, 0, format);
      assert.ok(text.length > 1 << 20, `a text of over 1 MiB (${text.length})`);
      const longestLine = Math.max(...text.split('\n').map((l) => l.length));
      // iptables-save: about 64 KiB each, cut at line ends; nft: one set, map or chain each.
      const limit = mode === 'iptables' ? (1 << 16) + longestLine + 1 : text.length / 4;
      assert.ok(chunks.length > 10, `${chunks.length} chunks`);
      assert.ok(chunks.every((c) => c.length <= limit), `chunks bounded by ${limit}: largest ${Math.max(...chunks.map((c) => c.length))}`);
      assert.equal(chunks.join(''), text);
    });
  }

  it('kdp compile writes the same bytes as the renderer', () => {
    const file = join(dir, 'c.json');
    assert.equal(run([], 'generate', '--services', '300', '--endpoints', '3', '--nodes', '2', '-q', '-o', file).status, 0);
    const out = join(dir, 'rules.txt');
    const r = run([], 'compile', file, '--mode', 'iptables', '-o', out);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(readFileSync(out, 'utf8'), renderRules(loadClusterOrThrow(readFileSync(file, 'utf8')), 'iptables', 0, 'iptables-save'));
  });
});
