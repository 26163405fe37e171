/** A cluster in numbers, for `kdp inspect` and for recording what a benchmark ran on. */
import { formatCidr, formatIp } from '../net/ipv4.js';
import { EP_READY, EP_SERVING, EP_TERMINATING, protocolName, type Cluster } from './types.js';

export interface ClusterSummary {
  readonly objects: Record<string, number>;
  readonly nodes: { readonly total: number; readonly withoutNodeObject: number; readonly list: readonly { name: string; podCIDRs: string[]; internalIPs: string[]; zone: string }[] };
  readonly pods: number;
  readonly services: {
    readonly total: number;
    readonly byType: Record<string, number>;
    readonly headless: number;
    readonly externalTrafficPolicyLocal: number;
    readonly internalTrafficPolicyLocal: number;
    readonly sessionAffinity: number;
    readonly withSourceRanges: number;
    readonly withExternalIPs: number;
  };
  readonly servicePorts: { readonly total: number; readonly byProtocol: Record<string, number>; readonly nodePorts: number; readonly withoutEndpoints: number };
  readonly endpoints: { readonly rows: number; readonly ready: number; readonly servingTerminating: number; readonly notServing: number };
  readonly serviceCIDRs: readonly string[];
  readonly proxy: { readonly mode: string; readonly clusterCIDRs: readonly string[]; readonly detectLocalMode: string; readonly masqueradeAll: boolean; readonly ipvsScheduler: string };
  readonly network: { readonly cni: string; readonly mtu: number; readonly nodePortRange: string; readonly ipPools: readonly string[] };
}

export function summarize(cluster: Cluster, kinds: Record<string, number>): ClusterSummary {
  const byType: Record<string, number> = {};
  let headless = 0;
  let etpLocal = 0;
  let itpLocal = 0;
  let affinity = 0;
  let ranges = 0;
  let externalIPs = 0;
  for (const s of cluster.services) {
    byType[s.type] = (byType[s.type] ?? 0) + 1;
    if (s.headless && s.type !== 'ExternalName') headless++;
    if (s.externalTrafficPolicy === 'Local') etpLocal++;
    if (s.internalTrafficPolicy === 'Local') itpLocal++;
    if (s.affinity.clientIP) affinity++;
    if (s.loadBalancerSourceRanges.length) ranges++;
    if (s.externalIPs.length) externalIPs++;
  }
  const byProtocol: Record<string, number> = {};
  let nodePorts = 0;
  let withoutEndpoints = 0;
  for (const p of cluster.ports) {
    const name = protocolName(p.protocol);
    byProtocol[name] = (byProtocol[name] ?? 0) + 1;
    if (p.nodePort) nodePorts++;
    if (p.endpointCount === 0) withoutEndpoints++;
  }
  let ready = 0;
  let servingTerminating = 0;
  const { conditions, count } = cluster.endpoints;
  for (let r = 0; r < count; r++) {
    const c = conditions[r];
    if (c & EP_READY) ready++;
    else if ((c & (EP_SERVING | EP_TERMINATING)) === (EP_SERVING | EP_TERMINATING)) servingTerminating++;
  }
  return {
    objects: kinds,
    nodes: {
      total: cluster.nodes.filter((n) => n.known).length,
      withoutNodeObject: cluster.nodes.filter((n) => !n.known).length,
      list: cluster.nodes
        .filter((n) => n.known)
        .map((n) => ({ name: n.name, podCIDRs: n.podCIDRs.map(formatCidr), internalIPs: n.internalIPs.map(formatIp), zone: n.zone })),
    },
    pods: cluster.pods.length,
    services: {
      total: cluster.services.length,
      byType,
      headless,
      externalTrafficPolicyLocal: etpLocal,
      internalTrafficPolicyLocal: itpLocal,
      sessionAffinity: affinity,
      withSourceRanges: ranges,
      withExternalIPs: externalIPs,
    },
    servicePorts: { total: cluster.ports.length, byProtocol, nodePorts, withoutEndpoints },
    endpoints: { rows: count, ready, servingTerminating, notServing: count - ready - servingTerminating },
    serviceCIDRs: cluster.serviceCIDRs.map(formatCidr),
    proxy: {
      mode: cluster.proxy.mode,
      clusterCIDRs: cluster.proxy.clusterCIDRs.map(formatCidr),
      detectLocalMode: cluster.proxy.detectLocalMode,
      masqueradeAll: cluster.proxy.masqueradeAll,
      ipvsScheduler: cluster.proxy.ipvsScheduler,
    },
    network: {
      cni: cluster.network.cni,
      mtu: cluster.network.mtu,
      nodePortRange: `${cluster.network.nodePortRange[0]}-${cluster.network.nodePortRange[1]}`,
      ipPools: cluster.network.ipPools.map((p) => `${p.name} ${formatCidr(p.cidr)} /${p.blockSize} ipip=${p.ipipMode} vxlan=${p.vxlanMode}`),
    },
  };
}
