/**
 * A problem found in a cluster file, located as precisely as the input allows: the object
 * (kind, namespace/name), the field path inside it, and the line where the parser gives one.
 */
export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  readonly message: string;
  /** The object's kind, or undefined for problems with the file itself. */
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** Field path inside the object, e.g. `spec.ports[1].nodePort`. */
  readonly path?: string;
  /** 1-based line in the source file, where known. */
  readonly line?: number;
  readonly file?: string;
}

/** `file:line: error: Service default/web spec.ports[0].port: message` */
export function formatDiagnostic(d: Diagnostic): string {
  const where = d.file ? `${d.file}${d.line ? `:${d.line}` : ''}: ` : d.line ? `line ${d.line}: ` : '';
  const object = d.kind ? `${d.kind} ${d.namespace ? `${d.namespace}/` : ''}${d.name ?? '(unnamed)'}` : '';
  const field = d.path ? `${object ? ' ' : ''}${d.path}` : '';
  const subject = object || field ? `${object}${field}: ` : '';
  return `${where}${d.severity}: ${subject}${d.message}`;
}

export function hasErrors(diagnostics: readonly Diagnostic[]): boolean {
  return diagnostics.some((d) => d.severity === 'error');
}
