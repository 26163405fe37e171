/**
 * The two-node cluster the pipeline tests trace through, in each CNI: node-1 and node-2 with a
 * /24 of pods each, a ClusterIP service with endpoints on both nodes, a NodePort service with
 * externalTrafficPolicy Local and one with Cluster (endpoint only on node-2), and a service
 * without endpoints.
 */
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import type { Cni, ModeName } from '../../src/model/types.js';
import { clusterNetwork, clusterOf, node, proxyConfig, service, slice } from './cluster.js';

export function twoNodeObjects(cni: Cni, mode: ModeName = 'iptables'): object[] {
  const pool = cni.startsWith('calico')
    ? [
        {
          apiVersion: 'crd.projectcalico.org/v1',
          kind: 'IPPool',
          metadata: { name: 'pool' },
          spec: { cidr: '10.244.0.0/16', blockSize: 24, vxlanMode: cni === 'calico-vxlan' ? 'Always' : 'Never', ipipMode: cni === 'calico-ipip' ? 'Always' : 'Never' },
        },
      ]
    : [];
  return [
    proxyConfig({ mode, clusterCIDR: '10.244.0.0/16' }),
    clusterNetwork({ cni, mtu: 1500 }),
    ...pool,
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    node('node-2', '10.244.2.0/24', '192.168.0.12'),
    service('default', 'web', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
    slice('default', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.244.2.7', node: 'node-2' }], 'web-1'),
    service('default', 'np-local', { type: 'NodePort', clusterIP: '10.96.0.20', externalTrafficPolicy: 'Local', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] }),
    slice('default', 'np-local', [{ name: 'http', port: 8080 }], [{ ip: '10.244.2.9', node: 'node-2' }], 'np-local-1'),
    service('default', 'np-cluster', { type: 'NodePort', clusterIP: '10.96.0.30', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30081 }] }),
    slice('default', 'np-cluster', [{ name: 'http', port: 8080 }], [{ ip: '10.244.2.10', node: 'node-2' }], 'np-cluster-1'),
    service('default', 'empty', { clusterIP: '10.96.0.40', ports: [{ name: 'http', port: 80 }] }),
  ];
}

export function twoNodes(cni: Cni, mode: ModeName = 'iptables'): CompiledCluster {
  return new CompiledCluster(clusterOf(...twoNodeObjects(cni, mode)), mode);
}
