/**
 * What an iptables dataplane compiled with room (build.ts compileRulesetWithRoom) knows about that
 * room, as typed arrays beside the Ruleset, shared with workers like it: per Service port the shape
 * its chains were compiled for and its KUBE-SVC-/KUBE-SVL- chains, per endpoint row its KUBE-SEP-
 * chain and the names its rules use (interned strings), and the seqlock word (table-generation.ts).
 * update.ts reads it to write an endpoint change in place without looking anything up by name.
 */
import { shouldSkipService, type Cluster } from '../../model/types.js';
import { newGeneration } from '../table-generation.js';
import { withRoom } from '../tables/capacity.js';
import { proxiedEndpoints, type IptablesCompileOptions, type RoomPlan } from './build.js';
import { kSvlPrefix } from './chain-names.js';
import { chainRoomEnd, M_RECENT_CHECK, T_JUMP, type Ruleset } from './ruleset.js';

/** portShape value of a port compiled without room (a row named twice): an update recompiles. */
export const kNoRoom = -1;
/** A port the tables have no rules for at all (headless, ExternalName, no ClusterIP): nothing to update. */
export const kNoRules = -2;

export interface IptablesRoom {
  readonly generation: Int32Array;
  /** Per Service port: build.ts portShape when compiled, kNoRoom or kNoRules. */
  readonly portShape: Int32Array;
  /** Per Service port: its KUBE-SVC- and KUBE-SVL- chains with room (-1: none), and the rules at their head an update keeps. */
  readonly portSvc: Int32Array;
  readonly portSvcKeep: Int32Array;
  readonly portSvl: Int32Array;
  readonly portSvlKeep: Int32Array;
  /** Per endpoint row: its KUBE-SEP- chain (-1: the row has none on this node). */
  readonly rowSep: Int32Array;
  /** Per endpoint row: string ids of its KUBE-SVC- rule's comment and of its KUBE-SEP- chain's name (the `-m recent` list), -1 when unused. */
  readonly rowComment: Int32Array;
  readonly rowRecent: Int32Array;
  /** Large cluster mode when compiled (no per-endpoint comments): an update that would flip it recompiles. */
  readonly large: boolean;
  /** The options the ruleset was compiled with, for the Services an update adds (update-services.ts). */
  readonly options: IptablesCompileOptions;
  /**
   * An update's cursors: [0] the next spare chain (RulesetBuilder.spareChains) a new chain takes,
   * [1] the next chain line's and [2] the next rule's place in kube-proxy's restore order, [3] the
   * endpoint rows of the Services kube-proxy programs (build.ts proxiedEndpoints), for large
   * cluster mode.
   */
  readonly cursor: Int32Array;
}

export const CUR_CHAIN = 0;
export const CUR_CHAIN_SEQ = 1;
export const CUR_RULE_SEQ = 2;
export const CUR_ENDPOINTS = 3;

/**
 * The room of `rs`, from the plans its compile made; its per-port and per-row arrays have room for
 * the ports and rows of Services added later. Cost: O(chains + slots of the chains with room).
 */
export function buildRoom(rs: Ruleset, cluster: Cluster, plans: readonly RoomPlan[], large: boolean, options: IptablesCompileOptions): IptablesRoom {
  const ports = withRoom(cluster.ports.length);
  const rows = withRoom(cluster.endpoints.ip.length);
  let firstSpare = rs.chainCount;
  while (firstSpare > 0 && rs.chainName[firstSpare - 1] === '') firstSpare--;
  let chainSeq = 0;
  for (let c = 0; c < rs.chainCount; c++) chainSeq = Math.max(chainSeq, rs.chainSeq[c] + 1);
  let ruleSeq = 0;
  for (let r = 0; r < rs.ruleCount; r++) ruleSeq = Math.max(ruleSeq, rs.ruleSeq[r] + 1);
  const room: IptablesRoom = {
    generation: newGeneration(),
    portShape: new Int32Array(ports).fill(kNoRules),
    portSvc: new Int32Array(ports).fill(-1),
    portSvcKeep: new Int32Array(ports),
    portSvl: new Int32Array(ports).fill(-1),
    portSvlKeep: new Int32Array(ports),
    rowSep: new Int32Array(rows).fill(-1),
    rowComment: new Int32Array(rows).fill(-1),
    rowRecent: new Int32Array(rows).fill(-1),
    large,
    options,
    cursor: Int32Array.of(firstSpare, chainSeq, ruleSeq, proxiedEndpoints(cluster)),
  };
  for (const svc of cluster.services) {
    if (shouldSkipService(svc)) continue;
    for (const sp of svc.ports) room.portShape[sp] = kNoRoom;
  }
  for (const plan of plans) recordPlan(rs, room, plan);
  return room;
}

/** What `plan`'s port has room for, by chain ids: its KUBE-SVC-/SVL- chains, its rows' KUBE-SEP- chains and strings. Cost: O(the port's slots). */
export function recordPlan(rs: Ruleset, room: IptablesRoom, plan: RoomPlan): void {
  room.portShape[plan.port] = plan.shape;
  const rowOfChain = new Map<number, number>();
  for (let k = 0; k < plan.rows.length; k++) {
    const c = plan.seps[k].id;
    room.rowSep[plan.rows[k]] = c;
    rowOfChain.set(c, plan.rows[k]);
  }
  for (const { chain, keep } of plan.chains) {
    const c = chain.id;
    if (chain.name.startsWith(kSvlPrefix)) {
      room.portSvl[plan.port] = c;
      room.portSvlKeep[plan.port] = keep;
    } else {
      room.portSvc[plan.port] = c;
      room.portSvcKeep[plan.port] = keep;
    }
    // Every row the chain may come to hold has a rule in it, live or spare: its strings are there.
    const end = chainRoomEnd(rs, c);
    for (let r = rs.chainStart[c] + keep; r < end; r++) {
      const row = rs.ruleTarget[r] === T_JUMP ? rowOfChain.get(rs.ruleJump[r]) : undefined;
      if (row === undefined) continue;
      if (rs.ruleComment[r] >= 0) room.rowComment[row] = rs.ruleComment[r];
      if (rs.ruleFlags[r] & M_RECENT_CHECK) room.rowRecent[row] = rs.ruleRecentName[r];
    }
  }
}
