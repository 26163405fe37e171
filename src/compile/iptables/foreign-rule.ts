/**
 * A rule of another owner as the Ruleset holds it (plain data, shareable with a worker): the
 * matches foreign.ts evaluates and the text it was read from. Types only, so that ruleset.ts can
 * name them without importing the evaluator.
 */
export type ForeignMatch =
  | { readonly k: 'addr'; readonly dir: 'src' | 'dst'; readonly lo: number; readonly hi: number; readonly neg: boolean }
  | { readonly k: 'iface'; readonly dir: 'in' | 'out'; readonly name: string; readonly neg: boolean }
  | { readonly k: 'proto'; readonly proto: number; readonly neg: boolean }
  | { readonly k: 'frag'; readonly neg: boolean }
  /** Port ranges as [lo, hi, lo, hi, ...]; dir 'any' is multiport --ports (source or destination). */
  | { readonly k: 'ports'; readonly dir: 'src' | 'dst' | 'any'; readonly ranges: readonly number[]; readonly neg: boolean }
  | { readonly k: 'tcpflags'; readonly mask: number; readonly comp: number; readonly neg: boolean }
  | { readonly k: 'addrtype'; readonly dir: 'src' | 'dst'; readonly types: readonly string[]; readonly neg: boolean; readonly limitIface: boolean }
  | { readonly k: 'mark'; readonly value: number; readonly mask: number; readonly neg: boolean }
  /** Conntrack options: `mod` numbers the rule's `-m conntrack` (or `-m state`) each came with. */
  | { readonly k: 'ctstate'; readonly mask: number; readonly neg: boolean; readonly mod: number }
  | { readonly k: 'ctstatus'; readonly mask: number; readonly neg: boolean; readonly mod: number }
  | { readonly k: 'ctaddr'; readonly which: 'origsrc' | 'origdst' | 'replsrc' | 'repldst'; readonly lo: number; readonly hi: number; readonly neg: boolean; readonly mod: number }
  | { readonly k: 'ctport'; readonly which: 'origsrc' | 'origdst' | 'replsrc' | 'repldst'; readonly lo: number; readonly hi: number; readonly neg: boolean; readonly mod: number }
  | { readonly k: 'ctproto'; readonly proto: number; readonly neg: boolean; readonly mod: number }
  | { readonly k: 'ctdir'; readonly original: boolean; readonly mod: number }
  | { readonly k: 'set'; readonly name: string; readonly flags: readonly ('src' | 'dst')[]; readonly neg: boolean }
  /** What kdp cannot decide for a first packet: the text as written and why. */
  | { readonly k: 'opaque'; readonly text: string; readonly why: string };

export interface ForeignRule {
  /** 1-based line of the dump. */
  readonly line: number;
  /** The rule after `-A CHAIN`, as the dump has it (rendered back verbatim). */
  readonly text: string;
  readonly matches: readonly ForeignMatch[];
  /** Why the target is unknown (T_UNKNOWN), or a note on what kdp traces of it (a DNAT range). */
  readonly targetNote?: string;
}

