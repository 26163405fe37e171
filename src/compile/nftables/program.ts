/**
 * A Ruleset compiled to typed arrays: chains as runs of rules in one code array, each rule a
 * header (its action op), its match ops and a numgen's branches side by side; verdict maps and
 * sets as open-addressing hash tables. Built the same way from a ruleset kdp compiled itself or one parsed
 * from `nft list` text, which is what makes the two decide alike.
 *
 * Objects are tied back to the cluster by name, as kube-proxy names them: a chain or set's
 * "ns/svc/proto/port" part gives the service port, `dnat to IP:PORT` in that port's chain the
 * endpoint row, an element comment "ns/svc:port" the port of a no-endpoint entry.
 */
import { InvalidArgumentError } from '../../errors.js';
import { prefixMask } from '../../net/ipv4.js';
import { servicePortName, type Cluster, type ServicePort } from '../../model/types.js';
import { localDetector } from '../local-detector.js';
import { newGeneration } from '../table-generation.js';
import { AddressSet, PairTable } from '../tables/index.js';
import { withRoom } from '../tables/capacity.js';
import {
  affinitySetOf, hashedPortNames, kPortChainRoles, kPrefixEndpoint, servicePortKey, servicePortKeyOfName, type PortNames,
} from './names.js';
import { kSetClusterIps } from './build.js';
import type { Action, Chain, Match, NftSet, Rule, Ruleset, Verdict } from './ruleset.js';
import { chainIndex, kHooks } from './ruleset.js';

// The program's op codes and word layouts are const enums, not exported consts: tsc writes their
// values into every use, where V8 reads an imported const through its module cell at every use,
// even in optimised code (decide()'s walk ran ~15-20 % faster with the values inlined: decide.ts).

/** Match ops (a match's first word). */
export const enum MatchOp {
  CT_NEW = 1,
  ADDR = 2, // a = cidr start, b = count, c = MatchFlag
  ADDR_SET = 3, // a = set id, c = MatchFlag.DADDR or 0
  FIB_LOCAL = 4, // c = MatchFlag.DADDR or 0
  L4PROTO = 5, // a = proto
  DPORT = 6, // a = proto, b = port
  IIF = 7, // a = the interface name's index in ruleStrings, c = MatchFlag.NEG or 0
  MARK_ZERO = 8, // a = mask
  // One CIDR, held in the match itself (every address match kube-proxy writes into a Service's or an
  // endpoint's chain has one): the walk reads no cidrs line for it.
  ADDR1 = 9, // a = base, b = mask, c = MatchFlag
}

/** A match's flags word (its fourth): which address it reads, and whether it is negated. */
export const enum MatchFlag {
  DADDR = 1,
  NEG = 2,
}

/** Action ops (also verdict ops in maps and numgen targets). */
export const enum ActionOp {
  JUMP = 1,
  GOTO = 2,
  RETURN = 3,
  ACCEPT = 4,
  DROP = 5,
  REJECT = 6,
  VMAP3 = 7, // a = map id (daddr . l4proto . dport)
  VMAP2 = 8, // a = map id (l4proto . dport)
  NUMGEN = 9, // a = word offset of its branches (VerdictWord) in code, b = count
  MARK_OR = 10, // a = mask
  MARK_XOR = 11,
  MASQ = 12,
  DNAT = 13, // a = ip, b = port, c = endpoint row
  UPDATE = 14, // a = set id
}

/**
 * A rule in NftProgram.code: a header of HEADER words, then its matches (MATCH_STRIDE words each:
 * op, a, b, c), then, for a numgen, its branches (kBranchWords words each: DnatWord). A chain's rules
 * follow one another, so a chain is one run of words, as the kernel keeps a chain's rules and their
 * expressions in one blob: a first packet at 30k Services reads a chain in one or two adjacent cache
 * lines, where separate rule, match and target arrays cost a miss each (the profile of 2026-12-03:
 * those misses were most of the lookup).
 */
export const enum RuleWord {
  ID = 0, // the rule's index in ruleChain and ruleNote
  NEXT = 1, // word offset of the chain's next rule
  MATCHES = 2, // match count
  OP = 3,
  A = 4,
  B = 5,
  C = 6,
  HEADER = 7,
  MATCH_STRIDE = 4,
}

/**
 * The branch a numgen of `n` targets takes for the packet's random `rand` (a u32 or its int32
 * bits): the kernel's reciprocal_scale(prandom_u32(), mod). decide()'s source writes the same
 * expression out.
 */
export function numgenBranch(rand: number, n: number): number {
  return Math.floor(((rand >>> 0) * n) / 4294967296);
}

/** Words a rule takes in code. */
export function ruleWords(r: Rule): number {
  return RuleWord.HEADER + RuleWord.MATCH_STRIDE * r.matches.length + (r.action.k === 'numgen' ? kBranchWords * r.action.targets.length : 0);
}

/**
 * A chain's row in NftProgram.chainRows: where its rules start and end in code, how many, the Service
 * port it belongs to (-1 for none). One row, not several arrays: a first packet reads it for each
 * chain it enters, and at 30k Services each array was a cache miss of its own. 16 bytes (STRIDE
 * words): one cache line, never two in a shared image (table-image.ts starts an array on 16 bytes
 * of a buffer malloc aligns to 16).
 */
export const enum ChainWord {
  START = 0,
  END = 1,
  RULE_COUNT = 2,
  SERVICE_PORT = 3,
  STRIDE = 4,
}

/**
 * A verdict as a map element's row (in its PairTable slot's values: the first words of a MapWord row)
 * and a numgen branch (in code, after the rule's matches: a verdict row, DnatWord) hold
 * it, STRIDE words: the op (ActionOp; 0 for a map key reserved for a port's room and absent now)
 * and its argument (a chain for a goto or jump) in one word (verdictWord: the op in its low bits,
 * VerdictBits), the Service port it names (-1 for none), and for a goto or jump the target
 * chain's code span, a copy of its row's START and END. Four words, not five: a map element's row with its key and hint then fits in
 * 32 bytes (MapWord), one cache line or two where it straddles one (lines.bench: a key in an
 * array of its own, or a 40-byte row, was a line more a decision). A first packet goes from a
 * service-ips element straight to the Service chain's code, and from its numgen to the endpoint
 * chain's (or, of kube-proxy's usual endpoint chain, to the DNAT its branch's DNAT row holds: DnatWord),
 * without reading either chain's row: a dependent cache miss each at 30k Services.
 * Whoever moves a chain's code writes the verdicts that copy its row: compileProgram fills the maps
 * and links the numgen branches (linkTargets) once every chain is placed; writeRoom does both for a
 * port after writing its chains.
 */
export const enum VerdictWord {
  VERDICT = 0,
  PORT = 1,
  START = 2,
  END = 3,
  STRIDE = 4,
}

/**
 * A verdict word: the op in its low bits (OP_MASK: ActionOp's fit), the SERVICE_CHAIN flag, the
 * argument above them (`>> ARG_SHIFT`).
 */
export const enum VerdictBits {
  OP_MASK = 15,
  /**
   * A map element's goto enters kube-proxy's Service chain for the element's own key
   * (writeMapVerdict, serviceChainAt): decide() may take its numgen from the element's span.
   */
  SERVICE_CHAIN = 16,
  ARG_SHIFT = 5,
  /** Arguments (chain indexes) below 2^26 fit. */
  ARG_LIMIT = 67108864,
}

/** The verdict word of `op` and `arg` (VerdictWord.VERDICT), its SERVICE_CHAIN flag clear. */
export function verdictWord(op: number, arg: number): number {
  if (arg < 0 || arg >= VerdictBits.ARG_LIMIT) throw new InvalidArgumentError(`nftables program: verdict argument ${arg} does not fit a verdict word (at most ${VerdictBits.ARG_LIMIT - 1} chains)`);
  return (arg << VerdictBits.ARG_SHIFT) | op;
}

/** Writes a verdict at `o` of `row` (VerdictWord): op and argument, Service port and a goto's or jump's target span. */
export function writeVerdict(row: Int32Array, o: number, op: number, arg: number, port: number, chainRows: Int32Array): void {
  const chain = op === ActionOp.GOTO || op === ActionOp.JUMP;
  row[o + VerdictWord.VERDICT] = verdictWord(op, arg);
  row[o + VerdictWord.PORT] = port;
  row[o + VerdictWord.START] = chain ? chainRows[arg * ChainWord.STRIDE + ChainWord.START] : 0;
  row[o + VerdictWord.END] = chain ? chainRows[arg * ChainWord.STRIDE + ChainWord.END] : 0;
}

/**
 * A verdict map element's row in its PairTable slot's values, STRIDE words: its verdict (VerdictWord,
 * the first four) and where the chains its target's numgen branches enter lie, when they lie one
 * after another at one stride in branch order (a port's endpoint chains do: its room), as the
 * first one's START and, in HINT, the branch count and the stride (HintBits) (HINT_START -1 and
 * HINT 0: they do not, or the count or the stride does not fit 16 bits). Where decide() does not
 * DNAT from branch k's DNAT row (DnatWord: a hairpin packet, an affinity Service's chains), it computes
 * branch k's chain from the element, which it has read already, so the endpoint chain's
 * lines are read beside the Service chain's rather than after them, behind a compare with branch
 * k's verdict row (decide.ts): a hint an update left stale costs a walk, never a wrong answer. A negative
 * count hints the numgen of the chain the target's last rule goes to: an element of a NodePort, a
 * LoadBalancer IP or an external IP enters kube-proxy's external chain, which holds no numgen and
 * ends in `goto` its policy's chain (only the prefetch reads that hint: decide()'s guess, made
 * where the entered chain's own numgen is, fails its compare). With its key, 32 bytes
 * (PairTable): one cache line, or two when the row straddles one (JavaScript cannot align a
 * buffer's address).
 */
export const enum MapWord {
  HINT_START = 4,
  HINT = 5,
  STRIDE = 6,
}

/** MapWord.HINT: the branch count, signed, above COUNT_SHIFT; the stride in the bits of STRIDE_MASK. */
export const enum HintBits {
  COUNT_SHIFT = 16,
  STRIDE_MASK = 0xffff,
}

/** A hint's count (signed) and stride as MapWord.HINT, or 0 when either does not fit its 16 bits. */
export function mapHint(count: number, stride: number): number {
  return count >= -32768 && count <= 32767 && count !== 0 && stride > 0 && stride <= HintBits.STRIDE_MASK ? (count << HintBits.COUNT_SHIFT) | stride : 0;
}

/**
 * A numgen's N branches in code, after its rule's matches (RuleWord.A): their verdict rows first
 * (VerdictWord; branch k's at A + VerdictWord.STRIDE * k), then their DNAT rows (DnatWord; branch
 * k's at A + VerdictWord.STRIDE * N + DnatWord.STRIDE * k: dnatRowAt), kBranchWords words a branch.
 * A DNAT row holds the DNAT of the chain branch k goes to when that chain is an endpoint chain as
 * kube-proxy's syncProxyRules writes it, `ip saddr EP jump mark-for-masquerade` then `meta l4proto
 * P dnat to EP:PORT` (writeBranchEndpoint): the endpoint's address (the hairpin rule's source and
 * the DNAT's, one address in kube-proxy's chains), protocol and port, endpoint row, and the
 * branch's Service port (a copy of its verdict row's); ENDPOINT -1 where the chain has another
 * shape, its DNAT no row, or its two rules two addresses. decide() DNATs a packet from the DNAT row
 * when its source is not the endpoint's address, and reads no line of the endpoint chain; where a
 * map element brought it to the numgen (VerdictBits.SERVICE_CHAIN), nor the verdict row. A hairpin
 * packet, and any chain of another shape, is walked. The rows are the chain's: linkTargets writes
 * them from the chain's code whenever it writes the branch's span, and every writer of a chain's
 * code links the branches that name it after (compileProgram, update.ts writeRoom), as for the
 * span. Apart from the verdicts, a Service chain's DNAT rows lie together, 16 bytes each: 160
 * bytes for 10 endpoints, where rows of both (32 bytes each) spread them over 320, the lines a
 * first packet at 30k Services draws from (lines.bench's working set).
 */
export const enum DnatWord {
  ADDR = 0, // the endpoint's address (int32 bits): the hairpin rule's source, the DNAT's address
  L4 = 1, // l4proto << 16 | port
  ENDPOINT = 2,
  PORT = 3, // the branch's Service port (its VerdictWord.PORT)
  STRIDE = 4,
}

/** Code words a numgen branch takes: its verdict row and its DNAT row. */
export const kBranchWords = VerdictWord.STRIDE + DnatWord.STRIDE;

/** Where branch k's DNAT row is, of a numgen of `n` branches whose rows start at `a` (RuleWord.A). */
export function dnatRowAt(a: number, n: number, k: number): number {
  return a + VerdictWord.STRIDE * n + DnatWord.STRIDE * k;
}

/**
 * Writes the DNAT row at `d` (DnatWord) of a branch whose verdict is `op` into the chain at code
 * span [start, end), with Service port `port`: kube-proxy's endpoint chain, its two rules exactly
 * (a goto), or ENDPOINT -1.
 */
function writeBranchEndpoint(K: Int32Array, d: number, op: number, start: number, end: number, port: number): void {
  K[d + DnatWord.ADDR] = 0;
  K[d + DnatWord.L4] = 0;
  K[d + DnatWord.ENDPOINT] = -1;
  K[d + DnatWord.PORT] = port;
  const hairpin = start;
  const dnat = hairpin + RuleWord.HEADER + RuleWord.MATCH_STRIDE;
  // Two rules of one match each fill the span (the encoder writes a rule's words one after another).
  if (op !== ActionOp.GOTO || dnat + RuleWord.HEADER + RuleWord.MATCH_STRIDE !== end) return;
  const m = hairpin + RuleWord.HEADER;
  const hairpinRule = K[hairpin + RuleWord.MATCHES] === 1 && K[hairpin + RuleWord.OP] === ActionOp.JUMP && K[m] === MatchOp.ADDR1 && K[m + 2] === -1 && K[m + 3] === 0;
  const n = dnat + RuleWord.HEADER;
  const dnatRule = K[dnat + RuleWord.MATCHES] === 1 && K[n] === MatchOp.L4PROTO && K[dnat + RuleWord.OP] === ActionOp.DNAT && K[dnat + RuleWord.C] >= 0;
  if (!hairpinRule || !dnatRule || K[m + 1] !== K[dnat + RuleWord.A]) return;
  K[d + DnatWord.ADDR] = K[dnat + RuleWord.A];
  K[d + DnatWord.L4] = (K[n + 1] << 16) | K[dnat + RuleWord.B];
  K[d + DnatWord.ENDPOINT] = K[dnat + RuleWord.C];
}

/** Words of kube-proxy's Service chain before its numgen's branches: its masquerade rule (three matches) and the numgen's header. */
export const kServiceHead = 2 * RuleWord.HEADER + 3 * RuleWord.MATCH_STRIDE;

/**
 * Whether the chain at code span [start, end) is kube-proxy's Service chain (syncProxyRules'
 * internalTrafficChain) for the element keyed (`k0`, `k1`): `ip daddr k0 th dport k1 ip saddr !=
 * LOCAL jump …`, LOCAL the program's localCidr, then `numgen random mod N vmap { … }` as its last
 * rule, its N branches' rows after it. A packet the element sends there from inside LOCAL (its daddr
 * and dport are the key's) meets a masquerade rule that does not match and takes branch
 * numgenBranch(rand, N) of the rows from start + kServiceHead, N being (end - start - kServiceHead)
 * / kBranchWords: all of it follows from the element's span (VerdictBits.SERVICE_CHAIN), its DNAT
 * row too, the last N rows of DnatWord.STRIDE words before `end`.
 */
function serviceChainAt(K: Int32Array, start: number, end: number, k0: number, k1: number, localCidr: Int32Array): boolean {
  const numgen = start + RuleWord.HEADER + 3 * RuleWord.MATCH_STRIDE;
  const n = (end - start - kServiceHead) / kBranchWords;
  // The encoder writes a rule's words one after another (RuleEncoder.rule): three matches and a
  // jump end where the numgen starts, and a numgen of n branches at its header's end ends at `end`.
  if (!(n >= 1 && Number.isInteger(n)) || K[start + RuleWord.MATCHES] !== 3 || K[start + RuleWord.OP] !== ActionOp.JUMP) return false;
  const m = start + RuleWord.HEADER;
  const daddr = K[m] === MatchOp.ADDR1 && K[m + 3] === MatchFlag.DADDR && K[m + 2] === -1 && K[m + 1] === (k0 | 0);
  const dport = K[m + 4] === MatchOp.DPORT && K[m + 5] === k1 >>> 16 && K[m + 6] === (k1 & 0xffff);
  const saddr = K[m + 8] === MatchOp.ADDR1 && K[m + 11] === MatchFlag.NEG && K[m + 9] === localCidr[0] && K[m + 10] === localCidr[1];
  return daddr && dport && saddr && K[numgen + RuleWord.MATCHES] === 0 && K[numgen + RuleWord.OP] === ActionOp.NUMGEN &&
    K[numgen + RuleWord.A] === numgen + RuleWord.HEADER && K[numgen + RuleWord.B] === n;
}

/**
 * The source CIDR kube-proxy's local detector names in its Service chains' masquerade rules (`ip
 * saddr != CIDR jump mark-for-masquerade`), the one most of them name: (base, mask), or (0, 0)
 * for none (decide() then takes no element's flag: VerdictBits.SERVICE_CHAIN).
 */
function localCidrOf(rs: Ruleset): Int32Array {
  const counts = new Map<string, { n: number; cidr: Int32Array }>();
  let best: { n: number; cidr: Int32Array } = { n: 0, cidr: new Int32Array(2) };
  for (const c of rs.chains) {
    for (const r of c.rules) {
      const [d, p, l] = r.matches;
      if (r.matches.length !== 3 || r.action.k !== 'jump' || d.k !== 'addr' || d.field !== 'daddr' || p.k !== 'dport' || l.k !== 'addr' || l.field !== 'saddr' || !l.neg || l.cidrs.length !== 1) continue;
      const key = `${l.cidrs[0].base}/${l.cidrs[0].prefix}`;
      let seen = counts.get(key);
      if (seen === undefined) counts.set(key, (seen = { n: 0, cidr: Int32Array.of(l.cidrs[0].base | 0, prefixMask(l.cidrs[0].prefix) | 0) }));
      if (++seen.n > best.n) best = seen;
    }
  }
  return best.cidr;
}

// An absent element names no chain, so clearing one reads no chain rows.
const kNoRows = new Int32Array(0);

/** The word offset of the first numgen rule of the chain whose code is [start, end), or -1. */
function numgenOf(K: Int32Array, start: number, end: number): number {
  for (let pc = start; pc < end; pc = K[pc + RuleWord.NEXT]) if (K[pc + RuleWord.OP] === ActionOp.NUMGEN) return pc;
  return -1;
}

/** The word offset of the last rule of the chain whose code is [start, end), or -1 for an empty one. */
function lastRuleOf(K: Int32Array, start: number, end: number): number {
  let last = -1;
  for (let pc = start; pc < end; pc = K[pc + RuleWord.NEXT]) last = pc;
  return last;
}

/**
 * Writes the element at slot `s` of map `t`: its verdict (writeVerdict) and, for a goto, its
 * target's numgen hint (MapWord), read from the target chain as it is in `p` now, or from the chain
 * the target's last rule goes to when the target holds no numgen. Whoever writes a map element
 * writes it after the chains it names (compileProgram, update.ts's writeRoom), so the hint is the
 * chains'. Cost: the target chain's rules, the chain it goes to, and a numgen's branches.
 */
export function writeMapVerdict(t: PairTable, s: number, op: number, arg: number, port: number, p: Pick<NftProgram, 'code' | 'chainRows' | 'localCidr'>): void {
  const o = t.at(s);
  const row = t.rows;
  writeVerdict(row, o, op, arg, port, p.chainRows);
  row[o + MapWord.HINT_START] = -1;
  row[o + MapWord.HINT] = 0;
  if (op !== ActionOp.GOTO) return;
  const K = p.code;
  const CR = p.chainRows;
  const start = row[o + VerdictWord.START];
  const end = row[o + VerdictWord.END];
  if (serviceChainAt(K, start, end, t.key0(s), t.key1(s), p.localCidr)) row[o + VerdictWord.VERDICT] |= VerdictBits.SERVICE_CHAIN;
  let pc = numgenOf(K, start, end);
  let sign = 1;
  if (pc < 0) {
    const last = lastRuleOf(K, start, end);
    if (last < 0 || K[last + RuleWord.OP] !== ActionOp.GOTO) return;
    const c = K[last + RuleWord.A] * ChainWord.STRIDE;
    pc = numgenOf(K, CR[c + ChainWord.START], CR[c + ChainWord.END]);
    if (pc < 0) return;
    sign = -1;
  }
  const n = K[pc + RuleWord.B];
  const b = K[pc + RuleWord.A];
  const first = K[b + VerdictWord.START];
  const stride = K[b + VerdictWord.END] - first;
  for (let k = 0; k < n; k++) {
    const v = b + k * VerdictWord.STRIDE;
    if ((K[v + VerdictWord.VERDICT] & VerdictBits.OP_MASK) !== ActionOp.GOTO || K[v + VerdictWord.START] !== first + k * stride || K[v + VerdictWord.END] !== first + (k + 1) * stride) return;
  }
  const hint = mapHint(sign * n, stride);
  if (hint === 0) return;
  row[o + MapWord.HINT_START] = first;
  row[o + MapWord.HINT] = hint;
}

/** Marks the element at slot `s` of map `t` absent (op 0), its key kept for the port's room. */
export function clearMapValue(t: PairTable, s: number): void {
  writeMapVerdict(t, s, 0, 0, -1, { code: kNoRows, chainRows: kNoRows, localCidr: kNoRows });
}

/**
 * Writes each numgen branch of chains [from, to) again from its target chain: its verdict row's span
 * and Service port (VerdictWord), and its DNAT row (DnatWord), read from the chain's code.
 */
export function linkTargets(p: Pick<NftProgram, 'code' | 'chainRows'>, from: number, to: number): void {
  const { code: K, chainRows: CR } = p;
  for (let c = from; c < to; c++) {
    for (let pc = CR[c * ChainWord.STRIDE + ChainWord.START], end = CR[c * ChainWord.STRIDE + ChainWord.END]; pc < end; pc = K[pc + RuleWord.NEXT]) {
      if (K[pc + RuleWord.OP] !== ActionOp.NUMGEN) continue;
      const a = K[pc + RuleWord.A];
      const n = K[pc + RuleWord.B];
      for (let k = 0, t = a; k < n; k++, t += VerdictWord.STRIDE) {
        const op = K[t + VerdictWord.VERDICT] & VerdictBits.OP_MASK;
        const chain = K[t + VerdictWord.VERDICT] >> VerdictBits.ARG_SHIFT;
        const port = op === ActionOp.GOTO || op === ActionOp.JUMP ? CR[chain * ChainWord.STRIDE + ChainWord.SERVICE_PORT] : -1;
        writeVerdict(K, t, op, chain, port, CR);
        writeBranchEndpoint(K, dnatRowAt(a, n, k), op, K[t + VerdictWord.START], K[t + VerdictWord.END], port);
      }
    }
  }
}

export interface NftProgram {
  /** Chain names by chain index; a spare chain of a port's room has the name it would take. */
  readonly chainNames: readonly string[];
  /** Per chain, ChainWord.STRIDE words: its rules' span in code, their count, its Service port. */
  readonly chainRows: Int32Array;
  /** The rules, chain by chain, each with its matches and numgen targets (RuleWord). */
  readonly code: Int32Array;
  /** The local detector's CIDR in the Service chains' masquerade rules, (base, mask) (localCidrOf; VerdictBits.SERVICE_CHAIN). */
  readonly localCidr: Int32Array;
  /** (base, mask) pairs for address matches of two or more CIDRs (one is inline: MatchOp.ADDR1). */
  readonly cidrs: Uint32Array;
  /** Verdict maps, each element's value a VerdictWord row; op 0 is a key reserved for a port's room, absent. */
  readonly maps: readonly PairTable[];
  readonly mapNames: readonly string[];
  /** Static sets (AddressSet) or, for affinity sets, null with the timeout in setTimeout. */
  readonly sets: readonly (AddressSet | null)[];
  readonly setNames: readonly string[];
  readonly setTimeout: Float64Array;
  /** Base chains per hook (kHooks order), sorted by priority. */
  readonly hookChains: readonly Int32Array[];
  /**
   * Per rule id: 0, or 1 + the index in ruleStrings of its comment. With an `iifname` match's
   * interface name (its word A indexes ruleStrings), what explain needs of a rule that its code
   * does not hold (rule-at.ts ruleAt reads the rest back from the code). 2 bytes a rule.
   */
  readonly ruleNote: Uint16Array;
  /** The comments and interface names the rules carry, each once (a handful: kube-proxy's are fixed phrases). */
  readonly ruleStrings: string[];
  readonly ruleChain: Int32Array;
  readonly tableBytes: number;
  /**
   * Which chains and sets the ruleset holds now (1) or are spare room (0): stats count these.
   * Only a program compiled with room has spare ones.
   */
  readonly chainLive: Uint8Array;
  readonly setLive: Uint8Array;
  /**
   * kdp's own compile only (compileProgram with `room`): per Service port, kRoomStride words
   * (see ROOM_*) locating the slots its objects may ever need, so that an endpoint change is
   * written over them in place (update.ts); -1 words for a port kube-proxy does not proxy.
   */
  readonly room?: Int32Array;
  /** Chains before the first port's room (the fixed ones kube-proxy's setupNFTables makes). */
  readonly fixedChains: number;
  /**
   * With `room`: what Services added in place (update-services.ts) have taken of the spare room
   * compileProgram left past everything (withRoom), U_* words: ports known, chain and set slots,
   * rule ids, code words and CIDRs used, and whether every map key and ClusterIP is one port's
   * (then a removed Service's keys can leave the maps without asking which other port has them).
   */
  readonly used?: Int32Array;
  /** The seqlock word (table-generation.ts) in-place updates write under. */
  readonly generation: Int32Array;
}

// A port's room: chains [CHAIN, +CHAINS), rule ids from RULE for RULE_CAP, code words from CODE for
// CODE_CAP, and so on.
export const ROOM_CHAIN = 0;
export const ROOM_CHAINS = 1;
export const ROOM_RULE = 2;
export const ROOM_RULE_CAP = 3;
export const ROOM_CODE = 4;
export const ROOM_CODE_CAP = 5;
export const ROOM_CIDR = 6;
export const ROOM_CIDR_CAP = 7;
export const ROOM_SET = 8;
export const ROOM_SETS = 9;
export const kRoomStride = 10;

// NftProgram.used
export const U_PORTS = 0;
export const U_CHAINS = 1;
export const U_SETS = 2;
export const U_RULES = 3;
export const U_CODE = 4;
export const U_CIDRS = 5;
export const U_EXCLUSIVE_KEYS = 6;
export const U_CLUSTER_IPS_SET = 7; // cluster-ips' set slot (-1: none)
const kUsedWords = 8;

/**
 * Spare room for Services added in place, besides withRoom's eighth: in a small cluster, about
 * eight Services of two ports and ten endpoints (a port takes 4 + 10 chains, ~30 rules, ~370 code
 * words), so that sync-cost.ts's seven adds fit; ~100 KB of typed arrays and name slots.
 */
const kSpareChains = 256;
const kSpareRules = 1024;
const kSpareCode = 8192;
const kSpareCidrs = 256;
const kSparePorts = 32;

/** The maps whose elements an endpoint change can add or take away, keyed as their kind reads. */
const kRoomMaps: readonly (readonly [string, 'ip' | 'nodeport'])[] = [
  ['service-ips', 'ip'],
  ['no-endpoint-services', 'ip'],
  ['service-nodeports', 'nodeport'],
  ['no-endpoint-nodeports', 'nodeport'],
];

/** A port's room by name: its chains (kPortChainRoles, then one per distinct endpoint) and affinity sets. */
export interface RoomNames {
  readonly chains: readonly string[];
  readonly sets: readonly string[];
  /** Each of the port's rows' endpoint chain, as a position in `chains`. */
  readonly rows: Int32Array;
}

/** Chains a port's room holds before its endpoint chains. */
export const kRoomPortChains = kPortChainRoles.length;

/** Where a port chain named `name` sits in its room by its prefix (kPortChainRoles), or -1 for an endpoint chain. */
function roomRole(name: string): number {
  for (let k = 0; k < kPortChainRoles.length; k++) if (name.startsWith(kPortChainRoles[k][0])) return k;
  return -1;
}

/**
 * The names a port's objects can take whatever its endpoints' conditions: its service, local,
 * external and firewall chains and one endpoint chain per distinct endpoint, and (with ClientIP
 * affinity) one affinity set per endpoint chain. kube-proxy names them so (names.ts).
 */
export function roomNames(cluster: Cluster, port: ServicePort): RoomNames {
  const names = hashedPortNames(cluster, port);
  const chains = kPortChainRoles.map(([, role]) => names[role]);
  const sets: string[] = [];
  const rows = new Int32Array(port.endpointCount);
  const seen = new Map<string, number>();
  const affinity = cluster.services[port.service].affinity.clientIP;
  for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) {
    // The port's memo's string (names.ts), the one the ruleset's chain has: its hash is computed already.
    const chain = names.endpointChain(r);
    const at = seen.get(chain);
    if (at !== undefined) {
      rows[r - port.endpointStart] = at;
      continue;
    }
    seen.set(chain, chains.length);
    rows[r - port.endpointStart] = chains.length;
    chains.push(chain);
    if (affinity) sets.push(affinitySetOf(chain));
  }
  return { chains, sets, rows };
}

/**
 * A port's names read back from its room in `p` (roomNames' order), so that an update hashes
 * nothing: rows of one address and port share an endpoint chain, as their names are one hash.
 * Cost: O(the port's rows), one Map entry per distinct endpoint.
 */
export function roomPortNames(p: NftProgram, cluster: Cluster, port: number): PortNames {
  const w = port * kRoomStride;
  const chain0 = p.room![w + ROOM_CHAIN];
  const end = chain0 + p.room![w + ROOM_CHAINS];
  const sp = cluster.ports[port];
  const ep = cluster.endpoints;
  const byEndpoint = new Map<number, string>();
  const rows = new Array<string>(sp.endpointCount);
  const first = chain0 + kRoomPortChains;
  let next = first;
  for (let r = sp.endpointStart; r < sp.endpointStart + sp.endpointCount; r++) {
    const key = ep.ip[r] * 0x10000 + ep.port[r];
    let name = byEndpoint.get(key);
    if (name === undefined) byEndpoint.set(key, (name = p.chainNames[next++]));
    rows[r - sp.endpointStart] = name;
  }
  if (next !== end) throw new InvalidArgumentError(`nftables: Service port ${port}'s room holds ${end - first} endpoint chains for ${next - first} endpoints (its rows changed since the compile)`);
  const [service, local, external, firewall] = p.chainNames.slice(chain0, first);
  return { service, local, external, firewall, endpointChain: (row) => rows[row - sp.endpointStart] };
}

/**
 * Upper bounds of a port's rules, matches, address CIDRs and numgen targets, from what
 * build.ts's writeServicePort can write for R rows: each policy chain (cluster and local) holds
 * at most a masquerade rule (3 matches), one affinity rule per row (1 match) and a numgen of at
 * most R branches; the external chain at most 4 rules and the firewall chain 1 (1 match each);
 * an endpoint chain, per row it serves, a masquerade rule and a DNAT (1 match each) and with
 * affinity an update. CIDRs (only a match of two or more is stored there: MatchOp.ADDR1) are the masquerade
 * rules' and the external chain's detector CIDRs and the firewall's sources and LB IPs.
 * Returns [rule ids, code words (headers, matches, targets), CIDRs].
 */
export function roomCaps(cluster: Cluster, port: ServicePort, detectorCidrs: number): readonly [number, number, number] {
  const svc = cluster.services[port.service];
  const rows = port.endpointCount;
  const affinity = svc.affinity.clientIP ? 1 : 0;
  const rules = 2 * (2 + affinity * rows) + 4 + 1 + (2 + affinity) * rows;
  const matches = 2 * (3 + affinity * rows) + 4 + 1 + 2 * rows;
  const cidrs = 2 * detectorCidrs + detectorCidrs + svc.loadBalancerSourceRanges.length + svc.loadBalancerIPs.length;
  const targets = 2 * rows;
  return [rules, RuleWord.HEADER * rules + RuleWord.MATCH_STRIDE * matches + kBranchWords * targets, cidrs];
}

/** What compileProgram needs to give each Service port room for in-place updates: the node. */
export interface RoomOptions {
  readonly node: number;
}

/** Where one encodes rules into a program's arrays, positions the caller moves: rule id, code word, CIDR. */
interface Encoding {
  ri: number;
  pc: number;
  ci: number;
}

/**
 * Rules -> the program's arrays, names resolved by the caller's lookups (compileProgram's over the
 * whole ruleset, update.ts's over a port's room). Cost: O(matches + CIDRs + targets) per rule,
 * plus the port's rows for a `dnat` (its endpoint row).
 */
export class RuleEncoder {
  constructor(
    private readonly p: Pick<NftProgram, 'code' | 'cidrs' | 'ruleChain' | 'ruleNote' | 'ruleStrings'>,
    private readonly cluster: Cluster,
    private readonly chainId: (name: string) => number,
    private readonly setId: (name: string) => number,
    private readonly mapId: (name: string) => number,
  ) {}

  /** `text`'s index in ruleStrings, added there on first use. */
  private stringId(text: string): number {
    const strings = this.p.ruleStrings;
    let i = strings.indexOf(text);
    if (i < 0) {
      if (strings.length === 0xfffe) throw new InvalidArgumentError('nftables: the ruleset\'s rules carry more than 65,534 distinct comments and interface names');
      i = strings.push(text) - 1;
    }
    return i;
  }

  verdictOp(v: Verdict): [number, number] {
    switch (v.k) {
      case 'goto':
        return [ActionOp.GOTO, this.chainId(v.chain)];
      case 'jump':
        return [ActionOp.JUMP, this.chainId(v.chain)];
      case 'drop':
        return [ActionOp.DROP, 0];
      case 'accept':
        return [ActionOp.ACCEPT, 0];
      case 'return':
        return [ActionOp.RETURN, 0];
    }
  }

  /** Writes `r`, a rule of `chain` (whose Service port is `port`), at `at` and moves `at` past it. */
  rule(r: Rule, chain: number, port: number, at: Encoding): void {
    const { code, ruleChain } = this.p;
    const o = at.pc;
    const next = o + ruleWords(r);
    code[o + RuleWord.ID] = at.ri;
    code[o + RuleWord.NEXT] = next;
    code[o + RuleWord.MATCHES] = r.matches.length;
    for (let k = 0; k < r.matches.length; k++) this.match(r.matches[k], o + RuleWord.HEADER + k * RuleWord.MATCH_STRIDE, at);
    this.action(r.action, port, o, o + RuleWord.HEADER + r.matches.length * RuleWord.MATCH_STRIDE);
    this.p.ruleNote[at.ri] = r.comment === undefined ? 0 : 1 + this.stringId(r.comment);
    ruleChain[at.ri] = chain;
    at.ri++;
    at.pc = next;
  }

  private match(m: Match, o: number, at: Encoding): void {
    const { code: matches, cidrs } = this.p;
    matches[o + 1] = 0;
    matches[o + 2] = 0;
    matches[o + 3] = 0;
    switch (m.k) {
      case 'ct-new':
        matches[o] = MatchOp.CT_NEW;
        return;
      case 'addr':
        if (m.cidrs.length === 1) {
          matches[o] = MatchOp.ADDR1;
          matches[o + 1] = m.cidrs[0].base | 0;
          matches[o + 2] = prefixMask(m.cidrs[0].prefix) | 0;
          matches[o + 3] = (m.field === 'daddr' ? MatchFlag.DADDR : 0) | (m.neg ? MatchFlag.NEG : 0);
          return;
        }
        matches[o] = MatchOp.ADDR;
        matches[o + 1] = at.ci;
        matches[o + 2] = m.cidrs.length;
        matches[o + 3] = (m.field === 'daddr' ? MatchFlag.DADDR : 0) | (m.neg ? MatchFlag.NEG : 0);
        for (const c of m.cidrs) {
          cidrs[at.ci * 2] = c.base;
          cidrs[at.ci * 2 + 1] = prefixMask(c.prefix);
          at.ci++;
        }
        return;
      case 'addr-set':
        matches[o] = MatchOp.ADDR_SET;
        matches[o + 1] = this.setId(m.set);
        matches[o + 3] = m.field === 'daddr' ? MatchFlag.DADDR : 0;
        return;
      case 'fib-local':
        matches[o] = MatchOp.FIB_LOCAL;
        matches[o + 3] = m.field === 'daddr' ? MatchFlag.DADDR : 0;
        return;
      case 'l4proto':
        matches[o] = MatchOp.L4PROTO;
        matches[o + 1] = m.proto;
        return;
      case 'dport':
        matches[o] = MatchOp.DPORT;
        matches[o + 1] = m.proto;
        matches[o + 2] = m.port;
        return;
      case 'iifname':
        matches[o] = MatchOp.IIF;
        matches[o + 1] = this.stringId(m.name);
        matches[o + 3] = m.neg ? MatchFlag.NEG : 0;
        return;
      case 'mark-zero':
        matches[o] = MatchOp.MARK_ZERO;
        matches[o + 1] = m.mask;
        return;
    }
  }

  /** `o`: the rule's header; `tail`: the word past its matches, where a numgen's targets go. */
  private action(a: Action, port: number, o: number, tail: number): void {
    const { code } = this.p;
    let op: number;
    let x = 0;
    let y = 0;
    let z = 0;
    switch (a.k) {
      case 'goto':
      case 'jump':
      case 'drop':
      case 'accept':
      case 'return':
        [op, x] = this.verdictOp(a);
        break;
      case 'reject':
        op = ActionOp.REJECT;
        break;
      case 'vmap':
        op = a.key === 'addr.proto.port' ? ActionOp.VMAP3 : ActionOp.VMAP2;
        x = this.mapId(a.map);
        break;
      case 'numgen': {
        op = ActionOp.NUMGEN;
        x = tail;
        y = a.targets.length;
        for (let k = 0; k < a.targets.length; k++) {
          const [vop, arg] = this.verdictOp(a.targets[k]);
          const t = tail + VerdictWord.STRIDE * k;
          code[t + VerdictWord.VERDICT] = verdictWord(vop, arg);
          // Its port, span and DNAT: linkTargets, once every chain it may name has its code.
          code[t + VerdictWord.PORT] = -1;
          code[t + VerdictWord.START] = 0;
          code[t + VerdictWord.END] = 0;
          writeBranchEndpoint(code, dnatRowAt(tail, a.targets.length, k), 0, 0, 0, -1);
        }
        break;
      }
      case 'mark-or':
        op = ActionOp.MARK_OR;
        x = a.mask;
        break;
      case 'mark-xor':
        op = ActionOp.MARK_XOR;
        x = a.mask;
        break;
      case 'masquerade':
        op = ActionOp.MASQ;
        break;
      case 'dnat': {
        let row = -1;
        if (port >= 0) {
          const p = this.cluster.ports[port];
          const ep = this.cluster.endpoints;
          for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) {
            if (ep.ip[r] === a.ip >>> 0 && ep.port[r] === a.port) {
              row = r;
              break;
            }
          }
        }
        op = ActionOp.DNAT;
        x = a.ip | 0;
        y = a.port;
        z = row;
        break;
      }
      case 'update':
        op = ActionOp.UPDATE;
        x = this.setId(a.set);
        break;
    }
    code[o + RuleWord.OP] = op;
    code[o + RuleWord.A] = x;
    code[o + RuleWord.B] = y;
    code[o + RuleWord.C] = z;
  }
}

/**
 * The ruleset's typed arrays. With `room` (kdp's own compile, never a parsed dump), each Service
 * port kube-proxy proxies gets a block of chains, rules, matches, CIDRs, numgen targets and
 * affinity sets sized for anything its endpoints can come to need (roomNames, roomCaps), and its
 * map keys are reserved in the verdict maps, so that update.ts can rewrite it in place; past every
 * port's room, spare ports, chains, sets, rules, code words, CIDRs and map slots (withRoom,
 * NftProgram.used) take Services added in place (update-services.ts).
 * Cost: O(rules + chains + map elements), one name lookup a jump; node 0 of a synthetic 30,000-Service
 * cluster with its ruleset's build (compileNftables): ~2.4-3.1 s on this project's machine, about a
 * third of it the collector (repeated timed compiles of one generated cluster, 2026-12-06).
 */
export function compileProgram(rs: Ruleset, cluster: Cluster, room?: RoomOptions): NftProgram {
  const mapIndex = new Map<string, number>();
  rs.maps.forEach((m, i) => mapIndex.set(m.name, i));

  const portByKey = new Map<string, number>();
  const portByName = new Map<string, number>();
  for (const p of cluster.ports) {
    portByKey.set(servicePortKey(cluster, p), p.index);
    portByName.set(`${servicePortName(cluster, p)}|${p.protocol}`, p.index);
  }
  const chainPort = (name: string): number => {
    const key = servicePortKeyOfName(name);
    return key === '' ? -1 : (portByKey.get(key) ?? -1);
  };
  const need = (m: ReadonlyMap<string, number>, name: string, what: string): number => {
    const i = m.get(name);
    if (i === undefined) throw new InvalidArgumentError(`the ruleset refers to ${what} "${name}", which it does not define`);
    return i;
  };

  // Each chain's slot: the ruleset's order, or with room the fixed chains (in the ruleset's order)
  // then each port's room (roomNames' order). A chain is placed in a room by structure, its port
  // and its role there (its name's prefix, or for an endpoint chain the row its DNAT names), and
  // kept there only if the room has its name at that place; a jump target's slot is then its
  // chain's, through the ruleset's own name index. A map of every room slot by name (530,000 at
  // 30k Services) had been a third of this function's time (cpu profile of three 30k compiles of
  // node 0, 2026-12-06).
  const index = chainIndex(rs);
  const chains = rs.chains;
  const slotOf = new Int32Array(chains.length);
  const setByName = new Map<string, NftSet>();
  for (const s of rs.sets) setByName.set(s.name, s);
  let chainSlots: string[];
  let setSlots: string[];
  let roomWords: Int32Array | undefined;
  const caps: (readonly [number, number, number] | undefined)[] = [];
  let fixedChains = chains.length;
  if (room) {
    const ep = cluster.endpoints;
    // Each port chain's port, and an endpoint chain's row (from its DNAT target: rows of one address
    // and port share a chain).
    const portOf = new Int32Array(chains.length).fill(-1);
    const rowOf = new Int32Array(chains.length).fill(-1);
    for (let i = 0; i < chains.length; i++) {
      const c = chains[i];
      const port = chainPort(c.name);
      if (port < 0) continue;
      portOf[i] = port;
      if (!c.name.startsWith(kPrefixEndpoint)) continue;
      const dnat = c.rules[c.rules.length - 1]?.action;
      if (dnat?.k !== 'dnat') continue;
      const p = cluster.ports[port];
      for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) {
        if (ep.ip[r] === dnat.ip >>> 0 && ep.port[r] === dnat.port) {
          rowOf[i] = r;
          break;
        }
      }
    }
    const names = cluster.ports.map((p) => (cluster.services[p.service].clusterIPs.length > 0 ? roomNames(cluster, p) : undefined));
    // A chain's place in its port's room, or -1 for a fixed chain.
    const placeOf = new Int32Array(chains.length).fill(-1);
    chainSlots = [];
    for (let i = 0; i < chains.length; i++) {
      const n = portOf[i] < 0 ? undefined : names[portOf[i]];
      const name = chains[i].name;
      const at = !n ? -1 : rowOf[i] >= 0 ? n.rows[rowOf[i] - cluster.ports[portOf[i]].endpointStart] : roomRole(name);
      if (at >= 0 && n!.chains[at] === name) {
        placeOf[i] = at;
        continue;
      }
      slotOf[i] = chainSlots.length;
      chainSlots.push(name);
    }
    const roomSets = new Set<string>();
    for (const n of names) if (n) for (const s of n.sets) roomSets.add(s);
    setSlots = rs.sets.filter((s) => !roomSets.has(s.name)).map((s) => s.name);
    fixedChains = chainSlots.length;
    roomWords = new Int32Array(withRoom(cluster.ports.length, kSparePorts) * kRoomStride).fill(-1);
    const det = localDetector(cluster, room.node);
    const detectorCidrs = det.byInterface ? 0 : det.cidrs.length;
    names.forEach((n, port) => {
      if (!n) return;
      const w = port * kRoomStride;
      roomWords![w + ROOM_CHAIN] = chainSlots.length;
      roomWords![w + ROOM_CHAINS] = n.chains.length;
      roomWords![w + ROOM_SET] = setSlots.length;
      roomWords![w + ROOM_SETS] = n.sets.length;
      chainSlots.push(...n.chains);
      setSlots.push(...n.sets);
      caps[port] = roomCaps(cluster, cluster.ports[port], detectorCidrs);
    });
    for (let i = 0; i < chains.length; i++) if (placeOf[i] >= 0) slotOf[i] = roomWords[portOf[i] * kRoomStride + ROOM_CHAIN] + placeOf[i];
  } else {
    chainSlots = chains.map((c) => c.name);
    for (let i = 0; i < chains.length; i++) slotOf[i] = i;
    setSlots = rs.sets.map((s) => s.name);
  }
  const liveChainSlots = chainSlots.length;
  const liveSetSlots = setSlots.length;
  if (room) {
    // Spare slots for Services added in place: nameless until one takes them.
    chainSlots.length = withRoom(liveChainSlots, kSpareChains);
    chainSlots.fill('', liveChainSlots);
    setSlots.length = withRoom(liveSetSlots, kSpareChains);
    setSlots.fill('', liveSetSlots);
  }
  const chainSlot = (name: string): number => slotOf[need(index, name, 'chain')];
  const setIndex = new Map<string, number>();
  for (let i = 0; i < liveSetSlots; i++) setIndex.set(setSlots[i], i);

  const nChains = chainSlots.length;
  // Every chain of the ruleset has a slot: a fixed one, or its port's room's.
  const chainAt = new Array<Chain | undefined>(nChains);
  for (let i = 0; i < chains.length; i++) chainAt[slotOf[i]] = chains[i];
  const chainRows = new Int32Array(nChains * ChainWord.STRIDE);
  const chainLive = new Uint8Array(nChains);
  let nRules = 0;
  let nWords = 0;
  let nCidrs = 0;
  for (let i = 0; i < fixedChains; i++) {
    for (const r of chainAt[i]!.rules) {
      nRules++;
      nWords += ruleWords(r);
      for (const m of r.matches) if (m.k === 'addr' && m.cidrs.length > 1) nCidrs += m.cidrs.length; // one is inline (MatchOp.ADDR1)
    }
  }
  // Without room every chain was counted above (fixedChains is all of them); with it, each port's room.
  for (const c of caps) {
    if (!c) continue;
    nRules += c[0];
    nWords += c[1];
    nCidrs += c[2];
  }
  const usedRules = nRules;
  const usedWords = nWords;
  const usedCidrs = nCidrs;
  if (room) {
    nRules = withRoom(nRules, kSpareRules);
    nWords = withRoom(nWords, kSpareCode);
    nCidrs = withRoom(nCidrs, kSpareCidrs);
  }
  const program = {
    code: new Int32Array(nWords),
    cidrs: new Uint32Array(nCidrs * 2),
    ruleNote: new Uint16Array(nRules),
    ruleStrings: [] as string[],
    ruleChain: new Int32Array(nRules).fill(-1),
  };
  const enc = new RuleEncoder(program, cluster, chainSlot, (n) => need(setIndex, n, 'set'), (n) => need(mapIndex, n, 'map'));
  const at: Encoding = { ri: 0, pc: 0, ci: 0 };

  for (let slot = liveChainSlots; slot < nChains; slot++) chainRows[slot * ChainWord.STRIDE + ChainWord.SERVICE_PORT] = -1;
  const encodeChain = (slot: number, port: number): void => {
    const c = chainAt[slot];
    const row = slot * ChainWord.STRIDE;
    chainRows[row + ChainWord.SERVICE_PORT] = port;
    chainRows[row + ChainWord.START] = at.pc;
    chainRows[row + ChainWord.END] = at.pc;
    if (!c) return; // spare: a chain the port's endpoints do not need now
    chainLive[slot] = 1;
    chainRows[row + ChainWord.RULE_COUNT] = c.rules.length;
    for (const r of c.rules) enc.rule(r, slot, port, at);
    chainRows[row + ChainWord.END] = at.pc;
  };
  for (let slot = 0; slot < fixedChains; slot++) encodeChain(slot, room ? -1 : chainPort(chainSlots[slot]));
  if (room) {
    for (let port = 0; port < cluster.ports.length; port++) {
      const cap = caps[port];
      if (!cap) continue;
      const w = port * kRoomStride;
      roomWords![w + ROOM_RULE] = at.ri;
      roomWords![w + ROOM_CODE] = at.pc;
      roomWords![w + ROOM_CIDR] = at.ci;
      [roomWords![w + ROOM_RULE_CAP], roomWords![w + ROOM_CODE_CAP], roomWords![w + ROOM_CIDR_CAP]] = cap;
      const end = roomWords![w + ROOM_CHAIN] + roomWords![w + ROOM_CHAINS];
      for (let slot = roomWords![w + ROOM_CHAIN]; slot < end; slot++) encodeChain(slot, port);
      checkRoom(roomWords!, port, at);
      at.ri = roomWords![w + ROOM_RULE] + cap[0];
      at.pc = roomWords![w + ROOM_CODE] + cap[1];
      at.ci = roomWords![w + ROOM_CIDR] + cap[2];
    }
  }
  linkTargets({ code: program.code, chainRows }, 0, nChains);
  const localCidr = localCidrOf(rs);

  const maps = rs.maps.map((m) => {
    // Key (address or 0, proto << 16 | port) -> a MapWord row. A map keyed by address is looked
    // up with addresses it rarely holds (FORWARD's no-endpoint-services check, with the DNATed
    // endpoint's): its prefix filter answers those from 8 KiB (tables/prefix-filter.ts).
    const t = new PairTable(room ? withRoom(keysWithRoom(cluster, m)) : m.elements.length, MapWord.STRIDE, m.key === 'addr.proto.port');
    for (const e of m.elements) {
      const [op, arg] = enc.verdictOp(e.verdict);
      let port = op === ActionOp.GOTO || op === ActionOp.JUMP ? chainRows[arg * ChainWord.STRIDE + ChainWord.SERVICE_PORT] : -1;
      if (port < 0 && e.comment !== undefined) port = portByName.get(`${e.comment}|${e.proto}`) ?? -1;
      const s = t.slotFor(m.key === 'addr.proto.port' ? e.ip : 0, (e.proto << 16) | e.port);
      writeMapVerdict(t, s, op, arg, port, { code: program.code, chainRows, localCidr });
    }
    if (room) reserveKeys(cluster, m.name, t);
    return t;
  });
  const setTimeout = new Float64Array(setSlots.length);
  const setLive = new Uint8Array(setSlots.length);
  const sets = setSlots.map((name, i) => {
    // Past the ports' rooms: slots for the affinity sets of Services added in place.
    if (i >= liveSetSlots) return null;
    const s = setByName.get(name);
    if (s) setLive[i] = 1;
    // A spare slot is an affinity set (roomNames) with its Service's timeout.
    const timeout = s ? s.timeout : roomSetTimeout(cluster, roomWords, i);
    setTimeout[i] = timeout;
    if (timeout > 0) return null;
    const elements = s ? s.elements : [];
    // cluster-ips takes a Service added in place's ClusterIP. FORWARD looks every DNATed endpoint
    // address up in it: the prefix filter answers those (tables/prefix-filter.ts).
    const set = new AddressSet(room ? withRoom(elements.length) : elements.length, true);
    for (const ip of elements) set.add(ip);
    return set;
  });

  const hookChains = kHooks.map((h) => {
    const ids: (readonly [Chain, number])[] = [];
    for (let i = 0; i < fixedChains; i++) {
      const c = chainAt[i]!;
      if (c.base?.hook === h) ids.push([c, i]);
    }
    // Priority order; a tie keeps creation order, as the kernel keeps registration order.
    ids.sort((x, y) => x[0].base!.priority - y[0].base!.priority);
    return Int32Array.from(ids.map(([, i]) => i));
  });

  const generation = newGeneration();
  const used = room ? new Int32Array(kUsedWords) : undefined;
  if (used) {
    used[U_PORTS] = cluster.ports.length;
    used[U_CHAINS] = liveChainSlots;
    used[U_SETS] = liveSetSlots;
    used[U_RULES] = usedRules;
    used[U_CODE] = usedWords;
    used[U_CIDRS] = usedCidrs;
    used[U_EXCLUSIVE_KEYS] = exclusiveKeys(cluster, rs) ? 1 : 0;
    used[U_CLUSTER_IPS_SET] = setIndex.get(kSetClusterIps) ?? -1;
  }
  let tableBytes =
    chainRows.byteLength + localCidr.byteLength + program.code.byteLength +
    program.cidrs.byteLength + setTimeout.byteLength + program.ruleChain.byteLength + program.ruleNote.byteLength + chainLive.byteLength + setLive.byteLength +
    generation.byteLength + (roomWords?.byteLength ?? 0) + (used?.byteLength ?? 0);
  for (const m of maps) tableBytes += m.bytes;
  for (const s of sets) if (s) tableBytes += s.bytes;
  for (const h of hookChains) tableBytes += h.byteLength;

  return {
    chainNames: chainSlots,
    chainRows,
    ...program,
    maps,
    mapNames: rs.maps.map((m) => m.name),
    sets,
    setNames: setSlots,
    setTimeout,
    hookChains,
    tableBytes,
    chainLive,
    setLive,
    ...(roomWords ? { room: roomWords } : {}),
    ...(used ? { used } : {}),
    fixedChains,
    generation,
    // Last: the shared image lays arrays out in this order (table-image.ts), so a field added
    // before the maps would move their rows across line boundaries (lines.bench's two phases).
    localCidr,
  };
}

/** Throws when what was written in a port's room passed its capacity (a bound in roomCaps is wrong). */
export function checkRoom(room: Int32Array, port: number, at: Encoding): void {
  const w = port * kRoomStride;
  const over =
    at.ri > room[w + ROOM_RULE] + room[w + ROOM_RULE_CAP] ||
    at.pc > room[w + ROOM_CODE] + room[w + ROOM_CODE_CAP] ||
    at.ci > room[w + ROOM_CIDR] + room[w + ROOM_CIDR_CAP];
  if (over) throw new InvalidArgumentError(`nftables: Service port ${port}'s rules outgrew the room compileProgram sized for them (a bug in roomCaps)`);
}

/** The keys a port can come to hold in `map` (kRoomMaps): its ClusterIP, external and LB IPs at its port, or its NodePort. */
export function roomKeys(cluster: Cluster, map: string, port: number, each: (k0: number, k1: number) => void): void {
  const kind = kRoomMaps.find(([name]) => name === map)?.[1];
  if (kind === undefined) return;
  const p = cluster.ports[port];
  const svc = cluster.services[p.service];
  if (svc.clusterIPs.length === 0) return;
  if (kind === 'nodeport') {
    if (p.nodePort !== 0) each(0, (p.protocol << 16) | p.nodePort);
    return;
  }
  const k1 = (p.protocol << 16) | p.port;
  each(svc.clusterIPs[0], k1);
  for (const ip of svc.externalIPs) each(ip, k1);
  for (const ip of svc.loadBalancerIPs) each(ip, k1);
}

/**
 * Whether no two Service ports share a key of the verdict maps (roomKeys, and firewall-ips' LB
 * IPs) and no two Services a ClusterIP: what Kubernetes' allocators make so, and what lets a
 * removal delete its keys. Cost: O(keys), once per compile.
 */
function exclusiveKeys(cluster: Cluster, rs: Ruleset): boolean {
  let n = 0;
  for (const m of rs.maps) n += m.elements.length + reservedKeys(cluster, m.name);
  const seen = new PairTable(n + cluster.services.length, 1);
  let exclusive = true;
  const claim = (k0: number, k1: number): void => {
    const before = seen.size;
    seen.slotFor(k0, k1);
    if (seen.size === before) exclusive = false;
  };
  // firewall-ips' keys are the port's LB IP keys of service-ips again.
  for (let port = 0; port < cluster.ports.length && exclusive; port++) {
    portKeys(cluster, port, (maps, k0, k1) => {
      if (maps !== kFirewallMaps) claim(k0, k1);
    });
  }
  // ClusterIPs, as keys no map key can be (protocol 0xffff).
  for (const svc of cluster.services) if (svc.clusterIPs.length > 0) claim(svc.clusterIPs[0], kClusterIpKey);
  return exclusive;
}

/**
 * Every key a port can hold in any verdict map, once per key (its ClusterIP, external and LB IPs
 * at its port and its NodePort: the no-endpoint maps' keys are service-ips' and
 * service-nodeports'), with the maps that can hold it: roomKeys' maps, and firewall-ips for an LB
 * IP of a Service with source ranges.
 */
export function portKeys(cluster: Cluster, port: number, each: (maps: readonly string[], k0: number, k1: number) => void): void {
  const p = cluster.ports[port];
  const svc = cluster.services[p.service];
  if (svc.clusterIPs.length === 0) return;
  roomKeys(cluster, kRoomMaps[0][0], port, (k0, k1) => each(kIpMaps, k0, k1));
  roomKeys(cluster, kRoomMaps[2][0], port, (k0, k1) => each(kNodePortMaps, k0, k1));
  if (svc.loadBalancerSourceRanges.length > 0) for (const ip of svc.loadBalancerIPs) each(kFirewallMaps, ip, (p.protocol << 16) | p.port);
}
const kIpMaps = ['service-ips', 'no-endpoint-services'];
const kNodePortMaps = ['service-nodeports', 'no-endpoint-nodeports'];
const kFirewallMaps = ['firewall-ips'];
const kClusterIpKey = 0xffffffff;

function reservedKeys(cluster: Cluster, map: string): number {
  let n = 0;
  for (let port = 0; port < cluster.ports.length; port++) roomKeys(cluster, map, port, () => n++);
  return n;
}

/**
 * The keys map `m` holds once every port's room is reserved: its elements and every key a port
 * can come to hold (reservedKeys), each counted once. A ruleset kdp compiled from the cluster
 * holds no key outside the ports' (so this is reservedKeys), but one read back or edited may.
 * Counting both in full sized service-ips at 30k Services for twice its keys: 8 MiB, not 4.
 * Cost: O(keys), once per map and compile, in a transient table of two words a slot.
 */
function keysWithRoom(cluster: Cluster, m: Ruleset['maps'][number]): number {
  const reserved = reservedKeys(cluster, m.name);
  if (reserved === 0) return m.elements.length;
  const keys = new PairTable(reserved + m.elements.length, 0);
  for (let port = 0; port < cluster.ports.length; port++) roomKeys(cluster, m.name, port, (k0, k1) => keys.slotFor(k0, k1));
  for (const e of m.elements) keys.slotFor(m.key === 'addr.proto.port' ? e.ip : 0, (e.proto << 16) | e.port);
  return keys.size;
}

/** Every key a port can come to hold, present as op 0 (absent) where the ruleset has none now. */
function reserveKeys(cluster: Cluster, map: string, t: PairTable): void {
  for (let port = 0; port < cluster.ports.length; port++) {
    roomKeys(cluster, map, port, (k0, k1) => {
      const before = t.size;
      const s = t.slotFor(k0, k1);
      if (t.size === before) return;
      clearMapValue(t, s);
    });
  }
}

function roomSetTimeout(cluster: Cluster, room: Int32Array | undefined, set: number): number {
  if (!room) return 0;
  for (let port = 0; port < cluster.ports.length; port++) {
    const w = port * kRoomStride;
    if (room[w + ROOM_SETS] > 0 && set >= room[w + ROOM_SET] && set < room[w + ROOM_SET] + room[w + ROOM_SETS]) {
      return cluster.services[cluster.ports[port].service].affinity.timeoutSeconds;
    }
  }
  return 0;
}
