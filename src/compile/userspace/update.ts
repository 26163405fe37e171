/**
 * An endpoint change written into the userspace proxy's tables in place: the proxier's
 * OnEndpointsUpdate (roundrobin.go) replaces a service port's endpoint list and resets its
 * round-robin index; kdp rewrites the port's range of `epRows`, which build.ts sized for every
 * row of the port, under the tables' seqlock. Cost: O(rows of the changed Services' ports).
 */
import { EP_READY, type Cluster } from '../../model/types.js';
import type { TableUpdate } from '../mode.js';
import { beginUpdate, endUpdate } from '../table-generation.js';
import type { UserspaceDataplane } from './dataplane.js';

/**
 * The ready rows of service port `sp` written at `out[at..]` (the Endpoints API's addresses: no
 * topology, no traffic policy, no terminating fallback; the userspace proxier predates them).
 */
export function writeReadyRows(cluster: Cluster, sp: number, out: { [i: number]: number }, at: number): number {
  const p = cluster.ports[sp];
  const conditions = cluster.endpoints.conditions;
  let n = 0;
  for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if (conditions[r] & EP_READY) out[at + n++] = r;
  return n;
}

export function updateUserspaceEndpoints(dp: UserspaceDataplane, next: Cluster, changedServices: readonly number[]): TableUpdate {
  const t = dp.tables;
  let written = 0;
  beginUpdate(t.generation);
  for (const s of changedServices) {
    for (const sp of next.services[s].ports) {
      if (t.proxyPort[sp] === 0) continue; // not proxied (headless, ExternalName)
      const n = writeReadyRows(next, sp, t.epRows, t.epStart[sp]);
      t.epCount[sp] = n;
      t.rrIndex[sp] = 0;
      written += n + 1;
    }
  }
  endUpdate(t.generation);
  return { entriesWritten: written };
}
