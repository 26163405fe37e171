/**
 * Packet-flow tables for the compiled nftables dataplane, after kube-proxy's packetFlowTest:
 * (source, destination, port, protocol) -> reachable endpoints or REJECT / DROP / none, and
 * masquerade, run by test/helpers/packet-flow.ts. Expected results are those of kube-proxy's
 * nftables proxier_test.go where it has the case.
 *
 * Where nftables mode differs from iptables mode, the case says so with the kube-proxy source
 * that shows it:
 *  - [D1] Wrong port on a ClusterIP: REJECT. pkg/proxy/nftables/proxier.go, setupNFTables: the
 *    `cluster-ips-check` chain (`ip daddr @cluster-ips reject`, "Reject traffic to invalid ports
 *    of ClusterIPs"), jumped to from filter-forward and filter-output (priority 0, after DNAT). iptables mode
 *    has no such rule: the packet leaves unchanged.
 *  - [D2] An unallocated IP inside a ServiceCIDR: DROP. Same chain, rule "Drop traffic to
 *    unallocated ClusterIPs" (`ip daddr { serviceCIDRs } drop`); iptables mode has none.
 *  - [D3] NodePorts answer on the node's primary IP only by default.
 *    cmd/kube-proxy/app/server_linux.go, platformApplyDefaults: nodePortAddresses defaults to
 *    ["primary"] in nftables mode; iptables mode's default is every local address.
 *  - [D4] NodePort traffic is never masqueraded merely for arriving on localhost: nftables mode
 *    does not support localhost NodePorts at all (setupNFTables: "localhost NodePorts are not
 *    supported", the `ip daddr != 127.0.0.0/8` match), where iptables mode has
 *    localhostNodePorts (route_localnet).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileNftables } from '../../../src/compile/nftables/index.js';
import { HOOK_OUTPUT, kVerdictNames, newFirstPacket, newNatDecision } from '../../../src/compile/dataplane.js';
import { formatIp, parseIp } from '../../../src/net/ipv4.js';
import { PROTO_TCP, PROTO_UDP } from '../../../src/net/proto.js';
import { compiledFor, testFlows } from '../../helpers/packet-flow.js';
import { flowCluster } from './flow-cluster.js';

const pod = '10.0.1.99';
const remotePod = '10.0.2.99';
const client = '203.0.113.2';
const blocked = '203.0.113.130';
const nodeIP = '192.168.0.2';

testFlows('ClusterIP: endpoints in rule order, hairpin and off-cluster masquerade', compiledFor(flowCluster(), 'nftables', 0), [
  { name: 'pod to ClusterIP', src: pod, dst: '172.30.0.41', port: 80, verdict: 'dnat', endpoints: ['10.0.1.1:8080', '10.0.2.1:8080'], masq: false },
  { name: 'hairpin', src: '10.0.1.1', dst: '172.30.0.41', port: 80, verdict: 'dnat', endpoints: ['10.0.1.1:8080', '10.0.2.1:8080'], masq: true },
  { name: 'external to ClusterIP', src: client, dst: '172.30.0.41', port: 80, verdict: 'dnat', endpoints: ['10.0.1.1:8080', '10.0.2.1:8080'], masq: true },
  { name: 'UDP to a TCP-only port [D1]', src: pod, dst: '172.30.0.41', port: 80, proto: PROTO_UDP, verdict: 'reject' },
  { name: 'wrong port on a ClusterIP [D1]', src: pod, dst: '172.30.0.41', port: 81, verdict: 'reject' },
  { name: 'wrong port from the host [D1]', src: nodeIP, dst: '172.30.0.41', port: 81, hook: HOOK_OUTPUT, verdict: 'reject' },
  { name: 'unallocated ClusterIP [D2]', src: pod, dst: '172.30.0.99', port: 80, verdict: 'drop' },
  { name: 'not a service address', src: pod, dst: '8.8.8.8', port: 80, verdict: 'none', masq: false },
  { name: 'host to ClusterIP', src: nodeIP, dst: '172.30.0.41', port: 80, hook: HOOK_OUTPUT, verdict: 'dnat', endpoints: ['10.0.1.1:8080', '10.0.2.1:8080'], masq: true },
]);

testFlows('NodePort: primary node IP only by default, masquerade for Cluster policy [D3]', compiledFor(flowCluster(), 'nftables', 0), [
  { name: 'external to NodePort', src: client, dst: nodeIP, port: 30080, verdict: 'dnat', endpoints: ['10.0.2.2:8080'], masq: true },
  { name: 'pod to NodePort', src: pod, dst: nodeIP, port: 30080, verdict: 'dnat', endpoints: ['10.0.2.2:8080'], masq: true },
  { name: 'NodePort on an unused port', src: client, dst: nodeIP, port: 30999, verdict: 'none' },
  { name: 'NodePort on another node address is not served [D3]', src: client, dst: '192.168.0.3', port: 30080, verdict: 'none' },
]);

// [D3] With nodePortAddresses 0.0.0.0/0, every local address (but not 127/8) serves it.
testFlows('NodePort with nodePortAddresses 0.0.0.0/0 [D3]', compiledFor(flowCluster({ nodePortAddresses: ['0.0.0.0/0'] }), 'nftables', 0), [
  { name: 'matchAll NodePort', src: client, dst: nodeIP, port: 30080, verdict: 'dnat', endpoints: ['10.0.2.2:8080'], masq: true },
  { name: 'localhost NodePort [D4]', src: '127.0.0.1', dst: '127.0.0.1', port: 30080, hook: HOOK_OUTPUT, verdict: 'none' },
]);

testFlows('LoadBalancer with source ranges: firewall drops, NodePort bypasses it', compiledFor(flowCluster(), 'nftables', 0), [
  { name: 'allowed client to LB', src: client, dst: '1.2.3.4', port: 80, verdict: 'dnat', endpoints: ['10.0.2.3:8080'], masq: true },
  { name: 'blocked client to LB', src: blocked, dst: '1.2.3.4', port: 80, verdict: 'drop' },
  { name: 'blocked client to NodePort', src: blocked, dst: nodeIP, port: 30081, verdict: 'dnat', endpoints: ['10.0.2.3:8080'], masq: true },
  { name: 'pod to LB (not in ranges)', src: pod, dst: '1.2.3.4', port: 80, verdict: 'drop' },
  { name: 'pod to ClusterIP of the LB', src: pod, dst: '172.30.0.43', port: 80, verdict: 'dnat', endpoints: ['10.0.2.3:8080'], masq: false },
]);

testFlows('externalIPs with externalTrafficPolicy Local', compiledFor(flowCluster(), 'nftables', 0), [
  { name: 'external to externalIP: local endpoint only, no masquerade', src: client, dst: '192.168.99.11', port: 80, verdict: 'dnat', endpoints: ['10.0.1.4:8080'], masq: false },
  { name: 'pod to externalIP short-circuits to Cluster endpoints', src: pod, dst: '192.168.99.11', port: 80, verdict: 'dnat', endpoints: ['10.0.1.4:8080', '10.0.2.4:8080'], masq: false },
  { name: 'host to externalIP: Cluster endpoints, masquerade', src: nodeIP, dst: '192.168.99.11', port: 80, hook: HOOK_OUTPUT, verdict: 'dnat', endpoints: ['10.0.1.4:8080', '10.0.2.4:8080'], masq: true },
  { name: 'ClusterIP keeps Cluster policy', src: remotePod, dst: '172.30.0.44', port: 80, verdict: 'dnat', endpoints: ['10.0.1.4:8080', '10.0.2.4:8080'], masq: false },
]);

testFlows('externalTrafficPolicy Local without local endpoints: external DROP, pods still served', compiledFor(flowCluster(), 'nftables', 0), [
  { name: 'external to LB', src: client, dst: '5.6.7.8', port: 80, verdict: 'drop' },
  { name: 'external to NodePort', src: client, dst: nodeIP, port: 30085, verdict: 'drop' },
  { name: 'pod to LB', src: pod, dst: '5.6.7.8', port: 80, verdict: 'dnat', endpoints: ['10.0.2.5:8080'], masq: false },
  { name: 'pod to NodePort', src: pod, dst: nodeIP, port: 30085, verdict: 'dnat', endpoints: ['10.0.2.5:8080'], masq: false },
  // [R1] kubernetes PR 132456 (1.33: PR 133969): service-endpoints-check runs in filter-output at
  // priority 0, after nat-output's DNAT, so the host's own connection to the LB IP, which the
  // external chain short-circuits to the cluster endpoints ("short-circuit local traffic",
  // masqueraded), is no longer dropped by the LB IP's no-endpoint-services element (it was, with
  // filter-output at dstnat - 10).
  { name: 'host to LB [R1]', src: nodeIP, dst: '5.6.7.8', port: 80, hook: HOOK_OUTPUT, verdict: 'dnat', endpoints: ['10.0.2.5:8080'], masq: true },
]);

testFlows('internalTrafficPolicy Local', compiledFor(flowCluster(), 'nftables', 0), [
  { name: 'local endpoint only', src: pod, dst: '172.30.0.46', port: 80, verdict: 'dnat', endpoints: ['10.0.1.6:8080'], masq: false },
  { name: 'no local endpoint: DROP', src: pod, dst: '172.30.0.49', port: 80, verdict: 'drop' },
]);

// The same ClusterIP decided on node-2 reaches node-2's endpoint.
testFlows('internalTrafficPolicy Local on node-2', compiledFor(flowCluster(), 'nftables', 1), [
  { name: 'on node-2', src: remotePod, dst: '172.30.0.49', port: 80, verdict: 'dnat', endpoints: ['10.0.2.9:8080'] },
]);

testFlows('no endpoints: REJECT; terminating endpoints used when none is ready', compiledFor(flowCluster(), 'nftables', 0), [
  { name: 'service without endpoints', src: pod, dst: '172.30.0.48', port: 80, verdict: 'reject' },
  { name: 'serving terminating fallback', src: pod, dst: '172.30.0.50', port: 80, verdict: 'dnat', endpoints: ['10.0.2.10:8080'] },
]);

test('ClientIP affinity: the first choice sticks until the timeout, per client, per dataplane', () => {
  const cluster = flowCluster();
  const dp = compileNftables(cluster, { node: 0 });
  const pkt = newFirstPacket();
  const out = newNatDecision();
  pkt.srcIp = parseIp(pod);
  pkt.dstIp = parseIp('172.30.0.47');
  pkt.dstPort = 80;
  pkt.proto = PROTO_TCP;
  pkt.rand = 0xffffffff; // numgen picks the last branch
  pkt.now = 0;
  dp.decide(pkt, out);
  const first = out.endpoint;
  assert.equal(formatIp(cluster.endpoints.ip[first]), '10.0.2.7');
  pkt.rand = 0; // would pick branch 0 without affinity
  pkt.now = 50;
  dp.decide(pkt, out);
  assert.equal(out.endpoint, first, 'sticks within the timeout');
  pkt.now = 50 + 100 + 1; // the hit at 50 refreshed the entry; now past it
  dp.decide(pkt, out);
  assert.equal(formatIp(cluster.endpoints.ip[out.endpoint]), '10.0.1.7', 'expired: numgen again');
  // Another client is not affected, and another dataplane starts empty.
  const fresh = compileNftables(cluster, { node: 0 });
  pkt.now = 0;
  pkt.rand = 0;
  fresh.decide(pkt, out);
  assert.equal(formatIp(cluster.endpoints.ip[out.endpoint]), '10.0.1.7');
  // explain() reads affinity state but does not write it.
  pkt.srcIp = parseIp('10.0.1.98');
  const ex = fresh.explain(pkt);
  assert.deepEqual(ex.candidates.map((r) => formatIp(cluster.endpoints.ip[r])), ['10.0.1.7', '10.0.2.7']);
  pkt.rand = 0xffffffff;
  fresh.decide(pkt, out);
  assert.equal(formatIp(cluster.endpoints.ip[out.endpoint]), '10.0.2.7');
});

test('explain steps are nft rule text and follow the packet', () => {
  const dp = compileNftables(flowCluster(), { node: 0 });
  const pkt = newFirstPacket();
  pkt.srcIp = parseIp(pod);
  pkt.dstIp = parseIp('172.30.0.41');
  pkt.dstPort = 80;
  pkt.proto = PROTO_TCP;
  const ex = dp.explain(pkt);
  const rules = ex.steps.map((s) => s.rule);
  assert.ok(rules.includes('ip daddr . meta l4proto . th dport vmap @service-ips'));
  assert.ok(rules.some((r) => r.startsWith('numgen random mod 2 vmap { 0 : goto endpoint-')));
  assert.ok(rules.includes('meta l4proto tcp dnat to 10.0.2.1:8080'));
  assert.equal(ex.steps.filter((s) => s.action.startsWith('dnat to')).length, 2, 'one DNAT per numgen branch');
  assert.equal(ex.servicePort >= 0, true);
});

test('decide is O(1) in the number of services: the same work for 10 and 1,000 services', async () => {
  const { generateCluster } = await import('../../../src/model/synthetic.js');
  const works: number[] = [];
  for (const services of [10, 1000]) {
    const c = generateCluster({ services, endpoints: 3, nodes: 3, seed: 7, mode: 'nftables' });
    const dp = compileNftables(c, { node: 0 });
    const port = c.ports.find((p) => {
      const s = c.services[p.service];
      return s.type === 'ClusterIP' && s.clusterIPs.length > 0 && !s.affinity.clientIP && s.internalTrafficPolicy === 'Cluster' && p.endpointCount > 0;
    })!;
    const pkt = newFirstPacket();
    const out = newNatDecision();
    pkt.srcIp = c.endpoints.ip[port.endpointStart];
    pkt.dstIp = c.services[port.service].clusterIPs[0];
    pkt.dstPort = port.port;
    pkt.proto = port.protocol;
    dp.decide(pkt, out);
    assert.equal(kVerdictNames[out.verdict], 'dnat');
    works.push(out.work);
  }
  assert.equal(works[0], works[1]);
});
