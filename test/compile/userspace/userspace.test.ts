/**
 * kube-proxy's userspace mode: every service packet is redirected to the node's proxy port, and the
 * proxy dials an endpoint round-robin from the node's own address. Differences from iptables mode
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
import { compileUserspace, newProxyConnection, renderUserspaceIptablesSave } from '../../../src/compile/userspace/index.js';
import { HOOK_OUTPUT, newNatDecision, VERDICT_REDIRECT } from '../../../src/compile/dataplane.js';
import { loadFixture } from '../../helpers/cluster.js';
import { checkFlow, flowCluster, ip, packet, type FlowCase } from '../ipvs/helpers.js';

const cluster = flowCluster();
const dp = compileUserspace(cluster, { node: 'node-1' });

const cases: FlowCase[] = [
  { name: 'pod to ClusterIP', src: '10.244.1.99', dst: '10.96.1.1', port: 80, expect: ['10.244.1.10', '10.244.2.10'] },
  { name: 'U2 eTP Local LB: every ready endpoint, local or not', src: '8.8.8.8', dst: '192.0.2.2', port: 80, fromPod: false, expect: ['10.244.2.20'] },
  { name: 'U2 iTP Local ignored', src: '10.244.1.99', dst: '10.96.1.6', port: 80, expect: ['10.244.2.14'] },
  { name: 'U2 only terminating endpoints: none', src: '10.244.1.99', dst: '10.96.1.8', port: 80, expect: [] },
  { name: 'no endpoints: still redirected to the proxy', src: '10.244.1.99', dst: '10.96.1.7', port: 80, expect: [] },
  { name: 'NodePort on the node address', src: '8.8.8.8', dst: '192.168.0.11', port: 30080, fromPod: false, expect: ['10.244.1.11', '10.244.2.11'] },
  { name: 'NodePort on localhost from the node (KUBE-NODEPORT-HOST)', src: '127.0.0.1', dst: '127.0.0.1', port: 30080, hook: HOOK_OUTPUT, fromPod: false, expect: ['10.244.1.11', '10.244.2.11'] },
  { name: 'LB source ranges are not enforced', src: '8.8.8.8', dst: '192.0.2.1', port: 443, fromPod: false, expect: ['10.244.1.12', '10.244.2.12'] },
  { name: 'externalIP from outside', src: '8.8.8.8', dst: '198.51.100.7', port: 80, fromPod: false, expect: ['10.244.1.13', '10.244.2.13'] },
  { name: 'U4 externalIP from a pod behind the bridge', src: '10.244.1.99', dst: '198.51.100.7', port: 80, expect: 'none' },
  { name: 'not a service', src: '10.244.1.99', dst: '10.96.1.1', port: 81, expect: 'none' },
];

for (const c of cases) {
  test(`userspace flow: ${c.name}`, () => {
    const res = checkFlow(dp, cluster, c, 'redirect');
    if (Array.isArray(c.expect) && c.expect.length === 0) {
      // No endpoint: REDIRECT with endpoint -1 (checkFlow cannot name it).
      const out = newNatDecision();
      dp.decide(packet(c), out);
      assert.equal(out.verdict, VERDICT_REDIRECT);
      assert.equal(out.endpoint, -1);
      assert.equal(dp.proxyConnection(packet(c), out, newProxyConnection()), false);
      return;
    }
    assert.equal(res, '');
  });
}

test('userspace: REDIRECT to the proxy port, round-robin per connection, second connection from the node', () => {
  const d = compileUserspace(cluster, { node: 'node-1' });
  const out = newNatDecision();
  const conn = newProxyConnection();
  const c: FlowCase = { name: '', src: '10.244.1.99', dst: '10.96.1.1', port: 80, expect: [] };
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    const p = packet(c, i * 1000);
    d.decide(p, out);
    assert.equal(out.verdict, VERDICT_REDIRECT);
    assert.equal(out.dnatIp, ip('192.168.0.11'));
    assert.equal(out.dnatPort, d.tables.proxyPort[cluster.services.find((s) => s.name === 'a')!.ports[0]]);
    assert.equal(out.masquerade, false);
    assert.ok(d.proxyConnection(p, out, conn));
    assert.equal(conn.srcIp, ip('192.168.0.11'));
    assert.ok(conn.srcPort >= 32768 && conn.srcPort <= 60999);
    assert.equal(conn.dstIp, cluster.endpoints.ip[out.endpoint]);
    seen.push(out.endpoint);
  }
  assert.notEqual(seen[0], seen[1]);
  assert.deepEqual(seen.slice(2), seen.slice(0, 2));
});

test('userspace U3: ClientIP affinity sticks within the timeout, per service port', () => {
  const d = compileUserspace(cluster, { node: 'node-1' });
  const out = newNatDecision();
  const a = packet({ name: '', src: '10.244.1.99', dst: '10.96.1.9', port: 80, expect: [] });
  d.decide(a, out);
  const first = out.endpoint;
  for (let t = 10; t <= 90; t += 20) {
    a.now = t;
    d.decide(a, out);
    assert.equal(out.endpoint, first);
  }
  // The same client via the NodePort reaches the same proxy socket, hence the same affinity entry.
  const viaNp = packet({ name: '', src: '10.244.1.99', dst: '192.168.0.11', port: 30090, expect: [] });
  viaNp.now = 95;
  d.decide(viaNp, out);
  assert.equal(out.endpoint, first);
  a.now = 95 + 101;
  d.decide(a, out);
  assert.notEqual(out.endpoint, first);
});

test('userspace iptables-save golden (small fixture, node-1)', () => {
  const d = compileUserspace(loadFixture('small-cluster.yaml'), { node: 'node-1' });
  assert.equal(renderUserspaceIptablesSave(d), `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-NODEPORT-CONTAINER - [0:0]
:KUBE-NODEPORT-HOST - [0:0]
:KUBE-PORTALS-CONTAINER - [0:0]
:KUBE-PORTALS-HOST - [0:0]
-A PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-CONTAINER
-A PREROUTING -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-CONTAINER
-A OUTPUT -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-HOST
-A OUTPUT -m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain" -j KUBE-NODEPORT-HOST
-A KUBE-NODEPORT-CONTAINER -p tcp -m comment --comment "store/shop:https" -m tcp --dport 30443 -j REDIRECT --to-ports 32769
-A KUBE-NODEPORT-HOST -p tcp -m comment --comment "store/shop:https" -m tcp --dport 30443 -j DNAT --to-destination 192.168.0.11:32769
-A KUBE-PORTALS-CONTAINER -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j REDIRECT --to-ports 32768
-A KUBE-PORTALS-CONTAINER -d 10.96.0.20/32 -p tcp -m comment --comment "store/shop:https" -m tcp --dport 443 -j REDIRECT --to-ports 32769
-A KUBE-PORTALS-CONTAINER -d 192.0.2.10/32 -p tcp -m comment --comment "store/shop:https" -m tcp --dport 443 -j REDIRECT --to-ports 32769
-A KUBE-PORTALS-CONTAINER -d 10.96.0.53/32 -p udp -m comment --comment "kube-system/dns:dns" -m udp --dport 53 -j REDIRECT --to-ports 32768
-A KUBE-PORTALS-CONTAINER -d 10.96.0.53/32 -p tcp -m comment --comment "kube-system/dns:dns-tcp" -m tcp --dport 53 -j REDIRECT --to-ports 32770
-A KUBE-PORTALS-HOST -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j DNAT --to-destination 192.168.0.11:32768
-A KUBE-PORTALS-HOST -d 10.96.0.20/32 -p tcp -m comment --comment "store/shop:https" -m tcp --dport 443 -j DNAT --to-destination 192.168.0.11:32769
-A KUBE-PORTALS-HOST -d 192.0.2.10/32 -p tcp -m comment --comment "store/shop:https" -m tcp --dport 443 -j DNAT --to-destination 192.168.0.11:32769
-A KUBE-PORTALS-HOST -d 10.96.0.53/32 -p udp -m comment --comment "kube-system/dns:dns" -m udp --dport 53 -j DNAT --to-destination 192.168.0.11:32768
-A KUBE-PORTALS-HOST -d 10.96.0.53/32 -p tcp -m comment --comment "kube-system/dns:dns-tcp" -m tcp --dport 53 -j DNAT --to-destination 192.168.0.11:32770
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-NODEPORT-NON-LOCAL - [0:0]
-A INPUT -m comment --comment "Ensure that non-local NodePort traffic can flow" -j KUBE-NODEPORT-NON-LOCAL
-A KUBE-NODEPORT-NON-LOCAL -p tcp -m comment --comment "store/shop:https" -m tcp --dport 32769 -m state --state NEW -j ACCEPT
COMMIT
`);
});
