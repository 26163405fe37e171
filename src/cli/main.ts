#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.hugetlb=1:${GLIBC_TUNABLES} node --max-semi-space-size=64
/**
 * The `kdp` command line: a thin dispatcher over one module per subcommand.
 */
import { readFileSync } from 'node:fs';
import { EngineError, fileSystemError, UsageError } from '../errors.js';
import { clipTokens, EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_UNAVAILABLE, type Command } from './command.js';
import { benchCommand } from './bench.js';
import { compileCommand } from './compile.js';
import { diffCommand } from './diff.js';
import { generateCommand } from './generate.js';
import { inspectCommand } from './inspect.js';
import { jobCommand } from './job.js';
import { reportCommand } from './report.js';
import { resolveCommand } from './resolve.js';
import { traceCommand } from './trace.js';
import { verifyCommand } from './verify.js';

const kCommands: readonly Command[] = [benchCommand, jobCommand, generateCommand, inspectCommand, compileCommand, traceCommand, diffCommand, resolveCommand, verifyCommand, reportCommand];

/** Exit status by error code (the README's exit statuses); any other EngineError is EXIT_FAILED. */
const kExitByCode: Readonly<Record<string, number>> = {
  KDP_ERR_USAGE: EXIT_INVALID,
  KDP_ERR_INVALID_ARG: EXIT_INVALID,
  KDP_ERR_INVALID_PATH: EXIT_INVALID,
  KDP_ERR_TOO_LARGE: EXIT_INVALID,
  KDP_ERR_INVALID_CLUSTER: EXIT_INVALID,
  KDP_ERR_RULE_PARSE: EXIT_INVALID,
  KDP_ERR_REPORT_INPUT: EXIT_INVALID,
  KDP_ERR_UNAVAILABLE: EXIT_UNAVAILABLE,
};

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

function usage(): string {
  const width = Math.max(...kCommands.map((c) => c.name.length));
  return `kdp: measure and explain how Kubernetes moves packets

Usage: kdp COMMAND [options]

Commands:
${kCommands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run \`kdp COMMAND --help\` for a command's options.

Exit status: 0 success; 1 the command ran and found a problem; 2 bad usage or invalid input
(a path of the wrong kind included); 3 something the command needs is missing or unusable (root, a
tool, a read-only or full disk, a directory that cannot be created).
`;
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '-h' || name === '--help' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? EXIT_INVALID : EXIT_OK;
  }
  if (name === '--version' || name === '-V') {
    process.stdout.write(`${version()}\n`);
    return EXIT_OK;
  }
  const command = kCommands.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(clipTokens(`kdp: unknown command "${name}"`) + `; commands are ${kCommands.map((c) => c.name).join(', ')} (kdp --help)\n`);
    return EXIT_INVALID;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(command.help);
    return EXIT_OK;
  }
  try {
    return await command.run(rest);
  } catch (thrown) {
    // A filesystem error no command turned into an EngineError is still the machine's answer about
    // a path (exit 2 or 3 with one line), never an internal error with a stack.
    const err = isSystemError(thrown) ? fileSystemError(thrown, kVerbBySyscall[thrown.syscall] ?? thrown.syscall, thrown.path ?? '') : thrown;
    if (err instanceof EngineError) {
      process.stderr.write(`kdp ${name}: ${clipTokens(err.message)}${err instanceof UsageError ? ` (kdp ${name} --help)` : ''}\n`);
      return kExitByCode[err.code] ?? EXIT_FAILED;
    }
    throw err;
  }
}

function isSystemError(err: unknown): err is NodeJS.ErrnoException & { syscall: string } {
  const e = err as NodeJS.ErrnoException | undefined;
  return e instanceof Error && typeof e.code === 'string' && typeof e.syscall === 'string' && /^E[A-Z]+$/.test(e.code);
}

const kVerbBySyscall: Readonly<Record<string, string>> = {
  open: 'open', read: 'read', write: 'write', mkdir: 'create the directory', rename: 'rename', unlink: 'remove', scandir: 'list', stat: 'find', lstat: 'find',
};

// Ctrl-C and closed pipes end the process quietly; commands that write files write them atomically.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(EXIT_OK);
  throw err;
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`kdp: internal error: ${(err as Error).stack ?? String(err)}\n`);
    process.exitCode = EXIT_FAILED;
  },
);
