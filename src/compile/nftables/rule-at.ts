/**
 * A compiled rule read back from its code words as the Rule it was encoded from (program.ts
 * RuleEncoder is the other way), for explain to print: a compile keeps no text per rule (a string
 * for each of the 762,000 rules of a 30k-Service node was a quarter of the compile's time, most of
 * it the collector's). A rule's comment and an `iifname` match's interface name, which the walk never
 * reads, are indexes into the program's few strings (NftProgram.ruleNote, ruleStrings).
 */
import { maskToPrefix, type Cidr } from '../../net/ipv4.js';
import { ActionOp, MatchFlag, MatchOp, RuleWord, VerdictBits, VerdictWord, type NftProgram } from './program.js';
import type { Action, Match, Rule, Verdict } from './ruleset.js';

/** The rule whose code starts at word `pc` of `p`. Cost: O(its matches, CIDRs and branches); explain only. */
export function ruleAt(p: NftProgram, pc: number): Rule {
  const K = p.code;
  const matches: Match[] = [];
  const n = K[pc + RuleWord.MATCHES];
  for (let k = 0; k < n; k++) matches.push(matchAt(p, pc + RuleWord.HEADER + k * RuleWord.MATCH_STRIDE));
  const note = p.ruleNote[K[pc + RuleWord.ID]];
  return note === 0 ? { matches, action: actionAt(p, pc) } : { matches, action: actionAt(p, pc), comment: p.ruleStrings[note - 1] };
}

function field(flags: number): 'saddr' | 'daddr' {
  return (flags & MatchFlag.DADDR) !== 0 ? 'daddr' : 'saddr';
}

function matchAt(p: NftProgram, o: number): Match {
  const K = p.code;
  const a = K[o + 1];
  const b = K[o + 2];
  const c = K[o + 3];
  const neg = (c & MatchFlag.NEG) !== 0;
  switch (K[o]) {
    case MatchOp.CT_NEW:
      return { k: 'ct-new' };
    case MatchOp.ADDR1:
      return { k: 'addr', field: field(c), neg, cidrs: [{ base: a >>> 0, prefix: maskToPrefix(b) }] };
    case MatchOp.ADDR: {
      const cidrs: Cidr[] = [];
      for (let i = a; i < a + b; i++) cidrs.push({ base: p.cidrs[i * 2] >>> 0, prefix: maskToPrefix(p.cidrs[i * 2 + 1]) });
      return { k: 'addr', field: field(c), neg, cidrs };
    }
    case MatchOp.ADDR_SET:
      return { k: 'addr-set', field: field(c), set: p.setNames[a] };
    case MatchOp.FIB_LOCAL:
      return { k: 'fib-local', field: field(c) };
    case MatchOp.L4PROTO:
      return { k: 'l4proto', proto: a };
    case MatchOp.DPORT:
      return { k: 'dport', proto: a, port: b };
    case MatchOp.IIF:
      return { k: 'iifname', neg, name: p.ruleStrings[a] };
    case MatchOp.MARK_ZERO:
      return { k: 'mark-zero', mask: a >>> 0 };
    default:
      throw new Error(`nftables: match op ${K[o]} at code word ${o} cannot be read back`);
  }
}

/** A verdict (a rule's, a numgen branch's) from its op and argument. */
function verdictAt(p: NftProgram, op: number, arg: number): Verdict {
  switch (op) {
    case ActionOp.GOTO:
      return { k: 'goto', chain: p.chainNames[arg] };
    case ActionOp.JUMP:
      return { k: 'jump', chain: p.chainNames[arg] };
    case ActionOp.DROP:
      return { k: 'drop' };
    case ActionOp.ACCEPT:
      return { k: 'accept' };
    case ActionOp.RETURN:
      return { k: 'return' };
    default:
      throw new Error(`nftables: verdict op ${op} cannot be read back`);
  }
}

function actionAt(p: NftProgram, pc: number): Action {
  const K = p.code;
  const op = K[pc + RuleWord.OP];
  const a = K[pc + RuleWord.A];
  const b = K[pc + RuleWord.B];
  switch (op) {
    case ActionOp.REJECT:
      return { k: 'reject' };
    case ActionOp.VMAP3:
      return { k: 'vmap', key: 'addr.proto.port', map: p.mapNames[a] };
    case ActionOp.VMAP2:
      return { k: 'vmap', key: 'proto.port', map: p.mapNames[a] };
    case ActionOp.NUMGEN: {
      const targets: Verdict[] = [];
      for (let k = 0; k < b; k++) {
        const word = K[a + k * VerdictWord.STRIDE + VerdictWord.VERDICT];
        targets.push(verdictAt(p, word & VerdictBits.OP_MASK, word >> VerdictBits.ARG_SHIFT));
      }
      return { k: 'numgen', targets };
    }
    case ActionOp.MARK_OR:
      return { k: 'mark-or', mask: a >>> 0 };
    case ActionOp.MARK_XOR:
      return { k: 'mark-xor', mask: a >>> 0 };
    case ActionOp.MASQ:
      return { k: 'masquerade' };
    case ActionOp.DNAT:
      return { k: 'dnat', ip: a >>> 0, port: b };
    case ActionOp.UPDATE:
      return { k: 'update', set: p.setNames[a] };
    default:
      return verdictAt(p, op, a);
  }
}
