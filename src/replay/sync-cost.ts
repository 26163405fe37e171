/**
 * Rule-sync cost of one cell, on node 0's compiled tables: the full build (the setup's compile of
 * node 0, from the cluster model to the mode's tables), and a one-endpoint change: the first
 * ready endpoint of the first Service with at least two ready endpoints becomes unready (a failed
 * readiness probe). For that change, `oneEndpointMs` is kdp's own table update
 * (ProxyMode.updateEndpoints, written in place into the shared image, then undone so that the
 * replay runs on the cell's cluster), and the bytes and rules are what kube-proxy would write for
 * it (ProxyMode.syncOneEndpoint: each mode's sync.ts says what that is in its mode).
 *
 * No Node.js imports: the clock is passed in.
 */
import type { Cluster } from '../model/types.js';
import { EP_READY } from '../model/types.js';
import type { ReplaySetup } from './replay.js';

export interface SyncCost {
  /** Compile of node 0's tables from the model, at setup. */
  readonly fullMs: number;
  /** Bytes and rules a full sync writes (iptables-restore / nft -f; IPVS: commands + restore). */
  readonly fullBytes: number;
  readonly fullRules: number;
  /**
   * kdp's in-place table update for the change (median of kUpdateRepeats); absent when the mode has
   * none. When the mode's update cannot write this change in place (ProxyMode.updateEndpoints gave
   * undefined), the recompile of the node it falls back to, timed once, and `oneEndpointRecompiled`.
   */
  readonly oneEndpointMs?: number;
  readonly oneEndpointRecompiled?: true;
  /** Table slots that update wrote (absent for a recompile). */
  readonly oneEndpointEntriesWritten?: number;
  /** What kube-proxy writes for the change: bytes and rules (or commands, elements). */
  readonly oneEndpointRewrittenBytes: number;
  readonly oneEndpointRewrittenRules: number;
  /** Which endpoint changed, in words. */
  readonly change: string;
  /** The mode's own figures (ProxyMode.figures), measured on the same node. */
  readonly figures?: Readonly<Record<string, number>>;
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

/** Updates timed (each followed by its undo): the median is reported, as one is a few µs. */
export const kUpdateRepeats = 7;

export function measureSync(setup: ReplaySetup, clock: () => number): SyncCost {
  const cluster = setup.cluster;
  const node = 0;
  const { next, service } = oneEndpointChange(cluster);
  const change = service >= 0 ? `one endpoint of ${cluster.services[service].namespace}/${cluster.services[service].name} unready` : 'no Service with two ready endpoints: nothing changed';
  const changed = service >= 0 ? [service] : [];
  const dp = setup.dataplane(node);
  const { oneEndpointMs: _planMs, ...writes } = setup.mode.syncOneEndpoint(dp, cluster, next, node, changed, clock);
  const figures = setup.mode.figures?.(dp, cluster, clock);
  const update = setup.mode.updateEndpoints;
  let own: { oneEndpointMs: number; oneEndpointEntriesWritten: number } | { oneEndpointMs: number; oneEndpointRecompiled: true } | undefined;
  if (update) {
    const times: number[] = [];
    let entries = 0;
    for (let k = 0; k < kUpdateRepeats; k++) {
      const t0 = clock();
      const u = update(dp, next, changed);
      times.push(clock() - t0);
      if (u === undefined) break; // nothing was written: the mode recompiles for this change
      entries = u.entriesWritten;
      update(dp, cluster, changed);
    }
    if (times.length === kUpdateRepeats) {
      times.sort((a, b) => a - b);
      own = { oneEndpointMs: times[kUpdateRepeats >> 1], oneEndpointEntriesWritten: entries };
    } else {
      const t0 = clock();
      setup.mode.compile(next, node);
      own = { oneEndpointMs: clock() - t0, oneEndpointRecompiled: true };
    }
  }
  return { fullMs: setup.compileMs[node], ...writes, ...own, change, ...(figures ? { figures } : {}) };
}
