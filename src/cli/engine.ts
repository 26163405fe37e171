/**
 * One compiled cluster for commands that run packets: the pod network plan and, per node, the
 * mode's dataplane compiled on first use and kept, so that many probes share one compilation.
 */
import { compileDataplane } from '../compile/index.js';
import type { ServiceDataplane } from '../compile/dataplane.js';
import { PipelineContext } from '../dataplane/context.js';
import { buildPodNetwork, type PodNetworkPlan } from '../dataplane/pod-network.js';
import type { Cluster, ModeName } from '../model/types.js';

export class CompiledCluster {
  readonly plan: PodNetworkPlan;
  readonly #dataplanes = new Map<number, ServiceDataplane>();
  constructor(
    readonly cluster: Cluster,
    readonly mode: ModeName,
    readonly seed = 1,
  ) {
    this.plan = buildPodNetwork(cluster);
  }

  dataplane(node: number): ServiceDataplane {
    let dp = this.#dataplanes.get(node);
    if (!dp) {
      dp = compileDataplane(this.cluster, this.mode, node);
      this.#dataplanes.set(node, dp);
    }
    return dp;
  }

  /** A fresh context (empty conntrack) over the shared compiled rules. */
  context(conntrackMax = 4096): PipelineContext {
    return new PipelineContext(this.cluster, this.plan, (_c, n) => this.dataplane(n), { mode: this.mode, seed: this.seed, conntrackMax });
  }
}
