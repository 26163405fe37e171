/**
 * Rendering goldens for test/fixtures/small-cluster.yaml on node-1, in the layouts the real tools
 * print: `ipvsadm -S -n`, `ipset save` (ipset 7.17; checked against the real tool in a private
 * network namespace when it is available), and iptables-save.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { compileIpvs, renderIpsetSave, renderIpvsadmSave, renderIpvsIptablesSave } from '../../../src/compile/ipvs/index.js';
import { loadFixture } from '../../helpers/cluster.js';

const dp = compileIpvs(loadFixture('small-cluster.yaml'), { node: 'node-1' });

// Note the eTP Local LoadBalancer 192.0.2.10 and NodePort 30443: node-1 has no local endpoint, so
// they get the cluster endpoint 10.244.2.9 (ipvs/proxier.go syncEndpoint, PR 97081). The terminating
// 10.244.2.8 is absent because web has ready endpoints (CategorizeEndpoints).
const kIpvsadm = `-A -t 10.96.0.10:80 -s rr
-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1
-a -t 10.96.0.10:80 -r 10.244.2.7:8080 -m -w 1
-A -t 10.96.0.20:443 -s rr
-a -t 10.96.0.20:443 -r 10.244.2.9:8443 -m -w 1
-A -t 10.96.0.53:53 -s rr -p 600
-a -t 10.96.0.53:53 -r 10.244.1.3:53 -m -w 1
-a -t 10.96.0.53:53 -r 10.244.2.3:53 -m -w 1
-A -t 192.0.2.10:443 -s rr
-a -t 192.0.2.10:443 -r 10.244.2.9:8443 -m -w 1
-A -t 192.168.0.11:30443 -s rr
-a -t 192.168.0.11:30443 -r 10.244.2.9:8443 -m -w 1
-A -u 10.96.0.53:53 -s rr -p 600
-a -u 10.96.0.53:53 -r 10.244.1.3:53 -m -w 1
-a -u 10.96.0.53:53 -r 10.244.2.3:53 -m -w 1
`;

const kIpset = `create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536
add KUBE-LOOP-BACK 10.244.1.3,tcp:53,10.244.1.3
add KUBE-LOOP-BACK 10.244.1.3,udp:53,10.244.1.3
add KUBE-LOOP-BACK 10.244.1.5,tcp:8080,10.244.1.5
create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
add KUBE-CLUSTER-IP 10.96.0.20,tcp:443
add KUBE-CLUSTER-IP 10.96.0.53,tcp:53
add KUBE-CLUSTER-IP 10.96.0.53,udp:53
create KUBE-LOAD-BALANCER hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER 192.0.2.10,tcp:443
create KUBE-LOAD-BALANCER-FW hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-FW 192.0.2.10,tcp:443
create KUBE-LOAD-BALANCER-LOCAL hash:ip,port family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-LOCAL 192.0.2.10,tcp:443
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536
add KUBE-LOAD-BALANCER-SOURCE-CIDR 192.0.2.10,tcp:443,198.51.100.0/24
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 30443
create KUBE-NODE-PORT-LOCAL-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-LOCAL-TCP 30443
create KUBE-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535
add KUBE-HEALTH-CHECK-NODE-PORT 31999
create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536
add KUBE-IPVS-IPS 10.96.0.10
add KUBE-IPVS-IPS 10.96.0.20
add KUBE-IPVS-IPS 10.96.0.53
add KUBE-IPVS-IPS 192.0.2.10
`;

const kIptables = `*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SERVICES - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-LOAD-BALANCER -m comment --comment "Kubernetes service load balancer ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN
-A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER
-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-IPVS-FILTER - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SOURCE-RANGES-FIREWALL - [0:0]
-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER
-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT
-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable
-A KUBE-IPVS-OUT-FILTER -s 192.0.2.10/32 -m ipvs --vaddr 192.0.2.10/32 --vproto 6 --vport 443 -j DROP
-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port for load balancer with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL
-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source cidr for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN
-A KUBE-SOURCE-RANGES-FIREWALL -j DROP
COMMIT
`;

test('ipvsadm -S -n golden (node-1)', () => {
  assert.equal(renderIpvsadmSave(dp), kIpvsadm);
});

test('ipset save golden (node-1, non-empty sets, pre-7.11 header)', () => {
  assert.equal(renderIpsetSave(dp, { initval: false, includeEmpty: false }), kIpset);
});

test('iptables-save golden (node-1)', () => {
  assert.equal(renderIpvsIptablesSave(dp), kIptables);
});

test('ipset save: every set is created, with ipset 7.17 bucketsize/initval on hash sets', () => {
  const text = renderIpsetSave(dp);
  const creates = text.split('\n').filter((l) => l.startsWith('create '));
  assert.equal(creates.length, 17);
  assert.match(text, /^create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x[0-9a-f]{8}$/m);
  assert.match(text, /^create KUBE-NODE-PORT-TCP bitmap:port range 0-65535$/m);
});

const canUnshare = (() => {
  try {
    return spawnSync('unshare', ['-n', 'ipset', 'version']).status === 0;
  } catch {
    return false;
  }
})();

test('ipset restore accepts the rendering and ipset save prints it back', { skip: !canUnshare && 'needs root, unshare and ipset' }, () => {
  const text = renderIpsetSave(dp);
  // A private network namespace: the host's sets are never touched.
  const saved = execFileSync('unshare', ['-n', 'sh', '-c', 'ipset restore && ipset save'], { input: text, encoding: 'utf8' });
  // Hash sets print in bucket order; compare as sets of lines.
  assert.deepEqual(saved.split('\n').filter(Boolean).sort(), text.split('\n').filter(Boolean).sort());
});
