/**
 * An endpoint change written into the IPVS tables in place: what kube-proxy's syncEndpoint does to
 * each virtual service of a changed Service port (add the new real servers, delete the gone
 * ones), as kdp's tables hold it. Each VS's real-server range was sized by build.ts for every row
 * of its port, so the new list is written over the old one; wrr's max weight and gcd and an mh
 * Maglev table (one per port and traffic policy, build.ts) are recomputed. Writes happen under the tables' seqlock.
 *
 * Per-instance scheduler state of a rewritten VS starts again as a freshly added one (rr/wrr
 * cursors), and activeconns follow their real server by endpoint row, as the kernel keeps them
 * on the destination. Cost: O(VSs of the changed ports × rows of the port), plus M per mh table.
 */
import type { Cluster } from '../../model/types.js';
import type { TableUpdate } from '../mode.js';
import { beginUpdate, endUpdate } from '../table-generation.js';
import { categorizeEndpoints, externalPolicyLocal, internalPolicyLocal } from '../topology.js';
import { realServerList, wrrInit } from './build.js';
import type { IpvsDataplane } from './dataplane.js';
import { maglevPopulate } from './maglev.js';
import {
  F_LOCAL_FALLBACK, F_LOCAL_POLICY, VS_CLUSTER_IP, VsWord, maglevBackendsOf, rsRow, vsLive, vsRsCount, vsRsStart, writeRealServer,
} from './tables.js';

export function updateIpvsEndpoints(dp: IpvsDataplane, next: Cluster, changedServices: readonly number[]): TableUpdate {
  const t = dp.tables;
  const { ip, port, node: epNode } = next.endpoints;
  let written = 0;
  beginUpdate(t.generation);
  for (const s of changedServices) {
    const svc = next.services[s];
    for (const sp of svc.ports) {
      const n = t.spVsCount[sp];
      if (n === 0) continue;
      const p = next.ports[sp];
      const cats = categorizeEndpoints(next, p, dp.node);
      const internal = realServerList(cats, internalPolicyLocal(svc));
      const external = realServerList(cats, externalPolicyLocal(svc, p));
      const lutsDone = new Set<number>();
      for (let v = t.spVsStart[sp]; v < t.spVsStart[sp] + n; v++) {
        if (!vsLive(t, v)) continue; // its Service is gone (update-services.ts)
        const list = t.vsKind[v] === VS_CLUSTER_IP ? internal : external;
        const start = vsRsStart(t, v);
        const oldCount = vsRsCount(t, v);
        // activeconns stay with their destination (by endpoint row); kept in a small scratch.
        const conns = new Map<number, number>();
        for (let k = start; k < start + oldCount; k++) if (t.rsConns[k] !== 0) conns.set(rsRow(t, k), t.rsConns[k]);
        const rows = list.rows;
        for (let k = 0; k < rows.length; k++) {
          const r = rows[k];
          const slot = start + k;
          writeRealServer(t.rs, slot, ip[r], port[r], r, 1); // kube-proxy always writes weight 1
          t.rsLoopback[slot] = epNode[r] === dp.node ? 1 : 0;
          t.rsConns[slot] = conns.get(r) ?? 0;
        }
        const o = v * VsWord.STRIDE;
        t.vs[o + VsWord.RS_COUNT] = rows.length;
        t.vs[o + VsWord.FLAGS] = (t.vs[o + VsWord.FLAGS] & ~(F_LOCAL_POLICY | F_LOCAL_FALLBACK)) | list.flags;
        wrrInit(t, start, rows.length, t.vsWrrMw, t.vsWrrDi, v);
        t.rrNext[v] = 0;
        t.wrrCl[v] = -1;
        t.wrrCw[v] = 0;
        if (t.vsMh[v] >= 0 && !lutsDone.has(t.vsMh[v])) {
          lutsDone.add(t.vsMh[v]);
          maglevPopulate(maglevBackendsOf(t, start, rows.length), t.mhSize, t.mhLuts, t.vsMh[v] * t.mhSize);
          written += t.mhSize;
        }
        written += rows.length + 1;
      }
    }
  }
  endUpdate(t.generation);
  return { entriesWritten: written };
}
