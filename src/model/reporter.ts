/**
 * Collects diagnostics while the model is built, so that every problem in a file is reported at
 * once instead of stopping at the first.
 */
import type { Diagnostic } from './diagnostics.js';
import type { FieldPath, SourceObject } from './source.js';

export function formatPath(path: FieldPath): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out;
}

/** Where in the input an object came from, for messages. */
export interface ObjectRef {
  readonly source: SourceObject;
  readonly kind: string;
  readonly namespace?: string;
  readonly name?: string;
}

export class Reporter {
  readonly diagnostics: Diagnostic[] = [];
  readonly #file: string | undefined;
  constructor(file?: string) {
    this.#file = file;
  }

  error(ref: ObjectRef | undefined, path: FieldPath, message: string): void {
    this.#push('error', ref, path, message);
  }

  warn(ref: ObjectRef | undefined, path: FieldPath, message: string): void {
    this.#push('warning', ref, path, message);
  }

  get failed(): boolean {
    return this.diagnostics.some((d) => d.severity === 'error');
  }

  #push(severity: Diagnostic['severity'], ref: ObjectRef | undefined, path: FieldPath, message: string): void {
    const line = ref?.source.line(path);
    this.diagnostics.push({
      severity,
      message,
      ...(ref ? { kind: ref.kind } : {}),
      ...(ref?.namespace ? { namespace: ref.namespace } : {}),
      ...(ref?.name ? { name: ref.name } : {}),
      ...(path.length ? { path: formatPath(path) } : {}),
      ...(line !== undefined ? { line } : {}),
      ...(this.#file ? { file: this.#file } : {}),
    });
  }
}
