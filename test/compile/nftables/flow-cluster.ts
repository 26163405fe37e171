/**
 * The cluster the nftables packet-flow tests run against, after kube-proxy's own test
 * conventions (pkg/proxy/nftables/proxier_test.go): pods in 10.0.0.0/8, ClusterIPs in
 * 172.30.0.0/16, this node 192.168.0.2 (node-1), external clients in 203.0.113.0/24.
 */
import { clusterOf, node, proxyConfig, service, slice } from '../../helpers/cluster.js';
import type { Cluster } from '../../../src/model/types.js';

const tcp = (port: number, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ name: 'p', protocol: 'TCP', port, targetPort: 8080, ...extra });
const eps = (ns: string, name: string, endpoints: Parameters<typeof slice>[3]): object => slice(ns, name, [{ name: 'p', port: 8080 }], endpoints, `${name}-x`);

export function flowCluster(extraProxy: Record<string, unknown> = {}): Cluster {
  return clusterOf(
    proxyConfig({ mode: 'nftables', clusterCIDR: '10.0.0.0/8', ...extraProxy }),
    { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec: { cidrs: ['172.30.0.0/16'] } },
    node('node-1', '10.0.1.0/24', '192.168.0.2'),
    node('node-2', '10.0.2.0/24', '192.168.0.3'),
    service('ns', 'cip', { type: 'ClusterIP', clusterIP: '172.30.0.41', ports: [tcp(80)] }),
    eps('ns', 'cip', [{ ip: '10.0.1.1', node: 'node-1' }, { ip: '10.0.2.1', node: 'node-2' }]),
    service('ns', 'np', { type: 'NodePort', clusterIP: '172.30.0.42', ports: [tcp(80, { nodePort: 30080 })] }),
    eps('ns', 'np', [{ ip: '10.0.2.2', node: 'node-2' }]),
    service(
      'ns',
      'lb',
      { type: 'LoadBalancer', clusterIP: '172.30.0.43', loadBalancerSourceRanges: ['203.0.113.0/25'], ports: [tcp(80, { nodePort: 30081 })] },
      { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } },
    ),
    eps('ns', 'lb', [{ ip: '10.0.2.3', node: 'node-2' }]),
    service('ns', 'eip-local', { type: 'ClusterIP', clusterIP: '172.30.0.44', externalIPs: ['192.168.99.11'], externalTrafficPolicy: 'Local', ports: [tcp(80)] }),
    eps('ns', 'eip-local', [{ ip: '10.0.1.4', node: 'node-1' }, { ip: '10.0.2.4', node: 'node-2' }]),
    service(
      'ns',
      'lb-local-none',
      { type: 'LoadBalancer', clusterIP: '172.30.0.45', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [tcp(80, { nodePort: 30085 })] },
      { loadBalancer: { ingress: [{ ip: '5.6.7.8' }] } },
    ),
    eps('ns', 'lb-local-none', [{ ip: '10.0.2.5', node: 'node-2' }]),
    service('ns', 'itp-local', { type: 'ClusterIP', clusterIP: '172.30.0.46', internalTrafficPolicy: 'Local', ports: [tcp(80)] }),
    eps('ns', 'itp-local', [{ ip: '10.0.1.6', node: 'node-1' }, { ip: '10.0.2.6', node: 'node-2' }]),
    service('ns', 'itp-local-none', { type: 'ClusterIP', clusterIP: '172.30.0.49', internalTrafficPolicy: 'Local', ports: [tcp(80)] }),
    eps('ns', 'itp-local-none', [{ ip: '10.0.2.9', node: 'node-2' }]),
    service('ns', 'sticky', { type: 'ClusterIP', clusterIP: '172.30.0.47', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 100 } }, ports: [tcp(80)] }),
    eps('ns', 'sticky', [{ ip: '10.0.1.7', node: 'node-1' }, { ip: '10.0.2.7', node: 'node-2' }]),
    service('ns', 'empty', { type: 'ClusterIP', clusterIP: '172.30.0.48', ports: [tcp(80)] }),
    service('ns', 'term', { type: 'ClusterIP', clusterIP: '172.30.0.50', ports: [tcp(80)] }),
    eps('ns', 'term', [
      { ip: '10.0.2.10', node: 'node-2', ready: false, serving: true, terminating: true },
      { ip: '10.0.2.11', node: 'node-2', ready: false, serving: false, terminating: true },
    ]),
  );
}
