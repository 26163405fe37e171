/**
 * Cluster files that are not clusters (issue 21, items 8 and 10): a YAML alias bomb and an empty
 * file are diagnostics with a line, never a crash and never an empty cluster accepted.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { parseSource } from '../../src/model/source.js';

test('a YAML alias bomb is an error diagnostic at its document, not a ReferenceError', () => {
  const levels = ['a: &a [1,1,1,1,1,1,1,1,1]'];
  for (const [k, prev] of [['b', 'a'], ['c', 'b'], ['d', 'c'], ['e', 'd']]) levels.push(`${k}: &${k} [${Array(9).fill(`*${prev}`).join(',')}]`);
  const text = ['kind: Service', 'apiVersion: v1', '---', 'apiVersion: v1', 'kind: List', ...levels, 'items: [*e]', ''].join('\n');
  const { objects, diagnostics } = parseSource(text, 'bomb.yaml');
  assert.equal(objects.length, 0);
  assert.equal(diagnostics.length, 1);
  assert.equal(diagnostics[0]!.severity, 'error');
  assert.equal(diagnostics[0]!.line, 4, 'the line where the bombing document starts');
  assert.match(diagnostics[0]!.message, /too many aliases/);
});

test('an empty file, blank lines or comments only are "no Kubernetes objects" at line 1', () => {
  for (const text of ['', '\n\n', '# a comment\n', '---\n---\n']) {
    const { objects, diagnostics } = parseSource(text, 'c.yaml');
    assert.equal(objects.length, 0);
    assert.deepEqual(diagnostics.map((d) => [d.severity, d.line]), [['error', 1]], JSON.stringify(text));
    assert.match(diagnostics[0]!.message, /no Kubernetes objects/);
  }
});

test('a few aliases, as real files use them, still load', () => {
  const text = 'apiVersion: v1\nkind: List\nx: &ports [{port: 80}]\nitems:\n- {apiVersion: v1, kind: Service, metadata: {name: a}, spec: {ports: *ports}}\n';
  const { objects, diagnostics } = parseSource(text);
  assert.deepEqual(diagnostics, []);
  assert.equal(objects.length, 1);
});
