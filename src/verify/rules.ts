/**
 * kdp's rendering of one node's rules, in the text the real tools load, and the loading itself.
 *
 * - iptables: `renderIptablesSave(compileRuleset(cluster, { node, nfacct: false }))`, loaded with
 *   `iptables-restore` (a full restore of the filter, nat and mangle tables). `nfacct: false`
 *   because nfacct counter objects do not exist in a fresh namespace and `-m nfacct` then fails
 *   to load; kube-proxy itself omits those matches when it cannot create the counters, and kdp's
 *   side of the comparison is compiled with the same option, so both sides see one ruleset.
 * - nftables: `renderRuleset(buildRuleset(cluster, { node }))`, loaded with `nft -f`.
 *
 * Loading only what the kernel supports: when the tool refuses a line, that line is taken out
 * (recorded with the tool's message) and the load is retried, up to a bound. Every line taken
 * out is reported, since kdp's model still contains it.
 */
import { compileIptables, compileRuleset, renderIptablesSave } from '../compile/iptables/index.js';
import { buildRuleset, compileNftables, renderRuleset } from '../compile/nftables/index.js';
import type { ServiceDataplane } from '../compile/dataplane.js';
import type { Cluster } from '../model/types.js';
import type { KernelMode } from './requirements.js';
import type { Sandbox } from './sandbox.js';
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

export function renderFor(cluster: Cluster, mode: KernelMode, node: number): string {
  return mode === 'iptables' ? renderIptablesSave(compileRuleset(cluster, { node, nfacct: false })) : renderRuleset(buildRuleset(cluster, { node }));
}

/** kdp's compiled dataplane for exactly the rendering above. */
export function compileFor(mode: KernelMode): (cluster: Cluster, node: number) => ServiceDataplane {
  return mode === 'iptables' ? (c, n) => compileIptables(c, { node: n, nfacct: false }) : (c, n) => compileNftables(c, { node: n });
}

function failingLine(mode: KernelMode, stderr: string): number | undefined {
  // iptables-restore: "iptables-restore: line 37 failed" / "Error occurred at line: 37"
  // nft: "/dev/stdin:12:5-20: Error: ..."
  const m = mode === 'iptables' ? /line:? (\d+)/.exec(stderr) : /^[^:\n]*:(\d+):\d+(?:-\d+)?: Error/m.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

/** Lines that can be taken out without breaking the file's structure. */
function strippable(mode: KernelMode, text: string): boolean {
  const t = text.trim();
  if (mode === 'iptables') return t.startsWith('-A ');
  return t !== '' && t !== '}' && !/^(table|chain|set|map|type|flags|timeout|size|comment|elements|policy)\b/.test(t) && !t.endsWith('{');
}

const kLoadTimeoutMs = 10 * 60_000;

/** Loads `text` into namespace `ns`, replacing what the tables held. */
export async function loadRules(sandbox: Sandbox, ns: string, mode: KernelMode, text: string): Promise<LoadResult> {
  const lines = text.split('\n');
  const stripped: StrippedLine[] = [];
  const tool = mode === 'iptables' ? 'iptables-restore' : 'nft -f';
  for (let attempt = 0; attempt <= kMaxStrips; attempt++) {
    const input = lines.join('\n');
    if (mode === 'nftables') {
      // A clean slate: the table from an earlier load would otherwise be merged into.
      await sandbox.exec(ns, 'nft', ['flush', 'ruleset']);
    }
    // A 30,000-Service ruleset takes the kernel minutes to load: loads get their own, long limit.
    const limit = { input, timeoutMs: kLoadTimeoutMs };
    const r = mode === 'iptables' ? await sandbox.exec(ns, 'iptables-restore', [], limit) : await sandbox.exec(ns, 'nft', ['-f', '-'], limit);
    if (r.status === 0) return { tool, ms: r.ms, lines: lines.length, stripped };
    if (r.stderr.includes('killed by SIGKILL')) {
      // Our own time limit, not a refusal: say so, with the size that took too long.
      throw new EnvironmentError(`${tool} did not finish loading ${lines.length} lines within ${Math.round(r.ms / 1000)} s (stopped); a ruleset this large was not measured`);
    }
    const n = failingLine(mode, r.stderr);
    const reason = r.stderr.trim().split('\n').slice(0, 2).join(' ');
    if (n === undefined || n < 1 || n > lines.length || !strippable(mode, lines[n - 1])) {
      throw new EnvironmentError(`${tool} refused kdp's rendering and the failing line cannot be isolated: ${reason}`);
    }
    stripped.push({ line: n, text: lines[n - 1].trim(), reason });
    // Keep the line numbering of the original text for the next error message.
    lines[n - 1] = '# stripped by kdp verify';
  }
  throw new EnvironmentError(`${tool}: more than ${kMaxStrips} lines refused; giving up`);
}
