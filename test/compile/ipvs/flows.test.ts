/**
 * Packet flows through kube-proxy's IPVS mode, compiled for node-1 (kube-proxy packetFlowTest
 * style). Where IPVS mode's answer differs from iptables mode's, the case says so and cites the
 * kube-proxy source that makes it differ:
 *
 *  D1 eTP Local with no local endpoint: IPVS DNATs to the cluster endpoints, unmasqueraded
 *     (ipvs/proxier.go syncEndpoint: "Allow access from local PODs even if no local endpoints
 *     exist", kubernetes PR 97081); iptables mode DROPs (iptables/proxier.go syncProxyRules writes
 *     "has no local endpoints" -j KUBE-MARK-DROP in the external chain).
 *  D2 iTP Local with no local endpoint: IPVS's virtual service has no real servers, so the kernel
 *     answers ICMP port unreachable (ip_vs_core.c ip_vs_leave), a REJECT; iptables mode DROPs.
 *  D3 A ClusterIP (any bound VIP) on a port with no service: IPVS REJECTs (KUBE-IPVS-FILTER,
 *     writeIptablesRules, issue 72236) because VIPs are local addresses on kube-ipvs0; in iptables
 *     mode no rule matches and the packet is routed on, unchanged.
 *  D4 Pod traffic to an eTP Local externalIP/LB/NodePort: IPVS uses only the local endpoints (no
 *     short-circuit to cluster endpoints; syncEndpoint(svcInfo.ExternalPolicyLocal())); iptables
 *     mode sends pod traffic to all cluster endpoints (KUBE-EXT chain "pod traffic for ... external
 *     destinations" jumps to KUBE-SVC).
 *  D5 KUBE-NODE-PORT matches the destination port only (bitmap:port) after
 *     `-m addrtype --dst-type LOCAL`, and every VIP is local: traffic to a ClusterIP whose port
 *     equals some NodePort is masqueraded too. iptables mode matches NodePorts per service.
 *  D6 LB source ranges are enforced in filter INPUT (KUBE-PROXY-FIREWALL /
 *     KUBE-SOURCE-RANGES-FIREWALL -j DROP) and node-originated access by KUBE-IPVS-OUT-FILTER;
 *     iptables mode drops in nat KUBE-FW-* via KUBE-MARK-DROP. Same verdict, different place.
 *  D7 ClientIP affinity is per virtual service (IPVS persistence templates), so a client sticks
 *     separately to the ClusterIP and each NodePort address; iptables mode's `recent` list is per
 *     endpoint chain, shared by all the service's addresses (see schedulers.test.ts).
 *  D8 No endpoints at all: REJECT in both modes, but IPVS's comes from the kernel (ICMP port
 *     unreachable for TCP too, never a TCP reset), iptables mode's from KUBE-SERVICES/KUBE-EXTERNAL-SERVICES.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileIpvs } from '../../../src/compile/ipvs/index.js';
import { HOOK_OUTPUT, newNatDecision, VERDICT_DNAT } from '../../../src/compile/dataplane.js';
import { allocatedBy } from '../../helpers/allocation.js';
import { compiledFor, firstPacket, testFlows } from '../../helpers/packet-flow.js';
import { flowCluster } from './flow-cluster.js';

const cluster = flowCluster();

testFlows('ipvs flows on node-1', compiledFor(cluster, 'ipvs', 0), [
  { name: 'pod to ClusterIP', src: '10.244.1.99', dst: '10.96.1.1', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.244.1.10:8080', '10.244.2.10:8080'], masq: false },
  { name: 'outside to ClusterIP is masqueraded', src: '172.16.0.5', dst: '10.96.1.1', port: 80, fromPod: false, verdict: 'dnat', endpoints: ['10.244.1.10:8080', '10.244.2.10:8080'], masq: true },
  { name: 'hairpin: endpoint to its own service (KUBE-LOOP-BACK)', src: '10.244.1.10', dst: '10.96.1.1', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.244.1.10:8080', '10.244.2.10:8080'], masq: true },
  { name: 'localhost source: KUBE-SERVICES -s 127.0.0.0/8 RETURN', src: '127.0.0.1', dst: '10.96.1.1', port: 80, hook: HOOK_OUTPUT, fromPod: false, verdict: 'dnat', endpoints: ['10.244.1.10:8080', '10.244.2.10:8080'], masq: false },
  { name: 'D3 ClusterIP on a port with no service', src: '10.244.1.99', dst: '10.96.1.1', port: 81, fromPod: true, verdict: 'reject' },
  { name: 'D3 ClusterIP with the wrong protocol', src: '10.244.1.99', dst: '10.96.1.1', port: 80, fromPod: true, proto: 17, verdict: 'reject' },
  { name: 'not a service address', src: '10.244.1.99', dst: '10.0.0.1', port: 80, fromPod: true, verdict: 'none' },
  { name: 'NodePort from outside (eTP Cluster): masqueraded', src: '172.16.0.5', dst: '192.168.0.11', port: 30080, fromPod: false, verdict: 'dnat', endpoints: ['10.244.1.11:8080', '10.244.2.11:8080'], masq: true },
  { name: 'NodePort on the other node address: no VS here', src: '172.16.0.5', dst: '192.168.0.12', port: 30080, fromPod: false, verdict: 'none' },
  { name: 'LB from an allowed source range', src: '203.0.113.5', dst: '192.0.2.1', port: 443, fromPod: false, verdict: 'dnat', endpoints: ['10.244.1.12:8080', '10.244.2.12:8080'], masq: true },
  { name: 'D6 LB from outside its source ranges', src: '8.8.8.8', dst: '192.0.2.1', port: 443, fromPod: false, verdict: 'drop' },
  { name: 'D6 LB from a pod outside the source ranges', src: '10.244.1.99', dst: '192.0.2.1', port: 443, fromPod: true, verdict: 'drop' },
  { name: 'D6 node to its LB IP from the LB IP (KUBE-IPVS-OUT-FILTER)', src: '192.0.2.1', dst: '192.0.2.1', port: 443, hook: HOOK_OUTPUT, fromPod: false, verdict: 'drop' },
  { name: 'LB ClusterIP ignores source ranges', src: '8.8.8.8', dst: '10.96.1.3', port: 443, fromPod: false, verdict: 'dnat', endpoints: ['10.244.1.12:8080', '10.244.2.12:8080'], masq: true },
  { name: 'D1 eTP Local LB, no local endpoint: remote endpoint, no masquerade', src: '8.8.8.8', dst: '192.0.2.2', port: 80, fromPod: false, verdict: 'dnat', endpoints: ['10.244.2.20:8080'], masq: false },
  { name: 'D1 eTP Local NodePort, no local endpoint: KUBE-NODE-PORT-LOCAL-TCP RETURN', src: '8.8.8.8', dst: '192.168.0.11', port: 30444, fromPod: false, verdict: 'dnat', endpoints: ['10.244.2.20:8080'], masq: false },
  { name: 'health check node port is not a virtual service', src: '8.8.8.8', dst: '192.168.0.11', port: 32000, fromPod: false, verdict: 'accept' },
  { name: 'health check port on a VIP passes KUBE-IPVS-FILTER', src: '10.244.1.99', dst: '10.96.1.1', port: 32000, fromPod: true, verdict: 'accept' },
  { name: 'externalIP (eTP Cluster) from outside: masqueraded', src: '8.8.8.8', dst: '198.51.100.7', port: 80, fromPod: false, verdict: 'dnat', endpoints: ['10.244.1.13:8080', '10.244.2.13:8080'], masq: true },
  { name: 'externalIP (eTP Cluster) from a pod: still masqueraded (KUBE-EXTERNAL-IP)', src: '10.244.1.99', dst: '198.51.100.7', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.244.1.13:8080', '10.244.2.13:8080'], masq: true },
  { name: 'D4 externalIP (eTP Local) from a pod: local endpoints only', src: '10.244.1.99', dst: '198.51.100.8', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.244.1.50:8080'], masq: false },
  { name: 'eTP Local externalIP ClusterIP keeps cluster endpoints', src: '10.244.1.99', dst: '10.96.1.10', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.244.1.50:8080', '10.244.2.50:8080'], masq: false },
  { name: 'D2 iTP Local without a local endpoint', src: '10.244.1.99', dst: '10.96.1.6', port: 80, fromPod: true, verdict: 'reject' },
  { name: 'D8 no endpoints at all', src: '10.244.1.99', dst: '10.96.1.7', port: 80, fromPod: true, verdict: 'reject' },
  { name: 'terminating fallback (serving, terminating)', src: '10.244.1.99', dst: '10.96.1.8', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.244.2.30:8080'], masq: false },
  { name: 'affinity service from a pod', src: '10.244.1.99', dst: '10.96.1.9', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.244.1.40:8080', '10.244.2.40:8080', '10.244.2.41:8080'], masq: false },
]);

testFlows('ipvs: on node-2 the eTP Local LB uses its local endpoint and only it', compiledFor(cluster, 'ipvs', 1), [
  { name: 'local', src: '8.8.8.8', dst: '192.0.2.2', port: 80, fromPod: false, verdict: 'dnat', endpoints: ['10.244.2.20:8080'], masq: false },
  { name: 'iTP Local on node-2', src: '10.244.2.99', dst: '10.96.1.6', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.244.2.14:8080'], masq: false },
]);

test('ipvs D5: a ClusterIP whose port equals a NodePort is masqueraded by KUBE-NODE-PORT', () => {
  const c = flowCluster();
  const custom = compileIpvs(c, { node: 'node-1' });
  // 10.96.1.2:80 is not a NodePort number; no mark for pod traffic.
  const out = newNatDecision();
  custom.decide(firstPacket({ src: '10.244.1.99', dst: '10.96.1.2', port: 80, fromPod: true }), out);
  assert.equal(out.verdict, VERDICT_DNAT);
  assert.equal(out.masquerade, false);
  // Mark the port 80 as a NodePort in the compiled bitmap, as a service with nodePort 80 would be.
  custom.tables.nodePortBits[80] |= 1;
  custom.decide(firstPacket({ src: '10.244.1.99', dst: '10.96.1.2', port: 80, fromPod: true }), out);
  assert.equal(out.masquerade, true);
});

testFlows('ipvs: masqueradeAll marks pod traffic to ClusterIPs', compiledFor(flowCluster({ iptables: { masqueradeAll: true } }), 'ipvs', 0), [
  { name: 'masqAll', src: '10.244.1.99', dst: '10.96.1.1', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.244.1.10:8080', '10.244.2.10:8080'], masq: true },
]);

test('ipvs: decide() allocates nothing per packet', () => {
  const dp = compileIpvs(cluster, { node: 'node-1' });
  const out = newNatDecision();
  const p = firstPacket({ src: '10.244.1.99', dst: '10.96.1.1', port: 80, fromPod: true });
  const run = (n: number) => () => {
    for (let i = 0; i < n; i++) {
      p.rand = i;
      dp.decide(p, out);
    }
  };
  run(10000)(); // warm up
  // The slope between N and 10N decisions: what the JIT, the profiler and a busy machine add is
  // the same for both runs; one object per decision (16 bytes at least) adds 1.8M x 16 bytes.
  const small = allocatedBy(run(200_000));
  const large = allocatedBy(run(2_000_000));
  const perDecision = (large - small) / 1_800_000;
  assert.ok(perDecision < 1, `decide() allocates ${perDecision.toFixed(2)} bytes per packet (${small} bytes over 200k decisions, ${large} over 2M)`);
});
