/**
 * Which endpoints of a service port a node may use, as kube-proxy's `CategorizeEndpoints`
 * (pkg/proxy/topology.go) decides it. Shared by every mode so that they cannot disagree.
 *
 * Usable means ready; when no endpoint is ready, serving-and-terminating ones are used instead
 * (independently for the Cluster and the Local list). Topology hints are not modelled: kdp keeps
 * kube-proxy's behaviour for endpoints without hints (every endpoint available).
 */
import { EP_READY, EP_SERVING, EP_TERMINATING, type Cluster, type Service, type ServicePort } from '../model/types.js';

export interface EndpointCategories {
  /** Rows usable under Cluster policy; empty when the port never uses Cluster policy. */
  readonly cluster: readonly number[];
  /** This node's usable rows under Local policy; empty when the port never uses Local policy. */
  readonly local: readonly number[];
  /** Every row this node can reach for the port (the union of the two), in rule order. */
  readonly allReachable: readonly number[];
  /** Whether any usable endpoint exists anywhere in the cluster (even if none is reachable here). */
  readonly hasAnyEndpoints: boolean;
}

/** NodePort, LoadBalancer IPs or externalIPs: the port accepts traffic from outside the cluster. */
export function externallyAccessible(svc: Service, port: ServicePort): boolean {
  return port.nodePort !== 0 || svc.loadBalancerIPs.length > 0 || svc.externalIPs.length > 0;
}

export function externalPolicyLocal(svc: Service, port: ServicePort): boolean {
  return externallyAccessible(svc, port) && svc.externalTrafficPolicy === 'Local';
}

export function internalPolicyLocal(svc: Service): boolean {
  return svc.internalTrafficPolicy === 'Local';
}

/** Cluster endpoints are needed for Cluster internal policy, and for any external access
 * (even under external Local policy, pod traffic short-circuits to them). */
export function usesClusterEndpoints(svc: Service, port: ServicePort): boolean {
  return !internalPolicyLocal(svc) || externallyAccessible(svc, port);
}

export function usesLocalEndpoints(svc: Service, port: ServicePort): boolean {
  return internalPolicyLocal(svc) || externalPolicyLocal(svc, port);
}

const isReady = (c: number): boolean => (c & EP_READY) !== 0;
const isServingTerminating = (c: number): boolean => (c & (EP_SERVING | EP_TERMINATING)) === (EP_SERVING | EP_TERMINATING);

export function categorizeEndpoints(cluster: Cluster, port: ServicePort, node: number): EndpointCategories {
  const svc = cluster.services[port.service];
  const { conditions, node: epNode } = cluster.endpoints;
  const start = port.endpointStart;
  const end = start + port.endpointCount;
  const cluster_: number[] = [];
  const local: number[] = [];
  let hasAny = false;
  if (port.endpointCount === 0) return { cluster: [], local: [], allReachable: [], hasAnyEndpoints: false };

  const usesCluster = usesClusterEndpoints(svc, port);
  if (usesCluster) {
    for (let r = start; r < end; r++) if (isReady(conditions[r])) cluster_.push(r);
    if (cluster_.length === 0) for (let r = start; r < end; r++) if (isServingTerminating(conditions[r])) cluster_.push(r);
    hasAny = cluster_.length > 0;
  }
  if (!usesLocalEndpoints(svc, port)) return { cluster: cluster_, local, allReachable: cluster_, hasAnyEndpoints: hasAny };

  let localReady = false;
  let localServingTerminating = false;
  for (let r = start; r < end; r++) {
    const c = conditions[r];
    const isLocal = node >= 0 && epNode[r] === node;
    if (isReady(c)) {
      hasAny = true;
      if (isLocal) localReady = true;
    } else if (isServingTerminating(c)) {
      hasAny = true;
      if (isLocal) localServingTerminating = true;
    }
  }
  const isLocalRow = (r: number): boolean => node >= 0 && epNode[r] === node;
  if (localReady) {
    for (let r = start; r < end; r++) if (isLocalRow(r) && isReady(conditions[r])) local.push(r);
  } else if (localServingTerminating) {
    for (let r = start; r < end; r++) if (isLocalRow(r) && isServingTerminating(conditions[r])) local.push(r);
  }
  if (!usesCluster) return { cluster: cluster_, local, allReachable: local, hasAnyEndpoints: hasAny };
  if (!localServingTerminating || localReady) {
    // Local holds only ready endpoints, and Cluster holds every ready one: a superset.
    return { cluster: cluster_, local, allReachable: cluster_, hasAnyEndpoints: hasAny };
  }
  const union = [...new Set([...cluster_, ...local])].sort((a, b) => a - b);
  return { cluster: cluster_, local, allReachable: union, hasAnyEndpoints: hasAny };
}
