/**
 * The iptables rule table as kdp holds it: one linear table of rules in struct-of-arrays typed
 * arrays, chains as contiguous ranges of it, tables (mangle, filter, nat) as sets of chains.
 *
 * Everything kube-proxy writes is a field here (addresses with masks and negation, protocol,
 * dport, addrtype, mark, recent, statistic, conntrack state, nfacct, comment, input interface),
 * so the same table can be rendered as `iptables-save` prints it, rendered as the restore input
 * kube-proxy writes, parsed back, and walked packet by packet. Strings (comments, names) live in
 * a side table and are never touched by the walker.
 *
 * A rule also remembers the order in which its matches were written (`order`, eight 4-bit
 * tokens), because iptables-save prints matches in the order they were given and kube-proxy's
 * argument order differs from rule to rule.
 */
import { fnv1a } from '../../net/hash.js';
import { prefixMask, type Cidr } from '../../net/ipv4.js';
import type { ForeignRule } from './foreign-rule.js';

export const TABLE_MANGLE = 0;
export const TABLE_FILTER = 1;
export const TABLE_NAT = 2;
/** Tables kube-proxy never writes, read from a real node's dump (NOTRACK rules, SELinux marks). */
export const TABLE_RAW = 3;
export const TABLE_SECURITY = 4;
/** kube-proxy's tables in the order iptables-save (nf_tables backend) prints them, then the others. */
export const kTableNames = ['mangle', 'filter', 'nat', 'raw', 'security'] as const;
export type TableName = (typeof kTableNames)[number];
export const kBuiltinChains: readonly (readonly string[])[] = [
  ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  ['INPUT', 'FORWARD', 'OUTPUT'],
  ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  ['PREROUTING', 'OUTPUT'],
  ['INPUT', 'FORWARD', 'OUTPUT'],
];

// Match flags (ruleFlags).
export const M_SRC = 1 << 0;
export const M_SRC_NEG = 1 << 1;
export const M_DST = 1 << 2;
export const M_DST_NEG = 1 << 3;
export const M_PROTO = 1 << 4;
export const M_DPORT = 1 << 5;
export const M_DST_LOCAL = 1 << 6;
export const M_SRC_LOCAL = 1 << 7;
export const M_MARK = 1 << 8;
export const M_MARK_NEG = 1 << 9;
export const M_RECENT_CHECK = 1 << 10;
export const M_RECENT_SET = 1 << 11;
export const M_RECENT_REAP = 1 << 12;
export const M_STATISTIC = 1 << 13;
export const M_CTSTATE = 1 << 14;
export const M_CTSTATE_NEG = 1 << 15;
export const M_NFACCT = 1 << 16;
export const M_IFACE = 1 << 17;
export const M_IFACE_NEG = 1 << 18;
/** `--mask 255.255.255.255 --rsource` were written explicitly (iptables-save always prints them). */
export const M_RECENT_EXPLICIT = 1 << 19;
/**
 * A rule of another owner (Docker, Calico, a firewall), read from a real node: its matches are the
 * list in `Ruleset.foreign` (foreign.ts), evaluated by the general walker only. A ruleset with one
 * is never given the specialised decide(), so kdp's own rulesets pay nothing for it.
 */
export const M_FOREIGN = 1 << 20;

// Order tokens: where each match was written.
export const TOK_COMMENT = 1;
export const TOK_PROTO = 2; // `-m tcp` (restore form: `-m tcp -p tcp`)
export const TOK_DPORT = 3;
export const TOK_SRC = 4;
export const TOK_DST = 5;
export const TOK_ADDRTYPE = 6;
export const TOK_MARK = 7;
export const TOK_RECENT = 8;
export const TOK_STATISTIC = 9;
export const TOK_CONNTRACK = 10;
export const TOK_NFACCT = 11;
export const TOK_IFACE = 12;
export const kMaxTokens = 8;

// conntrack states, in the order the conntrack match prints them.
export const CT_INVALID = 1;
export const CT_NEW = 2;
export const CT_RELATED = 4;
export const CT_ESTABLISHED = 8;
export const CT_UNTRACKED = 16;
export const CT_SNAT = 32;
export const CT_DNAT = 64;
export const kCtStateNames = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'] as const;

// Targets.
export const T_NONE = 0;
export const T_JUMP = 1;
export const T_ACCEPT = 2;
export const T_DROP = 3;
export const T_RETURN = 4;
export const T_REJECT = 5;
export const T_DNAT = 6;
export const T_MARK = 7;
export const T_MASQUERADE = 8; // also SNAT: the source is rewritten either way
/** `-j NOTRACK` / `-j CT --notrack` (raw table): the packet goes on untracked, so no nat table sees it. */
export const T_NOTRACK = 9;
/** A target kdp does not evaluate (TPROXY, REDIRECT, ...): a packet reaching it is `unknown`. */
export const T_UNKNOWN = 10;
export const kTargetNames = ['', '', 'ACCEPT', 'DROP', 'RETURN', 'REJECT', 'DNAT', 'MARK', 'MASQUERADE', 'NOTRACK', ''] as const;

// Target flags.
export const TF_MARK_OR = 1; // written as --or-mark (kube-proxy); kernel form --set-xmark v/v
export const TF_MARK_XOR = 2; // written as --xor-mark; kernel form --set-xmark v/0x0
export const TF_RANDOM_FULLY = 4;
export const TF_REJECT_WITH = 8; // `--reject-with icmp-port-unreachable` written explicitly
export const TF_GOTO = 16; // `-g CHAIN`: a RETURN from CHAIN goes back past this rule's chain

export const POLICY_NONE = 0; // user chain, printed "-"
export const POLICY_ACCEPT = 1;
export const POLICY_DROP = 2;

export interface RuleSpec {
  order: number[];
  src?: Cidr;
  srcNeg?: boolean;
  dst?: Cidr;
  dstNeg?: boolean;
  proto?: number;
  dport?: number;
  srcLocal?: boolean;
  dstLocal?: boolean;
  mark?: { value: number; mask: number; neg: boolean };
  recent?: { name: string; check: boolean; seconds: number; reap: boolean; explicit?: boolean };
  /** The probability as written (kube-proxy's `%0.10f` value). */
  probability?: number;
  ctstate?: { mask: number; neg: boolean };
  nfacct?: string;
  comment?: string;
  iface?: { name: string; neg: boolean };
  target: number;
  jump?: string;
  dnatIp?: number;
  dnatPort?: number;
  markValue?: number;
  markMask?: number;
  targetFlags?: number;
  /** A rule of another owner: its matches and its text as the dump has it (foreign.ts). */
  foreign?: ForeignRule;
  /** Part of kube-proxy's iptables-restore input (false for the jumps it installs with `iptables -I`). */
  inRestore?: boolean;
  /** Endpoint row a DNAT rule sends to, or -1. */
  endpoint?: number;
  /** Service port the rule belongs to, or -1. */
  port?: number;
}

export interface ChainSpec {
  name: string;
  table: number;
  policy: number;
  inRestore: boolean;
  /** Service port owning the chain (KUBE-SVC/SVL/EXT/FW/SEP), or -1 for shared chains. */
  port: number;
  /** Its rules in order, as slots of the builder's RuleStore (encoded when added). */
  rules: number[];
  /** Order in which the chain line appears in kube-proxy's restore input. */
  seq: number;
  /**
   * False for a chain kept only as room for an in-place update (update.ts): the KUBE-SEP- chain of
   * an endpoint the node cannot reach now. It is not printed, walked, counted or drawn for. Default true.
   */
  live?: boolean;
  /**
   * Rules laid out after the chain's end, never walked, printed or counted: room an in-place update
   * rewrites the chain into (update.ts). Their strings are interned like any rule's. Store slots, as `rules`.
   */
  spare?: number[];
  /**
   * The chain's index in the Ruleset laid out from it (RulesetBuilder.build, or the spare chain
   * update-services.ts gives it), -1 before: what a jump to it and a room plan resolve to, with no
   * lookup by name.
   */
  id: number;
}

/** A Ruleset's data fields: what `sharedFields` gives and `fromSharedFields` takes. */
export type RulesetFields = { readonly [K in keyof Ruleset as Ruleset[K] extends (...a: never[]) => unknown ? never : K]: Ruleset[K] };

/** The compiled (or parsed) tables. Read-only once built, but for the endpoint changes update.ts writes into a compiled ruleset's room. */
export class Ruleset {
  readonly chainCount: number;
  readonly chainName: readonly string[];
  /** Chain ids by name, per table: built on first use (a worker attached to shared tables
   * rarely needs it; see fromSharedFields). */
  private chainIndexCache: ReadonlyMap<string, number>[] | undefined;
  readonly chainTable: Uint8Array;
  readonly chainPolicy: Uint8Array;
  readonly chainStart: Uint32Array;
  readonly chainEnd: Uint32Array;
  readonly chainSeq: Int32Array;
  readonly chainInRestore: Uint8Array;
  readonly chainPort: Int32Array;
  /** 0 for a chain kept only as room (ChainSpec.live): every reader of the tables skips it. */
  readonly chainLive: Uint8Array;
  /**
   * The statistic draw's rule key (drawKey) of rule r of chain c is `r + chainDrawKey[c]`: a hash
   * of the chain's name plus the rule's offset in it. It depends on nothing else, so room, dead
   * chains, a chain moved by an in-place update or other chains added or removed never change a
   * flow's draws, and a dump read back draws as the compile it came from.
   */
  readonly chainDrawKey: Int32Array;

  readonly ruleCount: number;
  readonly ruleChain: Uint32Array;
  readonly ruleFlags: Uint32Array;
  readonly ruleOrder: Uint32Array;
  readonly ruleSrc: Uint32Array;
  readonly ruleSrcMask: Uint32Array;
  readonly ruleDst: Uint32Array;
  readonly ruleDstMask: Uint32Array;
  readonly ruleProto: Uint8Array;
  readonly ruleDport: Uint16Array;
  readonly ruleMark: Uint32Array;
  readonly ruleMarkMask: Uint32Array;
  readonly ruleRecentName: Int32Array;
  readonly ruleRecentSeconds: Uint32Array;
  /** Statistic probability as the kernel holds it: round(p * 2^31), compared to 31 random bits. */
  readonly ruleProb: Uint32Array;
  /** The probability as written, for rendering kube-proxy's restore input. */
  readonly ruleProbWritten: Float64Array;
  readonly ruleCtstate: Uint8Array;
  readonly ruleNfacct: Int32Array;
  readonly ruleComment: Int32Array;
  readonly ruleIface: Int32Array;
  readonly ruleTarget: Uint8Array;
  readonly ruleJump: Int32Array;
  /** DNAT address or MARK value. */
  readonly ruleTargetA: Uint32Array;
  /** DNAT port or MARK mask. */
  readonly ruleTargetB: Uint32Array;
  readonly ruleTargetFlags: Uint8Array;
  readonly ruleSeq: Uint32Array;
  readonly ruleInRestore: Uint8Array;
  readonly ruleEndpoint: Int32Array;
  readonly rulePort: Int32Array;
  /** Index into `foreign` of a rule with M_FOREIGN, else -1; empty when the ruleset has none (read it only under M_FOREIGN). */
  readonly ruleForeign: Int32Array;
  /** Rules of other owners read from a real node (empty for every ruleset kdp compiles). */
  readonly foreign: readonly ForeignRule[];

  readonly strings: readonly string[];
  /** Tables present, in print order. */
  readonly tables: readonly number[];
  /** `# Generated by ...` / `# Completed on ...` lines per table, when parsed from a dump. */
  readonly headers: readonly (string | undefined)[];
  readonly footers: readonly (string | undefined)[];

  /**
   * The tables over `chains` in their final order, whose rules `store` holds encoded in the order
   * they were added: each rule column is gathered into chain order once, and each jump takes the id
   * its target chain was given when laid out (a chain may be declared after a rule jumps to it).
   * Cost: O(rules x columns + chains): ~0.6 s at 30,000 Services (cpu profile of three compiles of
   * node 0, 2026-12-06 on a slow hour).
   */
  constructor(chains: readonly ChainSpec[], store: RuleStore, tables: readonly number[], headers: (string | undefined)[] = [], footers: (string | undefined)[] = []) {
    this.tables = tables;
    this.headers = headers;
    this.footers = footers;
    const n = chains.length;
    this.chainCount = n;
    const names = new Array<string>(n);
    this.chainTable = new Uint8Array(n);
    this.chainPolicy = new Uint8Array(n);
    this.chainStart = new Uint32Array(n);
    this.chainEnd = new Uint32Array(n);
    this.chainSeq = new Int32Array(n);
    this.chainInRestore = new Uint8Array(n);
    this.chainPort = new Int32Array(n);
    this.chainLive = new Uint8Array(n);
    this.chainDrawKey = new Int32Array(n);
    // Each chain spec is read once: they lie scattered on the heap and the chains come in name
    // order, so each is a cache miss (400,000 at 30,000 Services; five passes over them had cost
    // ~0.25 s a compile).
    const rulesOf = new Array<number[]>(n);
    const spareOf = new Array<number[] | undefined>(n);
    let total = 0;
    for (let ci = 0; ci < n; ci++) {
      const c = chains[ci];
      names[ci] = c.name;
      this.chainTable[ci] = c.table;
      this.chainPolicy[ci] = c.policy;
      this.chainSeq[ci] = c.seq;
      this.chainInRestore[ci] = c.inRestore ? 1 : 0;
      this.chainPort[ci] = c.port;
      this.chainLive[ci] = c.live === false ? 0 : 1;
      rulesOf[ci] = c.rules;
      spareOf[ci] = c.spare;
      total += c.rules.length + (c.spare?.length ?? 0);
    }
    this.chainName = names;
    this.ruleCount = total;
    // Store slot of each rule, in chain order; rule r belongs to chain ruleChain[r].
    const slot = new Uint32Array(total);
    const ruleChain = new Uint32Array(total);
    let r = 0;
    for (let ci = 0; ci < n; ci++) {
      this.chainStart[ci] = r;
      const rules = rulesOf[ci];
      for (let i = 0; i < rules.length; i++) {
        ruleChain[r] = ci;
        slot[r++] = rules[i];
      }
      this.chainEnd[ci] = r;
      const spare = spareOf[ci] ?? [];
      for (let i = 0; i < spare.length; i++) {
        ruleChain[r] = ci;
        slot[r++] = spare[i];
      }
    }
    this.ruleChain = ruleChain;
    const gather = gatherer(slot, store.count);
    this.ruleFlags = gather(store.ruleFlags);
    this.ruleOrder = gather(store.ruleOrder);
    this.ruleSrc = gather(store.ruleSrc);
    this.ruleSrcMask = gather(store.ruleSrcMask);
    this.ruleDst = gather(store.ruleDst);
    this.ruleDstMask = gather(store.ruleDstMask);
    this.ruleProto = gather(store.ruleProto);
    this.ruleDport = gather(store.ruleDport);
    this.ruleMark = gather(store.ruleMark);
    this.ruleMarkMask = gather(store.ruleMarkMask);
    this.ruleRecentName = gather(store.ruleRecentName);
    this.ruleRecentSeconds = gather(store.ruleRecentSeconds);
    this.ruleProb = gather(store.ruleProb);
    this.ruleProbWritten = gather(store.ruleProbWritten);
    this.ruleCtstate = gather(store.ruleCtstate);
    this.ruleNfacct = gather(store.ruleNfacct);
    this.ruleComment = gather(store.ruleComment);
    this.ruleIface = gather(store.ruleIface);
    this.ruleTarget = gather(store.ruleTarget);
    this.ruleTargetA = gather(store.ruleTargetA);
    this.ruleTargetB = gather(store.ruleTargetB);
    this.ruleTargetFlags = gather(store.ruleTargetFlags);
    this.ruleSeq = gather(store.ruleSeq);
    this.ruleInRestore = gather(store.ruleInRestore);
    this.ruleEndpoint = gather(store.ruleEndpoint);
    this.rulePort = gather(store.rulePort);
    // Only a real node's dump has rules of other owners: kdp's own rulesets carry no per-rule slot
    // for them (their table memory is what the benchmark reports).
    this.ruleForeign = store.foreign.length > 0 ? gather(store.ruleForeign) : new Int32Array(0);
    this.foreign = store.foreign;
    this.strings = store.strings;
    // The store holds a jump's target as the chain it named (RuleStore.jumpTargets), which now has
    // its id: the targets' ids are read once, in their order, not once a jump.
    const targets = store.jumpTargets;
    const ids = new Int32Array(targets.length);
    for (let t = 0; t < targets.length; t++) ids[t] = targets[t].id;
    const ruleJump = gather(store.ruleJump);
    for (let k = 0; k < total; k++) {
      const t = ruleJump[k];
      if (t < 0) continue;
      if (ids[t] < 0) throw new Error(`a rule jumps to unknown chain ${targets[t].name}`);
      ruleJump[k] = ids[t];
    }
    this.ruleJump = ruleJump;
    for (let c = 0; c < n; c++) setDrawKey(this, c);
  }

  /** Chain `name` of `table`, or -1. Builds the name index of every chain on first use: for many lookups (see findChains). */
  chainId(table: number, name: string): number {
    return this.chainIndex()[table].get(name) ?? -1;
  }

  /**
   * The ids of a few chains (-1: absent) in one pass over the names, with no index built: what a
   * dataplane asks once (its hooks' entry chains, KUBE-SERVICES' size, KUBE-FORWARD's INVALID
   * drop). The index of 400,000 chains at 30,000 Services had cost ~0.23 s a compile to answer
   * the hooks' sixteen names. Cost: O(chains), a Map get of each name (its hash cached).
   */
  findChains(wanted: readonly (readonly [table: number, name: string])[]): number[] {
    if (this.chainIndexCache) return wanted.map(([t, name]) => this.chainId(t, name));
    const out = wanted.map(() => -1);
    const byName = new Map<string, number[]>();
    wanted.forEach(([, name], i) => byName.set(name, [...(byName.get(name) ?? []), i]));
    for (let c = 0; c < this.chainCount; c++) {
      const at = byName.get(this.chainName[c]);
      if (at === undefined) continue;
      for (const i of at) if (out[i] < 0 && wanted[i][0] === this.chainTable[c]) out[i] = c;
    }
    return out;
  }

  private chainIndex(): ReadonlyMap<string, number>[] {
    if (!this.chainIndexCache) {
      const maps: Map<string, number>[] = kTableNames.map(() => new Map());
      // A spare chain (RulesetBuilder.spareChains) has no name until an update gives it one.
      for (let c = 0; c < this.chainCount; c++) if (this.chainName[c] !== '') maps[this.chainTable[c]].set(this.chainName[c], c);
      this.chainIndexCache = maps;
    }
    return this.chainIndexCache;
  }

  /**
   * Chain c is named `name` ('' : no name, a chain an update removed): in this instance's names and
   * index only (a worker never reads names). For update-services.ts.
   */
  renameChain(c: number, name: string): void {
    const index = this.chainIndex()[this.chainTable[c]] as Map<string, number>;
    const old = this.chainName[c];
    if (old !== '' && index.get(old) === c) index.delete(old);
    (this.chainName as string[])[c] = name;
    if (name !== '') index.set(name, c);
  }

  /** The ruleset's own state as a plain record of typed arrays, numbers and strings (no index). */
  sharedFields(): RulesetFields {
    const { chainIndexCache: _derived, ...fields } = this;
    return fields as unknown as RulesetFields;
  }

  /** A ruleset over fields another thread compiled (typed arrays in shared memory): nothing is rebuilt. */
  static fromSharedFields(fields: RulesetFields): Ruleset {
    // Descriptors, not values: a string list not yet decoded stays so (see unpackTables).
    return Object.defineProperties(Object.create(Ruleset.prototype) as Ruleset, Object.getOwnPropertyDescriptors(fields));
  }

  /** Bytes of typed arrays holding the tables (what the walker touches, plus bookkeeping). */
  tableBytes(): number {
    let bytes = 0;
    for (const v of Object.values(this)) if (ArrayBuffer.isView(v)) bytes += v.byteLength;
    return bytes;
  }

  /** The order tokens of rule r. */
  tokens(r: number): number[] {
    const out: number[] = [];
    let o = this.ruleOrder[r];
    while (o !== 0) {
      out.push(o & 15);
      o >>>= 4;
    }
    return out;
  }
}

/** How encodeRule turns a spec's names into ids: a jump's chain, and an interned string. */
export interface RuleNames {
  jump(table: number, name: string): number;
  intern(s: string): number;
}

/** The per-rule columns encodeRule writes: a Ruleset's, or a RuleStore's while a ruleset is built. */
export const kRuleColumns = [
  'ruleFlags', 'ruleOrder', 'ruleSrc', 'ruleSrcMask', 'ruleDst', 'ruleDstMask', 'ruleProto', 'ruleDport', 'ruleMark', 'ruleMarkMask',
  'ruleRecentName', 'ruleRecentSeconds', 'ruleProb', 'ruleProbWritten', 'ruleCtstate', 'ruleNfacct', 'ruleComment', 'ruleIface',
  'ruleTarget', 'ruleJump', 'ruleTargetA', 'ruleTargetB', 'ruleTargetFlags', 'ruleSeq', 'ruleInRestore', 'ruleEndpoint', 'rulePort',
] as const;
export type RuleColumns = Pick<Ruleset, (typeof kRuleColumns)[number]>;

/**
 * Moves rules from..from+count-1 of `rs` to slots to..to+count-1 (overlapping ranges allowed), every
 * column encodeRule writes; their chain is the caller's. Cost: O(count) per column, as memmove.
 */
export function moveRules(rs: RuleColumns, from: number, to: number, count: number): void {
  if (count <= 0 || from === to) return;
  for (const k of kRuleColumns) rs[k].copyWithin(to, from, from + count);
}

/**
 * Writes rule `spec` into slot r of `rs`, every field but its chain (a slot an in-place update
 * rewrites holds another rule before): `table` and `port` are its chain's, for resolving a jump
 * and as the rule's default port. Matches of other owners (M_FOREIGN) are the store's, not here.
 */
export function encodeRule(rs: RuleColumns, r: number, table: number, port: number, s: RuleSpec, seq: number, names: RuleNames): void {
  let f = 0;
  let order = 0;
  for (let t = 0; t < s.order.length && t < kMaxTokens; t++) order |= (s.order[t] & 15) << (t * 4);
  rs.ruleOrder[r] = order >>> 0;
  if (s.src) f |= M_SRC | (s.srcNeg ? M_SRC_NEG : 0);
  rs.ruleSrc[r] = s.src ? s.src.base : 0;
  rs.ruleSrcMask[r] = s.src ? prefixMask(s.src.prefix) : 0;
  if (s.dst) f |= M_DST | (s.dstNeg ? M_DST_NEG : 0);
  rs.ruleDst[r] = s.dst ? s.dst.base : 0;
  rs.ruleDstMask[r] = s.dst ? prefixMask(s.dst.prefix) : 0;
  if (s.proto) f |= M_PROTO;
  rs.ruleProto[r] = s.proto ?? 0;
  if (s.dport !== undefined) f |= M_DPORT;
  rs.ruleDport[r] = s.dport ?? 0;
  if (s.srcLocal) f |= M_SRC_LOCAL;
  if (s.dstLocal) f |= M_DST_LOCAL;
  if (s.mark) f |= M_MARK | (s.mark.neg ? M_MARK_NEG : 0);
  rs.ruleMark[r] = s.mark ? s.mark.value >>> 0 : 0;
  rs.ruleMarkMask[r] = s.mark ? s.mark.mask >>> 0 : 0;
  if (s.recent) {
    f |= s.recent.check ? M_RECENT_CHECK : M_RECENT_SET;
    if (s.recent.reap) f |= M_RECENT_REAP;
    if (s.recent.explicit) f |= M_RECENT_EXPLICIT;
  }
  rs.ruleRecentName[r] = s.recent ? names.intern(s.recent.name) : -1;
  rs.ruleRecentSeconds[r] = s.recent ? s.recent.seconds : 0;
  if (s.probability !== undefined) f |= M_STATISTIC;
  rs.ruleProbWritten[r] = s.probability ?? 0;
  rs.ruleProb[r] = s.probability !== undefined ? Math.round(s.probability * 0x80000000) : 0;
  if (s.ctstate) f |= M_CTSTATE | (s.ctstate.neg ? M_CTSTATE_NEG : 0);
  rs.ruleCtstate[r] = s.ctstate ? s.ctstate.mask : 0;
  if (s.nfacct !== undefined) f |= M_NFACCT;
  rs.ruleNfacct[r] = s.nfacct !== undefined ? names.intern(s.nfacct) : -1;
  rs.ruleComment[r] = s.comment !== undefined ? names.intern(s.comment) : -1;
  if (s.iface) f |= M_IFACE | (s.iface.neg ? M_IFACE_NEG : 0);
  rs.ruleIface[r] = s.iface ? names.intern(s.iface.name) : -1;
  rs.ruleFlags[r] = f;
  rs.ruleTarget[r] = s.target;
  rs.ruleJump[r] = s.target === T_JUMP ? names.jump(table, s.jump ?? '') : -1;
  if (s.target === T_DNAT) {
    rs.ruleTargetA[r] = s.dnatIp ?? 0;
    rs.ruleTargetB[r] = s.dnatPort ?? 0;
  } else if (s.target === T_MARK) {
    rs.ruleTargetA[r] = (s.markValue ?? 0) >>> 0;
    rs.ruleTargetB[r] = (s.markMask ?? 0) >>> 0;
  } else {
    rs.ruleTargetA[r] = 0;
    rs.ruleTargetB[r] = 0;
  }
  rs.ruleTargetFlags[r] = s.targetFlags ?? 0;
  rs.ruleInRestore[r] = s.inRestore ? 1 : 0;
  rs.ruleEndpoint[r] = s.endpoint ?? -1;
  rs.rulePort[r] = s.port ?? port;
  rs.ruleSeq[r] = seq;
}

/** Live rules in chain c (0 for a chain kept only as room). */
export function liveRules(rs: Ruleset, c: number): number {
  return rs.chainLive[c] !== 0 ? rs.chainEnd[c] - rs.chainStart[c] : 0;
}

/**
 * The key a `-m statistic` rule's draw is made with (statisticDraw): a 28-bit hash of its chain's
 * name plus its offset in the chain, a small integer (a Smi: the scan never boxes it).
 */
export function drawKey(rs: Ruleset, chain: number, r: number): number {
  return r + rs.chainDrawKey[chain];
}

/** Chain c's draw key base, from its name and where it starts (again after an update moves it). Cost: O(name). */
export function setDrawKey(rs: Ruleset, c: number): void {
  rs.chainDrawKey[c] = (fnv1a(rs.chainName[c]) & 0x0fffffff) - rs.chainStart[c];
}

/** Where chain c's room ends: the next chain's first slot (chains are laid out in id order). */
export function chainRoomEnd(rs: Ruleset, c: number): number {
  return c + 1 < rs.chainCount ? rs.chainStart[c + 1] : rs.ruleCount;
}

/**
 * How the Ruleset's constructor lays a store column out in chain order: element k of a column
 * gathered is src[slot[k]]. It is done as a scatter, each store slot written to the rule that reads
 * it: the store holds a chain's rules together but chains in the order they were declared, and the
 * sorted chains read them in random order, where 27 columns of random reads had cost ~4x as many
 * random writes (a 1.5M-rule scratch benchmark: 500 against 125 ms). A slot read by more than one
 * rule (the blank rule room repeats) is read again for its other rules.
 * An Int32Array goes through a Uint32Array view of the same bytes, so that the loop sees at most four
 * array kinds: a fifth makes its element access megamorphic, 10x slower over 400,000 rules.
 * Cost: O(store slots + rules) a column.
 */
function gatherer(slot: Uint32Array, slots: number): <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(src: T) => T {
  const dest = new Int32Array(slots).fill(-1);
  let again = 0;
  for (let k = 0; k < slot.length; k++) {
    if (dest[slot[k]] < 0) dest[slot[k]] = k;
    else again++;
  }
  const repeats = new Uint32Array(again);
  again = 0;
  for (let k = 0; k < slot.length; k++) if (dest[slot[k]] !== k) repeats[again++] = k;
  return <T extends Uint8Array | Uint16Array | Uint32Array | Int32Array | Float64Array>(src: T): T => {
    if (src instanceof Int32Array) return new Int32Array(scatter(new Uint32Array(src.buffer, src.byteOffset, src.length), dest, slot, repeats).buffer) as T;
    return scatter(src as Exclude<T, Int32Array>, dest, slot, repeats) as T;
  };
}

function scatter<T extends Uint8Array | Uint16Array | Uint32Array | Float64Array>(src: T, dest: Int32Array, slot: Uint32Array, repeats: Uint32Array): T {
  const out = new (src.constructor as new (n: number) => T)(slot.length);
  for (let s = 0; s < dest.length; s++) {
    const k = dest[s];
    if (k >= 0) out[k] = src[s];
  }
  for (let i = 0; i < repeats.length; i++) out[repeats[i]] = src[slot[repeats[i]]];
  return out;
}

/**
 * Rules encoded as they are added, in that order, before the chains' final order is known: a
 * compile of 10,000 Services adds 400,000 rules, and holding them as RuleSpec objects until the
 * end kept 100 MB alive through every scavenge. `ruleJump` holds an index into `jumpTargets` here.
 */
export class RuleStore implements RuleColumns {
  count = 0;
  ruleFlags = new Uint32Array(0);
  ruleOrder = new Uint32Array(0);
  ruleSrc = new Uint32Array(0);
  ruleSrcMask = new Uint32Array(0);
  ruleDst = new Uint32Array(0);
  ruleDstMask = new Uint32Array(0);
  ruleProto = new Uint8Array(0);
  ruleDport = new Uint16Array(0);
  ruleMark = new Uint32Array(0);
  ruleMarkMask = new Uint32Array(0);
  ruleRecentName = new Int32Array(0);
  ruleRecentSeconds = new Uint32Array(0);
  ruleProb = new Uint32Array(0);
  ruleProbWritten = new Float64Array(0);
  ruleCtstate = new Uint8Array(0);
  ruleNfacct = new Int32Array(0);
  ruleComment = new Int32Array(0);
  ruleIface = new Int32Array(0);
  ruleTarget = new Uint8Array(0);
  ruleJump = new Int32Array(0);
  ruleTargetA = new Uint32Array(0);
  ruleTargetB = new Uint32Array(0);
  ruleTargetFlags = new Uint8Array(0);
  ruleSeq = new Uint32Array(0);
  ruleInRestore = new Uint8Array(0);
  ruleEndpoint = new Int32Array(0);
  rulePort = new Int32Array(0);
  ruleForeign = new Int32Array(0);
  readonly foreign: ForeignRule[] = [];
  /** Strings the rules name (comments, recent lists, nfacct, interfaces): the Ruleset's `strings`. */
  readonly strings: string[] = [];
  private readonly stringIds = new Map<string, number>();
  private readonly names: RuleNames;

  /**
   * `jumpTargets`: the chains rules jump to, declared or not yet, which `jump` indexes into (the
   * builder's, which knows each by name already); each has its id when the Ruleset is built.
   */
  constructor(readonly jumpTargets: readonly ChainSpec[], jump: RuleNames['jump']) {
    this.names = { jump, intern: (text) => this.intern(text) };
  }

  private intern(text: string): number {
    let id = this.stringIds.get(text);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(text);
      this.stringIds.set(text, id);
    }
    return id;
  }

  /** Room for `rules` rules in all, so that a compile that knows its size copies no column as it grows. */
  reserve(rules: number): void {
    if (rules > this.ruleFlags.length) this.grow(rules);
  }

  /** Encodes `spec` of a chain of `table` owned by `port` into the next slot, and returns it. Amortized O(1). */
  add(table: number, port: number, spec: RuleSpec, seq: number): number {
    const r = this.count++;
    if (r === this.ruleFlags.length) this.grow(Math.max(1024, r * 2));
    encodeRule(this, r, table, port, spec, seq, this.names);
    if (spec.foreign) {
      this.ruleFlags[r] |= M_FOREIGN;
      this.ruleForeign[r] = this.foreign.length;
      this.foreign.push(spec.foreign);
    } else this.ruleForeign[r] = -1;
    return r;
  }

  private grow(capacity: number): void {
    const self = this as unknown as Record<string, Uint8Array>;
    for (const key of Object.keys(this)) {
      const old = self[key];
      if (!key.startsWith('rule') || !ArrayBuffer.isView(old)) continue;
      const next = new (old.constructor as new (n: number) => Uint8Array)(capacity);
      next.set(old);
      self[key] = next;
    }
  }
}

/** Collects chains and rules while compiling or parsing, then freezes them into a Ruleset. */
export class RulesetBuilder {
  /** Declared chains, in declaration order. */
  private readonly chains: ChainSpec[] = [];
  /**
   * Every chain named so far, by a declaration or by a jump (a chain may be declared after a rule
   * jumps to it), and whether it is declared. A jump holds its target's index here, so the
   * Ruleset reads the chain's id, not its name, when it is built: one name index serves both.
   */
  private readonly named: ChainSpec[] = [];
  private readonly isDeclared: boolean[] = [];
  /** Per table, a chain's index in `named` by its name. */
  private readonly byName: Map<string, number>[] = kTableNames.map(() => new Map());
  private readonly store = new RuleStore(this.named, (table, name) => this.ref(table, name));
  private seq = 0;
  private ruleSeqNext = 0;
  /** The store slot of a rule that matches nothing and is never read: what room holds until written. */
  private blank = -1;
  private spareRoom: { table: number; chains: number; rules: number } | undefined;

  chain(table: number, name: string, opts: { policy?: number; inRestore?: boolean; port?: number } = {}): ChainSpec {
    const k = this.ref(table, name);
    const c = this.named[k];
    if (!this.isDeclared[k]) {
      this.isDeclared[k] = true;
      c.policy = opts.policy ?? POLICY_NONE;
      c.inRestore = opts.inRestore ?? false;
      c.port = opts.port ?? -1;
      c.seq = this.seq++;
      this.chains.push(c);
    } else if (opts.inRestore) {
      c.inRestore = true;
    }
    return c;
  }

  /** The index in `named` of chain `name` of `table`, named now if it was not yet. */
  private ref(table: number, name: string): number {
    let k = this.byName[table].get(name);
    if (k === undefined) {
      k = this.named.push({ name, table, policy: POLICY_NONE, inRestore: false, port: -1, rules: [], seq: -1, id: -1 }) - 1;
      this.isDeclared.push(false);
      this.byName[table].set(name, k);
    }
    return k;
  }

  /** Room for about `rules` rules (a hint: the store still grows past it). */
  reserve(rules: number): void {
    this.store.reserve(rules);
  }

  /** Appends `spec` to chain c, encoded now (the spec is not kept). */
  add(c: ChainSpec, spec: RuleSpec): void {
    c.rules.push(this.store.add(c.table, c.port, spec, this.ruleSeqNext++));
  }

  /** Rules laid out after chain c's end as room (ChainSpec.spare), numbered as if written now. */
  spare(c: ChainSpec, specs: readonly RuleSpec[]): void {
    c.spare = specs.map((s) => this.store.add(c.table, c.port, s, this.ruleSeqNext++));
  }

  /** `count` blank slots after chain c's end: room an in-place update appends rules into (update-services.ts). */
  room(c: ChainSpec, count: number): void {
    c.spare = new Array<number>(count).fill(this.blankSlot());
  }

  /**
   * `chains` nameless dead chains of `table` laid out after every other, sharing `rules` blank
   * slots after them: room an in-place update allocates a new Service's chains from, in order
   * (update-services.ts). Each starts where the last allocated one's room ends.
   */
  spareChains(table: number, chains: number, rules: number): void {
    this.spareRoom = { table, chains, rules };
  }

  /** Chains declared and rules added so far. */
  size(): { chains: number; rules: number } {
    return { chains: this.chains.length, rules: this.store.count };
  }

  private blankSlot(): number {
    if (this.blank < 0) this.blank = this.store.add(TABLE_NAT, -1, { order: [], target: T_NONE }, 0);
    return this.blank;
  }

  /**
   * `chains` of `table` by name, for names sortedByName cannot key: the default sort compares
   * UTF-16 code units, as `<` does, without calling back into JavaScript per comparison.
   */
  private sortedByNameSlowly(table: number, chains: readonly ChainSpec[]): ChainSpec[] {
    const names = chains.map((c) => c.name).sort();
    return names.map((name) => this.get(table, name)!);
  }

  has(table: number, name: string): boolean {
    return this.get(table, name) !== undefined;
  }

  /** Declared chain `name` of `table` (not one only jumped to). */
  get(table: number, name: string): ChainSpec | undefined {
    const k = this.byName[table].get(name);
    return k !== undefined && this.isDeclared[k] ? this.named[k] : undefined;
  }

  /** Chains in iptables-save order: built-ins in kernel order, then user chains sorted by name. */
  build(opts: { sort: boolean; tables?: number[]; headers?: (string | undefined)[]; footers?: (string | undefined)[] }): Ruleset {
    let ordered = this.chains;
    if (opts.sort) {
      ordered = [];
      for (let t = 0; t < kTableNames.length; t++) {
        const builtins = kBuiltinChains[t];
        for (const b of builtins) {
          const c = this.get(t, b);
          if (c) ordered.push(c);
        }
        const users: ChainSpec[] = [];
        for (let i = 0; i < this.chains.length; i++) {
          const c = this.chains[i];
          if (c.table === t && !builtins.includes(c.name)) users.push(c);
        }
        // A loop, not push(...): a large cluster has more chains than call arguments fit.
        const sorted = sortedByName(users) ?? this.sortedByNameSlowly(t, users);
        for (let k = 0; k < sorted.length; k++) ordered.push(sorted[k]);
      }
    }
    if (this.spareRoom && this.spareRoom.chains > 0) {
      if (ordered === this.chains) ordered = this.chains.slice();
      const { table, chains, rules } = this.spareRoom;
      for (let k = 0; k < chains; k++) ordered.push({ name: '', table, policy: POLICY_NONE, inRestore: true, port: -1, rules: [], seq: -1, id: -1, live: false });
      ordered[ordered.length - 1].spare = new Array<number>(rules).fill(this.blankSlot());
    }
    const tables = opts.tables ?? [...new Set(ordered.map((c) => c.table))].sort((a, b) => a - b);
    for (let k = 0; k < ordered.length; k++) ordered[k].id = k;
    return new Ruleset(ordered, this.store, tables, opts.headers, opts.footers);
  }
}

/** Characters of a name sortedByName keys: an iptables chain name has at most 28 (XT_EXTENSION_MAXNAMELEN - 1). */
const kKeyChars = 28;
/** Characters a key word holds, seven bits each, the first in the highest bits. */
const kCharsPerWord = 4;
const kKeyWords = kKeyChars / kCharsPerWord;
const kDigitBits = 14;

/**
 * `chains` in the order of their names' UTF-16 code units (the order Array.prototype.sort gives
 * the names), or undefined when a name is longer than kKeyChars or has a character outside
 * 1..127. Each name is a key of kKeyWords words of four 7-bit characters, a shorter name padded
 * with 0 (below any character, so a prefix sorts first), sorted by a stable LSD radix sort, 14 bits
 * a pass. Cost: O(chains x 14 passes), no string comparison and no name looked up again: the
 * 381,000 user chains of 30,000 Services had cost ~0.6 s in a sort of their names and a Map
 * lookup of each sorted name.
 */
function sortedByName(chains: readonly ChainSpec[]): ChainSpec[] | undefined {
  const n = chains.length;
  if (n < 2) return chains.slice();
  const keys = new Int32Array(n * kKeyWords);
  for (let i = 0; i < n; i++) {
    const name = chains[i].name;
    if (name.length > kKeyChars) return undefined;
    for (let k = 0; k < name.length; k++) {
      const c = name.charCodeAt(k);
      if (c === 0 || c > 127) return undefined;
      keys[i * kKeyWords + (k >> 2)] |= c << (7 * (kCharsPerWord - 1 - (k & 3)));
    }
  }
  let order = new Uint32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let next = new Uint32Array(n);
  const counts = new Uint32Array((1 << kDigitBits) + 1);
  const mask = (1 << kDigitBits) - 1;
  for (let w = kKeyWords - 1; w >= 0; w--) {
    for (let shift = 0; shift < 2 * kDigitBits; shift += kDigitBits) {
      // A digit's count does not depend on the order: the keys are counted where they lie, in
      // sequence; only the scatter reads them in the pass's order.
      counts.fill(0);
      for (let i = 0; i < n; i++) counts[((keys[i * kKeyWords + w] >>> shift) & mask) + 1]++;
      if (counts[((keys[w] >>> shift) & mask) + 1] === n) continue; // one digit for all: nothing moves
      for (let d = 0; d < mask + 1; d++) counts[d + 1] += counts[d];
      for (let i = 0; i < n; i++) {
        const o = order[i];
        next[counts[(keys[o * kKeyWords + w] >>> shift) & mask]++] = o;
      }
      const swap = order;
      order = next;
      next = swap;
    }
  }
  const out = new Array<ChainSpec>(n);
  for (let i = 0; i < n; i++) out[i] = chains[order[i]];
  return out;
}

/**
 * Per-rule fast-reject keys for the decide() scan, in "slot" space: chain c's rules sit at
 * slots `chainStart[c] + c … chainEnd[c] + c - 1` and slot `chainEnd[c] + c` is a stop slot,
 * so the scan needs no bounds test (rule r of chain c is slot r + c).
 *
 * - `dst[s]`: the rule's destination when it matches exactly one address (`-d a.b.c.d/32`, not
 *   negated), else kScanAny. A rule whose key is neither kScanAny nor the packet's destination
 *   cannot match: that is the whole test for a KUBE-SERVICES portal rule (one load, two compares).
 * - `protoPort[s]`: `proto << 16 | dport` when the rule matches both, else kScanAnyProtoPort;
 *   only read for rules whose `dst` key is kScanAny (KUBE-NODEPORTS, `-d 127.0.0.0/8` …).
 *
 * Both keys only ever reject rules the full match would reject too, so every rule is still
 * visited, in order, and counted. A key that happens to equal a wildcard value is harmless: the
 * rule merely gets the full match. Stop slots hold both wildcards, so the scan always halts there.
 */
export const kScanAny = 0; // 0.0.0.0/32: never a real rule's only address
export const kScanAnyProtoPort = -1; // proto 0xffff: impossible
export interface ScanKeys {
  readonly dst: Int32Array;
  readonly protoPort: Int32Array;
}

export function buildScanKeys(rs: Ruleset): ScanKeys {
  const slots = rs.ruleCount + rs.chainCount;
  const dst = new Int32Array(slots).fill(kScanAny);
  const protoPort = new Int32Array(slots).fill(kScanAnyProtoPort);
  const keys = { dst, protoPort };
  for (let c = 0; c < rs.chainCount; c++) {
    const end = rs.chainEnd[c];
    for (let r = rs.chainStart[c]; r < end; r++) setScanKeys(rs, keys, c, r);
  }
  return keys;
}

/** Rule r of chain c's keys, in its slot (wildcards where it has no single address or port). */
export function setScanKeys(rs: Ruleset, keys: ScanKeys, c: number, r: number): void {
  const f = rs.ruleFlags[r];
  const s = r + c;
  keys.dst[s] = (f & (M_DST | M_DST_NEG)) === M_DST && rs.ruleDstMask[r] === 0xffffffff ? rs.ruleDst[r] | 0 : kScanAny;
  keys.protoPort[s] = (f & (M_PROTO | M_DPORT)) === (M_PROTO | M_DPORT) ? ((rs.ruleProto[r] << 16) | rs.ruleDport[r]) | 0 : kScanAnyProtoPort;
}
