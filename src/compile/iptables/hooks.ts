/**
 * What both iptables walkers share (the reference one in dataplane.ts, the specialised decide() in
 * decide.ts): the chain each netfilter hook enters the ruleset at, what the walk of one hook can
 * end in, the jump-stack depth, and the `-m statistic --mode random` draw.
 */
import { mixPairBits } from '../../net/hash.js';
import { TABLE_FILTER, TABLE_MANGLE, TABLE_NAT, TABLE_RAW, TABLE_SECURITY, type Ruleset } from './ruleset.js';

// Outcomes of walking one hook.
export const OUT_ACCEPT = 0;
export const OUT_DROP = 1;
export const OUT_REJECT = 2;
export const OUT_DNAT = 3;
export const OUT_MASQUERADE = 4;
/** A rule kdp cannot evaluate (foreign.ts) met the packet; the rule is the walker's hit rule. */
export const OUT_UNKNOWN = 5;

/** Jump depth a walk allows (iptables refuses loops, so it is never reached). */
export const kStackDepth = 64;

/**
 * The 31-bit draw a `-m statistic --probability` rule compares with its threshold: a cheap,
 * well-mixed hash of (flow random, rule key), the key being a hash of the rule's chain name plus
 * its offset in the chain (ruleset.ts drawKey). It stays a small integer, so the
 * scan that calls it per statistic rule never boxes a u32 in a HeapNumber (see fmix32Bits).
 */
export function statisticDraw(rand: number, rule: number): number {
  return mixPairBits(rand, rule + 1) & 0x7fffffff;
}

/** The chain each hook's walk starts in (-1: the ruleset has no such chain). */
export interface Hooks {
  readonly natPre: number;
  readonly natOut: number;
  readonly natPost: number;
  readonly filterIn: number;
  readonly filterFwd: number;
  readonly filterOut: number;
  /**
   * The tables kube-proxy leaves alone, walked only for a real node's dump (IptablesDataplane's
   * `fullWalk`): raw before conntrack (NOTRACK), mangle before each nat and filter walk, security
   * after filter. -1 when absent.
   */
  readonly rawPre: number;
  readonly rawOut: number;
  readonly manglePre: number;
  readonly mangleOut: number;
  readonly mangleIn: number;
  readonly mangleFwd: number;
  readonly manglePost: number;
  readonly securityIn: number;
  readonly securityFwd: number;
  readonly securityOut: number;
}

export function hookChains(rules: Ruleset): Hooks {
  const [
    natPre, natOut, natPost, servicesNat, postroutingNat, filterIn, filterFwd, filterOut, rawPre, rawOut,
    manglePre, mangleOut, mangleIn, mangleFwd, manglePost, securityIn, securityFwd, securityOut,
  ] = rules.findChains([
    [TABLE_NAT, 'PREROUTING'], [TABLE_NAT, 'OUTPUT'], [TABLE_NAT, 'POSTROUTING'], [TABLE_NAT, 'KUBE-SERVICES'], [TABLE_NAT, 'KUBE-POSTROUTING'],
    [TABLE_FILTER, 'INPUT'], [TABLE_FILTER, 'FORWARD'], [TABLE_FILTER, 'OUTPUT'], [TABLE_RAW, 'PREROUTING'], [TABLE_RAW, 'OUTPUT'],
    [TABLE_MANGLE, 'PREROUTING'], [TABLE_MANGLE, 'OUTPUT'], [TABLE_MANGLE, 'INPUT'], [TABLE_MANGLE, 'FORWARD'], [TABLE_MANGLE, 'POSTROUTING'],
    [TABLE_SECURITY, 'INPUT'], [TABLE_SECURITY, 'FORWARD'], [TABLE_SECURITY, 'OUTPUT'],
  ]);
  // A restore-input file has no built-in chains: enter kube-proxy's chains directly.
  const or = (id: number, fallback: number): number => (id >= 0 ? id : fallback);
  return {
    natPre: or(natPre, servicesNat), natOut: or(natOut, servicesNat), natPost: or(natPost, postroutingNat),
    filterIn, filterFwd, filterOut, rawPre, rawOut, manglePre, mangleOut, mangleIn, mangleFwd, manglePost, securityIn, securityFwd, securityOut,
  };
}
