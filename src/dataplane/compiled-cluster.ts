/**
 * One compiled cluster, the engine's state that the CLI, the replay and the tests share: the
 * cluster, its pod network plan, and one proxy mode's Service NAT rules for each node, compiled
 * on first use and kept (or attached to tables packed elsewhere), so that every context, probe
 * and repeat over the cluster reads the same compilation. Each context over it
 * (`new PipelineContext(compiled)`) has its own conntrack tables and counters.
 */
import type { ServiceDataplane } from '../compile/dataplane.js';
import { compileDataplane } from '../compile/index.js';
import { PolicyTables } from '../compile/calico-policy/policy-tables.js';
import type { Cluster, ModeName } from '../model/types.js';
import { buildPodNetwork, type PodNetworkPlan } from './pod-network.js';

/** Compiles (or attaches) one node's Service NAT rules. */
export type CompileNode = (cluster: Cluster, node: number) => ServiceDataplane;

export class CompiledCluster {
  readonly cluster: Cluster;
  readonly mode: ModeName;
  readonly plan: PodNetworkPlan;
  readonly #compile: CompileNode;
  readonly #dataplanes: (ServiceDataplane | undefined)[];
  #policy: PolicyTables | null | undefined;

  /** `compile` defaults to the mode's compiler; `plan` to the cluster's pod network. */
  constructor(cluster: Cluster, mode: ModeName, compile?: CompileNode, plan?: PodNetworkPlan) {
    this.cluster = cluster;
    this.mode = mode;
    this.plan = plan ?? buildPodNetwork(cluster);
    this.#compile = compile ?? ((c, n) => compileDataplane(c, mode, n));
    this.#dataplanes = new Array(cluster.nodes.length);
  }

  /** The node's Service NAT rules (compiled on first use, then kept). */
  dataplane(node: number): ServiceDataplane {
    let dp = this.#dataplanes[node];
    if (!dp) {
      dp = this.#compile(this.cluster, node);
      this.#dataplanes[node] = dp;
    }
    return dp;
  }

  /**
   * Calico's compiled policy, or null when nothing enforces policy: the pod network is not
   * Calico (kubenet and flannel enforce none), or the cluster has no policy (then felix's chains
   * lead every workload to its profile's allow, and kdp skips the stage).
   */
  get policy(): PolicyTables | null {
    if (this.#policy === undefined) {
      const enforced = this.cluster.network.cni.startsWith('calico') && this.cluster.policies.length > 0;
      this.#policy = enforced ? new PolicyTables(this.cluster) : null;
    }
    return this.#policy;
  }

  /** The nodes' rules compiled (or attached) so far, by node. */
  dataplanes(): ServiceDataplane[] {
    return this.#dataplanes.filter((dp): dp is ServiceDataplane => dp !== undefined);
  }

  /** Replaces a node's rules with an equivalent copy (e.g. one attached to packed tables). */
  replace(node: number, dp: ServiceDataplane): void {
    this.#dataplanes[node] = dp;
  }
}
