/**
 * The layout `iptables-save` prints (legacy backend): per table `*name`, the built-in chains with
 * their policy, then user chains in name order (libiptc keeps them sorted), each `:CHAIN - [0:0]`;
 * then every chain's rules in that same chain order; then `COMMIT`. Rules must already be in
 * iptables-save's canonical form (`-s/-d/-i/-p` first, `/32` on addresses, quoted comments).
 * The modes whose iptables rules are text, not a Ruleset (IPVS's and userspace's), print through
 * it; saveString is iptables-save's quoting, which render.ts uses as well.
 */
export interface SaveTable {
  readonly name: string;
  readonly builtins: readonly string[];
  /** User chains (any order; printed sorted). */
  readonly chains: readonly string[];
  /** `-A CHAIN ...` lines in the order they were appended. */
  readonly rules: readonly string[];
}

export const kNatBuiltins = ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'] as const;
export const kFilterBuiltins = ['INPUT', 'FORWARD', 'OUTPUT'] as const;

/** C strcmp order (what libiptc sorts by), not localeCompare. */
function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function renderSaveTables(tables: readonly SaveTable[]): string {
  const out: string[] = [];
  for (const t of tables) {
    const user = [...new Set(t.chains)].sort(byteOrder);
    out.push(`*${t.name}`);
    for (const c of t.builtins) out.push(`:${c} ACCEPT [0:0]`);
    for (const c of user) out.push(`:${c} - [0:0]`);
    const byChain = new Map<string, string[]>();
    for (const r of t.rules) {
      const chain = r.slice(3, r.indexOf(' ', 3));
      let list = byChain.get(chain);
      if (!list) byChain.set(chain, (list = []));
      list.push(r);
    }
    for (const c of [...t.builtins, ...user]) for (const r of byChain.get(c) ?? []) out.push(r);
    out.push('COMMIT');
  }
  return out.join('\n') + '\n';
}

/** xtables_save_string: bare when only [A-Za-z0-9_-], else double-quoted with " \ ' escaped. */
export function saveString(value: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(value)) return value;
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}

export function comment(s: string): string {
  return `-m comment --comment ${saveString(s)}`;
}
