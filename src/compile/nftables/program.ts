/**
 * A Ruleset compiled to typed arrays: chains as short rule lists, each rule a run of match ops
 * and one action op; verdict maps and sets as open-addressing hash tables; numgen branches as
 * a flat target array. Built the same way from a ruleset kdp compiled itself or one parsed
 * from `nft list` text, which is what makes the two decide alike.
 *
 * Objects are tied back to the cluster by name, as kube-proxy names them: a chain or set's
 * "ns/svc/proto/port" part gives the service port, `dnat to IP:PORT` in that port's chain the
 * endpoint row, an element comment "ns/svc:port" the port of a no-endpoint entry.
 */
import { InvalidArgumentError } from '../../errors.js';
import { prefixMask } from '../../net/ipv4.js';
import { servicePortName, type Cluster } from '../../model/types.js';
import { AddressSet, PairTable } from '../tables/index.js';
import { servicePortKey, servicePortKeyOfName } from './names.js';
import { ruleText } from './rule-text.js';
import type { Action, Match, Ruleset, Verdict } from './ruleset.js';
import { kHooks } from './ruleset.js';

// Match ops
export const M_CT_NEW = 1;
export const M_ADDR = 2; // a = cidr start, b = count, c = field | neg << 1
export const M_ADDR_SET = 3; // a = set id, c = field
export const M_FIB_LOCAL = 4; // c = field
export const M_L4PROTO = 5; // a = proto
export const M_DPORT = 6; // a = proto, b = port
export const M_IIF = 7; // c = neg << 1
export const M_MARK_ZERO = 8; // a = mask
export const FIELD_DADDR = 1;

// Action ops (also verdict ops in maps and numgen targets)
export const A_JUMP = 1;
export const A_GOTO = 2;
export const A_RETURN = 3;
export const A_ACCEPT = 4;
export const A_DROP = 5;
export const A_REJECT = 6;
export const A_VMAP3 = 7; // a = map id (daddr . l4proto . dport)
export const A_VMAP2 = 8; // a = map id (l4proto . dport)
export const A_NUMGEN = 9; // a = target start, b = count
export const A_MARK_OR = 10; // a = mask
export const A_MARK_XOR = 11;
export const A_MASQ = 12;
export const A_DNAT = 13; // a = ip, b = port, c = endpoint row
export const A_UPDATE = 14; // a = set id

export const kRuleStride = 6; // matchStart, matchCount, op, a, b, c
export const kMatchStride = 4; // op, a, b, c

export interface NftProgram {
  readonly chainNames: readonly string[];
  readonly chainRuleStart: Int32Array;
  readonly chainRuleCount: Int32Array;
  readonly chainServicePort: Int32Array;
  readonly rules: Int32Array;
  readonly matches: Int32Array;
  /** (base, mask) pairs for address matches. */
  readonly cidrs: Uint32Array;
  /** (op, chain) pairs for numgen branches. */
  readonly targets: Int32Array;
  readonly maps: readonly PairTable[];
  readonly mapNames: readonly string[];
  /** Static sets (AddressSet) or, for affinity sets, null with the timeout in setTimeout. */
  readonly sets: readonly (AddressSet | null)[];
  readonly setNames: readonly string[];
  readonly setTimeout: Float64Array;
  /** Base chains per hook (kHooks order), sorted by priority. */
  readonly hookChains: readonly Int32Array[];
  /** Rule text per rule, for explain (never read on the hot path). */
  readonly ruleTexts: readonly string[];
  readonly ruleChain: Int32Array;
  readonly mapElements: number;
  readonly setElements: number;
  readonly tableBytes: number;
}

export function compileProgram(rs: Ruleset, cluster: Cluster): NftProgram {
  const chainIndex = new Map<string, number>();
  rs.chains.forEach((c, i) => chainIndex.set(c.name, i));
  const mapIndex = new Map<string, number>();
  rs.maps.forEach((m, i) => mapIndex.set(m.name, i));
  const setIndex = new Map<string, number>();
  rs.sets.forEach((s, i) => setIndex.set(s.name, i));

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
  const need = (m: Map<string, number>, name: string, what: string): number => {
    const i = m.get(name);
    if (i === undefined) throw new InvalidArgumentError(`the ruleset refers to ${what} "${name}", which it does not define`);
    return i;
  };

  const nChains = rs.chains.length;
  const chainRuleStart = new Int32Array(nChains);
  const chainRuleCount = new Int32Array(nChains);
  const chainServicePort = new Int32Array(nChains);
  let nRules = 0;
  let nMatches = 0;
  let nCidrs = 0;
  let nTargets = 0;
  for (const c of rs.chains) {
    nRules += c.rules.length;
    for (const r of c.rules) {
      nMatches += r.matches.length;
      for (const m of r.matches) if (m.k === 'addr') nCidrs += m.cidrs.length;
      if (r.action.k === 'numgen') nTargets += r.action.targets.length;
    }
  }
  const rules = new Int32Array(nRules * kRuleStride);
  const matches = new Int32Array(nMatches * kMatchStride);
  const cidrs = new Uint32Array(nCidrs * 2);
  const targets = new Int32Array(nTargets * 2);
  const ruleTexts: string[] = [];
  const ruleChain = new Int32Array(nRules);

  const verdictOp = (v: Verdict): [number, number] => {
    switch (v.k) {
      case 'goto':
        return [A_GOTO, need(chainIndex, v.chain, 'chain')];
      case 'jump':
        return [A_JUMP, need(chainIndex, v.chain, 'chain')];
      case 'drop':
        return [A_DROP, 0];
      case 'accept':
        return [A_ACCEPT, 0];
      case 'return':
        return [A_RETURN, 0];
    }
  };

  let ri = 0;
  let mi = 0;
  let ci = 0;
  let ti = 0;
  rs.chains.forEach((c, chain) => {
    chainRuleStart[chain] = ri;
    chainRuleCount[chain] = c.rules.length;
    const port = chainPort(c.name);
    chainServicePort[chain] = port;
    for (const r of c.rules) {
      const o = ri * kRuleStride;
      rules[o] = mi;
      rules[o + 1] = r.matches.length;
      for (const m of r.matches) encodeMatch(m);
      const [op, a, b, cc] = encodeAction(r.action, port);
      rules[o + 2] = op;
      rules[o + 3] = a;
      rules[o + 4] = b;
      rules[o + 5] = cc;
      ruleTexts.push(ruleText(r));
      ruleChain[ri] = chain;
      ri++;
    }
  });

  function encodeMatch(m: Match): void {
    const o = mi * kMatchStride;
    mi++;
    switch (m.k) {
      case 'ct-new':
        matches[o] = M_CT_NEW;
        return;
      case 'addr':
        matches[o] = M_ADDR;
        matches[o + 1] = ci;
        matches[o + 2] = m.cidrs.length;
        matches[o + 3] = (m.field === 'daddr' ? FIELD_DADDR : 0) | (m.neg ? 2 : 0);
        for (const c of m.cidrs) {
          cidrs[ci * 2] = c.base;
          cidrs[ci * 2 + 1] = prefixMask(c.prefix);
          ci++;
        }
        return;
      case 'addr-set':
        matches[o] = M_ADDR_SET;
        matches[o + 1] = need(setIndex, m.set, 'set');
        matches[o + 3] = m.field === 'daddr' ? FIELD_DADDR : 0;
        return;
      case 'fib-local':
        matches[o] = M_FIB_LOCAL;
        matches[o + 3] = m.field === 'daddr' ? FIELD_DADDR : 0;
        return;
      case 'l4proto':
        matches[o] = M_L4PROTO;
        matches[o + 1] = m.proto;
        return;
      case 'dport':
        matches[o] = M_DPORT;
        matches[o + 1] = m.proto;
        matches[o + 2] = m.port;
        return;
      case 'iifname':
        matches[o] = M_IIF;
        matches[o + 3] = m.neg ? 2 : 0;
        return;
      case 'mark-zero':
        matches[o] = M_MARK_ZERO;
        matches[o + 1] = m.mask;
        return;
    }
  }

  function encodeAction(a: Action, port: number): [number, number, number, number] {
    switch (a.k) {
      case 'goto':
      case 'jump':
      case 'drop':
      case 'accept':
      case 'return': {
        const [op, arg] = verdictOp(a);
        return [op, arg, 0, 0];
      }
      case 'reject':
        return [A_REJECT, 0, 0, 0];
      case 'vmap':
        return [a.key === 'addr.proto.port' ? A_VMAP3 : A_VMAP2, need(mapIndex, a.map, 'map'), 0, 0];
      case 'numgen': {
        const start = ti;
        for (const v of a.targets) {
          const [op, arg] = verdictOp(v);
          targets[ti * 2] = op;
          targets[ti * 2 + 1] = arg;
          ti++;
        }
        return [A_NUMGEN, start, a.targets.length, 0];
      }
      case 'mark-or':
        return [A_MARK_OR, a.mask, 0, 0];
      case 'mark-xor':
        return [A_MARK_XOR, a.mask, 0, 0];
      case 'masquerade':
        return [A_MASQ, 0, 0, 0];
      case 'dnat': {
        let row = -1;
        if (port >= 0) {
          const p = cluster.ports[port];
          const ep = cluster.endpoints;
          for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) {
            if (ep.ip[r] === a.ip >>> 0 && ep.port[r] === a.port) {
              row = r;
              break;
            }
          }
        }
        return [A_DNAT, a.ip | 0, a.port, row];
      }
      case 'update':
        return [A_UPDATE, need(setIndex, a.set, 'set'), 0, 0];
    }
  }

  let mapElements = 0;
  const maps = rs.maps.map((m) => {
    // Key (address or 0, proto << 16 | port) -> (op, arg, service port).
    const t = new PairTable(m.elements.length, 3);
    for (const e of m.elements) {
      const [op, arg] = verdictOp(e.verdict);
      let port = op === A_GOTO || op === A_JUMP ? chainServicePort[arg] : -1;
      if (port < 0 && e.comment !== undefined) port = portByName.get(`${e.comment}|${e.proto}`) ?? -1;
      const s = t.slotFor(m.key === 'addr.proto.port' ? e.ip : 0, (e.proto << 16) | e.port);
      t.values[s * 3] = op;
      t.values[s * 3 + 1] = arg;
      t.values[s * 3 + 2] = port;
      mapElements++;
    }
    return t;
  });
  let setElements = 0;
  const setTimeout = new Float64Array(rs.sets.length);
  const sets = rs.sets.map((s, i) => {
    setTimeout[i] = s.timeout;
    setElements += s.elements.length;
    return s.timeout > 0 ? null : AddressSet.of(s.elements);
  });

  const hookChains = kHooks.map((h) => {
    const ids = rs.chains.map((c, i) => [c, i] as const).filter(([c]) => c.base?.hook === h);
    // Priority order; a tie keeps creation order, as the kernel keeps registration order.
    ids.sort((x, y) => x[0].base!.priority - y[0].base!.priority);
    return Int32Array.from(ids.map(([, i]) => i));
  });

  let tableBytes =
    chainRuleStart.byteLength + chainRuleCount.byteLength + chainServicePort.byteLength + rules.byteLength + matches.byteLength +
    cidrs.byteLength + targets.byteLength + setTimeout.byteLength + ruleChain.byteLength;
  for (const m of maps) tableBytes += m.bytes;
  for (const s of sets) if (s) tableBytes += s.bytes;
  for (const h of hookChains) tableBytes += h.byteLength;

  return {
    chainNames: rs.chains.map((c) => c.name),
    chainRuleStart,
    chainRuleCount,
    chainServicePort,
    rules,
    matches,
    cidrs,
    targets,
    maps,
    mapNames: rs.maps.map((m) => m.name),
    sets,
    setNames: rs.sets.map((s) => s.name),
    setTimeout,
    hookChains,
    ruleTexts,
    ruleChain,
    mapElements,
    setElements,
    tableBytes,
  };
}
