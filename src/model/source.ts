/**
 * Reads a cluster file's text into Kubernetes objects: a `List` (or `ServiceList`, ...) as
 * `kubectl get ... -o json|yaml` prints it, a single object, or multi-document YAML.
 *
 * Each object can say on which line any of its fields stands, so diagnostics point at the line.
 * JSON takes the fast path (`JSON.parse`); only when a line is asked for is the text parsed once
 * more as YAML (JSON is YAML), which keeps large generated files fast to load.
 */
import { LineCounter, parseAllDocuments, type Document } from 'yaml';
import type { Diagnostic } from './diagnostics.js';

export type FieldPath = readonly (string | number)[];

export interface SourceObject {
  /** The parsed object, as `JSON.parse` would give it. */
  readonly value: unknown;
  /** The 1-based line of a field path inside this object, where the source has lines. */
  line(path: FieldPath): number | undefined;
}

interface LineIndex {
  locate(doc: number, path: FieldPath): number | undefined;
}

class YamlLineIndex implements LineIndex {
  readonly #docs: Document[];
  readonly #lines: LineCounter;
  constructor(docs: Document[], lines: LineCounter) {
    this.#docs = docs;
    this.#lines = lines;
  }
  locate(doc: number, path: FieldPath): number | undefined {
    const document = this.#docs[doc];
    if (!document) return undefined;
    // Walk up the path until a node exists: a missing field is reported at its parent.
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? document.contents : document.getIn(path.slice(0, n), true);
      const range = (node as { range?: [number, number, number] } | null)?.range;
      if (range) return this.#lines.linePos(range[0]).line;
    }
    return undefined;
  }
}

/** Parses JSON text as YAML the first time a line is asked for. */
class LazyJsonLineIndex implements LineIndex {
  readonly #text: string;
  #inner: YamlLineIndex | undefined;
  constructor(text: string) {
    this.#text = text;
  }
  locate(doc: number, path: FieldPath): number | undefined {
    if (!this.#inner) {
      const lines = new LineCounter();
      const docs = parseAllDocuments(this.#text, { lineCounter: lines });
      this.#inner = new YamlLineIndex(Array.isArray(docs) ? docs : [], lines);
    }
    return this.#inner.locate(doc, path);
  }
}

export interface ParsedSource {
  readonly objects: SourceObject[];
  readonly diagnostics: Diagnostic[];
}

function lineOfOffset(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

function yamlErrorLine(text: string): number | undefined {
  const docs = parseAllDocuments(text, { lineCounter: new LineCounter() });
  for (const doc of Array.isArray(docs) ? docs : []) {
    for (const err of doc.errors) if (err.linePos) return err.linePos[0].line;
  }
  return undefined;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Flattens `kind: List` / `*List` documents into their items. */
function collect(value: unknown, doc: number, index: LineIndex, out: SourceObject[]): void {
  if (value === null || value === undefined) return;
  const make = (v: unknown, prefix: FieldPath): SourceObject => ({
    value: v,
    line: (path) => index.locate(doc, [...prefix, ...path]),
  });
  if (Array.isArray(value)) {
    value.forEach((item, i) => out.push(make(item, [i])));
    return;
  }
  if (isRecord(value) && typeof value.kind === 'string' && value.kind.endsWith('List') && Array.isArray(value.items)) {
    value.items.forEach((item, i) => out.push(make(item, ['items', i])));
    return;
  }
  out.push(make(value, []));
}

/** The yaml package's guard against alias bombs: nodes one document may reach through aliases. */
const kMaxAliasCount = 100;

export function parseSource(text: string, file?: string): ParsedSource {
  const objects: SourceObject[] = [];
  const diagnostics: Diagnostic[] = [];
  const first = text.trimStart()[0];
  if (first === '{' || first === '[') {
    try {
      const value: unknown = JSON.parse(text);
      collect(value, 0, new LazyJsonLineIndex(text), objects);
      return { objects, diagnostics };
    } catch (err) {
      // Node 20's JSON.parse names no position; the YAML parser (JSON is YAML) usually can.
      const message = (err as Error).message;
      const at = /position (\d+)/.exec(message);
      const line = at ? lineOfOffset(text, Number(at[1])) : yamlErrorLine(text);
      diagnostics.push({
        severity: 'error',
        message: `not valid JSON: ${message}`,
        ...(line !== undefined ? { line } : {}),
        ...(file ? { file } : {}),
      });
      return { objects, diagnostics };
    }
  }
  const lines = new LineCounter();
  const parsed = parseAllDocuments(text, { lineCounter: lines });
  const docs = Array.isArray(parsed) ? parsed : [];
  for (const doc of docs) {
    for (const err of doc.errors) {
      diagnostics.push({
        severity: 'error',
        message: `not valid YAML: ${err.message.split('\n')[0]}`,
        ...(err.linePos ? { line: err.linePos[0].line } : {}),
        ...(file ? { file } : {}),
      });
    }
  }
  if (diagnostics.length > 0) return { objects, diagnostics };
  const index = new YamlLineIndex(docs, lines);
  const values: unknown[] = [];
  for (let i = 0; i < docs.length; i++) {
    try {
      values.push(docs[i]!.toJS({ maxAliasCount: kMaxAliasCount }));
    } catch (err) {
      // The yaml package refuses an alias expanding past maxAliasCount nodes (a "billion laughs"
      // bomb) with a ReferenceError: one diagnostic at the document, not a crash.
      const start = docs[i]!.contents?.range[0] ?? 0;
      diagnostics.push({
        severity: 'error',
        message: `not valid YAML: too many aliases (more than ${kMaxAliasCount} nodes through aliases: an alias bomb?): ${(err as Error).message}`,
        line: lines.linePos(start).line,
        ...(file ? { file } : {}),
      });
      return { objects: [], diagnostics };
    }
  }
  if (values.every((v) => v === null || v === undefined)) {
    // An empty file (or comments only) is almost always a failed `kubectl get > file`, not a cluster.
    diagnostics.push({ severity: 'error', message: 'no Kubernetes objects: the file is empty (or holds only comments)', line: 1, ...(file ? { file } : {}) });
    return { objects, diagnostics };
  }
  values.forEach((value, i) => collect(value, i, index, objects));
  return { objects, diagnostics };
}

/** Objects built in memory (the synthetic generator) have no lines. */
export function inMemorySource(values: readonly unknown[]): SourceObject[] {
  return values.map((value) => ({ value, line: () => undefined }));
}
