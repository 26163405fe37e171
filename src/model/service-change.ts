/**
 * A Service appearing in or disappearing from a cluster, written so that every index the rest of
 * the cluster has keeps its meaning (ProxyMode.updateServices writes such a change into compiled
 * tables in place, and decisions carry Service-port and endpoint indexes):
 *
 * - a new Service is appended: its index, its ports' and its endpoint rows' are past every
 *   existing one (what buildCluster gives a Service listed last), so `servicesUpTo` of the larger
 *   cluster is the cluster before it came;
 * - a Service that is gone keeps its index as a Service kube-proxy skips: no ClusterIP, headless
 *   (pkg/proxy/util ShouldSkipService, Kubernetes v1.33: the service change tracker then keeps
 *   nothing for it, exactly as for a deleted Service), no external addresses, and its endpoint
 *   rows with no condition set (its EndpointSlices are garbage-collected with it; a row with no
 *   condition is how a gone endpoint is already written).
 */
import type { Cluster, EndpointTable } from './types.js';

/** The cluster with only its first `count` Services (their ports and endpoint rows), as it was before the others were added. */
export function servicesUpTo(cluster: Cluster, count: number): Cluster {
  if (count >= cluster.services.length) return cluster;
  const services = cluster.services.slice(0, count);
  let ports = 0;
  for (const s of services) for (const p of s.ports) ports = Math.max(ports, p + 1);
  const rows = rowsOfPorts(cluster, ports);
  const e = cluster.endpoints;
  const endpoints: EndpointTable = {
    count: rows,
    ip: e.ip.subarray(0, rows), port: e.port.subarray(0, rows), node: e.node.subarray(0, rows),
    conditions: e.conditions.subarray(0, rows), zone: e.zone.subarray(0, rows), servicePort: e.servicePort.subarray(0, rows),
  };
  return { ...cluster, services, ports: cluster.ports.slice(0, ports), endpoints, dns: { ...cluster.dns, slices: cluster.dns.slices.slice(0, count) } };
}

/** Endpoint rows of the first `ports` Service ports (rows are grouped by port, in port order). */
export function rowsOfPorts(cluster: Cluster, ports: number): number {
  if (ports === 0) return 0;
  const last = cluster.ports[ports - 1];
  return last.endpointStart + last.endpointCount;
}

/** The cluster with Service `s` deleted (its index kept, as a Service kube-proxy skips). Cost: O(Services + endpoint rows) copies, the model's, not a dataplane's. */
export function withServiceGone(cluster: Cluster, s: number): Cluster {
  const svc = cluster.services[s];
  const services = cluster.services.slice();
  services[s] = { ...svc, type: 'ClusterIP', clusterIPs: [], headless: true, externalIPs: [], loadBalancerIPs: [], loadBalancerSourceRanges: [], healthCheckNodePort: 0 };
  const conditions = cluster.endpoints.conditions.slice();
  for (const sp of svc.ports) {
    const p = cluster.ports[sp];
    conditions.fill(0, p.endpointStart, p.endpointStart + p.endpointCount);
  }
  const slices = cluster.dns.slices.slice();
  if (s < slices.length) slices[s] = [];
  return { ...cluster, services, endpoints: { ...cluster.endpoints, conditions }, dns: { ...cluster.dns, slices } };
}

/**
 * `cluster` with Service `s` of `source` created anew past every index: its spec, its ports and
 * its endpoint rows copied (kube-proxy sees a new Service; with `cluster` = source with `s` gone,
 * the Service deleted and created again, its addresses free for it). Cost: O(Services + endpoint rows) copies.
 */
export function withServiceRecreated(cluster: Cluster, source: Cluster, s: number): Cluster {
  const svc = source.services[s];
  const index = cluster.services.length;
  const e = cluster.endpoints;
  const from = source.endpoints;
  let added = 0;
  for (const sp of svc.ports) added += source.ports[sp].endpointCount;
  const rows = e.ip.length;
  const grow = <A extends Uint32Array | Uint16Array | Int32Array | Uint8Array>(a: A, make: new (n: number) => A): A => {
    const out = new make(rows + added);
    out.set(a);
    return out;
  };
  const endpoints = {
    count: rows + added,
    ip: grow(e.ip, Uint32Array), port: grow(e.port, Uint16Array), node: grow(e.node, Int32Array),
    conditions: grow(e.conditions, Uint8Array), zone: grow(e.zone, Int32Array), servicePort: grow(e.servicePort, Uint32Array),
  };
  const ports = cluster.ports.slice();
  const portIndexes: number[] = [];
  let row = rows;
  for (const sp of svc.ports) {
    const p = source.ports[sp];
    const start = row;
    for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++, row++) {
      endpoints.ip[row] = from.ip[r];
      endpoints.port[row] = from.port[r];
      endpoints.node[row] = from.node[r];
      endpoints.conditions[row] = from.conditions[r];
      endpoints.zone[row] = from.zone[r];
      endpoints.servicePort[row] = ports.length;
    }
    portIndexes.push(ports.length);
    ports.push({ ...p, index: ports.length, service: index, endpointStart: start, endpointCount: p.endpointCount });
  }
  const services = [...cluster.services, { ...svc, index, ports: portIndexes }];
  const slices = [...cluster.dns.slices];
  slices[index] = source.dns.slices[s] ?? [];
  return { ...cluster, services, ports, endpoints, dns: { ...cluster.dns, slices } };
}
