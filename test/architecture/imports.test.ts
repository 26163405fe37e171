/**
 * The house's floor plan, checked: data flows one way (DESIGN.md), so no import in src/ runs in a
 * circle, and the packet code in src/net/ does not climb up into the cluster model (src/model/
 * may use src/net/, never the reverse). Reads the TypeScript sources, type-only imports included:
 * a circle of types is still two rooms that cannot be understood apart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// dist/test/architecture/imports.test.js -> the repository root.
const kRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const kSrc = join(kRoot, 'src');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Relative specifiers of every `import … from` / `export … from` statement, resolved to .ts paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s+'(\.[^']+)'/gms)) {
    out.push(resolve(dirname(file), m[1].replace(/\.js$/, '.ts')));
  }
  return out;
}

const kGraph = new Map<string, string[]>(sources(kSrc).map((f) => [f, importsOf(f)]));
const name = (f: string): string => relative(kRoot, f);

/** A circle written from its smallest file, so that the same circle always reads the same. */
function canonical(files: string[]): string {
  const ring = files.slice(0, -1);
  let start = 0;
  for (let i = 1; i < ring.length; i++) if (ring[i] < ring[start]) start = i;
  const turned = [...ring.slice(start), ...ring.slice(0, start)];
  return [...turned, turned[0]].join(' -> ');
}

test('no import circle in src', () => {
  // Depth-first search; a back edge to a file on the current path is a circle.
  const state = new Map<string, 1 | 2>(); // 1: on the path, 2: done
  const path: string[] = [];
  const circles: string[] = [];
  const visit = (f: string): void => {
    state.set(f, 1);
    path.push(f);
    for (const g of kGraph.get(f) ?? []) {
      if (!kGraph.has(g)) continue;
      const s = state.get(g);
      if (s === 1) circles.push(canonical([...path.slice(path.indexOf(g)), g].map(name)));
      else if (s === undefined) visit(g);
    }
    path.pop();
    state.set(f, 2);
  };
  for (const f of kGraph.keys()) if (!state.has(f)) visit(f);
  assert.deepEqual(circles, [], `import circles:\n${circles.join('\n')}`);
});

test('nothing in src/net imports from src/model', () => {
  const model = join(kSrc, 'model');
  const climbs: string[] = [];
  for (const [f, deps] of kGraph) {
    if (!f.startsWith(join(kSrc, 'net') + '/')) continue;
    for (const d of deps) if (d.startsWith(model + '/')) climbs.push(`${name(f)} -> ${name(d)}`);
  }
  assert.deepEqual(climbs, [], `src/net climbs into src/model:\n${climbs.join('\n')}`);
});

test('the import scan sees the imports it checks', () => {
  // Guards the regular expression: a scan that finds nothing would pass the two tests above.
  assert.ok(kGraph.size > 100, `${kGraph.size} source files`);
  assert.ok(importsOf(join(kSrc, 'net', 'batch.ts')).includes(join(kSrc, 'net', 'proto.ts')));
});
