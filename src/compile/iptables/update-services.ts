/**
 * Services added and removed, written into a compiled iptables ruleset in place: what kube-proxy's
 * partial sync (Kubernetes v1.33 pkg/proxy/iptables/proxier.go syncProxyRules, KEP-3453; sync.ts
 * renders the same change as `iptables-restore --noflush` input) writes for them.
 *
 * - A new Service's rules are written as a compile writes them (build.ts writeServicePorts, into a
 *   collector here): its rules in the shared chains (nat and filter KUBE-SERVICES,
 *   KUBE-EXTERNAL-SERVICES, KUBE-PROXY-FIREWALL, nat and filter KUBE-NODEPORTS) are appended into
 *   the room the compile left after each (in nat KUBE-SERVICES before the KUBE-NODEPORTS tail
 *   rules, which move down), and its own chains (KUBE-SVC-, SVL-, EXT-, FW-, SEP-, with their room
 *   for endpoint changes) take the next spare chains (RulesetBuilder.spareChains), laid out one
 *   after another in the spare rules. Its ports' room is recorded as the compile's is (room.ts), so
 *   that update.ts writes its endpoint changes in place too.
 * - A removed Service's own chains die (not live, nameless) and its rules leave the shared chains,
 *   which close up in order (kube-proxy's restore input no longer lists them); its slots stay
 *   unused until the next compile.
 *
 * Added Services come last in the cluster and removed ones keep their index, so the shared
 * chains hold their rules in the order a fresh compile of the changed cluster does, and the scan
 * counts the same rules. New chains sit after every other instead of in name order, which only
 * rendering would show (decisions, counts and the statistic draws, keyed by chain name, do not
 * depend on it). New names live in this instance's lists; a reader attached to the shared image
 * keeps those it decoded (names serve explain and rendering only).
 *
 * Gives up (undefined, nothing written) when the room is spent (spare chains, spare rules, a
 * shared chain's room, per-port or per-row slots), when the change flips large cluster mode (every
 * endpoint rule's comment would change: kube-proxy then rewrites everything), when a removed port's
 * endpoints name one chain twice (compiled without room), or when a new chain's name is taken.
 *
 * Cost: O(rules of the changed Services) for an add, names hashed for its chains as kube-proxy
 * does; a removal also closes up each shared chain, O(its rules after the hole) per column as one
 * memmove (nat KUBE-SERVICES holds a rule per Service port), the price of keeping the compile's
 * order. Measured (`SERVICES=S MODES=iptables node dist/bench/compile/service-update.bench.js`,
 * 10 endpoints, shared 2-core machine with another job running, 2026-12-03): a Service added
 * ~164 µs at 100 Services and ~182 µs at 10,000, removed ~69 and ~383 µs, against a full build of
 * 46 ms and 2.9 s.
 */
import { InvalidArgumentError } from '../../errors.js';
import { servicePortName, shouldSkipService, type Cluster } from '../../model/types.js';
import { protoName } from '../../net/proto.js';
import type { TableUpdate } from '../mode.js';
import { beginUpdate, endUpdate } from '../table-generation.js';
import { kLargeClusterEndpointsThreshold, kServiceSharedChains, portContext, writeServicePorts, type RoomPlan, type RuleSink } from './build.js';
import { serviceChainNames } from './chain-names.js';
import type { IptablesDataplane } from './dataplane.js';
import { CUR_CHAIN, CUR_CHAIN_SEQ, CUR_ENDPOINTS, CUR_RULE_SEQ, kNoRoom, kNoRules, recordPlan, type IptablesRoom } from './room.js';
import {
  chainRoomEnd, encodeRule, kScanAny, kScanAnyProtoPort, moveRules, POLICY_NONE, setDrawKey, setScanKeys, TABLE_NAT, type ChainSpec, type RuleNames, type RuleSpec, type Ruleset, type ScanKeys,
} from './ruleset.js';
import { serviceAccept } from './service-accept.js';

/** A Service's rules as writeServicePorts emits them, kept as specs until the update places them. */
class RuleCollector implements RuleSink {
  readonly chains: ChainSpec[] = [];
  readonly specs: RuleSpec[] = [];
  private readonly byName = new Map<string, ChainSpec>();

  chain(table: number, name: string, opts: { policy?: number; inRestore?: boolean; port?: number } = {}): ChainSpec {
    const key = `${table}/${name}`;
    let c = this.byName.get(key);
    if (!c) {
      c = { name, table, policy: opts.policy ?? POLICY_NONE, inRestore: opts.inRestore ?? false, port: opts.port ?? -1, rules: [], seq: -1, id: -1 };
      this.chains.push(c);
      this.byName.set(key, c);
    }
    return c;
  }

  add(c: ChainSpec, spec: RuleSpec): void {
    c.rules.push(this.specs.push(spec) - 1);
  }

  spare(c: ChainSpec, specs: readonly RuleSpec[]): void {
    c.spare = specs.map((s) => this.specs.push(s) - 1);
  }
}

/** One of the shared chains a Service's rules go into, and where they go. */
interface SharedWrite {
  readonly chain: number;
  /** Rules at the chain's end that stay last (nat KUBE-SERVICES' tail calls to KUBE-NODEPORTS). */
  readonly tail: number;
  readonly rules: readonly number[];
}

/**
 * Writes Services `added` (appended past every index the ruleset knows) and `removed` (kept as
 * Services kube-proxy skips) of `next` into `dp`'s ruleset in place, under its seqlock.
 * Cost: ~0.2 ms an add at 100 to 10,000 Services; a removal ~0.07 ms at 100, ~0.4 ms at 10,000 (module note).
 */
export function updateIptablesServices(dp: IptablesDataplane, next: Cluster, added: readonly number[], removed: readonly number[]): TableUpdate | undefined {
  const room = dp.room;
  if (!room) throw new InvalidArgumentError('iptables: this dataplane was read from a dump, which has no room for in-place updates; compile it from the cluster instead');
  const rs = dp.rules;
  const skipped = (s: number): boolean => shouldSkipService(next.services[s]);
  let endpoints = room.cursor[CUR_ENDPOINTS];
  for (const s of removed) for (const sp of next.services[s].ports) if (room.portShape[sp] !== kNoRules) endpoints -= next.ports[sp].endpointCount;
  for (const s of added) if (!skipped(s)) for (const sp of next.services[s].ports) endpoints += next.ports[sp].endpointCount;
  if ((endpoints > kLargeClusterEndpointsThreshold) !== room.large) return undefined;

  // What goes: the removed ports' own chains, by name and by their rows' KUBE-SEP- chains.
  const gonePorts: number[] = [];
  const goneChains: number[] = [];
  for (const s of removed) {
    for (const sp of next.services[s].ports) {
      const shape = room.portShape[sp];
      if (shape === kNoRules) continue;
      if (shape === kNoRoom) return undefined;
      gonePorts.push(sp);
      const port = next.ports[sp];
      const names = serviceChainNames(servicePortName(next, port), protoName(port.protocol));
      for (const name of [names.svc, names.svl, names.ext, names.fw]) {
        const c = rs.chainId(TABLE_NAT, name);
        if (c >= 0) goneChains.push(c);
      }
      for (let row = port.endpointStart; row < port.endpointStart + port.endpointCount; row++) if (room.rowSep[row] >= 0) goneChains.push(room.rowSep[row]);
    }
  }

  // What comes: the added Services' rules as a compile writes them.
  const col = new RuleCollector();
  const plans: RoomPlan[] = [];
  const ctx = portContext(next, { ...room.options, node: dp.node }, true, plans, room.cursor[CUR_CHAIN_SEQ], endpoints);
  const newPorts: number[] = [];
  for (const s of added) {
    const svc = next.services[s];
    for (const sp of svc.ports) newPorts.push(sp);
    if (!skipped(s)) writeServicePorts(ctx, col, svc);
  }
  for (const sp of newPorts) {
    const port = next.ports[sp];
    if (sp >= room.portShape.length || port.endpointStart + port.endpointCount > room.rowSep.length) return undefined;
  }
  const shared: SharedWrite[] = [];
  const own: ChainSpec[] = [];
  const sharedIds = new Map(kServiceSharedChains.map(([t, name]) => [`${t}/${name}`, rs.chainId(t, name)]));
  for (const c of col.chains) {
    const id = sharedIds.get(`${c.table}/${c.name}`);
    if (id === undefined) {
      if (rs.chainId(c.table, c.name) >= 0 && !goneChains.includes(rs.chainId(c.table, c.name))) return undefined;
      own.push(c);
      continue;
    }
    if (c.rules.length === 0) continue;
    if (id < 0) throw new InvalidArgumentError(`iptables: the compiled ruleset has no ${c.name} chain to write a Service into (a bug in build.ts)`);
    let tail = 0;
    while (tail < rs.chainEnd[id] - rs.chainStart[id] && rs.rulePort[rs.chainEnd[id] - 1 - tail] < 0) tail++;
    if (rs.chainEnd[id] + c.rules.length > chainRoomEnd(rs, id)) return undefined;
    shared.push({ chain: id, tail, rules: c.rules });
  }
  // The spare chains are taken in order, each laid out where the last one's room ends.
  const first = room.cursor[CUR_CHAIN];
  if (first + own.length > rs.chainCount) return undefined;
  let need = 0;
  for (const c of own) need += c.rules.length + (c.spare?.length ?? 0);
  if (own.length > 0 && rs.chainStart[first] + need > rs.ruleCount) return undefined;

  let written = 0;
  beginUpdate(room.generation);
  try {
    if (gonePorts.length > 0) written += remove(dp, room, next, gonePorts, goneChains);
    const ids = new Map<string, number>();
    own.forEach((c, k) => {
      c.id = first + k;
      ids.set(c.name, c.id);
    });
    // Strings the new rules name: appended to this instance's list (ids only key `-m recent` lists in decisions).
    const strings = rs.strings as string[];
    const stringIds = new Map<string, number>();
    const names: RuleNames = {
      jump: (table, name) => ids.get(name) ?? rs.chainId(table, name),
      intern: (text) => {
        let id = stringIds.get(text);
        if (id === undefined) {
          id = strings.push(text) - 1;
          stringIds.set(text, id);
        }
        return id;
      },
    };
    let start = own.length > 0 ? rs.chainStart[first] : 0;
    for (let k = 0; k < own.length; k++) {
      const cs = own[k];
      const c = first + k;
      rs.chainStart[c] = start;
      rs.chainEnd[c] = start + cs.rules.length;
      const end = start + cs.rules.length + (cs.spare?.length ?? 0);
      if (c + 1 < rs.chainCount) rs.chainStart[c + 1] = rs.chainEnd[c + 1] = end;
      rs.chainTable[c] = cs.table;
      rs.chainPolicy[c] = cs.policy;
      rs.chainInRestore[c] = cs.inRestore ? 1 : 0;
      rs.chainPort[c] = cs.port;
      rs.chainSeq[c] = cs.seq;
      rs.renameChain(c, cs.name);
      setDrawKey(rs, c);
      const slots = cs.spare ? [...cs.rules, ...cs.spare] : cs.rules;
      // The slot past the chain's end already stops the scan: no chain had it before (buildScanKeys' wildcards).
      for (let i = 0; i < slots.length; i++) writeRule(dp, c, start + i, col.specs[slots[i]], room, names);
      rs.chainLive[c] = cs.live === false ? 0 : 1;
      written += slots.length + 1;
      start = end;
    }
    room.cursor[CUR_CHAIN] = first + own.length;
    room.cursor[CUR_CHAIN_SEQ] = ctx.seq.next;
    for (const w of shared) {
      const c = w.chain;
      const at = rs.chainEnd[c] - w.tail;
      moveRules(rs, at, at + w.rules.length, w.tail);
      dp.serviceAccept.copyWithin(at + w.rules.length, at, at + w.tail);
      for (let i = 0; i < w.tail; i++) setScanKeys(rs, dp.scanKeys, c, at + w.rules.length + i);
      for (let i = 0; i < w.rules.length; i++) writeRule(dp, c, at + i, col.specs[w.rules[i]], room, names);
      rs.chainEnd[c] += w.rules.length;
      stopScan(rs, dp.scanKeys, c);
      written += w.rules.length + w.tail;
    }
    for (const sp of newPorts) room.portShape[sp] = kNoRules;
    for (const plan of plans) recordPlan(rs, room, plan);
    for (const sp of newPorts) if (room.portShape[sp] === kNoRules && !skipped(next.ports[sp].service)) room.portShape[sp] = kNoRoom;
    room.cursor[CUR_ENDPOINTS] = endpoints;
  } finally {
    endUpdate(room.generation);
  }
  return { entriesWritten: written };
}

/** Encodes `spec` into slot r of chain c, with its scan keys, its Service-ACCEPT bit and the next place in restore order. */
function writeRule(dp: IptablesDataplane, c: number, r: number, spec: RuleSpec, room: IptablesRoom, names: RuleNames): void {
  const rs = dp.rules;
  encodeRule(rs, r, rs.chainTable[c], rs.chainPort[c], spec, room.cursor[CUR_RULE_SEQ]++, names);
  (rs.ruleChain as Uint32Array)[r] = c;
  setScanKeys(rs, dp.scanKeys, c, r);
  dp.serviceAccept[r] = serviceAccept(rs, r);
}

/** The slot past chain c's end stops the decide() scan (buildScanKeys). */
function stopScan(rs: Ruleset, keys: ScanKeys, c: number): void {
  const s = rs.chainEnd[c] + c;
  keys.dst[s] = kScanAny;
  keys.protoPort[s] = kScanAnyProtoPort;
}

/** Removes ports `gone`: their own chains die, their rules leave the shared chains, which close up in order. */
function remove(dp: IptablesDataplane, room: IptablesRoom, next: Cluster, gone: readonly number[], chains: readonly number[]): number {
  const rs = dp.rules;
  let written = 0;
  for (const c of chains) {
    rs.chainLive[c] = 0;
    rs.renameChain(c, '');
    written++;
  }
  const isGone = new Uint8Array(room.portShape.length);
  for (const sp of gone) {
    isGone[sp] = 1;
    room.portShape[sp] = kNoRules;
    room.portSvc[sp] = room.portSvl[sp] = -1;
    const port = next.ports[sp];
    room.rowSep.fill(-1, port.endpointStart, port.endpointStart + port.endpointCount);
  }
  for (const [t, name] of kServiceSharedChains) {
    const c = rs.chainId(t, name);
    if (c < 0) continue;
    const start = rs.chainStart[c];
    const end = rs.chainEnd[c];
    // Runs of kept rules move down over the holes, one memmove per column each.
    let w = start;
    let r = start;
    while (r < end) {
      if (rs.rulePort[r] >= 0 && isGone[rs.rulePort[r]]) {
        r++;
        continue;
      }
      let k = r;
      while (k < end && !(rs.rulePort[k] >= 0 && isGone[rs.rulePort[k]])) k++;
      if (w !== r) {
        moveRules(rs, r, w, k - r);
        dp.serviceAccept.copyWithin(w, r, k);
        for (let i = w; i < w + (k - r); i++) setScanKeys(rs, dp.scanKeys, c, i);
        written += k - r;
      }
      w += k - r;
      r = k;
    }
    if (w === end) continue;
    rs.chainEnd[c] = w;
    stopScan(rs, dp.scanKeys, c);
  }
  return written;
}
