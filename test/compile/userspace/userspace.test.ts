/**
 * kube-proxy's userspace mode beyond the packet-flow table (flows.test.ts, where U1-U4 are
 * listed): the proxy's own connection to the endpoint, its ClientIP affinity, its iptables-save.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileUserspace, newProxyConnection, renderUserspaceIptablesSave } from '../../../src/compile/userspace/index.js';
import { newNatDecision, VERDICT_REDIRECT } from '../../../src/compile/dataplane.js';
import { loadFixture } from '../../helpers/cluster.js';
import { firstPacket, type FlowProbe } from '../../helpers/packet-flow.js';
import { flowCluster, ip } from '../ipvs/flow-cluster.js';

const cluster = flowCluster();

test('userspace: REDIRECT to the proxy port, round-robin per connection, second connection from the node', () => {
  const d = compileUserspace(cluster, { node: 'node-1' });
  const out = newNatDecision();
  const conn = newProxyConnection();
  const c: FlowProbe = { src: '10.244.1.99', dst: '10.96.1.1', port: 80, fromPod: true };
  const seen: number[] = [];
  for (let i = 0; i < 4; i++) {
    const p = firstPacket(c, i * 1000);
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
  const a = firstPacket({ src: '10.244.1.99', dst: '10.96.1.9', port: 80, fromPod: true });
  d.decide(a, out);
  const first = out.endpoint;
  for (let t = 10; t <= 90; t += 20) {
    a.now = t;
    d.decide(a, out);
    assert.equal(out.endpoint, first);
  }
  // The same client via the NodePort reaches the same proxy socket, hence the same affinity entry.
  const viaNp = firstPacket({ src: '10.244.1.99', dst: '192.168.0.11', port: 30090, fromPod: true });
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
