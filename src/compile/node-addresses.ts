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

/**
 * `ip` is local to a node whose addresses are `addrs` (`fib daddr type local`, `-m addrtype
 * --dst-type LOCAL`; 127.0.0.0/8 always is). `ip` as a u32 or its int32 bits: the hot callers pass
 * the bits, since a u32 above 2^31 passed to a call the JIT does not inline is boxed.
 */
export function isLocalAddress(addrs: Uint32Array, ip: number): boolean {
  const a = ip >>> 0;
  if (a >>> 24 === 127) return true;
  for (let i = 0; i < addrs.length; i++) if (addrs[i] === a) return true;
  return false;
}
