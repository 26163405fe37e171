/**
 * A node's own addresses, as every mode sees them: all the InternalIP and ExternalIP addresses of
 * its Node object (kube-proxy's `addrtype --dst-type LOCAL`, `fib daddr type local` and the
 * NodePort addresses of IPVS mode all mean "an address configured on this node"; the Node object
 * is what kdp knows of them). The primary address, first, is the first InternalIP.
 */
import type { Cluster } from '../model/types.js';

export function nodeAddresses(cluster: Cluster, node: number): number[] {
  const n = cluster.nodes[node];
  return n ? [...new Set([...n.internalIPs, ...n.externalIPs])] : [];
}
