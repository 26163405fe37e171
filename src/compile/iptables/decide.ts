/**
 * The iptables decide() hot path, specialised once per ruleset by createDecide(): decide-only,
 * allocation-free, one Int32 key per rule (buildScanKeys) and the full match only for the rules
 * that may match. dataplane.ts keeps the general walker it is checked against
 * (walker-equivalence.test.ts) and that explain() uses.
 */
import { HOOK_OUTPUT, VERDICT_ACCEPT, VERDICT_DNAT, VERDICT_DROP, VERDICT_NONE, VERDICT_REJECT, type FirstPacket, type NatDecision } from '../dataplane.js';
import { isLocalAddress } from '../node-addresses.js';
import type { ExpiringTable } from '../tables/index.js';
import { kStackDepth, OUT_ACCEPT, OUT_DNAT, OUT_DROP, OUT_MASQUERADE, OUT_REJECT, statisticDraw, type Hooks } from './hooks.js';
import { recentCheck, recentSet } from './recent.js';
import {
  CT_DNAT, CT_NEW, M_CTSTATE, M_CTSTATE_NEG, M_DPORT, M_DST, M_DST_LOCAL, M_DST_NEG, M_IFACE, M_IFACE_NEG, M_MARK, M_MARK_NEG, M_PROTO,
  M_RECENT_CHECK, M_RECENT_SET, M_SRC, M_SRC_LOCAL, M_SRC_NEG, M_STATISTIC, T_ACCEPT, T_DNAT, T_DROP, T_JUMP, T_MARK, T_MASQUERADE, T_REJECT,
  T_RETURN, kScanAny, kScanAnyProtoPort, type Ruleset, type ScanKeys,
} from './ruleset.js';

// Walker state shared by the three hook walks of one packet (an Int32Array, not object fields).
const ST_MARK = 0;
const ST_PORT = 1;
const ST_WORK = 2;
const ST_HIT = 3;
/** 1 once a rule whose ACCEPT is a Service's answer (service-accept.ts) accepted the packet. */
const ST_ACCEPT = 4;

/**
 * Builds the decide() hot path for one ruleset: a decide-only, allocation-free linear scan.
 *
 * Profile of the general walker (10k services, 12.9k rules per first packet): ~99% of decide()
 * is the per-rule loop, which loaded the flags word and then proto, dport, dst and mask from
 * four more arrays for every KUBE-SERVICES rule, tested the chain end, and counted `work` per
 * rule. Here the loop reads one Int32 per rule (`keys.dst`, 4 bytes per rule: a 12k-rule
 * KUBE-SERVICES chain is 48 KB) and compares it with the packet's address and the wildcard;
 * the chain end is a stop slot, and `work` is added once per stretch of rejected rules
 * (the stretch length), so the count is unchanged. Only rules that may match (a few per
 * packet) get the full match, against the Ruleset's own arrays. No this.*, no calls, no
 * Math.* in the scan; jumps use a preallocated Int32Array stack. The scan steps eight keys at a
 * time while none can match (walkHook).
 */
// Cost: the scan ~0.65-0.70 ns a rule traversed (medians of runs) at 10k and 30k Services (12.9k and 38.7k rules a first packet), against 1.03-2.0 at 10k and 1.38-1.77 at 30k rule by rule, before the eight-key step (SERVICES=10000|30000 TIME=1500 node dist/bench/compile/iptables-walk.bench.js, runs alternated with the old scan, 2026-12-03, shared 2-core machine: upper bounds).
// In the benchmark of record (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md) the scan took 0.62 ns a rule at 30k Services (42.9k rules a first packet; 1.01x the bare scan measured beside it), and the service-nat stage ~1.08 µs, 1.23 µs, 2.26 µs, 11.0 µs and 26.6 µs a first packet at 10, 100, 1k, 10k and 30k Services, batch 256.
// decide(): ~1.4-1.8 µs per ClusterIP first packet at 1k Services, 702 rules a decision (the draw key was a live rank then; now a chain-name hash plus offset, one load as before) (SERVICES=1000 TIME=700 node dist/bench/compile/lookup.bench.js, 2026-12-02 23:30, shared machine under load: upper bounds).
export function createDecide(
  rs: Ruleset, keys: ScanKeys, hooks: Hooks, localAddrs: Uint32Array, recent: ExpiringTable, serviceAccept: Uint8Array,
): (pkt: FirstPacket, out: NatDecision) => void {
  const st = new Int32Array(5);
  const recentClock = recent.clock;
  const stackChain = new Int32Array(kStackDepth);
  const stackRule = new Int32Array(kStackDepth);
  const hookNatPre = hooks.natPre;
  const hookNatOut = hooks.natOut;
  const hookNatPost = hooks.natPost;
  const hookFilterIn = hooks.filterIn;
  const hookFilterFwd = hooks.filterFwd;
  const hookFilterOut = hooks.filterOut;
  const targetAddr = rs.ruleTargetA;
  const targetPort = rs.ruleTargetB;
  const endpointA = rs.ruleEndpoint;

  /** Walks one hook from `entry` (the addresses as their int32 bits); returns OUT_*, the DNAT rule in st[ST_HIT]. */
  function walkHook(entry: number, src: number, dst: number, dport: number, proto: number, ct: number, pkt: FirstPacket): number {
    if (entry < 0) return OUT_ACCEPT;
    const keyDst = keys.dst;
    const keyPP = keys.protoPort;
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
    const drawKey = rs.chainDrawKey;
    const sChain = stackChain;
    const sRule = stackRule;
    const d = dst | 0;
    const pp = ((proto << 16) | dport) | 0;
    const any = kScanAny | 0;
    const anyPP = kScanAnyProtoPort | 0;
    let mark = st[ST_MARK] >>> 0;
    let port = st[ST_PORT] | 0;
    let work = st[ST_WORK] | 0;
    let depth = 0;
    let chain = entry | 0;
    let end = chainEnd[chain] | 0;
    let s = (chainStart[chain] + chain) | 0; // slot of the next rule
    let out = OUT_ACCEPT;
    for (;;) {
      // The scan: skip every rule whose key rules it out, stop at a candidate or the stop slot.
      // Eight keys a step first, while none of them is the packet's address or the wildcard (a
      // KUBE-SERVICES run of other Services' portals): one branch per eight rules instead of a loop
      // test and an increment per rule. The stop slot holds the wildcard, so the step never passes a
      // chain's end; the rule-by-rule loop below then finds the exact slot the step stopped short of.
      const s0 = s;
      const last8 = (keyDst.length - 8) | 0;
      while (s <= last8) {
        const k0 = keyDst[s], k1 = keyDst[s + 1], k2 = keyDst[s + 2], k3 = keyDst[s + 3];
        const k4 = keyDst[s + 4], k5 = keyDst[s + 5], k6 = keyDst[s + 6], k7 = keyDst[s + 7];
        if (k0 === d || k0 === any || k1 === d || k1 === any || k2 === d || k2 === any || k3 === d || k3 === any) break;
        if (k4 === d || k4 === any || k5 === d || k5 === any || k6 === d || k6 === any || k7 === d || k7 === any) break;
        s = (s + 8) | 0;
      }
      for (;;) {
        const k = keyDst[s];
        if (k === d) break;
        if (k === any) {
          const q = keyPP[s];
          if (q === pp || q === anyPP) break;
        }
        s = (s + 1) | 0;
      }
      const r = (s - chain) | 0;
      if (r >= end) {
        work = (work + s - s0) | 0;
        // Fell off the chain: return to the caller, or the built-in chain's policy (ACCEPT).
        if (depth === 0) break;
        depth--;
        chain = sChain[depth];
        s = (sRule[depth] + chain) | 0;
        end = chainEnd[chain] | 0;
        continue;
      }
      work = (work + s - s0 + 1) | 0;
      // Full match of a candidate, as the general walker does it.
      const f = flagsA[r];
      s = (s + 1) | 0; // next rule, unless the target says otherwise
      if (f & M_PROTO && protoA[r] !== proto) continue;
      if (f & M_DPORT && dportA[r] !== dport) continue;
      if (f & M_DST && (((dst & dstMaskA[r]) >>> 0) === dstA[r]) === ((f & M_DST_NEG) !== 0)) continue;
      if (f & M_SRC && (((src & srcMaskA[r]) >>> 0) === srcA[r]) === ((f & M_SRC_NEG) !== 0)) continue;
      if (f & (M_DST_LOCAL | M_SRC_LOCAL | M_MARK | M_CTSTATE | M_IFACE | M_STATISTIC | M_RECENT_CHECK | M_RECENT_SET)) {
        if (f & M_DST_LOCAL && !isLocalAddress(localAddrs, dst | 0)) continue;
        if (f & M_SRC_LOCAL && !isLocalAddress(localAddrs, src | 0)) continue;
        if (f & M_IFACE && pkt.fromPodInterface === ((f & M_IFACE_NEG) !== 0)) continue;
        if (f & M_MARK && (((mark & rs.ruleMarkMask[r]) >>> 0) === rs.ruleMark[r]) === ((f & M_MARK_NEG) !== 0)) continue;
        if (f & M_CTSTATE && ((ct & rs.ruleCtstate[r]) !== 0) === ((f & M_CTSTATE_NEG) !== 0)) continue;
        if (f & M_RECENT_CHECK && !recentCheck(recent, rs.ruleRecentName[r], src, rs.ruleRecentSeconds[r])) continue;
        // The draw is keyed by the chain's name and the rule's offset (ruleset.ts drawKey), inlined.
        if (f & M_STATISTIC && statisticDraw(pkt.rand, r + drawKey[chain]) >= rs.ruleProb[r]) continue;
        if (f & M_RECENT_SET) recentSet(recent, rs.ruleRecentName[r], src);
      }
      // Matched.
      if (port < 0 && portA[r] >= 0) port = portA[r];
      const t = targetA[r];
      if (t === T_JUMP) {
        if (depth === kStackDepth) { out = OUT_DROP; break; } // iptables refuses loops; never reached
        sChain[depth] = chain;
        sRule[depth] = r + 1;
        depth++;
        chain = jumpA[r];
        s = (chainStart[chain] + chain) | 0;
        end = chainEnd[chain] | 0;
        continue;
      }
      if (t === T_RETURN) {
        if (depth === 0) break;
        depth--;
        chain = sChain[depth];
        s = (sRule[depth] + chain) | 0;
        end = chainEnd[chain] | 0;
        continue;
      }
      if (t === T_MARK) { mark = ((mark & ~rs.ruleTargetB[r]) ^ rs.ruleTargetA[r]) >>> 0; continue; }
      if (t === T_DNAT) { st[ST_HIT] = r; out = OUT_DNAT; break; }
      if (t === T_ACCEPT) {
        if (serviceAccept[r] !== 0) st[ST_ACCEPT] = 1;
        break;
      }
      if (t === T_DROP) { out = OUT_DROP; break; }
      if (t === T_REJECT) { out = OUT_REJECT; break; }
      if (t === T_MASQUERADE) { out = OUT_MASQUERADE; break; }
      // T_NONE: a rule with no target only counts.
    }
    st[ST_MARK] = mark | 0;
    st[ST_PORT] = port;
    st[ST_WORK] = work;
    return out;
  }

  return function decide(pkt: FirstPacket, out: NatDecision): void {
    st[ST_MARK] = 0;
    st[ST_PORT] = -1;
    st[ST_WORK] = 0;
    st[ST_ACCEPT] = 0;
    out.servicePort = -1;
    out.endpoint = -1;
    out.dnatIp = pkt.dstIp;
    out.dnatPort = pkt.dstPort;
    out.masquerade = false;
    out.verdict = VERDICT_NONE;
    // The time into the recent lists' clock, the addresses as their int32 bits: a double (a u32
    // above 2^31, as a node's or an external client's address is) passed to walkHook(), which the
    // JIT does not inline, is boxed into a heap number at each call.
    recentClock[0] = pkt.now;
    const src = pkt.srcIp | 0;
    let dst = pkt.dstIp | 0;
    let dport = pkt.dstPort | 0;
    const proto = pkt.proto | 0;
    const output = pkt.hook === HOOK_OUTPUT;
    let res = walkHook(output ? hookNatOut : hookNatPre, src, dst, dport, proto, CT_NEW, pkt);
    let ct = CT_NEW;
    if (res === OUT_DNAT) {
      const r = st[ST_HIT];
      dst = targetAddr[r] | 0;
      dport = targetPort[r];
      out.verdict = VERDICT_DNAT;
      out.endpoint = endpointA[r];
      out.dnatIp = targetAddr[r];
      out.dnatPort = dport;
      ct |= CT_DNAT;
    } else if (res === OUT_DROP || res === OUT_REJECT) {
      out.verdict = res === OUT_DROP ? VERDICT_DROP : VERDICT_REJECT;
      out.servicePort = st[ST_PORT];
      out.work = st[ST_WORK];
      return;
    }
    const filterHook = output ? hookFilterOut : isLocalAddress(localAddrs, dst | 0) ? hookFilterIn : hookFilterFwd;
    res = walkHook(filterHook, src, dst, dport, proto, ct, pkt);
    if (res === OUT_DROP || res === OUT_REJECT) {
      out.verdict = res === OUT_DROP ? VERDICT_DROP : VERDICT_REJECT;
      out.endpoint = -1;
    } else {
      res = walkHook(hookNatPost, src, dst, dport, proto, ct, pkt);
      out.masquerade = res === OUT_MASQUERADE;
      if (st[ST_ACCEPT] !== 0 && out.verdict === VERDICT_NONE) out.verdict = VERDICT_ACCEPT;
    }
    out.servicePort = st[ST_PORT];
    out.work = st[ST_WORK];
  };
}
