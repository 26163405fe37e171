/**
 * kube-proxy-style packet-flow tables (proxier_test.go runPacketFlowTests): each row is a
 * first packet, the endpoints it can reach (every statistic branch explored) or REJECT/DROP,
 * and whether it is masqueraded. The rows follow kube-proxy's own expectations; the runner is
 * test/helpers/packet-flow.ts, the same for every mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOOK_OUTPUT, newNatDecision } from '../../../src/compile/dataplane.js';
import { compileIptables } from '../../../src/compile/iptables/index.js';
import { clusterOf, node, proxyConfig, service, slice } from '../../helpers/cluster.js';
import { compiledFor, firstPacket, testFlows, type FlowProbe } from '../../helpers/packet-flow.js';

const kNodeIP = '192.168.0.2';
const kExternal = '203.0.113.200';
const kAllowed = '203.0.113.5';

function cluster(extraConfig: Record<string, unknown> = {}) {
  const p80 = [{ name: 'p80', port: 80, protocol: 'TCP' }];
  const lb = (ip: string) => ({ loadBalancer: { ingress: [{ ip }] } });
  return clusterOf(
    proxyConfig({ mode: 'iptables', clusterCIDR: '10.0.0.0/8', ...extraConfig }),
    node('node-1', '10.0.1.0/24', kNodeIP),
    node('node-2', '10.0.2.0/24', '192.168.0.3'),
    service('ns1', 'svc1', { type: 'ClusterIP', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: 'TCP' }] }),
    slice('ns1', 'svc1', p80, [{ ip: '10.0.1.1', node: 'node-1' }, { ip: '10.0.2.1', node: 'node-2' }]),
    service('ns2', 'svc2', { type: 'LoadBalancer', clusterIP: '172.30.0.42', externalIPs: ['192.168.99.22'], externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30001 }] }, lb('1.2.3.4')),
    slice('ns2', 'svc2', p80, [{ ip: '10.0.2.2', node: 'node-2' }]),
    service('ns3', 'svc3', { type: 'NodePort', clusterIP: '172.30.0.43', ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30003 }] }),
    slice('ns3', 'svc3', p80, [{ ip: '10.0.2.3', node: 'node-2' }]),
    service('ns4', 'svc4', { type: 'LoadBalancer', clusterIP: '172.30.0.44', externalTrafficPolicy: 'Local', ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30004 }] }, lb('1.2.3.44')),
    slice('ns4', 'svc4', p80, [{ ip: '10.0.1.4', node: 'node-1' }, { ip: '10.0.2.4', node: 'node-2' }]),
    service('ns5', 'svc5', { type: 'LoadBalancer', clusterIP: '172.30.0.45', loadBalancerSourceRanges: ['203.0.113.0/25'], ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30002 }] }, lb('5.6.7.8')),
    slice('ns5', 'svc5', p80, [{ ip: '10.0.2.5', node: 'node-2' }]),
    service('ns6', 'svc6', { type: 'NodePort', clusterIP: '172.30.0.46', externalIPs: ['192.168.99.66'], ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30006 }] }),
    service('ns7', 'svc7', { type: 'ClusterIP', clusterIP: '172.30.0.47', internalTrafficPolicy: 'Local', ports: [{ name: 'p80', port: 80, protocol: 'TCP' }] }),
    slice('ns7', 'svc7', p80, [{ ip: '10.0.2.7', node: 'node-2' }]),
    service('ns8', 'svc8', { type: 'ClusterIP', clusterIP: '172.30.0.48', internalTrafficPolicy: 'Local', ports: [{ name: 'p80', port: 80, protocol: 'TCP' }] }),
    slice('ns8', 'svc8', p80, [{ ip: '10.0.1.8', node: 'node-1' }, { ip: '10.0.2.8', node: 'node-2' }]),
    service('ns9', 'dns', { type: 'ClusterIP', clusterIP: '172.30.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'sctp', port: 53, protocol: 'SCTP' }] }),
    slice('ns9', 'dns', [{ name: 'dns', port: 5353, protocol: 'UDP' }, { name: 'sctp', port: 5353, protocol: 'SCTP' }], [{ ip: '10.0.1.53', node: 'node-1' }, { ip: '10.0.2.53', node: 'node-2' }]),
    service('ns10', 'term', { type: 'ClusterIP', clusterIP: '172.30.0.60', ports: [{ name: 'p80', port: 80, protocol: 'TCP' }] }),
    slice('ns10', 'term', p80, [
      { ip: '10.0.1.60', node: 'node-1', ready: false, serving: true, terminating: true },
      { ip: '10.0.2.60', node: 'node-2', ready: false, serving: false, terminating: true },
    ]),
    service('ns11', 'sticky', { type: 'ClusterIP', clusterIP: '172.30.0.70', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } }, ports: [{ name: 'p80', port: 80, protocol: 'TCP' }] }),
    slice('ns11', 'sticky', p80, [{ ip: '10.0.1.70', node: 'node-1' }, { ip: '10.0.2.70', node: 'node-2' }, { ip: '10.0.2.71', node: 'node-2' }]),
  );
}

testFlows('packet flows: ClusterIP, NodePort, LB, externalIPs, policies, no endpoints', compiledFor(cluster(), 'iptables', 0), [
  { name: 'pod to ClusterIP', src: '10.0.1.9', dst: '172.30.0.41', port: 80, verdict: 'dnat', endpoints: ['10.0.2.1:80', '10.0.1.1:80'], masq: false },
  { name: 'external to ClusterIP is masqueraded', src: kExternal, dst: '172.30.0.41', port: 80, verdict: 'dnat', endpoints: ['10.0.2.1:80', '10.0.1.1:80'], masq: true },
  { name: 'hairpin: endpoint to its own service', src: '10.0.1.1', dst: '172.30.0.41', port: 80, verdict: 'dnat', endpoints: ['10.0.2.1:80', '10.0.1.1:80'], masq: true },
  { name: 'wrong port to ClusterIP', src: '10.0.1.9', dst: '172.30.0.41', port: 81, verdict: 'none' },
  { name: 'UDP to a TCP ClusterIP', src: '10.0.1.9', dst: '172.30.0.41', port: 80, proto: 17, verdict: 'none' },
  { name: 'UDP ClusterIP', src: '10.0.1.9', dst: '172.30.0.53', port: 53, proto: 17, verdict: 'dnat', endpoints: ['10.0.1.53:5353', '10.0.2.53:5353'], masq: false },
  { name: 'SCTP ClusterIP', src: '10.0.1.9', dst: '172.30.0.53', port: 53, proto: 132, verdict: 'dnat', endpoints: ['10.0.2.53:5353', '10.0.1.53:5353'], masq: false },
  { name: 'TCP to UDP/SCTP-only ClusterIP', src: '10.0.1.9', dst: '172.30.0.53', port: 53, proto: 6, verdict: 'none' },
  // externalTrafficPolicy: Local without local endpoints.
  { name: 'pod to ClusterIP of eTP:Local service', src: '10.0.1.9', dst: '172.30.0.42', port: 80, verdict: 'dnat', endpoints: ['10.0.2.2:80'], masq: false },
  { name: 'external to LB IP, eTP:Local, no local endpoints: DROP', src: kExternal, dst: '1.2.3.4', port: 80, verdict: 'drop' },
  { name: 'pod to LB IP, eTP:Local: short-circuited to all endpoints', src: '10.0.1.9', dst: '1.2.3.4', port: 80, verdict: 'dnat', endpoints: ['10.0.2.2:80'], masq: false },
  { name: 'node to LB IP, eTP:Local: masqueraded, cluster endpoints', src: kNodeIP, dst: '1.2.3.4', port: 80, hook: HOOK_OUTPUT, verdict: 'dnat', endpoints: ['10.0.2.2:80'], masq: true },
  { name: 'external to externalIP, eTP:Local, no local endpoints: DROP', src: kExternal, dst: '192.168.99.22', port: 80, verdict: 'drop' },
  { name: 'external to NodePort, eTP:Local, no local endpoints: DROP', src: kExternal, dst: kNodeIP, port: 30001, verdict: 'drop' },
  { name: 'pod to NodePort, eTP:Local: short-circuited', src: '10.0.1.9', dst: kNodeIP, port: 30001, verdict: 'dnat', endpoints: ['10.0.2.2:80'], masq: false },
  // filter KUBE-NODEPORTS (jumped from INPUT only): "ns2/svc2:p80 health check node port" -m tcp --dport 32000 -j ACCEPT.
  { name: 'external to the health check node port: filter ACCEPT', src: kExternal, dst: kNodeIP, port: 32000, verdict: 'accept' },
  { name: 'pod to the health check node port: filter ACCEPT', src: '10.0.1.9', dst: kNodeIP, port: 32000, verdict: 'accept' },
  { name: 'UDP to the health check node port: the rule is TCP only', src: kExternal, dst: kNodeIP, port: 32000, proto: 17, verdict: 'none' },
  { name: 'node to its own health check node port: OUTPUT has no such rule', src: kNodeIP, dst: kNodeIP, port: 32000, hook: HOOK_OUTPUT, verdict: 'none' },
  { name: 'health check port of an address not on the node: FORWARD, no rule', src: '10.0.1.9', dst: kExternal, port: 32000, verdict: 'none' },
  // externalTrafficPolicy: Cluster.
  { name: 'external to NodePort, eTP:Cluster: masqueraded', src: kExternal, dst: kNodeIP, port: 30003, verdict: 'dnat', endpoints: ['10.0.2.3:80'], masq: true },
  { name: 'pod to NodePort, eTP:Cluster: masqueraded', src: '10.0.1.9', dst: kNodeIP, port: 30003, verdict: 'dnat', endpoints: ['10.0.2.3:80'], masq: true },
  { name: 'localhost NodePort (localhostNodePorts default true)', src: '127.0.0.1', dst: '127.0.0.1', port: 30003, hook: HOOK_OUTPUT, verdict: 'dnat', endpoints: ['10.0.2.3:80'], masq: true },
  { name: 'NodePort on a non-node address is not captured', src: kExternal, dst: '192.168.0.99', port: 30003, verdict: 'none' },
  // externalTrafficPolicy: Local with a local endpoint.
  { name: 'external to LB, eTP:Local with local endpoint: local only, source kept', src: kExternal, dst: '1.2.3.44', port: 80, verdict: 'dnat', endpoints: ['10.0.1.4:80'], masq: false },
  { name: 'external to NodePort, eTP:Local with local endpoint', src: kExternal, dst: kNodeIP, port: 30004, verdict: 'dnat', endpoints: ['10.0.1.4:80'], masq: false },
  { name: 'pod to LB, eTP:Local: all cluster endpoints', src: '10.0.1.9', dst: '1.2.3.44', port: 80, verdict: 'dnat', endpoints: ['10.0.2.4:80', '10.0.1.4:80'], masq: false },
  // loadBalancerSourceRanges.
  { name: 'allowed source to firewalled LB', src: kAllowed, dst: '5.6.7.8', port: 80, verdict: 'dnat', endpoints: ['10.0.2.5:80'], masq: true },
  { name: 'other source to firewalled LB: DROP', src: kExternal, dst: '5.6.7.8', port: 80, verdict: 'drop' },
  { name: 'NodePort of firewalled LB ignores source ranges', src: kExternal, dst: kNodeIP, port: 30002, verdict: 'dnat', endpoints: ['10.0.2.5:80'], masq: true },
  // No endpoints: REJECT everywhere.
  { name: 'ClusterIP with no endpoints: REJECT', src: '10.0.1.9', dst: '172.30.0.46', port: 80, verdict: 'reject' },
  { name: 'externalIP with no endpoints: REJECT', src: kExternal, dst: '192.168.99.66', port: 80, verdict: 'reject' },
  { name: 'NodePort with no endpoints: REJECT', src: kExternal, dst: kNodeIP, port: 30006, verdict: 'reject' },
  // internalTrafficPolicy: Local.
  { name: 'iTP:Local without local endpoints: DROP', src: '10.0.1.9', dst: '172.30.0.47', port: 80, verdict: 'drop' },
  { name: 'iTP:Local with a local endpoint: local only', src: '10.0.1.9', dst: '172.30.0.48', port: 80, verdict: 'dnat', endpoints: ['10.0.1.8:80'], masq: false },
  // Terminating endpoints: serving+terminating used when none is ready; non-serving never.
  { name: 'terminating fallback', src: '10.0.1.9', dst: '172.30.0.60', port: 80, verdict: 'dnat', endpoints: ['10.0.1.60:80'], masq: false },
  { name: 'session affinity service reaches every endpoint', src: '10.0.1.9', dst: '172.30.0.70', port: 80, verdict: 'dnat', endpoints: ['10.0.1.70:80', '10.0.2.70:80', '10.0.2.71:80'], masq: false },
]);

testFlows('the same flows from node-2: eTP:Local services now have local endpoints', compiledFor(cluster(), 'iptables', 1), [
  { name: 'external to LB IP, eTP:Local, local endpoint', src: kExternal, dst: '1.2.3.4', port: 80, verdict: 'dnat', endpoints: ['10.0.2.2:80'], masq: false },
  { name: 'external to NodePort of node-2', src: kExternal, dst: '192.168.0.3', port: 30001, verdict: 'dnat', endpoints: ['10.0.2.2:80'], masq: false },
  { name: 'NodePort of node-1 is not local on node-2', src: kExternal, dst: kNodeIP, port: 30001, verdict: 'none' },
  { name: 'iTP:Local with local endpoint on node-2', src: '10.0.2.9', dst: '172.30.0.47', port: 80, verdict: 'dnat', endpoints: ['10.0.2.7:80'] },
]);

testFlows('masqueradeAll masquerades pod traffic too; localhostNodePorts=false blocks 127.0.0.1', compiledFor(cluster({ iptables: { masqueradeAll: true, localhostNodePorts: false } }), 'iptables', 0), [
  { name: 'pod to ClusterIP under masqueradeAll', src: '10.0.1.9', dst: '172.30.0.41', port: 80, verdict: 'dnat', endpoints: ['10.0.2.1:80', '10.0.1.1:80'], masq: true },
  { name: 'localhost NodePort disabled', src: '127.0.0.1', dst: '127.0.0.1', port: 30003, hook: HOOK_OUTPUT, verdict: 'none' },
  { name: 'node IP NodePort still works', src: kExternal, dst: kNodeIP, port: 30003, verdict: 'dnat', endpoints: ['10.0.2.3:80'], masq: true },
]);

testFlows('nodePortAddresses outside the node IP: no NodePort there', compiledFor(cluster({ nodePortAddresses: ['10.99.0.0/16'] }), 'iptables', 0), [{ name: 'node IP outside nodePortAddresses', src: kExternal, dst: kNodeIP, port: 30003, verdict: 'none' }]);
testFlows('nodePortAddresses around the node IP: NodePort served', compiledFor(cluster({ nodePortAddresses: ['192.168.0.0/24'] }), 'iptables', 0), [{ name: 'node IP inside nodePortAddresses', src: kExternal, dst: kNodeIP, port: 30003, verdict: 'dnat', endpoints: ['10.0.2.3:80'], masq: true }]);

test('session affinity: -m recent pins a client to its first endpoint until the timeout', () => {
  const c = cluster();
  const dp = compileIptables(c, { node: 0 });
  const out = newNatDecision();
  const flow: FlowProbe = { src: '10.0.1.9', dst: '172.30.0.70', port: 80 };
  const first = firstPacket(flow, 12345);
  first.now = 100;
  dp.decide(first, out);
  const pinned = out.dnatIp;
  for (let i = 0; i < 20; i++) {
    const p = firstPacket(flow, Math.imul(i + 7, 0x85ebca6b) >>> 0);
    p.now = 200;
    dp.decide(p, out);
    assert.equal(out.dnatIp, pinned, 'within the timeout the same endpoint is chosen');
  }
  // After the timeout (300 s) the draw decides again: some draw must leave the pinned endpoint.
  let moved = false;
  for (let i = 0; i < 40 && !moved; i++) {
    dp.reset();
    const p = firstPacket(flow, Math.imul(i + 99, 0xc2b2ae35) >>> 0);
    p.now = 1000;
    dp.decide(p, out);
    if (out.dnatIp !== pinned) moved = true;
  }
  assert.equal(moved, true);
});

test('decide() reports work = rules evaluated, growing with KUBE-SERVICES position', () => {
  const c = cluster();
  const dp = compileIptables(c, { node: 0 });
  const out = newNatDecision();
  dp.decide(firstPacket({ src: '10.0.1.9', dst: '172.30.0.41', port: 80 }, 1), out);
  const early = out.work;
  dp.decide(firstPacket({ src: kExternal, dst: kNodeIP, port: 30003 }, 1), out);
  assert.ok(out.work > early, `NodePort (${out.work}) walks every ClusterIP rule first (${early})`);
  assert.ok(out.servicePort >= 0);
});

test('decide() picks endpoints in proportion 1/n', () => {
  const c = cluster();
  const dp = compileIptables(c, { node: 0 });
  const out = newNatDecision();
  const counts = new Map<number, number>();
  const n = 30000;
  for (let i = 0; i < n; i++) {
    dp.reset();
    dp.decide(firstPacket({ src: '10.0.1.9', dst: '172.30.0.70', port: 80 }, Math.imul(i, 0x9e3779b1) >>> 0), out);
    counts.set(out.endpoint, (counts.get(out.endpoint) ?? 0) + 1);
  }
  assert.equal(counts.size, 3);
  for (const v of counts.values()) assert.ok(Math.abs(v / n - 1 / 3) < 0.02, `share ${v / n}`);
});

// detectLocalMode InterfaceNamePrefix: kube-proxy's LocalTrafficDetector.IfLocal() is `-i veth+` and
// IfNotLocal() `! -i veth+` (pkg/proxy/util/localdetector.go); the eTP:Local EXT chain's first rule,
// "pod traffic for ... external destinations", sends `-i veth+` traffic to the cluster chain
// (proxier.go), so a pod's packet reaches every endpoint while an outside one is dropped for want of
// a local endpoint. The rows run the specialised decide() as well as explain().
testFlows('InterfaceNamePrefix: `-i veth+` is the pod interface, not its negation', compiledFor(cluster({ detectLocalMode: 'InterfaceNamePrefix', detectLocal: { interfaceNamePrefix: 'veth' } }), 'iptables', 0), [
  { name: 'pod interface to LB IP, eTP:Local: short-circuited to all endpoints', src: '10.0.1.9', dst: '1.2.3.4', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.0.2.2:80'], masq: false },
  { name: 'outside interface to LB IP, eTP:Local, no local endpoints: DROP', src: kExternal, dst: '1.2.3.4', port: 80, fromPod: false, verdict: 'drop' },
  { name: 'pod interface to ClusterIP: not masqueraded (! -i veth+ fails)', src: '10.0.1.9', dst: '172.30.0.41', port: 80, fromPod: true, verdict: 'dnat', endpoints: ['10.0.2.1:80', '10.0.1.1:80'], masq: false },
  { name: 'outside interface to ClusterIP: masqueraded (! -i veth+ holds)', src: kExternal, dst: '172.30.0.41', port: 80, fromPod: false, verdict: 'dnat', endpoints: ['10.0.2.1:80', '10.0.1.1:80'], masq: true },
]);
