/**
 * An endpoint change written into Cilium's maps in place, as the agent upserts them for a changed
 * Service (pkg/loadbalancer's reconciler): each frontend of the Service's ports gets its new
 * backend slots and counts, a backend seen for the first time gets a new ID (IDs already given are
 * kept, as the agent's allocator keeps them), backend states follow the endpoints' conditions,
 * and a Maglev frontend's table is rebuilt. The slot ranges and the backend map were sized by
 * build.ts so that nothing moves. Writes happen under the tables' seqlock.
 *
 * Backends no Service uses any more stay in the map (the agent releases their IDs later, in its
 * garbage collection); no decision reads them. Cost: O(frontends of the changed ports × rows of
 * the port), plus M per Maglev table.
 */
import { EP_READY, type Cluster } from '../../model/types.js';
import type { MutableTables } from './build.js';
import type { TableUpdate } from '../mode.js';
import { beginUpdate, endUpdate } from '../table-generation.js';
import { backendsOf } from './build.js';
import type { CiliumDataplane } from './dataplane.js';
import { ciliumMaglevTable, maglevSeeds } from './maglev.js';
import {
  BE_STATE_ACTIVE, BE_STATE_TERMINATING, BeWord, FeWord, SCOPE_INT, SVC_FLAG_EXTERNAL_IP, SVC_FLAG_EXT_LOCAL_SCOPE,
  SVC_FLAG_INT_LOCAL_SCOPE, SVC_FLAG_LOADBALANCER, SVC_FLAG_NODEPORT, beState, feFlags, feMaglev, feRevNat,
  feSlotStart, writeBackend, writeSlot,
} from './tables.js';

/**
 * The backend ID of endpoint row `row`: the one it was given, else a new one past `backends` (the
 * backend map has room for one per row). Its state follows the row's conditions. Counts what it writes.
 */
export function rowBackendId(t: MutableTables, cluster: Cluster, node: number, row: number, proto: number, written: { n: number }): number {
  let id = t.rowBackend[row];
  if (id === 0) {
    id = ++t.backends;
    t.rowBackend[row] = id;
    writeBackend(t.be, id, cluster.endpoints.ip[row], cluster.endpoints.port[row], cluster.endpoints.node[row] === node ? 1 : 0, BE_STATE_ACTIVE);
    t.beProto[id] = proto;
    written.n++;
  }
  const state = (cluster.endpoints.conditions[row] & EP_READY) !== 0 ? BE_STATE_ACTIVE : BE_STATE_TERMINATING;
  if (beState(t, id) !== state) {
    t.be[id * BeWord.STRIDE + BeWord.STATE] = state;
    written.n++;
  }
  return id;
}

export function updateCiliumEndpoints(dp: CiliumDataplane, next: Cluster, changedServices: readonly number[]): TableUpdate {
  const t = dp.tables;
  const mutable = t as MutableTables;
  const { ip, port } = next.endpoints;
  const seeds = maglevSeeds(dp.config.maglevHashSeed);
  const count = { n: 0 };
  const idOf = (row: number, proto: number): number => rowBackendId(mutable, next, dp.node, row, proto, count);
  beginUpdate(t.generation);
  for (const s of changedServices) {
    for (const sp of next.services[s].ports) {
      const p = next.ports[sp];
      for (let k = t.spFeStart[sp]; k < t.spFeStart[sp + 1]; k++) {
        const f = t.spFe[k];
        if (feRevNat(t, f) === 0) continue; // its Service is gone (update-services.ts)
        const flags = feFlags(t, f);
        const clusterIp = (flags & (SVC_FLAG_NODEPORT | SVC_FLAG_LOADBALANCER | SVC_FLAG_EXTERNAL_IP)) === 0;
        const intLocal = (flags & SVC_FLAG_INT_LOCAL_SCOPE) !== 0;
        const local = t.feScope[f] === SCOPE_INT || clusterIp ? intLocal : (flags & SVC_FLAG_EXT_LOCAL_SCOPE) !== 0;
        const { active, extra } = backendsOf(next, p, dp.node, local);
        let slot = feSlotStart(t, f);
        for (const r of active) writeSlot(t.slots, slot++, idOf(r, t.feProto[f]), r);
        for (const r of extra) writeSlot(t.slots, slot++, idOf(r, t.feProto[f]), r);
        t.fe[f * FeWord.STRIDE + FeWord.COUNT] = active.length;
        t.fe[f * FeWord.STRIDE + FeWord.QCOUNT] = extra.length;
        count.n += active.length + extra.length + 1;
        if (feMaglev(t, f) >= 0 && typeof seeds !== 'string') {
          const backends = active.map((r) => ({ id: t.rowBackend[r], ip: ip[r], port: port[r], proto: t.feProto[f] as 6 }));
          ciliumMaglevTable(backends, t.maglevSize, seeds.murmur, t.maglev, feMaglev(t, f));
          count.n += t.maglevSize;
        }
      }
    }
  }
  endUpdate(t.generation);
  return { entriesWritten: count.n };
}
