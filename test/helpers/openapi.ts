/**
 * A small validator for Kubernetes' OpenAPI v3 schemas (test/fixtures/kubernetes-openapi/), for the
 * keywords they use: `$ref` into components.schemas, `allOf`, `oneOf` (Quantity, IntOrString),
 * `type` with `format` int32/int64, `properties`, `required`, `items`, `additionalProperties`,
 * `enum`, and `x-kubernetes-preserve-unknown-fields`. An object schema with `properties` and no
 * `additionalProperties` accepts no other field, as the API server's strict field validation
 * (`kubectl apply --validate=strict`, fieldValidation=Strict) refuses unknown fields. `default`
 * and `description` do not validate. Every error names the field's path.
 */
import { readFileSync } from 'node:fs';

type Schema = Record<string, unknown>;

export interface OpenApiDocument {
  readonly components: { readonly schemas: Record<string, Schema> };
}

export function loadOpenApi(file: string | URL): OpenApiDocument {
  return JSON.parse(readFileSync(file, 'utf8')) as OpenApiDocument;
}

const kRefPrefix = '#/components/schemas/';

/** The errors of `value` against the named schema (empty: valid). */
export function validateOpenApi(doc: OpenApiDocument, schemaName: string, value: unknown): string[] {
  const root = doc.components.schemas[schemaName];
  if (!root) throw new Error(`no schema ${schemaName}`);
  const errors: string[] = [];
  check(doc, root, value, '', errors);
  return errors;
}

function resolve(doc: OpenApiDocument, ref: string): Schema {
  if (!ref.startsWith(kRefPrefix)) throw new Error(`unsupported $ref ${ref}`);
  const s = doc.components.schemas[ref.slice(kRefPrefix.length)];
  if (!s) throw new Error(`dangling $ref ${ref}`);
  return s;
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function check(doc: OpenApiDocument, schema: Schema, value: unknown, path: string, errors: string[]): void {
  const at = path || '(root)';
  if (typeof schema.$ref === 'string') check(doc, resolve(doc, schema.$ref), value, path, errors);
  if (Array.isArray(schema.allOf)) for (const s of schema.allOf as Schema[]) check(doc, s, value, path, errors);
  if (Array.isArray(schema.oneOf)) {
    const passing = (schema.oneOf as Schema[]).filter((s) => {
      const e: string[] = [];
      check(doc, s, value, path, e);
      return e.length === 0;
    }).length;
    if (passing !== 1) errors.push(`${at}: ${JSON.stringify(value)} matches ${passing} of the ${(schema.oneOf as Schema[]).length} oneOf alternatives, not exactly one`);
  }
  if (Array.isArray(schema.enum) && !(schema.enum as unknown[]).includes(value)) errors.push(`${at}: ${JSON.stringify(value)} is not one of ${JSON.stringify(schema.enum)}`);
  const type = schema.type;
  if (typeof type === 'string') {
    const actual = typeOf(value);
    const ok = actual === type || (type === 'number' && actual === 'integer');
    if (!ok) {
      errors.push(`${at}: expected ${type}, got ${actual} ${JSON.stringify(value)}`);
      return;
    }
    if (type === 'integer') {
      const n = value as number;
      if (schema.format === 'int32' && (n < -(2 ** 31) || n > 2 ** 31 - 1)) errors.push(`${at}: ${n} is out of int32 range`);
      if (schema.format === 'int64' && !Number.isSafeInteger(n)) errors.push(`${at}: ${n} is not an exact int64`);
    }
  }
  if (typeOf(value) === 'object' && (type === 'object' || schema.properties !== undefined || schema.additionalProperties !== undefined)) {
    const obj = value as Record<string, unknown>;
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const r of (schema.required ?? []) as string[]) if (!(r in obj)) errors.push(`${path ? `${path}.` : ''}${r}: required field missing`);
    const extra = schema.additionalProperties as Schema | boolean | undefined;
    const open = schema['x-kubernetes-preserve-unknown-fields'] === true;
    for (const [k, v] of Object.entries(obj)) {
      const p = `${path ? `${path}.` : ''}${k}`;
      if (k in props) check(doc, props[k]!, v, p, errors);
      else if (typeof extra === 'object') check(doc, extra, v, p, errors);
      else if (extra !== true && !open && schema.properties !== undefined) errors.push(`${p}: unknown field`);
    }
  }
  if (Array.isArray(value) && schema.items !== undefined) {
    (value as unknown[]).forEach((v, i) => check(doc, schema.items as Schema, v, `${path}[${i}]`, errors));
  }
}
