/**
 * `kdp trace --batch` over hostile probe lines: every bad line gets one `{"line": N, "error": ...}`
 * answer that names the field or the value, in order, never a JavaScript error about the value
 * (TypeError, "Cannot read properties of ...", "... is not a function"), and the good lines
 * around it are still traced (issue 21, item 10).
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { fixturePath } from '../helpers/cluster.js';
import { runs } from '../helpers/nat-assertions.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kdp-hostile-batch-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const fixture = fixturePath('small-cluster.yaml');
const good = { proto: 'udp', src: '10.244.2.5:5353', dst: '10.96.0.53:53' };
const kInternals = /TypeError|ReferenceError|RangeError|Cannot read propert|is not a function|is not iterable|undefined \(reading|\[object Object\]/;

function trace(lines: readonly string[]): { status: number | null; out: { line?: number; error?: string; service?: string }[]; stderr: string } {
  const file = join(dir, `probes-${Math.random().toString(36).slice(2)}.jsonl`);
  writeFileSync(file, lines.join('\n'));
  const r = spawnSync(process.execPath, [kdp, 'trace', fixture, '--batch', file], { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 28 });
  return { status: r.status, out: r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)), stderr: r.stderr };
}

describe('kdp trace --batch with hostile lines', () => {
  it('each known bad shape gets a clear error naming its line and field', () => {
    const rows: [string, RegExp][] = [
      ['null', /a probe line is a JSON object .* not null/],
      ['[1,2]', /not a list/],
      ['42', /not a number/],
      ['"src"', /not a string/],
      ['{"src": 5, "dst": "10.96.0.10:80"}', /"src" must be a string, not a number/],
      ['{"src": "10.244.1.5", "dst": null}', /"dst" must be a string, not null/],
      ['{"src": "10.244.1.5", "dst": "10.96.0.10:80", "proto": 6}', /"proto" must be a string, not a number/],
      ['{"src": "10.244.1.5", "dst": "10.96.0.10:80", "proto": "icmpx"}', /icmpx/],
      ['{"src": "10.244.1.5", "dst": "10.96.0.10:80", "node": ["node-1"]}', /"node" must be a string, not a list/],
      ['{"src": "10.244.1.5", "dst": "10.96.0.10:80", "reply": "yes"}', /"reply" must be a boolean, not a string/],
      ['{"src": "10.244.1.5", "dest": "10.96.0.10:80"}', /unknown field "dest"/],
      ['{"src": "10.244.1.5"}', /"src" and "dst" are required/],
      ['{"src": "10.244.1.5", "dst": "10.96.0.10:80"', /not valid JSON/],
      [`{"src": "${'9'.repeat(100_000)}", "dst": "10.96.0.10:80"}`, /… \(100,000 characters\)/],
    ];
    const lines = rows.flatMap(([l]) => [l, JSON.stringify(good)]);
    const r = trace(lines);
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.out.length, lines.length, 'one answer per line, in order');
    rows.forEach(([text, message], k) => {
      const bad = r.out[2 * k]!;
      assert.equal(bad.line, 2 * k + 1, text.slice(0, 60));
      assert.match(bad.error ?? '', message, text.slice(0, 60));
      assert.doesNotMatch(bad.error ?? '', kInternals);
      assert.ok((bad.error ?? '').length < 500, 'a short message');
      assert.equal(r.out[2 * k + 1]!.service, 'kube-system/dns:dns', 'the good line after it is traced');
    });
    assert.match(r.stderr, new RegExp(`${rows.length} of ${lines.length} probes could not be traced`));
  });

  it('fuzz: any JSON value or field mix per line answers a trace or a clear error, never a JavaScript internal', () => {
    const field = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null), fc.array(fc.string(), { maxLength: 2 }), fc.object({ maxDepth: 1 }));
    const probe = fc.record(
      { src: fc.oneof(field, fc.constantFrom('10.244.1.5', '10.244.2.5:5353', 'pod/default/x', 'svc/default/web')), dst: fc.oneof(field, fc.constantFrom('10.96.0.10:80', '10.96.0.53:53', 'svc/default/web:http')), proto: field, node: field, reply: field },
      { requiredKeys: [] },
    );
    const line = fc.oneof(probe.map((p) => JSON.stringify(p)), fc.jsonValue().map((v) => JSON.stringify(v)), fc.string());
    const lines = fc.sample(line, { numRuns: runs(300), seed: 21 }).map((l) => l.replace(/\n/g, ' '));
    const r = trace(lines);
    assert.ok(r.status === 0 || r.status === 2, `exit ${r.status}: ${r.stderr.slice(0, 500)}`);
    assert.doesNotMatch(r.stderr, /internal error|\n\s+at /);
    const answered = r.out.length;
    const nonEmpty = lines.filter((l) => l.trim() !== '').length;
    assert.equal(answered, nonEmpty, 'one answer per non-empty line');
    for (const o of r.out) if (o.error !== undefined) assert.doesNotMatch(o.error, kInternals, `line ${o.line}: ${o.error}`);
  });
});
