/**
 * The cluster the IPVS and userspace packet-flow tables (and the IPVS scheduler tests) run
 * against, after kube-proxy's ipvs proxier_test.go conventions.
 */
import { clusterNetwork, clusterOf, node, proxyConfig, service, slice } from '../../helpers/cluster.js';
import { parseIp } from '../../../src/net/ipv4.js';
import type { Cluster } from '../../../src/model/types.js';

export const ip = (s: string): number => {
  const v = parseIp(s);
  if (v < 0) throw new Error(`bad ip ${s}`);
  return v;
};

/**
 * Two kubenet nodes (node-1 192.168.0.11, node-2 192.168.0.12), clusterCIDR 10.244.0.0/16:
 *  a   10.96.1.1:80   ClusterIP, endpoints on both nodes
 *  np  10.96.1.2:80   NodePort 30080, eTP Cluster
 *  lb  10.96.1.3:443  LoadBalancer 192.0.2.1, sourceRanges 203.0.113.0/24, NodePort 30443
 *  loc 10.96.1.4:80   LoadBalancer 192.0.2.2, eTP Local, NodePort 30444, HC 32000, endpoint on node-2 only
 *  ext 10.96.1.5:80   externalIPs 198.51.100.7
 *  itp 10.96.1.6:80   internalTrafficPolicy Local, endpoint on node-2 only
 *  none 10.96.1.7:80  no endpoints
 *  term 10.96.1.8:80  one endpoint, serving and terminating (not ready)
 *  aff 10.96.1.9:80   ClientIP affinity, 100 s, NodePort 30090, three endpoints
 *  lip 10.96.1.10:80  externalIPs 198.51.100.8, eTP Local, endpoints on both nodes
 */
export function flowCluster(extra: Record<string, unknown> = {}): Cluster {
  const tcp = (port: number, extraPort: Record<string, unknown> = {}) => ({ name: 'p', protocol: 'TCP', port, targetPort: 8080, ...extraPort });
  const sl = (svc: string, eps: { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean }[]) =>
    slice('default', svc, [{ name: 'p', port: 8080 }], eps, `${svc}-abcde`);
  return clusterOf(
    proxyConfig({ mode: 'ipvs', clusterCIDR: '10.244.0.0/16', ...extra }),
    clusterNetwork({ cni: 'kubenet', mtu: 1500, serviceNodePortRange: '30000-32767' }),
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    node('node-2', '10.244.2.0/24', '192.168.0.12'),
    service('default', 'a', { type: 'ClusterIP', clusterIP: '10.96.1.1', ports: [tcp(80)] }),
    sl('a', [{ ip: '10.244.1.10', node: 'node-1' }, { ip: '10.244.2.10', node: 'node-2' }]),
    service('default', 'np', { type: 'NodePort', clusterIP: '10.96.1.2', ports: [tcp(80, { nodePort: 30080 })] }),
    sl('np', [{ ip: '10.244.1.11', node: 'node-1' }, { ip: '10.244.2.11', node: 'node-2' }]),
    service('default', 'lb', { type: 'LoadBalancer', clusterIP: '10.96.1.3', loadBalancerSourceRanges: ['203.0.113.0/24'], ports: [tcp(443, { nodePort: 30443 })] }, { loadBalancer: { ingress: [{ ip: '192.0.2.1' }] } }),
    sl('lb', [{ ip: '10.244.1.12', node: 'node-1' }, { ip: '10.244.2.12', node: 'node-2' }]),
    service('default', 'loc', { type: 'LoadBalancer', clusterIP: '10.96.1.4', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [tcp(80, { nodePort: 30444 })] }, { loadBalancer: { ingress: [{ ip: '192.0.2.2' }] } }),
    sl('loc', [{ ip: '10.244.2.20', node: 'node-2' }]),
    service('default', 'ext', { type: 'ClusterIP', clusterIP: '10.96.1.5', externalIPs: ['198.51.100.7'], ports: [tcp(80)] }),
    sl('ext', [{ ip: '10.244.1.13', node: 'node-1' }, { ip: '10.244.2.13', node: 'node-2' }]),
    service('default', 'itp', { type: 'ClusterIP', clusterIP: '10.96.1.6', internalTrafficPolicy: 'Local', ports: [tcp(80)] }),
    sl('itp', [{ ip: '10.244.2.14', node: 'node-2' }]),
    service('default', 'none', { type: 'ClusterIP', clusterIP: '10.96.1.7', ports: [tcp(80)] }),
    service('default', 'term', { type: 'ClusterIP', clusterIP: '10.96.1.8', ports: [tcp(80)] }),
    sl('term', [{ ip: '10.244.2.30', node: 'node-2', ready: false, serving: true, terminating: true }]),
    service('default', 'aff', { type: 'NodePort', clusterIP: '10.96.1.9', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 100 } }, ports: [tcp(80, { nodePort: 30090 })] }),
    sl('aff', [{ ip: '10.244.1.40', node: 'node-1' }, { ip: '10.244.2.40', node: 'node-2' }, { ip: '10.244.2.41', node: 'node-2' }]),
    service('default', 'lip', { type: 'ClusterIP', clusterIP: '10.96.1.10', externalIPs: ['198.51.100.8'], externalTrafficPolicy: 'Local', ports: [tcp(80)] }),
    sl('lip', [{ ip: '10.244.1.50', node: 'node-1' }, { ip: '10.244.2.50', node: 'node-2' }]),
  );
}
