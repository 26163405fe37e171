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
 * Random choices: statistic draws come from a hash of (pkt.rand, rule index), compared as the
 * kernel does (`(random & 0x7fffffff) < probability`), so a flow decides the same way every run.
 * `-m recent`: per-instance state keyed by (list name, source address), like xt_recent.
 */
import {
  HOOK_OUTPUT, VERDICT_DNAT, VERDICT_DROP, VERDICT_NONE, VERDICT_REJECT, kVerdictNames, newNatDecision,
  type DataplaneStats, type Explanation, type FirstPacket, type NatDecision, type ServiceDataplane, type TraceStep,
} from '../dataplane.js';
import type { Cluster } from '../../model/types.js';
import { formatIp } from '../../net/ipv4.js';
import { isLocalAddress } from '../node-addresses.js';
import { nodeLocalAddresses } from './build.js';
import { createDecide } from './decide.js';
import { hookChains, kStackDepth, OUT_ACCEPT, OUT_DNAT, OUT_DROP, OUT_MASQUERADE, OUT_REJECT, statisticDraw, type Hooks } from './hooks.js';
import { newRecentTable, recentCheck, recentSet } from './recent.js';
import { saveRuleBody } from './render.js';
import {
  CT_DNAT, CT_NEW, M_CTSTATE, M_CTSTATE_NEG, M_DPORT, M_DST, M_DST_LOCAL, M_DST_NEG, M_IFACE, M_IFACE_NEG, M_MARK, M_MARK_NEG, M_PROTO,
  M_RECENT_CHECK, M_RECENT_SET, M_SRC, M_SRC_LOCAL, M_SRC_NEG, M_STATISTIC, T_ACCEPT, T_DNAT, T_DROP, T_JUMP, T_MARK, T_MASQUERADE, T_REJECT,
  T_RETURN, TABLE_NAT, buildScanKeys, kTableNames, type Ruleset, type ScanKeys,
} from './ruleset.js';

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
}

export class IptablesDataplane implements ServiceDataplane {
  readonly mode = 'iptables' as const;
  readonly node: number;
  readonly rules: Ruleset;
  readonly localAddrs: Uint32Array;
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
  /** Hot path, specialised once at construction (createDecide). */
  readonly decide: (pkt: FirstPacket, out: NatDecision) => void;
  private mark = 0;
  private work = 0;
  private hitRule = -1;
  private port = -1;

  constructor(rules: Ruleset, options: IptablesDataplaneOptions) {
    this.rules = rules;
    this.node = options.node;
    this.localAddrs = Uint32Array.from(options.localAddresses);
    this.hooks = options.hooks ?? hookChains(rules);
    this.scanKeys = options.scanKeys ?? buildScanKeys(rules);
    this.decide = createDecide(rules, this.scanKeys, this.hooks, this.localAddrs, this.recent);
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
    this.mark = 0;
    this.work = 0;
    this.port = -1;
    out.servicePort = -1;
    out.endpoint = -1;
    out.dnatIp = pkt.dstIp;
    out.dnatPort = pkt.dstPort;
    out.masquerade = false;
    out.verdict = VERDICT_NONE;
    const src = pkt.srcIp >>> 0;
    let dst = pkt.dstIp >>> 0;
    let dport = pkt.dstPort;
    const natHook = pkt.hook === HOOK_OUTPUT ? this.hooks.natOut : this.hooks.natPre;
    let res = this.walk(natHook, src, dst, dport, pkt, CT_NEW, chooser, steps);
    let ct = CT_NEW;
    if (res === OUT_DNAT) {
      const r = this.hitRule;
      dst = this.rules.ruleTargetA[r];
      dport = this.rules.ruleTargetB[r];
      out.verdict = VERDICT_DNAT;
      out.endpoint = this.rules.ruleEndpoint[r];
      out.dnatIp = dst;
      out.dnatPort = dport;
      ct |= CT_DNAT;
    } else if (res === OUT_DROP || res === OUT_REJECT) {
      out.verdict = res === OUT_DROP ? VERDICT_DROP : VERDICT_REJECT;
      out.servicePort = this.port;
      out.work = this.work;
      return;
    }
    const filterHook = pkt.hook === HOOK_OUTPUT ? this.hooks.filterOut : isLocalAddress(this.localAddrs, dst) ? this.hooks.filterIn : this.hooks.filterFwd;
    res = this.walk(filterHook, src, dst, dport, pkt, ct, chooser, steps);
    if (res === OUT_DROP || res === OUT_REJECT) {
      out.verdict = res === OUT_DROP ? VERDICT_DROP : VERDICT_REJECT;
      out.endpoint = -1;
    } else {
      res = this.walk(this.hooks.natPost, src, dst, dport, pkt, ct, chooser, steps);
      out.masquerade = res === OUT_MASQUERADE;
    }
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
      if (f & (M_DST_LOCAL | M_SRC_LOCAL | M_MARK | M_CTSTATE | M_IFACE | M_STATISTIC | M_RECENT_CHECK | M_RECENT_SET)) {
        if (!this.slowMatch(r, f, src, dst, pkt, ct, chooser)) { r++; continue; }
      }
      // Matched.
      if (portA[r] >= 0 && this.port < 0) this.port = portA[r];
      if (steps) steps.push(this.step(r, chooser));
      const t = targetA[r];
      if (t === T_JUMP) {
        if (depth === kStackDepth) { this.work = work; return OUT_DROP; } // iptables refuses loops; never reached
        stackChain[depth] = chain;
        stackRule[depth] = r + 1;
        depth++;
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
      if (t === T_ACCEPT) break;
      if (t === T_DROP) { this.work = work; return OUT_DROP; }
      if (t === T_REJECT) { this.work = work; return OUT_REJECT; }
      if (t === T_MASQUERADE) { this.work = work; return OUT_MASQUERADE; }
      r++; // T_NONE: a rule with no target only counts.
    }
    this.work = work;
    return OUT_ACCEPT;
  }

  /** The rarer matches, kept out of the scan loop. */
  private slowMatch(r: number, f: number, src: number, dst: number, pkt: FirstPacket, ct: number, chooser: Chooser | null): boolean {
    const rs = this.rules;
    if (f & M_DST_LOCAL && !isLocalAddress(this.localAddrs, dst)) return false;
    if (f & M_SRC_LOCAL && !isLocalAddress(this.localAddrs, src)) return false;
    if (f & M_IFACE && pkt.fromPodInterface === ((f & M_IFACE_NEG) !== 0)) return false;
    if (f & M_MARK && (((this.mark & rs.ruleMarkMask[r]) >>> 0) === rs.ruleMark[r]) === ((f & M_MARK_NEG) !== 0)) return false;
    if (f & M_CTSTATE && ((ct & rs.ruleCtstate[r]) !== 0) === ((f & M_CTSTATE_NEG) !== 0)) return false;
    if (f & M_RECENT_CHECK) {
      if (chooser) return false; // explored as "no affinity yet": the same endpoints are reachable either way
      if (!recentCheck(this.recent, rs.ruleRecentName[r], src, rs.ruleRecentSeconds[r], pkt.now)) return false;
    }
    if (f & M_STATISTIC) {
      if (chooser) {
        const d = chooser.taken.length;
        const choice = d < chooser.prefix.length ? chooser.prefix[d] : 0;
        chooser.taken.push(choice);
        if (choice === 0) return false;
      } else if (statisticDraw(pkt.rand, r) >= rs.ruleProb[r]) {
        return false;
      }
    }
    if (f & M_RECENT_SET && !chooser) recentSet(this.recent, rs.ruleRecentName[r], src, pkt.now);
    return true;
  }

  private step(r: number, chooser: Chooser | null): TraceStep {
    const rs = this.rules;
    const c = rs.ruleChain[r];
    const t = rs.ruleTarget[r];
    let action: string;
    if (t === T_JUMP) action = `jump ${rs.chainName[rs.ruleJump[r]]}`;
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
      if (v.verdict === VERDICT_DNAT) {
        verdict = VERDICT_DNAT;
        if (!candidates.includes(v.endpoint)) candidates.push(v.endpoint);
      } else if (verdict !== VERDICT_DNAT) {
        verdict = v.verdict;
      }
    }
    // Candidates in the order of the rules that DNAT to them.
    candidates.sort((a, b) => this.dnatRuleOf(a) - this.dnatRuleOf(b));
    return { verdict: kVerdictNames[verdict], servicePort, candidates, masquerade, steps };
  }

  private dnatRuleOf(endpoint: number): number {
    const e = this.rules.ruleEndpoint;
    for (let r = 0; r < e.length; r++) if (e[r] === endpoint) return r;
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
    const ks = rs.chainId(TABLE_NAT, 'KUBE-SERVICES');
    if (ks >= 0) kubeServices = rs.chainEnd[ks] - rs.chainStart[ks];
    const scanKeyBytes = this.scanKeys.dst.byteLength + this.scanKeys.protoPort.byteLength;
    return { mode: 'iptables', rules: rs.ruleCount, chains: rs.chainCount, tableBytes: rs.tableBytes() + scanKeyBytes, kubeServicesRules: kubeServices, scanKeyBytes };
  }
}

export function localAddressesOf(cluster: Cluster | undefined, node: number): number[] {
  return cluster && node >= 0 ? nodeLocalAddresses(cluster, node) : [0x7f000001];
}
