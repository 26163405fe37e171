/**
 * kube-proxy's local-traffic detector (pkg/proxy/util/localdetector.go): how a node tells
 * traffic from its own pods (or the cluster's) from traffic that came from outside. It decides
 * masquerade for ClusterIP traffic and the short-circuit of externalTrafficPolicy: Local.
 */
import { cidrContains, type Cidr } from '../net/ipv4.js';
import type { Cluster } from '../model/types.js';

export interface LocalDetector {
  /** False when the configuration leaves no detector (e.g. ClusterCIDR mode without clusterCIDR). */
  readonly implemented: boolean;
  /** The CIDRs matched by `-s` (ClusterCIDR and NodeCIDR modes); empty for interface modes. */
  readonly cidrs: readonly Cidr[];
  /**
   * Interface modes (BridgeInterface, InterfaceNamePrefix) match the packet's input interface,
   * which kdp knows as "entered from one of this node's pod interfaces".
   */
  readonly byInterface: boolean;
  isLocal(srcIp: number, fromPodInterface: boolean): boolean;
}

export function localDetector(cluster: Cluster, node: number): LocalDetector {
  const { detectLocalMode, clusterCIDRs } = cluster.proxy;
  if (detectLocalMode === 'BridgeInterface' || detectLocalMode === 'InterfaceNamePrefix') {
    return { implemented: true, cidrs: [], byInterface: true, isLocal: (_src, fromPod) => fromPod };
  }
  const cidrs = detectLocalMode === 'NodeCIDR' ? (cluster.nodes[node]?.podCIDRs ?? []) : clusterCIDRs;
  if (cidrs.length === 0) return { implemented: false, cidrs: [], byInterface: false, isLocal: () => false };
  return {
    implemented: true,
    cidrs,
    byInterface: false,
    isLocal: (src) => {
      for (let i = 0; i < cidrs.length; i++) if (cidrContains(cidrs[i], src)) return true;
      return false;
    },
  };
}
