/**
 * A node as the compilers (and the CLI) see it: which node a name or `options.node` names, and its own addresses. All the
 * InternalIP and ExternalIP addresses of its Node object (kube-proxy's `addrtype --dst-type
 * LOCAL`, `fib daddr type local` and the NodePort addresses of IPVS mode all mean "an address
 * configured on this node"; the Node object is what kdp knows of them). The primary address,
 * first, is the first InternalIP.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Cluster } from '../model/types.js';


/** The index of the node named `name` (a Node object's, or one only endpoints mention), or -1. */
export function findNode(cluster: Cluster, name: string): number {
  return cluster.nodes.findIndex((n) => n.name === name);
}

/** The index of the node `node` names (an index, or a Node's name); throws naming `options.node` otherwise. */
export function resolveNode(cluster: Cluster, node: number | string): number {
  const idx = typeof node === 'number' ? node : findNode(cluster, node);
  if (!Number.isInteger(idx) || idx < 0 || idx >= cluster.nodes.length) {
    throw new InvalidArgumentError(`options.node: no node ${JSON.stringify(node)} in the cluster`);
  }
  return idx;
}

export function nodeAddresses(cluster: Cluster, node: number): number[] {
  const n = cluster.nodes[node];
  return n ? [...new Set([...n.internalIPs, ...n.externalIPs])] : [];
}

/** `ip` is local to a node whose addresses are `addrs` (127.0.0.0/8 always is). */
export function isLocalAddress(addrs: ArrayLike<number>, ip: number): boolean {
  if (ip >>> 24 === 127) return true;
  for (let i = 0; i < addrs.length; i++) if (addrs[i] === ip) return true;
  return false;
}
