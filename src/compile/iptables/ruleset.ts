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
import type { Cidr } from '../../net/ipv4.js';
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
  /** Emission order (kube-proxy writes rules of different chains interleaved). */
  seq?: number;
}

export interface ChainSpec {
  name: string;
  table: number;
  policy: number;
  inRestore: boolean;
  /** Service port owning the chain (KUBE-SVC/SVL/EXT/FW/SEP), or -1 for shared chains. */
  port: number;
  rules: RuleSpec[];
  /** Order in which the chain line appears in kube-proxy's restore input. */
  seq: number;
}

/** A Ruleset's data fields: what `sharedFields` gives and `fromSharedFields` takes. */
export type RulesetFields = { readonly [K in keyof Ruleset as Ruleset[K] extends (...a: never[]) => unknown ? never : K]: Ruleset[K] };

/** The compiled (or parsed) tables. Read-only once built. */
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

  constructor(chains: readonly ChainSpec[], tables: readonly number[], headers: (string | undefined)[] = [], footers: (string | undefined)[] = []) {
    this.tables = tables;
    this.headers = headers;
    this.footers = footers;
    const n = chains.length;
    this.chainCount = n;
    this.chainName = chains.map((c) => c.name);
    this.chainTable = Uint8Array.from(chains, (c) => c.table);
    const idx = this.chainIndex();
    this.chainPolicy = new Uint8Array(n);
    this.chainStart = new Uint32Array(n);
    this.chainEnd = new Uint32Array(n);
    this.chainSeq = new Int32Array(n);
    this.chainInRestore = new Uint8Array(n);
    this.chainPort = new Int32Array(n);
    let total = 0;
    for (const c of chains) total += c.rules.length;
    this.ruleCount = total;
    this.ruleChain = new Uint32Array(total);
    this.ruleFlags = new Uint32Array(total);
    this.ruleOrder = new Uint32Array(total);
    this.ruleSrc = new Uint32Array(total);
    this.ruleSrcMask = new Uint32Array(total);
    this.ruleDst = new Uint32Array(total);
    this.ruleDstMask = new Uint32Array(total);
    this.ruleProto = new Uint8Array(total);
    this.ruleDport = new Uint16Array(total);
    this.ruleMark = new Uint32Array(total);
    this.ruleMarkMask = new Uint32Array(total);
    this.ruleRecentName = new Int32Array(total).fill(-1);
    this.ruleRecentSeconds = new Uint32Array(total);
    this.ruleProb = new Uint32Array(total);
    this.ruleProbWritten = new Float64Array(total);
    this.ruleCtstate = new Uint8Array(total);
    this.ruleNfacct = new Int32Array(total).fill(-1);
    this.ruleComment = new Int32Array(total).fill(-1);
    this.ruleIface = new Int32Array(total).fill(-1);
    this.ruleTarget = new Uint8Array(total);
    this.ruleJump = new Int32Array(total).fill(-1);
    this.ruleTargetA = new Uint32Array(total);
    this.ruleTargetB = new Uint32Array(total);
    this.ruleTargetFlags = new Uint8Array(total);
    this.ruleSeq = new Uint32Array(total);
    this.ruleInRestore = new Uint8Array(total);
    this.ruleEndpoint = new Int32Array(total).fill(-1);
    this.rulePort = new Int32Array(total).fill(-1);
    // Only a real node's dump has rules of other owners: kdp's own rulesets carry no per-rule slot
    // for them (their table memory is what the benchmark reports).
    let foreignCount = 0;
    for (const c of chains) for (const s of c.rules) if (s.foreign) foreignCount++;
    this.ruleForeign = new Int32Array(foreignCount > 0 ? total : 0).fill(-1);
    const foreign: ForeignRule[] = [];

    const strings: string[] = [];
    const stringIds = new Map<string, number>();
    const intern = (s: string): number => {
      let id = stringIds.get(s);
      if (id === undefined) {
        id = strings.length;
        strings.push(s);
        stringIds.set(s, id);
      }
      return id;
    };
    let r = 0;
    let seq = 0;
    for (let ci = 0; ci < n; ci++) {
      const c = chains[ci];
      this.chainPolicy[ci] = c.policy;
      this.chainSeq[ci] = c.seq;
      this.chainInRestore[ci] = c.inRestore ? 1 : 0;
      this.chainPort[ci] = c.port;
      this.chainStart[ci] = r;
      for (const s of c.rules) {
        this.ruleChain[r] = ci;
        let f = 0;
        let order = 0;
        for (let t = 0; t < s.order.length && t < kMaxTokens; t++) order |= (s.order[t] & 15) << (t * 4);
        this.ruleOrder[r] = order >>> 0;
        if (s.src) {
          f |= M_SRC | (s.srcNeg ? M_SRC_NEG : 0);
          this.ruleSrc[r] = s.src.base;
          this.ruleSrcMask[r] = prefixToMask(s.src.prefix);
        }
        if (s.dst) {
          f |= M_DST | (s.dstNeg ? M_DST_NEG : 0);
          this.ruleDst[r] = s.dst.base;
          this.ruleDstMask[r] = prefixToMask(s.dst.prefix);
        }
        if (s.proto) {
          f |= M_PROTO;
          this.ruleProto[r] = s.proto;
        }
        if (s.dport !== undefined) {
          f |= M_DPORT;
          this.ruleDport[r] = s.dport;
        }
        if (s.srcLocal) f |= M_SRC_LOCAL;
        if (s.dstLocal) f |= M_DST_LOCAL;
        if (s.mark) {
          f |= M_MARK | (s.mark.neg ? M_MARK_NEG : 0);
          this.ruleMark[r] = s.mark.value >>> 0;
          this.ruleMarkMask[r] = s.mark.mask >>> 0;
        }
        if (s.recent) {
          f |= s.recent.check ? M_RECENT_CHECK : M_RECENT_SET;
          if (s.recent.reap) f |= M_RECENT_REAP;
          if (s.recent.explicit) f |= M_RECENT_EXPLICIT;
          this.ruleRecentName[r] = intern(s.recent.name);
          this.ruleRecentSeconds[r] = s.recent.seconds;
        }
        if (s.probability !== undefined) {
          f |= M_STATISTIC;
          this.ruleProbWritten[r] = s.probability;
          this.ruleProb[r] = Math.round(s.probability * 0x80000000);
        }
        if (s.ctstate) {
          f |= M_CTSTATE | (s.ctstate.neg ? M_CTSTATE_NEG : 0);
          this.ruleCtstate[r] = s.ctstate.mask;
        }
        if (s.nfacct !== undefined) {
          f |= M_NFACCT;
          this.ruleNfacct[r] = intern(s.nfacct);
        }
        if (s.comment !== undefined) this.ruleComment[r] = intern(s.comment);
        if (s.iface) {
          f |= M_IFACE | (s.iface.neg ? M_IFACE_NEG : 0);
          this.ruleIface[r] = intern(s.iface.name);
        }
        if (s.foreign) {
          f |= M_FOREIGN;
          this.ruleForeign[r] = foreign.length;
          foreign.push(s.foreign);
        }
        this.ruleFlags[r] = f;
        this.ruleTarget[r] = s.target;
        if (s.target === T_JUMP) {
          const j = idx[c.table].get(s.jump ?? '');
          if (j === undefined) throw new Error(`chain ${c.name} jumps to unknown chain ${s.jump}`);
          this.ruleJump[r] = j;
        } else if (s.target === T_DNAT) {
          this.ruleTargetA[r] = s.dnatIp ?? 0;
          this.ruleTargetB[r] = s.dnatPort ?? 0;
        } else if (s.target === T_MARK) {
          this.ruleTargetA[r] = (s.markValue ?? 0) >>> 0;
          this.ruleTargetB[r] = (s.markMask ?? 0) >>> 0;
        }
        this.ruleTargetFlags[r] = s.targetFlags ?? 0;
        this.ruleInRestore[r] = s.inRestore ? 1 : 0;
        this.ruleEndpoint[r] = s.endpoint ?? -1;
        this.rulePort[r] = s.port ?? c.port;
        this.ruleSeq[r] = s.seq ?? seq;
        seq++;
        r++;
      }
      this.chainEnd[ci] = r;
    }
    this.strings = strings;
    this.foreign = foreign;
  }

  chainId(table: number, name: string): number {
    return this.chainIndex()[table].get(name) ?? -1;
  }

  private chainIndex(): ReadonlyMap<string, number>[] {
    if (!this.chainIndexCache) {
      const maps: Map<string, number>[] = kTableNames.map(() => new Map());
      for (let c = 0; c < this.chainCount; c++) maps[this.chainTable[c]].set(this.chainName[c], c);
      this.chainIndexCache = maps;
    }
    return this.chainIndexCache;
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

export function prefixToMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function maskToPrefix(mask: number): number {
  let p = 0;
  let m = mask >>> 0;
  while (m & 0x80000000) {
    p++;
    m = (m << 1) >>> 0;
  }
  return p;
}

/** Collects chains and rules while compiling or parsing, then freezes them into a Ruleset. */
export class RulesetBuilder {
  private readonly chains: ChainSpec[] = [];
  private readonly byName: Map<string, ChainSpec>[] = kTableNames.map(() => new Map());
  private seq = 0;
  private ruleSeqNext = 0;

  chain(table: number, name: string, opts: { policy?: number; inRestore?: boolean; port?: number } = {}): ChainSpec {
    let c = this.byName[table].get(name);
    if (!c) {
      c = { name, table, policy: opts.policy ?? POLICY_NONE, inRestore: opts.inRestore ?? false, port: opts.port ?? -1, rules: [], seq: this.seq++ };
      this.chains.push(c);
      this.byName[table].set(name, c);
    } else if (opts.inRestore) {
      c.inRestore = true;
    }
    return c;
  }

  add(c: ChainSpec, spec: RuleSpec): RuleSpec {
    spec.seq = this.ruleSeqNext++;
    c.rules.push(spec);
    return spec;
  }

  has(table: number, name: string): boolean {
    return this.byName[table].has(name);
  }

  get(table: number, name: string): ChainSpec | undefined {
    return this.byName[table].get(name);
  }

  /** Chains in iptables-save order: built-ins in kernel order, then user chains sorted by name. */
  build(opts: { sort: boolean; tables?: number[]; headers?: (string | undefined)[]; footers?: (string | undefined)[] }): Ruleset {
    let ordered = this.chains;
    if (opts.sort) {
      ordered = [];
      for (let t = 0; t < kTableNames.length; t++) {
        const builtins = kBuiltinChains[t];
        for (const b of builtins) {
          const c = this.byName[t].get(b);
          if (c) ordered.push(c);
        }
        const users = this.chains.filter((c) => c.table === t && !builtins.includes(c.name));
        users.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        // A loop, not push(...users): a large cluster has more chains than call arguments fit.
        for (let k = 0; k < users.length; k++) ordered.push(users[k]);
      }
    }
    const tables = opts.tables ?? [...new Set(ordered.map((c) => c.table))].sort((a, b) => a - b);
    return new Ruleset(ordered, tables, opts.headers, opts.footers);
  }
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
  const flags = rs.ruleFlags;
  for (let c = 0; c < rs.chainCount; c++) {
    const end = rs.chainEnd[c];
    for (let r = rs.chainStart[c]; r < end; r++) {
      const f = flags[r];
      const s = r + c;
      if ((f & (M_DST | M_DST_NEG)) === M_DST && rs.ruleDstMask[r] === 0xffffffff) dst[s] = rs.ruleDst[r] | 0;
      if ((f & (M_PROTO | M_DPORT)) === (M_PROTO | M_DPORT)) protoPort[s] = ((rs.ruleProto[r] << 16) | rs.ruleDport[r]) | 0;
    }
  }
  return { dst, protoPort };
}
