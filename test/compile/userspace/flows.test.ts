/**
 * Packet flows through kube-proxy's userspace mode, compiled for node-1 (kube-proxy packetFlowTest
 * style, run by test/helpers/packet-flow.ts). Every service packet is redirected to the node's
 * proxy port, and the proxy dials an endpoint round-robin from the node's own address, so a row's
 * endpoints are those the proxy may dial. Differences from iptables mode
 * (pkg/proxy/userspace/proxier.go and roundrobin.go, Kubernetes <= 1.25):
 *  U1 the endpoint always sees the node as the source (the proxy's own connection), so client IPs
 *     are lost for every service, not just masqueraded ones;
 *  U2 no traffic policies and no terminating fallback: LoadBalancerRR gets the Endpoints' ready
 *     addresses only (OnEndpointsUpdate), so eTP/iTP Local are ignored and a service whose only
 *     endpoints terminate has none (the proxy accepts, then closes the connection: no REJECT);
 *  U3 affinity is per service port in the proxy (affinityMap keyed by client IP), like iptables
 *     mode's per-service recent lists, unlike IPVS's per-VS templates;
 *  U4 externalIP portals skip packets that came through a bridge (`! --physdev-is-in`) unless the
 *     externalIP is a local address, so pods on kubenet do not reach externalIPs through the proxy.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileUserspace, newProxyConnection } from '../../../src/compile/userspace/index.js';
import { HOOK_OUTPUT, newNatDecision } from '../../../src/compile/dataplane.js';
import { compiledFor, firstPacket, testFlows, type FlowCase } from '../../helpers/packet-flow.js';
import { flowCluster } from '../ipvs/flow-cluster.js';

const cluster = flowCluster();

const rows: FlowCase[] = [
  { name: 'pod to ClusterIP', src: '10.244.1.99', dst: '10.96.1.1', port: 80, fromPod: true, verdict: 'redirect', endpoints: ['10.244.1.10:8080', '10.244.2.10:8080'] },
  { name: 'U2 eTP Local LB: every ready endpoint, local or not', src: '8.8.8.8', dst: '192.0.2.2', port: 80, fromPod: false, verdict: 'redirect', endpoints: ['10.244.2.20:8080'] },
  { name: 'U2 iTP Local ignored', src: '10.244.1.99', dst: '10.96.1.6', port: 80, fromPod: true, verdict: 'redirect', endpoints: ['10.244.2.14:8080'] },
  { name: 'U2 only terminating endpoints: none', src: '10.244.1.99', dst: '10.96.1.8', port: 80, fromPod: true, verdict: 'redirect', endpoints: [] },
  { name: 'no endpoints: still redirected to the proxy', src: '10.244.1.99', dst: '10.96.1.7', port: 80, fromPod: true, verdict: 'redirect', endpoints: [] },
  { name: 'NodePort on the node address', src: '8.8.8.8', dst: '192.168.0.11', port: 30080, fromPod: false, verdict: 'redirect', endpoints: ['10.244.1.11:8080', '10.244.2.11:8080'] },
  { name: 'NodePort on localhost from the node (KUBE-NODEPORT-HOST)', src: '127.0.0.1', dst: '127.0.0.1', port: 30080, hook: HOOK_OUTPUT, fromPod: false, verdict: 'redirect', endpoints: ['10.244.1.11:8080', '10.244.2.11:8080'] },
  { name: 'LB source ranges are not enforced', src: '8.8.8.8', dst: '192.0.2.1', port: 443, fromPod: false, verdict: 'redirect', endpoints: ['10.244.1.12:8080', '10.244.2.12:8080'] },
  { name: 'externalIP from outside', src: '8.8.8.8', dst: '198.51.100.7', port: 80, fromPod: false, verdict: 'redirect', endpoints: ['10.244.1.13:8080', '10.244.2.13:8080'] },
  { name: 'U4 externalIP from a pod behind the bridge', src: '10.244.1.99', dst: '198.51.100.7', port: 80, fromPod: true, verdict: 'none' },
  { name: 'not a service', src: '10.244.1.99', dst: '10.96.1.1', port: 81, fromPod: true, verdict: 'none' },
];

testFlows('userspace flows on node-1', compiledFor(cluster, 'userspace', 0), rows);

test('userspace: a service without ready endpoints is redirected to a proxy that has none to dial', () => {
  const dp = compileUserspace(cluster, { node: 'node-1' });
  const out = newNatDecision();
  for (const row of rows.filter((r) => r.verdict === 'redirect' && r.endpoints?.length === 0)) {
    dp.decide(firstPacket(row), out);
    assert.equal(dp.proxyConnection(firstPacket(row), out, newProxyConnection()), false, row.name);
  }
});
