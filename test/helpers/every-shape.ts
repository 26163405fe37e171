/**
 * A cluster with every Service shape kube-proxy distinguishes, on two nodes, and the probes that
 * exercise them: the cross-mode table runs all of them in every mode.
 */
import type { Cluster } from '../../src/model/types.js';
import { clusterOf, node, proxyConfig, service, slice } from './cluster.js';

export function everyShapeCluster(): Cluster {
  const port = (name: string, p: number, target: number, extra: object = {}) => ({ name, port: p, targetPort: target, ...extra });
  return clusterOf(
    proxyConfig({ clusterCIDR: '10.244.0.0/16' }),
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    node('node-2', '10.244.2.0/24', '192.168.0.12'),
    service('default', 'web', { clusterIP: '10.96.0.10', ports: [port('http', 80, 8080)] }),
    slice('default', 'web', [{ name: 'http', port: 8080 }], [
      { ip: '10.244.1.5', node: 'node-1' },
      { ip: '10.244.2.7', node: 'node-2' },
      { ip: '10.244.2.8', node: 'node-2', ready: false, serving: true, terminating: true },
    ], 'web-a'),
    service('default', 'np-cluster', { type: 'NodePort', clusterIP: '10.96.0.20', ports: [port('http', 80, 8080, { nodePort: 30080 })] }),
    slice('default', 'np-cluster', [{ name: 'http', port: 8080 }], [{ ip: '10.244.2.20', node: 'node-2' }], 'np-cluster-a'),
    service('default', 'np-local', { type: 'NodePort', clusterIP: '10.96.0.21', externalTrafficPolicy: 'Local', ports: [port('http', 80, 8080, { nodePort: 30081 })] }),
    slice('default', 'np-local', [{ name: 'http', port: 8080 }], [{ ip: '10.244.2.21', node: 'node-2' }], 'np-local-a'),
    service(
      'default',
      'lb',
      { type: 'LoadBalancer', clusterIP: '10.96.0.30', loadBalancerSourceRanges: ['198.51.100.0/24'], ports: [port('https', 443, 8443, { nodePort: 30443 })] },
      { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } },
    ),
    slice('default', 'lb', [{ name: 'https', port: 8443 }], [{ ip: '10.244.1.30', node: 'node-1' }, { ip: '10.244.2.30', node: 'node-2' }], 'lb-a'),
    service('default', 'ext', { clusterIP: '10.96.0.40', externalIPs: ['198.19.0.5'], ports: [port('http', 80, 8080)] }),
    slice('default', 'ext', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.40', node: 'node-1' }], 'ext-a'),
    service('default', 'itp-local', { clusterIP: '10.96.0.50', internalTrafficPolicy: 'Local', ports: [port('http', 80, 8080)] }),
    slice('default', 'itp-local', [{ name: 'http', port: 8080 }], [{ ip: '10.244.2.50', node: 'node-2' }], 'itp-local-a'),
    service('default', 'sticky', { clusterIP: '10.96.0.60', sessionAffinity: 'ClientIP', ports: [port('http', 80, 8080)] }),
    slice('default', 'sticky', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.60', node: 'node-1' }, { ip: '10.244.2.60', node: 'node-2' }], 'sticky-a'),
    service('default', 'empty', { clusterIP: '10.96.0.70', ports: [port('http', 80, 8080)] }),
    service('default', 'dns', { clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53, protocol: 'TCP' }] }),
    slice('default', 'dns', [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53 }], [{ ip: '10.244.1.53', node: 'node-1' }], 'dns-a'),
    service('default', 'draining', { clusterIP: '10.96.0.80', ports: [port('http', 80, 8080)] }),
    slice('default', 'draining', [{ name: 'http', port: 8080 }], [
      { ip: '10.244.2.80', node: 'node-2', ready: false, serving: true, terminating: true },
      { ip: '10.244.2.81', node: 'node-2', ready: false, serving: false, terminating: true },
    ], 'draining-a'),
    service('default', 'sctp', { clusterIP: '10.96.0.90', ports: [{ name: 'sctp', port: 9999, protocol: 'SCTP', targetPort: 9999 }] }),
    slice('default', 'sctp', [{ name: 'sctp', port: 9999, protocol: 'SCTP' }], [{ ip: '10.244.1.90', node: 'node-1' }], 'sctp-a'),
  );
}

export interface ShapeProbe {
  readonly name: string;
  readonly node: number;
  readonly proto: number;
  readonly src: string;
  readonly dst: string;
  /** 0 pod (PREROUTING from a veth), 1 host (OUTPUT), 2 external (PREROUTING from the NIC) */
  readonly from: 0 | 1 | 2;
}

/** Every probe the table runs: each service address and port, wrong ports, NodePorts on each node,
 * LB addresses from inside and outside the source ranges, hairpin, no endpoints. */
export function everyShapeProbes(): ShapeProbe[] {
  const probes: ShapeProbe[] = [];
  const nodes = [
    { node: 0, pod: '10.244.1.99', host: '192.168.0.11' },
    { node: 1, pod: '10.244.2.99', host: '192.168.0.12' },
  ];
  const targets: [string, number, string][] = [
    ['web', 6, '10.96.0.10:80'],
    ['web wrong port', 6, '10.96.0.10:81'],
    ['np-cluster clusterIP', 6, '10.96.0.20:80'],
    ['np-local clusterIP', 6, '10.96.0.21:80'],
    ['lb clusterIP', 6, '10.96.0.30:443'],
    ['lb ingress IP', 6, '192.0.2.10:443'],
    ['ext clusterIP', 6, '10.96.0.40:80'],
    ['ext externalIP', 6, '198.19.0.5:80'],
    ['itp-local', 6, '10.96.0.50:80'],
    ['sticky', 6, '10.96.0.60:80'],
    ['empty', 6, '10.96.0.70:80'],
    ['dns udp', 17, '10.96.0.53:53'],
    ['dns tcp', 6, '10.96.0.53:53'],
    ['draining', 6, '10.96.0.80:80'],
    ['sctp', 132, '10.96.0.90:9999'],
    ['a pod', 6, '10.244.2.7:8080'],
    ['outside', 6, '8.8.8.8:443'],
  ];
  for (const n of nodes) {
    const nodePorts: [string, number, string][] = [
      ['np-cluster NodePort', 6, `${n.host}:30080`],
      ['np-local NodePort', 6, `${n.host}:30081`],
      ['lb NodePort', 6, `${n.host}:30443`],
    ];
    for (const [what, proto, dst] of [...targets, ...nodePorts]) {
      probes.push({ name: `${what} from a pod on node-${n.node + 1}`, node: n.node, proto, src: `${n.pod}:40000`, dst, from: 0 });
      probes.push({ name: `${what} from outside (203.0.113.9) at node-${n.node + 1}`, node: n.node, proto, src: '203.0.113.9:40000', dst, from: 2 });
    }
    for (const [what, proto, dst] of [['lb ingress IP', 6, '192.0.2.10:443'], ['lb NodePort', 6, `${n.host}:30443`]] as const) {
      probes.push({ name: `${what} from an allowed source range at node-${n.node + 1}`, node: n.node, proto, src: '198.51.100.7:40000', dst, from: 2 });
    }
    for (const [what, proto, dst] of [['web', 6, '10.96.0.10:80'], ['np-local NodePort', 6, `${n.host}:30081`], ['np-cluster NodePort', 6, `${n.host}:30080`]] as const) {
      probes.push({ name: `${what} from the host network of node-${n.node + 1}`, node: n.node, proto, src: `${n.host}:40000`, dst, from: 1 });
    }
  }
  probes.push({ name: 'hairpin: web endpoint to web', node: 0, proto: 6, src: '10.244.1.5:40000', dst: '10.96.0.10:80', from: 0 });
  return probes;
}
