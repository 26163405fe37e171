/**
 * Rule-sync cost of one cell, on node 0's compiled tables: the full build (the setup's compile of
 * node 0, from the cluster model to the mode's tables), and a one-endpoint change: the first
 * ready endpoint of the first Service with at least two ready endpoints becomes unready (a failed
 * readiness probe). For that change, `oneEndpointMs` is kdp's own table update
 * (ProxyMode.updateEndpoints, written in place into the shared image, then undone so that the
 * replay runs on the cell's cluster), and the bytes and rules are what kube-proxy would write for
 * it (ProxyMode.syncOneEndpoint: each mode's sync.ts says what that is in its mode). Beside it,
 * `oneServiceMs`: kdp's in-place update for one Service created (ProxyMode.updateServices).
 *
 * No Node.js imports: the clock is passed in.
 */
import type { Cluster } from '../model/types.js';
import { EP_READY } from '../model/types.js';
import { withServiceGone, withServiceRecreated } from '../model/service-change.js';
import type { ReplaySetup } from './replay.js';
import type { ServiceDataplane } from '../compile/dataplane.js';
import type { OneEndpointSync } from '../compile/mode.js';
import { median } from '../report/spread.js';

export interface SyncCost {
  /** Compile of node 0's tables from the model: the median of `fullBuilds` builds (fullBuildTimes). */
  readonly fullMs: number;
  readonly fullBuilds: number;
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
  /**
   * kdp's in-place table update for one Service created (ProxyMode.updateServices; median of
   * kUpdateRepeats): a ClusterIP Service of the cell deleted and created again, so that the new
   * one is appended with its ports and endpoints (see oneServiceChange). Absent when the mode has
   * no such update (it recompiles the node for a Service added). When the update gave up (no
   * room), the recompile of the node it falls back to, timed once, and `oneServiceRecompiled`.
   */
  readonly oneServiceMs?: number;
  readonly oneServiceRecompiled?: true;
  readonly oneServiceEntriesWritten?: number;
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

/**
 * The Service the one-Service figure deletes and creates again: the last one with a ClusterIP and
 * a ready endpoint (a Service a real cluster would add), or -1.
 */
export function oneServiceChange(cluster: Cluster): number {
  for (let s = cluster.services.length - 1; s >= 0; s--) {
    const svc = cluster.services[s];
    if (svc.clusterIPs.length === 0 || svc.headless || svc.ports.length === 0) continue;
    const p = cluster.ports[svc.ports[0]];
    for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if ((cluster.endpoints.conditions[r] & EP_READY) !== 0) return s;
  }
  return -1;
}

/**
 * Builds of node 0's tables timed for a cell's full-build figure: the setup's own compile, then
 * more of the same cluster while the builds so far took under kFullBuildBudgetMs. One build alone
 * is what a neighbour's burst or a collection of the previous cell's garbage lands on (the
 * 2026-12-04 record: 1.77 s and 3.14 s for the same 10k-Service iptables build in two commands);
 * the median of three is not.
 */
export const kFullBuilds = 3;
const kFullBuildBudgetMs = 8000;

/** The times (ms) of the cell's full builds, the setup's first, and the dataplane the last one built. */
export function fullBuildTimes(setup: ReplaySetup, clock: () => number): { times: number[]; dp: ServiceDataplane } {
  // A setup attached to tables packed elsewhere compiled nothing itself: every build is timed here.
  const times = setup.compileMs.length > 0 ? [setup.compileMs[0]!] : [];
  let spent = times[0] ?? 0;
  let dp: ServiceDataplane | undefined;
  while (times.length < kFullBuilds && spent < kFullBuildBudgetMs) {
    const t0 = clock();
    dp = setup.mode.compile(setup.cluster, 0);
    const ms = clock() - t0;
    times.push(ms);
    spent += ms;
  }
  return { times, dp: dp ?? setup.mode.compile(setup.cluster, 0) };
}

/**
 * kUpdateRepeats times: the Service deleted (in place, untimed) and created again (timed), each
 * time at a new index, on a compile of node 0 of its own (the replay's tables stay the cell's).
 * The clusters are made before the clock starts. `dp` is that compile: the last of the full
 * builds (fullBuildTimes), so no build is made for this alone.
 */
function measureOneService(setup: ReplaySetup, dp: ServiceDataplane, clock: () => number): Pick<SyncCost, 'oneServiceMs' | 'oneServiceRecompiled' | 'oneServiceEntriesWritten'> {
  const update = setup.mode.updateServices;
  const cluster = setup.cluster;
  const s = oneServiceChange(cluster);
  if (!update || s < 0) return {};
  const steps: { gone: Cluster; back: Cluster; removed: number }[] = [];
  let current = cluster;
  let index = s;
  for (let k = 0; k < kUpdateRepeats; k++) {
    const gone = withServiceGone(current, index);
    const back = withServiceRecreated(gone, cluster, s);
    steps.push({ gone, back, removed: index });
    current = back;
    index = back.services.length - 1;
  }
  const times: number[] = [];
  let entries = 0;
  for (const { gone, back, removed } of steps) {
    if (update(dp, gone, [], [removed]) === undefined) break;
    const t0 = clock();
    const u = update(dp, back, [back.services.length - 1], []);
    const ms = clock() - t0;
    if (u === undefined) break; // nothing was written: the mode recompiles for this change
    times.push(ms);
    entries = u.entriesWritten;
  }
  if (times.length === kUpdateRepeats) {
    return { oneServiceMs: median(times), oneServiceEntriesWritten: entries };
  }
  const t0 = clock();
  setup.mode.compile(steps[0].back, 0);
  return { oneServiceMs: clock() - t0, oneServiceRecompiled: true };
}

/** The figures measureSync times (everything but what kube-proxy writes). */
export type SyncTimes = Omit<SyncCost, keyof OneEndpointSync>;

/**
 * The timed figures: node 0's in-place updates (written into the shared image and undone), the
 * mode's figures, the full builds and the one-Service update. Run while no shard reads the tables.
 */
export function measureSyncTimes(setup: ReplaySetup, clock: () => number): SyncTimes {
  const cluster = setup.cluster;
  const node = 0;
  const { next, service } = oneEndpointChange(cluster);
  const change = service >= 0 ? `one endpoint of ${cluster.services[service].namespace}/${cluster.services[service].name} unready` : 'no Service with two ready endpoints: nothing changed';
  const changed = service >= 0 ? [service] : [];
  const dp = setup.dataplane(node);
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
      own = { oneEndpointMs: median(times), oneEndpointEntriesWritten: entries };
    } else {
      const t0 = clock();
      setup.mode.compile(next, node);
      own = { oneEndpointMs: clock() - t0, oneEndpointRecompiled: true };
    }
  }
  const builds = fullBuildTimes(setup, clock);
  return {
    fullMs: median(builds.times), fullBuilds: builds.times.length,
    ...own, ...measureOneService(setup, builds.dp, clock), change, ...(figures ? { figures } : {}),
  };
}

/**
 * What kube-proxy writes for the cell's one-endpoint change (ProxyMode.syncOneEndpoint), against
 * node 0's tables, which it only reads: counted, not timed, so it may run beside the shards.
 */
export function syncWrites(setup: ReplaySetup): OneEndpointSync {
  const { next, service } = oneEndpointChange(setup.cluster);
  return setup.mode.syncOneEndpoint(setup.dataplane(0), setup.cluster, next, 0, service >= 0 ? [service] : []);
}

/** The cell's sync cost from its two parts, in the order the result has always listed its fields. */
export function syncCost(times: SyncTimes, writes: OneEndpointSync): SyncCost {
  const { fullMs, fullBuilds, ...rest } = times;
  return { fullMs, fullBuilds, ...writes, ...rest };
}

/** The whole sync cost, one part after the other (ReplayPool.run counts the writes while the shards warm up). */
export function measureSync(setup: ReplaySetup, clock: () => number): SyncCost {
  return syncCost(measureSyncTimes(setup, clock), syncWrites(setup));
}
