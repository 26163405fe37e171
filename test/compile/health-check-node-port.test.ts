/**
 * A health-check node port is kept only for a LoadBalancer Service with externalTrafficPolicy
 * Local (kube-proxy pkg/proxy/serviceport.go newBaseServiceInfo: `if apiservice.NeedsHealthCheck(service)`;
 * NeedsHealthCheck is type LoadBalancer and ExternalPolicyLocal). A stray field on another Service
 * opens nothing: no filter ACCEPT in iptables mode, no KUBE-HEALTH-CHECK-NODE-PORT entry in IPVS mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderRules } from '../../src/compile/index.js';
import { clusterOf, node, proxyConfig, service, slice } from '../helpers/cluster.js';

function clusterWith(spec: Record<string, unknown>, status: Record<string, unknown> = {}) {
  return clusterOf(
    proxyConfig({ clusterCIDR: '10.244.0.0/16' }),
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    service('default', 'web', { clusterIP: '10.96.0.30', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080, protocol: 'TCP' }], ...spec }, status),
    slice('default', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.5', node: 'node-1' }]),
  );
}

const cases = [
  ['LoadBalancer, externalTrafficPolicy Local', { type: 'LoadBalancer', externalTrafficPolicy: 'Local' }, true],
  ['LoadBalancer, externalTrafficPolicy Cluster', { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster' }, false],
  ['NodePort, externalTrafficPolicy Local', { type: 'NodePort', externalTrafficPolicy: 'Local' }, false],
] as const;

for (const [what, spec, kept] of cases) {
  test(`health check node port of a ${what}: ${kept ? 'kept' : 'ignored, as kube-proxy ignores it'}`, () => {
    const cluster = clusterWith(spec, { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } });
    assert.equal(cluster.services[0].healthCheckNodePort, kept ? 32000 : 0);
    const iptables = renderRules(cluster, 'iptables', 0, 'iptables-save');
    assert.equal(/-A KUBE-NODEPORTS .*"default\/web:http health check node port" -m tcp --dport 32000 -j ACCEPT/.test(iptables), kept, iptables.split('\n').filter((l) => l.includes('health')).join('\n'));
    const ipset = renderRules(cluster, 'ipvs', 0, 'ipset');
    assert.equal(/^add KUBE-HEALTH-CHECK-NODE-PORT 32000$/m.test(ipset), kept);
  });
}
