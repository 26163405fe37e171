/**
 * What an iptables dataplane compiled with room (build.ts compileRulesetWithRoom) knows about that
 * room, as typed arrays beside the Ruleset, shared with workers like it: per Service port the shape
 * its chains were compiled for and its KUBE-SVC-/KUBE-SVL- chains, per endpoint row its KUBE-SEP-
 * chain and the names its rules use (interned strings), and the seqlock word (table-generation.ts).
 * update.ts reads it to write an endpoint change in place without looking anything up by name.
 */
import type { Cluster } from '../../model/types.js';
import { newGeneration } from '../table-generation.js';
import type { RoomPlan } from './build.js';
import { kSvlPrefix } from './chain-names.js';
import { chainRoomEnd, M_RECENT_CHECK, T_JUMP, TABLE_NAT, type Ruleset } from './ruleset.js';

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
  /** Large cluster mode when compiled (no per-endpoint comments): the rows are fixed, so it cannot change. */
  readonly large: boolean;
}

/** The room of `rs`, from the plans its compile made. Cost: O(chains with room + their slots). */
export function buildRoom(rs: Ruleset, cluster: Cluster, plans: readonly RoomPlan[], large: boolean): IptablesRoom {
  const ports = cluster.ports.length;
  const rows = cluster.endpoints.ip.length;
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
  };
  for (const svc of cluster.services) {
    if (svc.headless || svc.clusterIPs.length === 0 || svc.type === 'ExternalName') continue;
    for (const sp of svc.ports) room.portShape[sp] = kNoRoom;
  }
  for (const plan of plans) {
    room.portShape[plan.port] = plan.shape;
    const rowOfChain = new Map<number, number>();
    for (let k = 0; k < plan.rows.length; k++) {
      const c = rs.chainId(TABLE_NAT, plan.sepNames[k]);
      room.rowSep[plan.rows[k]] = c;
      rowOfChain.set(c, plan.rows[k]);
    }
    for (const { name, keep } of plan.chains) {
      const c = rs.chainId(TABLE_NAT, name);
      if (name.startsWith(kSvlPrefix)) {
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
  return room;
}
