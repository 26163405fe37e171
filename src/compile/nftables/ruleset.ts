/**
 * The `ip kube-proxy` table as data: exactly the objects kube-proxy's nftables proxier writes,
 * in structured form. One representation sits between the three things that must agree: the
 * builder (cluster -> ruleset), the text (render and parse `nft list table ip kube-proxy`), and
 * the compiled typed arrays the packets run through. Only the rule shapes kube-proxy writes are
 * representable; anything else is a parse error, not a silently ignored rule.
 */
import type { Cidr } from '../../net/ipv4.js';

export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
export const kHooks: readonly Hook[] = ['prerouting', 'input', 'forward', 'output', 'postrouting'];

export interface BaseChainSpec {
  readonly type: 'filter' | 'nat';
  readonly hook: Hook;
  /** Numeric priority (dstnat = -100, srcnat = 100). */
  readonly priority: number;
}

/** A match (all of a rule's matches must hold). */
export type Match =
  | { readonly k: 'ct-new' }
  /**
   * `ip daddr|saddr [!=] CIDR`, or `{ CIDR, ... }` for several. nft lists a one-element
   * anonymous set as a plain value, so the element count alone decides the braces.
   */
  /** `anonSet`: kube-proxy writes the addresses as an anonymous set, `{ a, b }`, even for one (nft lists one bare). */
  | { readonly k: 'addr'; readonly field: 'saddr' | 'daddr'; readonly neg: boolean; readonly cidrs: readonly Cidr[]; readonly anonSet?: boolean }
  /** `ip daddr|saddr @set` */
  | { readonly k: 'addr-set'; readonly field: 'saddr' | 'daddr'; readonly set: string }
  /** `fib saddr|daddr type local` */
  | { readonly k: 'fib-local'; readonly field: 'saddr' | 'daddr' }
  /** `meta l4proto tcp` */
  | { readonly k: 'l4proto'; readonly proto: number }
  /** `tcp dport 80` (implies the protocol) */
  | { readonly k: 'dport'; readonly proto: number; readonly port: number }
  /** `iifname [!=] "name"` (a trailing * is a prefix match) */
  | { readonly k: 'iifname'; readonly neg: boolean; readonly name: string }
  /** `meta mark & MASK == 0x00000000` */
  | { readonly k: 'mark-zero'; readonly mask: number };

/** A verdict as a map value or a numgen branch. */
export type Verdict =
  | { readonly k: 'goto' | 'jump'; readonly chain: string }
  | { readonly k: 'drop' | 'accept' | 'return' };

export type MapKey = 'addr.proto.port' | 'proto.port';

export type Action =
  | Verdict
  | { readonly k: 'reject' }
  | { readonly k: 'vmap'; readonly key: MapKey; readonly map: string }
  | { readonly k: 'numgen'; readonly targets: readonly Verdict[] }
  | { readonly k: 'mark-or' | 'mark-xor'; readonly mask: number }
  | { readonly k: 'masquerade' }
  | { readonly k: 'dnat'; readonly ip: number; readonly port: number }
  | { readonly k: 'update'; readonly set: string };

export interface Rule {
  readonly matches: readonly Match[];
  readonly action: Action;
  readonly comment?: string;
}

export interface Chain {
  readonly name: string;
  readonly base?: BaseChainSpec;
  readonly comment?: string;
  readonly rules: readonly Rule[];
}

export interface NftSet {
  readonly name: string;
  readonly comment?: string;
  /** `flags dynamic,timeout` with a timeout in seconds (affinity sets); 0 for a plain set. */
  readonly timeout: number;
  /** The kernel's default `size 65535` that nft lists for dynamic sets. */
  readonly size: number;
  readonly elements: readonly number[];
}

export interface MapElement {
  /** 0 for `proto . port` maps. */
  readonly ip: number;
  readonly proto: number;
  readonly port: number;
  readonly comment?: string;
  readonly verdict: Verdict;
}

export interface NftMap {
  readonly name: string;
  readonly key: MapKey;
  readonly comment?: string;
  readonly elements: readonly MapElement[];
}

export interface Ruleset {
  readonly family: 'ip';
  readonly table: string;
  readonly comment?: string;
  /** Sets and maps in creation order (nft lists them before chains). */
  readonly sets: readonly NftSet[];
  readonly maps: readonly NftMap[];
  /** Sets and maps interleaved in creation order, as `nft list` prints them: ['set', i] / ['map', i]. */
  readonly objectOrder: readonly (readonly ['set' | 'map', number])[];
  readonly chains: readonly Chain[];
}

export const kTableName = 'kube-proxy';

const kChainIndexes = new WeakMap<Ruleset, ReadonlyMap<string, number>>();

/**
 * A ruleset's chains by name (name -> position in `chains`), made once per ruleset: the one its
 * builder kept while writing it (build.ts hands it over with `withChainIndex`), or made on first
 * ask. A ruleset is never changed after it is made, so its index stays true. Cost: O(chains) once.
 */
export function chainIndex(rs: Ruleset): ReadonlyMap<string, number> {
  let index = kChainIndexes.get(rs);
  if (!index) {
    const made = new Map<string, number>();
    rs.chains.forEach((c, i) => made.set(c.name, i));
    kChainIndexes.set(rs, (index = made));
  }
  return index;
}

/** `rs`, with `index` (its chains by name, as chainIndex gives them) kept for chainIndex. */
export function withChainIndex(rs: Ruleset, index: ReadonlyMap<string, number>): Ruleset {
  kChainIndexes.set(rs, index);
  return rs;
}
