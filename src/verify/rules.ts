/**
 * kdp's rendering of one node's rules, in the text the real tools load, and the loading itself.
 * What the text is, which tool loads it and how its errors name a line is each mode's own
 * (ProxyMode.kernel: iptables-save for `iptables-restore`, the nft script for `nft -f`).
 *
 * Loading only what the kernel supports: when the tool refuses a line, that line is taken out
 * (recorded with the tool's message) and the load is retried, up to a bound. Every line taken
 * out is reported, since kdp's model still contains it.
 */
import type { Sandbox } from './sandbox.js';
import type { KernelMode } from './requirements.js';
import { EnvironmentError } from '../errors.js';

export interface StrippedLine {
  readonly line: number;
  readonly text: string;
  readonly reason: string;
}

export interface LoadResult {
  readonly tool: string;
  /** Wall time of the successful load (the tool's process), ms. */
  readonly ms: number;
  readonly lines: number;
  readonly stripped: readonly StrippedLine[];
}

const kMaxStrips = 64;

const kLoadTimeoutMs = 10 * 60_000;

/** Loads `text` into namespace `ns`, replacing what the tables held. */
export async function loadRules(sandbox: Sandbox, ns: string, mode: KernelMode, text: string): Promise<LoadResult> {
  const lines = text.split('\n');
  const stripped: StrippedLine[] = [];
  const k = mode.kernel;
  const tool = [k.tool, ...k.loadArgs].join(' ');
  for (let attempt = 0; attempt <= kMaxStrips; attempt++) {
    const input = lines.join('\n');
    if (k.flushArgs) await sandbox.exec(ns, k.tool, [...k.flushArgs]);
    // A 30,000-Service ruleset takes the kernel minutes to load: loads get their own, long limit.
    const limit = { input, timeoutMs: kLoadTimeoutMs };
    const r = await sandbox.exec(ns, k.tool, [...k.loadArgs], limit);
    if (r.status === 0) return { tool, ms: r.ms, lines: lines.length, stripped };
    if (r.stderr.includes('killed by SIGKILL')) {
      // Our own time limit, not a refusal: say so, with the size that took too long.
      throw new EnvironmentError(`${tool} did not finish loading ${lines.length} lines within ${Math.round(r.ms / 1000)} s (stopped); a ruleset this large was not measured`);
    }
    const n = k.failingLine(r.stderr);
    const reason = r.stderr.trim().split('\n').slice(0, 2).join(' ');
    if (n === undefined || n < 1 || n > lines.length || !k.strippable(lines[n - 1])) {
      throw new EnvironmentError(`${tool} refused kdp's rendering and the failing line cannot be isolated: ${reason}`);
    }
    stripped.push({ line: n, text: lines[n - 1].trim(), reason });
    // Keep the line numbering of the original text for the next error message.
    lines[n - 1] = '# stripped by kdp verify';
  }
  throw new EnvironmentError(`${tool}: more than ${kMaxStrips} lines refused; giving up`);
}
