/**
 * What a context sees of every node: the compiled cluster (each node's pod network and Service
 * NAT rules, shared read-only with other contexts), and the node's own state in this context:
 * its conntrack table, made on first use, and the tunnels it sends through. A context belongs to
 * one worker, so this state is that worker's shard and no packet needs a lock.
 */
import type { Cluster, ModeName } from '../model/types.js';
import type { CompiledCluster } from './compiled-cluster.js';
import { ConntrackTable } from './conntrack.js';
import type { PodNetworkPlan } from './pod-network.js';
import { Tunnels } from './tunnels.js';

export class NodeWorld {
  readonly compiled: CompiledCluster;
  readonly cluster: Cluster;
  readonly plan: PodNetworkPlan;
  readonly mode: ModeName;
  /** nf_conntrack_max of each node's table. */
  readonly conntrackMax: number;
  readonly tunnels: Tunnels;
  readonly #conntrack: (ConntrackTable | undefined)[];

  constructor(compiled: CompiledCluster, conntrackMax: number) {
    this.compiled = compiled;
    this.cluster = compiled.cluster;
    this.plan = compiled.plan;
    this.mode = compiled.mode;
    this.conntrackMax = conntrackMax;
    this.tunnels = new Tunnels(compiled.plan);
    this.#conntrack = new Array(compiled.cluster.nodes.length);
  }

  conntrack(node: number): ConntrackTable {
    let ct = this.#conntrack[node];
    if (!ct) {
      ct = new ConntrackTable({ maxEntries: this.conntrackMax, timeouts: this.cluster.proxy.conntrack });
      this.#conntrack[node] = ct;
    }
    return ct;
  }

  /** Every conntrack table created so far (for counters). */
  conntrackTables(): ConntrackTable[] {
    return this.#conntrack.filter((t): t is ConntrackTable => t !== undefined);
  }

  /** Empties every conntrack table and zeroes its counters, keeping the memory for the next run. */
  clearConntrack(): void {
    for (const ct of this.conntrackTables()) {
      ct.clear();
      ct.counters.fill(0);
    }
  }
}
