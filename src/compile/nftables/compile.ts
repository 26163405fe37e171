/**
 * kube-proxy's nftables mode for one node: Cluster -> `ip kube-proxy` ruleset -> typed arrays
 * -> ServiceDataplane. A dataplane can also be built from `nft list` text (a rendered or a
 * real node's ruleset), through the same compiler.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { Cluster } from '../../model/types.js';
import { buildRuleset } from './build.js';
import { nodeAddresses } from '../node-addresses.js';
import { NftablesDataplane } from './dataplane.js';
import { parseRuleset } from './parse.js';
import { compileProgram } from './program.js';
import type { Ruleset } from './ruleset.js';

export interface NftablesOptions {
  /** Index into `Cluster.nodes` of the node the rules are for. */
  readonly node: number;
  /** Affinity entries held per dataplane (default 65536). */
  readonly affinityCapacity?: number;
}

function checkNode(cluster: Cluster, options: NftablesOptions): void {
  if (!Number.isInteger(options.node) || options.node < 0 || options.node >= cluster.nodes.length) {
    throw new InvalidArgumentError(`options.node must be an index into cluster.nodes (0..${cluster.nodes.length - 1})`);
  }
}

export function dataplaneFromRuleset(ruleset: Ruleset, cluster: Cluster, options: NftablesOptions): NftablesDataplane {
  checkNode(cluster, options);
  return new NftablesDataplane(compileProgram(ruleset, cluster), {
    node: options.node,
    localAddresses: nodeAddresses(cluster, options.node),
    ...(options.affinityCapacity !== undefined ? { affinityCapacity: options.affinityCapacity } : {}),
  });
}

export function compileNftables(cluster: Cluster, options: NftablesOptions): NftablesDataplane {
  checkNode(cluster, options);
  return dataplaneFromRuleset(buildRuleset(cluster, { node: options.node }), cluster, options);
}

/** A dataplane from `nft list table ip kube-proxy` text, resolved against the cluster it came from. */
export function dataplaneFromNftText(text: string, cluster: Cluster, options: NftablesOptions): NftablesDataplane {
  return dataplaneFromRuleset(parseRuleset(text), cluster, options);
}
