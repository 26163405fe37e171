/**
 * What every `kdp` subcommand is, and the conventions they share: exit codes scripts can rely
 * on, and usage errors that say what was wrong and how to fix it.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from '../errors.js';

/** Exit statuses: stable, documented in the README. */
export const EXIT_OK = 0;
/** The command ran and found a problem (e.g. a disagreement, a failed check). */
export const EXIT_FAILED = 1;
/** Bad usage or invalid input (a cluster file with errors). */
export const EXIT_INVALID = 2;
/** A requirement of the environment is missing or unusable (root, a tool): EnvironmentError. */
export const EXIT_UNAVAILABLE = 3;

export interface Command {
  readonly name: string;
  readonly summary: string;
  /** Full help text, printed by `kdp NAME --help`. */
  readonly help: string;
  run(argv: string[]): Promise<number>;
}

export type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * node:util parseArgs, with its errors turned into UsageErrors. An empty or blank value is refused
 * here for every option: `Number('')` is 0, so `--services ''` would otherwise mean 0 Services and
 * `bench --zipf ''` a uniform sweep.
 */
export function parse<T extends Options>(argv: string[], options: T, allowPositionals = true) {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
  }
  for (const [name, value] of Object.entries(parsed.values)) {
    if (typeof value === 'string' && value.trim() === '') throw new UsageError(`--${name} needs a value, not an empty string`);
  }
  return parsed;
}

/**
 * Shortens every very long token in a message (a 10 MB bad value would otherwise be copied whole
 * into the error): its first characters and its length are enough to find it.
 */
export function clipTokens(message: string): string {
  return message.replace(/[^\s"'`]{200,}/g, (t) => `${t.slice(0, 40)}… (${t.length.toLocaleString('en-US')} characters)`);
}

export function intOption(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`--${name} takes a whole number from ${min} to ${max}, not "${value}"`);
  }
  return n;
}

export function choiceOption<T extends string>(value: string | undefined, name: string, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (!(choices as readonly string[]).includes(value)) {
    throw new UsageError(`--${name} takes one of ${choices.join(', ')}, not "${value}"`);
  }
  return value as T;
}
