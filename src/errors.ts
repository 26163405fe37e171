/**
 * Errors are for configuration and programming mistakes only; a packet never throws (data-path
 * failures are counters). Each error carries a stable `code` that scripts and tests can match on,
 * in the manner of undici's errors.
 */

export class EngineError extends Error {
  readonly code: string;
  constructor(message: string, code = 'KDP_ERR_ENGINE') {
    super(message);
    this.name = 'EngineError';
    this.code = code;
  }
}

/** A function or option was given a value it cannot take. */
export class InvalidArgumentError extends EngineError {
  constructor(message: string) {
    super(message, 'KDP_ERR_INVALID_ARG');
    this.name = 'InvalidArgumentError';
  }
}

/** A cluster file could not be turned into a model; `diagnostics` lists every problem found. */
export class InvalidClusterError extends EngineError {
  readonly diagnostics: readonly import('./model/diagnostics.js').Diagnostic[];
  constructor(diagnostics: readonly import('./model/diagnostics.js').Diagnostic[]) {
    const errors = diagnostics.filter((d) => d.severity === 'error').length;
    super(`the cluster has ${errors} error${errors === 1 ? '' : 's'}`, 'KDP_ERR_INVALID_CLUSTER');
    this.name = 'InvalidClusterError';
    this.diagnostics = diagnostics;
  }
}

/** Text in a rule format (iptables-save, nft, ...) that kdp could not parse. */
export class RuleParseError extends EngineError {
  readonly line: number;
  /** The file the line is in, when a command read several (`--node-state`). */
  file?: string;
  constructor(message: string, line: number) {
    super(`line ${line}: ${message}`, 'KDP_ERR_RULE_PARSE');
    this.name = 'RuleParseError';
    this.line = line;
  }
}

/**
 * Every problem found in one rule dump (as a cluster file's are all listed): the first one's line
 * is `line`, and the message has one problem per line.
 */
export class RuleParseErrors extends RuleParseError {
  readonly problems: readonly RuleParseError[];
  constructor(problems: readonly RuleParseError[]) {
    super(problems[0]?.message.replace(/^line \d+: /, '') ?? 'no problems', problems[0]?.line ?? 0);
    this.name = 'RuleParseErrors';
    this.problems = problems;
    this.message = problems.map((p) => p.message).join('\n');
  }
}

/** A feature that the input uses and kdp does not model yet. */
export class NotSupportedError extends EngineError {
  constructor(message: string) {
    super(message, 'KDP_ERR_NOT_SUPPORTED');
    this.name = 'NotSupportedError';
  }
}

/** A mistake in how a `kdp` command was called; the CLI prints it with a pointer to --help. */
export class UsageError extends EngineError {
  constructor(message: string) {
    super(message, 'KDP_ERR_USAGE');
    this.name = 'UsageError';
  }
}

/** The benchmark results could not be read at all (as opposed to lines that were skipped). */
export class ReportInputError extends EngineError {
  constructor(message: string) {
    super(message, 'KDP_ERR_REPORT_INPUT');
    this.name = 'ReportInputError';
  }
}

/**
 * Something the command needs from the machine is missing or unusable: root, a tool, a kernel
 * feature, a network namespace that could not be set up. Not a mistake in kdp or in its input.
 */
export class EnvironmentError extends EngineError {
  constructor(message: string) {
    super(message, 'KDP_ERR_UNAVAILABLE');
    this.name = 'EnvironmentError';
  }
}

/**
 * An input or a requested size beyond what this process can hold (V8's longest string, the heap
 * limit). Exit 2, refused before any work, with the figure and how to raise the limit if it can be.
 */
export class TooLargeError extends EngineError {
  constructor(message: string) {
    super(message, 'KDP_ERR_TOO_LARGE');
    this.name = 'TooLargeError';
  }
}

/** A benchmark run whose worker stopped sending heartbeats (replay/pool.ts); the worker was terminated and the cell failed. */
export class StalledRunError extends EngineError {
  constructor(message: string) {
    super(message, 'KDP_ERR_STALLED');
    this.name = 'StalledRunError';
  }
}

/**
 * A path given on the command line names the wrong kind of thing: a directory where a file goes,
 * a file where a directory goes, a missing parent, a dangling symlink. Exit 2, like a UsageError,
 * but printed without the pointer to --help: the fix is the path, not the options.
 */
export class InvalidPathError extends EngineError {
  constructor(message: string) {
    super(message, 'KDP_ERR_INVALID_PATH');
    this.name = 'InvalidPathError';
  }
}

/**
 * A failed file operation as the error kdp reports: the path given names the wrong kind of thing
 * (a directory for a file, a file for a directory, a missing parent, a symlink loop) is bad input,
 * an InvalidPathError (exit 2); anything else the machine refuses (permissions, a read-only or full disk,
 * an unusable filesystem such as procfs) is an EnvironmentError (exit 3). One line: what was being
 * done, where, and the reason, never a stack.
 */
export function fileSystemError(err: unknown, doing: string, path: string): EngineError {
  if (err instanceof EngineError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const reason = kFileErrorReasons[code] ?? (err as Error).message ?? String(err);
  const message = `cannot ${doing} ${path}: ${reason}`;
  return kBadPathCodes.has(code) ? new InvalidPathError(message) : new EnvironmentError(message);
}

const kBadPathCodes = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EEXIST', 'ELOOP', 'ENAMETOOLONG']);

const kFileErrorReasons: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a part of the path is not a directory',
  EISDIR: 'it is a directory',
  EEXIST: 'a file of that name is in the way',
  ELOOP: 'too many symbolic links (a loop?)',
  ENAMETOOLONG: 'the name is too long',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'the filesystem is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
  EIO: 'input/output error',
  ENXIO: 'nothing is listening at that path',
  EMFILE: 'too many open files',
};
