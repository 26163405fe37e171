/**
 * Rule-sync cost of one cell, measured with each mode's own sync API on the worker's compiled
 * node: the full build (the setup's compile of node 0, from the cluster model to the mode's
 * tables), and a one-endpoint change: the first ready endpoint of the first Service with at least
 * two ready endpoints becomes unready (a failed readiness probe), and the sync kube-proxy would
 * run for it is planned and rendered:
 *
 *   iptables  iptablesSync(prev ruleset, next cluster, node, [service]): the partial restore
 *             (KEP-3453), whose compile of the next ruleset is part of the time, as in kube-proxy
 *   nftables  buildRuleset(next) + planSync(prev, next): the `nft -f` transaction
 *   ipvs      compileIpvs(next) + ipvsSyncDelta(prev, next): ipvsadm/ipset commands plus the
 *             iptables-restore payload IPVS mode rewrites every sync
 *   userspace compileUserspace(next): the proxy's tables; its portal rules do not change for an
 *             endpoint change (only the proxy's in-memory list does), so the bytes rewritten are
 *             the changed lines of its iptables-save (0)
 *
 * No Node.js imports: the clock is passed in.
 */
import { fullSync, planSync, buildRuleset } from '../compile/nftables/index.js';
import { iptablesSync, type IptablesDataplane } from '../compile/iptables/index.js';
import { compileIpvs, ipvsSyncDelta, type IpvsDataplane } from '../compile/ipvs/index.js';
import { compileUserspace, renderUserspaceIptablesSave, type UserspaceDataplane } from '../compile/userspace/index.js';
import type { Cluster } from '../model/types.js';
import { EP_READY } from '../model/types.js';
import type { ReplaySetup } from './replay.js';

export interface SyncCost {
  /** Compile of node 0's tables from the model, at setup. */
  readonly fullMs: number;
  /** Bytes and rules a full sync writes (iptables-restore / nft -f; IPVS: commands + restore). */
  readonly fullBytes: number;
  readonly fullRules: number;
  readonly oneEndpointMs: number;
  readonly oneEndpointRewrittenBytes: number;
  readonly oneEndpointRewrittenRules: number;
  /** Which endpoint changed, in words. */
  readonly change: string;
}

/** The cluster with one endpoint made unready, and the Service it belongs to (-1: none fits). */
export function oneEndpointChange(cluster: Cluster): { next: Cluster; service: number; row: number } {
  const eps = cluster.endpoints;
  for (const port of cluster.ports) {
    let ready = 0;
    let first = -1;
    for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) {
      if ((eps.conditions[r] & EP_READY) !== 0) {
        ready++;
        if (first < 0) first = r;
      }
    }
    if (ready < 2) continue;
    // Every row of that pod (all ports of the Service) goes unready together, as a pod does.
    const conditions = eps.conditions.slice();
    const ip = eps.ip[first];
    const svc = cluster.services[port.service];
    for (const p of svc.ports) {
      const sp = cluster.ports[p];
      for (let r = sp.endpointStart; r < sp.endpointStart + sp.endpointCount; r++) if (eps.ip[r] === ip) conditions[r] &= ~EP_READY;
    }
    return { next: { ...cluster, endpoints: { ...eps, conditions } }, service: port.service, row: first };
  }
  return { next: cluster, service: -1, row: -1 };
}

export function measureSync(setup: ReplaySetup, clock: () => number): SyncCost {
  const cluster = setup.cluster;
  const node = 0;
  const mode = setup.spec.mode;
  const fullMs = setup.compileMs[node];
  const { next, service } = oneEndpointChange(cluster);
  const change = service >= 0 ? `one endpoint of ${cluster.services[service].namespace}/${cluster.services[service].name} unready` : 'no Service with two ready endpoints: nothing changed';
  const changed = service >= 0 ? [service] : [];
  let t0: number;
  switch (mode) {
    case 'iptables': {
      const dp = setup.dataplane(node) as IptablesDataplane;
      t0 = clock();
      const r = iptablesSync(dp.rules, next, node, changed);
      const ms = clock() - t0;
      return { fullMs, fullBytes: r.fullBytes, fullRules: r.fullRules, oneEndpointMs: ms, oneEndpointRewrittenBytes: r.bytes, oneEndpointRewrittenRules: r.rules, change };
    }
    case 'nftables': {
      const prev = buildRuleset(cluster, { node });
      const full = fullSync(prev);
      t0 = clock();
      const nextRs = buildRuleset(next, { node });
      const r = planSync(prev, nextRs);
      const ms = clock() - t0;
      return {
        fullMs, fullBytes: full.bytes, fullRules: full.rulesWritten + full.elementsAdded,
        oneEndpointMs: ms, oneEndpointRewrittenBytes: r.bytes, oneEndpointRewrittenRules: r.rulesWritten + r.elementsAdded + r.elementsDeleted, change,
      };
    }
    case 'ipvs': {
      const prev = setup.dataplane(node) as IpvsDataplane;
      const full = ipvsSyncDelta(null, prev);
      t0 = clock();
      const nextDp = compileIpvs(next, { node });
      const d = ipvsSyncDelta(prev, nextDp);
      const ms = clock() - t0;
      return {
        fullMs, fullBytes: full.commandBytes + full.iptablesRestoreBytes, fullRules: full.ipvsadm.length + full.ipset.length,
        oneEndpointMs: ms, oneEndpointRewrittenBytes: d.commandBytes + d.iptablesRestoreBytes, oneEndpointRewrittenRules: d.ipvsadm.length + d.ipset.length, change,
      };
    }
    case 'userspace': {
      const prev = setup.dataplane(node) as UserspaceDataplane;
      const prevText = renderUserspaceIptablesSave(prev);
      t0 = clock();
      const nextDp = compileUserspace(next, { node });
      const ms = clock() - t0;
      const a = new Set(prevText.split('\n'));
      const bLines = renderUserspaceIptablesSave(nextDp).split('\n');
      const b = new Set(bLines);
      let lines = 0;
      let bytes = 0;
      for (const l of bLines) if (!a.has(l)) { lines++; bytes += l.length + 1; }
      for (const l of a) if (!b.has(l)) { lines++; bytes += l.length + 1; }
      const fullLines = bLines.filter((l) => l.startsWith('-A ')).length;
      return { fullMs, fullBytes: prevText.length, fullRules: fullLines, oneEndpointMs: ms, oneEndpointRewrittenBytes: bytes, oneEndpointRewrittenRules: lines, change };
    }
    default:
      throw new TypeError(`no sync measurement for mode ${String(mode)}`);
  }
}
