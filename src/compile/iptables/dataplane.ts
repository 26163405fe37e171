/**
 * The iptables chain walker: evaluates a first packet against the linear rule table the way
 * netfilter does (nat PREROUTING/OUTPUT, then filter INPUT/FORWARD/OUTPUT on the rewritten
 * packet, then nat POSTROUTING), rule after rule, with jumps, returns and marks.
 *
 * The scan stays linear on purpose: kdp measures what a KUBE-SERVICES chain of 10,000 rules
 * costs, so the hot loop is a tight pass over typed arrays with the cheapest tests first, and
 * `work` counts every rule looked at. No allocation per packet: the jump stack, the recent-match
 * table and all state are preallocated per instance.
 *
 * Two walkers: decide() is specialised once per ruleset by createDecide() (decide.ts:
 * decide-only, a one-load fast reject per rule over buildScanKeys' keys, no tracing, no chooser);
 * the general walk() here serves explain() (statistic branches forced, trace steps) and
 * decideGeneric(), the reference decide() is tested against (walker-equivalence.test.ts).
 *
 * Reads: FirstPacket (src, dst, dport, proto, hook, fromPodInterface, rand, now).
 * Writes: NatDecision (verdict, servicePort, endpoint, dnat ip:port, masquerade, work).
 * Random choices: statistic draws come from a hash of (pkt.rand, the rule's chain name and offset
 * in it: ruleset.ts drawKey), compared as the kernel does
 * (`(random & 0x7fffffff) < probability`), so a flow decides the same way every run.
 * `-m recent`: per-instance state keyed by (list name, source address), like xt_recent.
 */
import {
  HOOK_OUTPUT, VERDICT_ACCEPT, VERDICT_DNAT, VERDICT_DROP, VERDICT_NONE, VERDICT_REJECT, VERDICT_UNKNOWN, kVerdictNames, newNatDecision,
  type DataplaneStats, type Explanation, type FirstPacket, type InvalidDrop, type NatDecision, type ServiceDataplane, type TraceStep,
} from '../dataplane.js';
import type { Cluster } from '../../model/types.js';
import { formatIp } from '../../net/ipv4.js';
import { isLocalAddress } from '../node-addresses.js';
import { nodeLocalAddresses } from './build.js';
import { createDecide } from './decide.js';
import { FM_NO, FM_UNKNOWN, foreignMatches, type ForeignPacket } from './foreign.js';
import { hookChains, kStackDepth, OUT_ACCEPT, OUT_DNAT, OUT_DROP, OUT_MASQUERADE, OUT_REJECT, OUT_UNKNOWN, statisticDraw, type Hooks } from './hooks.js';
import type { IpsetSet } from '../ipvs/ipset-parse.js';
import { newRecentTable, recentCheck, recentSet } from './recent.js';
import type { IptablesRoom } from './room.js';
import { saveRuleBody } from './render.js';
import { serviceAccepts } from './service-accept.js';
import {
  CT_DNAT, CT_INVALID, CT_NEW, CT_UNTRACKED, M_CTSTATE, M_CTSTATE_NEG, M_DPORT, M_DST, M_DST_LOCAL, M_DST_NEG, M_FOREIGN, M_IFACE, M_IFACE_NEG, M_MARK, M_MARK_NEG,
  M_PROTO, M_RECENT_CHECK, M_RECENT_SET, M_SRC, M_SRC_LOCAL, M_SRC_NEG, M_STATISTIC, T_ACCEPT, T_DNAT, T_DROP, T_JUMP, T_MARK, T_MASQUERADE, T_NOTRACK,
  T_REJECT, T_RETURN, T_UNKNOWN, TABLE_FILTER, TABLE_NAT, TF_GOTO, buildScanKeys, drawKey, kTableNames, liveRules, type Ruleset, type ScanKeys,
} from './ruleset.js';

/** kube-proxy's matches that slowMatch evaluates, past the scan's address, protocol and port tests. */
const kSlowMatches = M_DST_LOCAL | M_SRC_LOCAL | M_MARK | M_CTSTATE | M_IFACE | M_STATISTIC | M_RECENT_CHECK | M_RECENT_SET;

/** Branch choices for explain(): forced prefix, then "no match", recording where it branched. */
interface Chooser {
  prefix: number[];
  taken: number[];
}

export interface IptablesDataplaneOptions {
  /** Node index the rules belong to (or -1 for an imported dump without a cluster). */
  readonly node: number;
  /** Addresses the node owns (`-m addrtype LOCAL`); 127.0.0.0/8 is always local. */
  readonly localAddresses: readonly number[];
  /** The ruleset's fast-reject keys and hook chains, when already known (tables shared with a
   * worker: looking the hooks up by name would decode every chain name). */
  readonly scanKeys?: ScanKeys;
  readonly hooks?: Hooks;
  /** Sets `-m set` rules of a real node's dump match against (its `ipset save`). */
  readonly ipsets?: ReadonlyMap<string, IpsetSet>;
  /** The room of a ruleset compiled for in-place updates (room.ts, update.ts). */
  readonly room?: IptablesRoom;
  /** serviceAccepts of the ruleset, when already known (tables shared with a worker, which in-place updates keep). */
  readonly serviceAccept?: Uint8Array;
}

/**
 * Whether the ruleset needs the whole netfilter walk (raw, mangle, security, rules of other
 * owners): only a real node's dump does. kdp's own rulesets (nat and filter, nothing foreign) keep
 * the specialised decide(), untouched by any of it.
 */
function needsFullWalk(rs: Ruleset): boolean {
  if (rs.foreign.length > 0) return true;
  for (let c = 0; c < rs.chainCount; c++) {
    const t = rs.chainTable[c];
    if (t !== TABLE_NAT && t !== TABLE_FILTER && rs.chainEnd[c] > rs.chainStart[c]) return true;
  }
  return false;
}

/**
 * KUBE-FORWARD's `-m conntrack --ctstate INVALID -j DROP`, read from the ruleset itself, so a real
 * node's dump says whether its kube-proxy wrote it (it does not with nf_conntrack_tcp_be_liberal).
 */
function forwardInvalidDrop(rs: Ruleset): InvalidDrop | undefined {
  const [c] = rs.findChains([[TABLE_FILTER, 'KUBE-FORWARD']]);
  if (c < 0) return undefined;
  for (let r = rs.chainStart[c]; r < rs.chainEnd[c]; r++) {
    const f = rs.ruleFlags[r];
    if ((f & M_CTSTATE) !== 0 && (f & M_CTSTATE_NEG) === 0 && rs.ruleCtstate[r] === CT_INVALID && rs.ruleTarget[r] === T_DROP) {
      return { at: 'forward', words: `-A KUBE-FORWARD${saveRuleBody(rs, r)}` };
    }
  }
  return undefined;
}

export class IptablesDataplane implements ServiceDataplane {
  readonly mode = 'iptables' as const;
  readonly node: number;
  readonly rules: Ruleset;
  readonly localAddrs: Uint32Array;
  /** What update.ts needs to write endpoint changes in place; absent for a dump read back. */
  readonly room: IptablesRoom | undefined;
  /** The tables' seqlock word (table-generation.ts), when they can be updated in place. */
  readonly generation: Int32Array | undefined;
  /** Entry chains of the hooks the walk visits. */
  readonly hooks: Hooks;
  // Preallocated walker state.
  private readonly stackChain = new Int32Array(kStackDepth);
  private readonly stackRule = new Int32Array(kStackDepth);
  private readonly recent = newRecentTable();
  /** explain()'s per-path decision, reused. */
  private readonly pathOut = newNatDecision();
  /** Fast-reject keys of the decide() scan (see buildScanKeys). */
  readonly scanKeys: ScanKeys;
  #invalidDrop: InvalidDrop | undefined | null = null;
  /** Hot path, specialised once at construction (createDecide). */
  readonly decide: (pkt: FirstPacket, out: NatDecision) => void;
  private mark = 0;
  private work = 0;
  private hitRule = -1;
  private port = -1;
  /** A NOTRACK rule met the packet in raw: no nat table sees it, filter sees UNTRACKED. */
  private untracked = false;
  /** 1 per rule whose ACCEPT is a Service's answer (service-accept.ts). */
  readonly serviceAccept: Uint8Array;
  /** Such a rule accepted the packet: its decision is VERDICT_ACCEPT unless a later rule says otherwise. */
  private acceptedByService = false;
  /** Raw, mangle and security tables and foreign rules are walked (a real node's dump). */
  readonly fullWalk: boolean;
  /**
   * The packet's interfaces, for `-i`/`-o` of other owners' rules: set by a trace that names them
   * ('' = not known, and such a rule is then unknown).
   */
  iif = '';
  oif = '';
  /** Foreign matches' view of the packet, overwritten per rule (see foreign.ts). */
  private readonly foreignPkt: ForeignPacket;
  /**
   * On an IPVS node (ipvs/node-state.ts): the real server IPVS sends the walked packet to, between
   * the hooks (port 0: none). Set only by decideBalanced/explainBalanced.
   */
  private lbIp = 0;
  private lbPort = 0;

  constructor(rules: Ruleset, options: IptablesDataplaneOptions) {
    this.rules = rules;
    this.node = options.node;
    this.room = options.room;
    this.generation = options.room?.generation;
    this.localAddrs = Uint32Array.from(options.localAddresses);
    this.hooks = options.hooks ?? hookChains(rules);
    this.scanKeys = options.scanKeys ?? buildScanKeys(rules);
    this.fullWalk = needsFullWalk(rules);
    this.serviceAccept = options.serviceAccept ?? serviceAccepts(rules);
    const local = this.localAddrs;
    this.foreignPkt = {
      src: 0, dst: 0, sport: 0, dport: 0, proto: 0, mark: 0, ct: 0, origDst: 0, origDport: 0, iif: '', oif: '', why: '',
      isLocal: (ip) => isLocalAddress(local, ip), sets: options.ipsets ?? new Map(),
    };
    // A dump with other owners' rules decides with the general walker: the specialised scan knows
    // none of it, and kdp's own rulesets never pay for the difference.
    this.decide = this.fullWalk ? (pkt, out) => this.decideGeneric(pkt, out) : createDecide(rules, this.scanKeys, this.hooks, this.localAddrs, this.recent, this.serviceAccept);
  }

  /** Found on first use, by an INVALID packet: an attached image keeps its chain names undecoded until then. */
  get invalidDrop(): InvalidDrop | undefined {
    if (this.#invalidDrop === null) this.#invalidDrop = forwardInvalidDrop(this.rules);
    return this.#invalidDrop;
  }

  /** Forget all `-m recent` state (session affinity). */
  reset(): void {
    this.recent.clear();
  }

  /**
   * The reference decide(): the general walker explain() uses, with live draws and recent state.
   * Slower; kept so tests can check that the specialised decide() decides exactly the same.
   */
  decideGeneric(pkt: FirstPacket, out: NatDecision): void {
    this.walkHooks(pkt, null, undefined, out);
  }

  /**
   * Netfilter's hook order for a first packet, written once for both uses of the general walker:
   * nat PREROUTING (OUTPUT for the node's own packets), then filter INPUT/FORWARD (OUTPUT) on the
   * rewritten packet, then nat POSTROUTING. createDecide's decide() inlines the same sequence.
   * With a chooser (explain) statistic branches follow it and `steps` records the rules.
   */
  private walkHooks(pkt: FirstPacket, chooser: Chooser | null, steps: TraceStep[] | undefined, out: NatDecision): void {
    this.recent.now = pkt.now;
    this.mark = 0;
    this.work = 0;
    this.port = -1;
    this.untracked = false;
    this.acceptedByService = false;
    out.servicePort = -1;
    out.endpoint = -1;
    out.dnatIp = pkt.dstIp;
    out.dnatPort = pkt.dstPort;
    out.masquerade = false;
    out.verdict = VERDICT_NONE;
    const src = pkt.srcIp >>> 0;
    let dst = pkt.dstIp >>> 0;
    let dport = pkt.dstPort;
    const h = this.hooks;
    const output = pkt.hook === HOOK_OUTPUT;
    const full = this.fullWalk;
    let ct = CT_NEW;
    let res = OUT_ACCEPT;
    // raw (NOTRACK) and mangle come before nat at both entry hooks.
    if (full) {
      res = this.walk(output ? h.rawOut : h.rawPre, src, dst, dport, pkt, ct, chooser, steps);
      if (this.untracked) ct = CT_UNTRACKED;
      if (res === OUT_ACCEPT) res = this.walk(output ? h.mangleOut : h.manglePre, src, dst, dport, pkt, ct, chooser, steps);
    }
    // An untracked packet has no conntrack entry, and nat tables are walked for new entries only.
    if (res === OUT_ACCEPT && !this.untracked) res = this.walk(output ? h.natOut : h.natPre, src, dst, dport, pkt, ct, chooser, steps);
    if (res === OUT_DNAT) {
      const r = this.hitRule;
      dst = this.rules.ruleTargetA[r];
      // A DNAT of another owner may keep the port (`--to-destination ADDR`).
      if (this.rules.ruleTargetB[r] !== 0) dport = this.rules.ruleTargetB[r];
      out.verdict = VERDICT_DNAT;
      out.endpoint = this.rules.ruleEndpoint[r];
      out.dnatIp = dst;
      out.dnatPort = dport;
      ct |= CT_DNAT;
    } else if (res !== OUT_ACCEPT && res !== OUT_MASQUERADE) {
      this.finish(res, out);
      return;
    }
    // IPVS balances the node's own packet at LOCAL_OUT, after nat OUTPUT and before filter OUTPUT
    // (ip_vs_local_request4, priority NF_IP_PRI_NAT_DST + 1).
    if (output && this.lbPort !== 0) {
      [dst, dport] = this.balance(dst, dport, out, steps);
      ct |= CT_DNAT;
    }
    const local = !output && isLocalAddress(this.localAddrs, dst);
    if (full) {
      res = this.walk(output ? h.mangleOut : local ? h.mangleIn : h.mangleFwd, src, dst, dport, pkt, ct, chooser, steps);
      if (res !== OUT_ACCEPT && res !== OUT_MASQUERADE) return this.finish(res, out);
    }
    const filterHook = output ? h.filterOut : local ? h.filterIn : h.filterFwd;
    res = this.walk(filterHook, src, dst, dport, pkt, ct, chooser, steps);
    if (full && (res === OUT_ACCEPT || res === OUT_MASQUERADE)) res = this.walk(output ? h.securityOut : local ? h.securityIn : h.securityFwd, src, dst, dport, pkt, ct, chooser, steps);
    if (res === OUT_DROP || res === OUT_REJECT || res === OUT_UNKNOWN) {
      this.finish(res, out);
      out.endpoint = -1;
      return;
    }
    // An arriving packet meets IPVS at LOCAL_IN, after filter INPUT (ip_vs_remote_request4,
    // priority NF_IP_PRI_NAT_SRC - 2), and leaves for the real server through POSTROUTING.
    if (!output && local && this.lbPort !== 0) {
      [dst, dport] = this.balance(dst, dport, out, steps);
      ct |= CT_DNAT;
    }
    if (full) {
      res = this.walk(h.manglePost, src, dst, dport, pkt, ct, chooser, steps);
      if (res !== OUT_ACCEPT && res !== OUT_MASQUERADE) return this.finish(res, out);
    }
    if (!this.untracked) {
      res = this.walk(h.natPost, src, dst, dport, pkt, ct, chooser, steps);
      if (res === OUT_UNKNOWN) return this.finish(res, out);
      out.masquerade = res === OUT_MASQUERADE;
    }
    if (this.acceptedByService && out.verdict === VERDICT_NONE) out.verdict = VERDICT_ACCEPT;
    out.servicePort = this.port;
    out.work = this.work;
  }

  /** IPVS's DNAT to the real server of decideBalanced/explainBalanced: the packet's new destination. */
  private balance(dst: number, dport: number, out: NatDecision, steps: TraceStep[] | undefined): [number, number] {
    out.verdict = VERDICT_DNAT;
    out.endpoint = -1;
    out.dnatIp = this.lbIp;
    out.dnatPort = this.lbPort;
    steps?.push({ where: 'ipvs', rule: `virtual service ${formatIp(dst)}:${dport}`, action: `DNAT ${formatIp(this.lbIp)}:${this.lbPort}` });
    return [this.lbIp, this.lbPort];
  }

  /**
   * The general walk of a packet that IPVS sends to the real server `ip:port` on the way (an IPVS
   * node's iptables rules around its virtual services, ipvs/node-state.ts): filter and nat
   * POSTROUTING see the packet after IPVS's DNAT, as the kernel runs them.
   */
  decideBalanced(pkt: FirstPacket, ip: number, port: number, out: NatDecision): void {
    this.lbIp = ip >>> 0;
    this.lbPort = port;
    try {
      this.walkHooks(pkt, null, undefined, out);
    } finally {
      this.lbPort = 0;
    }
  }

  /** explain() of a packet IPVS sends to `ip:port` (see decideBalanced). */
  explainBalanced(pkt: FirstPacket, ip: number, port: number): Explanation {
    this.lbIp = ip >>> 0;
    this.lbPort = port;
    try {
      return this.explain(pkt);
    } finally {
      this.lbPort = 0;
    }
  }

  /** A walk that ended the packet's way: DROP, REJECT, or a rule kdp cannot evaluate. */
  private finish(res: number, out: NatDecision): void {
    out.verdict = res === OUT_DROP ? VERDICT_DROP : res === OUT_REJECT ? VERDICT_REJECT : VERDICT_UNKNOWN;
    if (res === OUT_UNKNOWN) out.endpoint = -1;
    out.servicePort = this.port;
    out.work = this.work;
  }

  /**
   * Walks one hook from `entry`. Returns OUT_*; for OUT_DNAT the rule is in `hitRule`. With a
   * chooser (explain), statistic matches follow its choices and `-m recent` neither matches nor
   * records; without one (decide), draws are hashed and recent state is live.
   */
  private walk(entry: number, src: number, dst: number, dport: number, pkt: FirstPacket, ct: number, chooser: Chooser | null, steps?: TraceStep[]): number {
    if (entry < 0) return OUT_ACCEPT;
    const rs = this.rules;
    const flagsA = rs.ruleFlags;
    const srcA = rs.ruleSrc;
    const srcMaskA = rs.ruleSrcMask;
    const dstA = rs.ruleDst;
    const dstMaskA = rs.ruleDstMask;
    const protoA = rs.ruleProto;
    const dportA = rs.ruleDport;
    const targetA = rs.ruleTarget;
    const jumpA = rs.ruleJump;
    const portA = rs.rulePort;
    const chainStart = rs.chainStart;
    const chainEnd = rs.chainEnd;
    const stackChain = this.stackChain;
    const stackRule = this.stackRule;
    const proto = pkt.proto;
    let depth = 0;
    let chain = entry;
    let r = chainStart[chain];
    let end = chainEnd[chain];
    let work = this.work;
    for (;;) {
      if (r >= end) {
        // Fell off the chain: return to the caller, or the built-in chain's policy (ACCEPT).
        if (depth === 0) break;
        depth--;
        chain = stackChain[depth];
        r = stackRule[depth];
        end = chainEnd[chain];
        continue;
      }
      work++;
      const f = flagsA[r];
      // Cheapest, most selective tests first: protocol, port, destination.
      if (f & M_PROTO && protoA[r] !== proto) { r++; continue; }
      if (f & M_DPORT && dportA[r] !== dport) { r++; continue; }
      if (f & M_DST && (((dst & dstMaskA[r]) >>> 0) === dstA[r]) === ((f & M_DST_NEG) !== 0)) { r++; continue; }
      if (f & M_SRC && (((src & srcMaskA[r]) >>> 0) === srcA[r]) === ((f & M_SRC_NEG) !== 0)) { r++; continue; }
      if (f & (kSlowMatches | M_FOREIGN)) {
        // A rule of another owner carries no match of kube-proxy's but a statistic one, which
        // applies after its own matches (foreign.ts), as it did inside one slow match.
        if (f & M_FOREIGN) {
          const m = this.foreignMatch(r, src, dst, dport, pkt, ct);
          if (m === FM_NO) { r++; continue; }
          if (m === FM_UNKNOWN) { this.work = work; this.hitRule = r; return OUT_UNKNOWN; }
        }
        if (f & kSlowMatches && !this.slowMatch(r, chain, f, src, dst, pkt, ct, chooser)) { r++; continue; }
      }
      // Matched.
      if (portA[r] >= 0 && this.port < 0) this.port = portA[r];
      if (steps) steps.push(this.step(r, chooser));
      const t = targetA[r];
      if (t === T_JUMP) {
        if (depth === kStackDepth) { this.work = work; return OUT_DROP; } // iptables refuses loops; never reached
        // `-g`: the chain replaces this one, so its RETURN goes back to this chain's caller.
        if ((rs.ruleTargetFlags[r] & TF_GOTO) === 0) {
          stackChain[depth] = chain;
          stackRule[depth] = r + 1;
          depth++;
        }
        chain = jumpA[r];
        r = chainStart[chain];
        end = chainEnd[chain];
        continue;
      }
      if (t === T_RETURN) {
        if (depth === 0) break;
        depth--;
        chain = stackChain[depth];
        r = stackRule[depth];
        end = chainEnd[chain];
        continue;
      }
      if (t === T_MARK) {
        this.mark = ((this.mark & ~rs.ruleTargetB[r]) ^ rs.ruleTargetA[r]) >>> 0;
        r++;
        continue;
      }
      if (t === T_DNAT) { this.work = work; this.hitRule = r; return OUT_DNAT; }
      if (t === T_ACCEPT) {
        if (this.serviceAccept[r] !== 0) this.acceptedByService = true;
        break;
      }
      if (t === T_DROP) { this.work = work; return OUT_DROP; }
      if (t === T_REJECT) { this.work = work; return OUT_REJECT; }
      if (t === T_MASQUERADE) { this.work = work; return OUT_MASQUERADE; }
      if (t === T_NOTRACK) this.untracked = true; // non-terminating, as xt_CT's --notrack
      else if (t === T_UNKNOWN) { this.work = work; this.hitRule = r; return OUT_UNKNOWN; }
      r++; // T_NONE: a rule with no target only counts.
    }
    this.work = work;
    return OUT_ACCEPT;
  }

  /**
   * The rarer matches of kube-proxy's rules, kept out of the scan loop. Cost: it must stay under
   * V8's inlining limit (460 bytes of bytecode) so that walk() inlines it: called for ~40% of the
   * rules of a KUBE-SERVICES scan, an out-of-line call made the whole walk 1.5x slower
   * (bench/compile/iptables-walk.bench.ts, decideGeneric). Other owners' matches live in foreignMatch.
   */
  private slowMatch(r: number, chain: number, f: number, src: number, dst: number, pkt: FirstPacket, ct: number, chooser: Chooser | null): boolean {
    const rs = this.rules;
    if (f & M_DST_LOCAL && !isLocalAddress(this.localAddrs, dst)) return false;
    if (f & M_SRC_LOCAL && !isLocalAddress(this.localAddrs, src)) return false;
    if (f & M_IFACE && pkt.fromPodInterface === ((f & M_IFACE_NEG) !== 0)) return false;
    if (f & M_MARK && (((this.mark & rs.ruleMarkMask[r]) >>> 0) === rs.ruleMark[r]) === ((f & M_MARK_NEG) !== 0)) return false;
    if (f & M_CTSTATE && ((ct & rs.ruleCtstate[r]) !== 0) === ((f & M_CTSTATE_NEG) !== 0)) return false;
    if (f & M_RECENT_CHECK) {
      if (chooser) return false; // explored as "no affinity yet": the same endpoints are reachable either way
      if (!recentCheck(this.recent, rs.ruleRecentName[r], src, rs.ruleRecentSeconds[r])) return false;
    }
    if (f & M_STATISTIC) {
      if (chooser) {
        const d = chooser.taken.length;
        const choice = d < chooser.prefix.length ? chooser.prefix[d] : 0;
        chooser.taken.push(choice);
        if (choice === 0) return false;
      } else if (statisticDraw(pkt.rand, drawKey(rs, chain, r)) >= rs.ruleProb[r]) {
        return false;
      }
    }
    if (f & M_RECENT_SET && !chooser) recentSet(this.recent, rs.ruleRecentName[r], src);
    return true;
  }

  /** The matches of another owner's rule (foreign.ts): FM_NO, FM_YES, or FM_UNKNOWN. */
  private foreignMatch(r: number, src: number, dst: number, dport: number, pkt: FirstPacket, ct: number): number {
    const rs = this.rules;
    const fp = this.foreignPkt;
    fp.src = src;
    fp.dst = dst;
    fp.sport = pkt.srcPort;
    fp.dport = dport;
    fp.proto = pkt.proto;
    fp.mark = this.mark;
    fp.ct = ct;
    fp.origDst = pkt.dstIp >>> 0;
    fp.origDport = pkt.dstPort;
    fp.iif = this.iif;
    fp.oif = this.oif;
    return foreignMatches(rs.foreign[rs.ruleForeign[r]], fp);
  }

  /** `line N: -A CHAIN ...: why` for the rule a walk stopped at as unknown. */
  private unknownText(r: number): string {
    const rs = this.rules;
    const fr = rs.ruleFlags[r] & M_FOREIGN ? rs.foreign[rs.ruleForeign[r]] : undefined;
    const why = rs.ruleTarget[r] === T_UNKNOWN ? fr?.targetNote : this.foreignPkt.why;
    return `${fr ? `line ${fr.line}: ` : ''}-A ${rs.chainName[rs.ruleChain[r]]}${saveRuleBody(rs, r)}${why ? ` (${why})` : ''}`;
  }

  private step(r: number, chooser: Chooser | null): TraceStep {
    const rs = this.rules;
    const c = rs.ruleChain[r];
    const t = rs.ruleTarget[r];
    let action: string;
    if (t === T_JUMP) action = `${rs.ruleTargetFlags[r] & TF_GOTO ? 'goto' : 'jump'} ${rs.chainName[rs.ruleJump[r]]}`;
    else if (t === T_NOTRACK) action = 'NOTRACK';
    else if (t === T_UNKNOWN) action = 'unknown target';
    else if (t === T_DNAT) action = `DNAT ${formatIp(rs.ruleTargetA[r])}:${rs.ruleTargetB[r]}`;
    else if (t === T_MARK) action = `MARK ${(this.mark >>> 0).toString(16)}`;
    else if (t === T_MASQUERADE) action = 'MASQUERADE';
    else action = ['continue', '', 'ACCEPT', 'DROP', 'RETURN', 'REJECT'][t] ?? 'continue';
    if (chooser && rs.ruleFlags[r] & M_STATISTIC) action += ' (statistic branch taken)';
    return { where: `${kTableNames[rs.chainTable[c]]}/${rs.chainName[c]}`, rule: `-A ${rs.chainName[c]}${saveRuleBody(rs, r)}`, action };
  }

  /** Every statistic branch explored: each path is re-walked with a forced prefix of choices. */
  explain(pkt: FirstPacket): Explanation {
    const candidates: number[] = [];
    const steps: TraceStep[] = [];
    let masquerade = false;
    let servicePort = -1;
    let verdict: number = VERDICT_NONE;
    let unknownAt: string | undefined;
    const work: number[][] = [[]];
    let paths = 0;
    while (work.length > 0 && paths < 4096) {
      const prefix = work.pop() as number[];
      const chooser: Chooser = { prefix, taken: [] };
      const pathSteps: TraceStep[] = [];
      const v = this.walkPath(pkt, chooser, pathSteps);
      paths++;
      for (let d = prefix.length; d < chooser.taken.length; d++) work.push([...chooser.taken.slice(0, d), 1]);
      if (paths === 1) steps.push(...pathSteps);
      else steps.push(...pathSteps.filter((s) => !steps.some((x) => x.rule === s.rule)));
      if (v.servicePort >= 0 && servicePort < 0) servicePort = v.servicePort;
      if (v.masquerade) masquerade = true;
      if (v.verdict === VERDICT_UNKNOWN) {
        unknownAt ??= this.unknownText(this.hitRule);
        if (paths === 1) steps.push({ where: 'unknown', rule: unknownAt, action: 'kdp cannot evaluate this rule' });
      }
      if (v.verdict === VERDICT_DNAT) {
        verdict = VERDICT_DNAT;
        if (!candidates.includes(v.endpoint)) candidates.push(v.endpoint);
      } else if (verdict !== VERDICT_DNAT) {
        verdict = v.verdict;
      }
    }
    // Candidates in the order of the rules that DNAT to them.
    candidates.sort((a, b) => this.dnatRuleOf(a) - this.dnatRuleOf(b));
    // One path kdp cannot follow makes the whole answer unknown: the others are still listed.
    if (unknownAt !== undefined) return { verdict: kVerdictNames[VERDICT_UNKNOWN], servicePort, candidates, masquerade, steps, unknownAt };
    return { verdict: kVerdictNames[verdict], servicePort, candidates, masquerade, steps };
  }

  private dnatRuleOf(endpoint: number): number {
    const rs = this.rules;
    const e = rs.ruleEndpoint;
    for (let r = 0; r < e.length; r++) if (e[r] === endpoint && rs.chainLive[rs.ruleChain[r]] !== 0 && r < rs.chainEnd[rs.ruleChain[r]]) return r;
    return e.length;
  }

  private walkPath(pkt: FirstPacket, chooser: Chooser, steps: TraceStep[]): { verdict: number; endpoint: number; servicePort: number; masquerade: boolean } {
    const out = this.pathOut;
    this.walkHooks(pkt, chooser, steps, out);
    let endpoint = out.endpoint;
    // An imported dump without a cluster has no endpoint rows: use the DNAT rule as identity.
    if (out.verdict === VERDICT_DNAT && endpoint < 0) endpoint = -2 - this.hitRule;
    return { verdict: out.verdict, endpoint, servicePort: out.servicePort, masquerade: out.masquerade };
  }

  stats(): DataplaneStats {
    const rs = this.rules;
    let kubeServices = 0;
    const [ks] = rs.findChains([[TABLE_NAT, 'KUBE-SERVICES']]);
    if (ks >= 0) kubeServices = rs.chainEnd[ks] - rs.chainStart[ks];
    const scanKeyBytes = this.scanKeys.dst.byteLength + this.scanKeys.protoPort.byteLength;
    // Live rules and chains: the room an in-place update writes into is memory (tableBytes), not rules.
    let rules = 0;
    let chains = 0;
    for (let c = 0; c < rs.chainCount; c++) {
      rules += liveRules(rs, c);
      chains += rs.chainLive[c];
    }
    const base = { mode: 'iptables' as const, rules, chains, tableBytes: rs.tableBytes() + scanKeyBytes, kubeServicesRules: kubeServices, scanKeyBytes };
    if (!this.fullWalk) return base;
    // A real node's dump: how much of it belongs to other owners, and how much kdp cannot evaluate.
    let opaque = 0;
    for (let r = 0; r < rs.ruleCount; r++) {
      if (rs.ruleTarget[r] === T_UNKNOWN || (rs.ruleFlags[r] & M_FOREIGN && rs.foreign[rs.ruleForeign[r]].matches.some((m) => m.k === 'opaque'))) opaque++;
    }
    return { ...base, foreignRules: rs.foreign.length, opaqueRules: opaque };
  }
}

export function localAddressesOf(cluster: Cluster | undefined, node: number): number[] {
  return cluster && node >= 0 ? nodeLocalAddresses(cluster, node) : [0x7f000001];
}
