/**
 * `kdp compile --format iptables-restore` and `--format nft-transaction` against the payloads
 * kube-proxy's own unit tests expect (quoted below as data, with their source). kube-proxy's
 * tests compare line sets (assertIPTablesRulesEqual and assertNFTablesTransactionEqual sort the
 * lines of each table before comparing), so these tests do the same: every line kube-proxy
 * expects is in kdp's payload, and kdp writes no line kube-proxy does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { renderRuleChunks } from '../../src/compile/index.js';
import { clusterNetwork, clusterOf, node, proxyConfig, service, slice } from '../helpers/cluster.js';
import { unshareSkipReason } from '../helpers/unshare.js';

function payload(cluster: ReturnType<typeof clusterOf>, mode: string, format: string): string {
  return [...renderRuleChunks(cluster, mode, 0, format)].join('');
}

/** The lines of a payload, trimmed, blank and `#` lines left out, sorted. */
function lineSet(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#')).sort();
}

/**
 * kube-proxy's fake proxiers set `masqueradeMark: "0x4000"`, where NewProxier formats it with
 * Go's `%#08x` (pkg/proxy/{iptables,nftables}/proxier.go: `fmt.Sprintf("%#08x", masqueradeValue)`),
 * which a real node gets: `0x004000`. kdp writes what the real kube-proxy writes.
 */
const realMark = (fakeText: string): string => fakeText.replace(/\b0x4000\b/g, '0x004000');

/** kube-proxy's expected lines missing from kdp's, and kdp's lines kube-proxy does not expect. */
function lineDiff(kubeProxy: string, kdp: string): { missing: string[]; extra: string[] } {
  const want = lineSet(realMark(kubeProxy));
  const got = lineSet(kdp);
  const left = [...got];
  const missing: string[] = [];
  for (const l of want) {
    const i = left.indexOf(l);
    if (i < 0) missing.push(l);
    else left.splice(i, 1);
  }
  return { missing, extra: left };
}

// kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go, TestSyncProxyRulesRepeated, the
// payload of the first sync (the revision in the search index that still uses pointer.String,
// ~1.27-1.29). Its fake iptables has neither nfacct nor --random-fully.
const kIptablesRestoreFirstSync = `
*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-SNQ3ZNILQDEJNDQO - [0:0]
:KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]
:KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 -j KUBE-SVC-2VJB64SDSIJUP5T6
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -s 10.0.2.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -m tcp -p tcp -j DNAT --to-destination 10.0.2.1:8080
-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 -> 10.0.2.1:8080" -j KUBE-SEP-UHEGFW77JX3KXTOV
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO
COMMIT
`;

test("--format iptables-restore is kube-proxy's first-sync payload, line for line (TestSyncProxyRulesRepeated)", () => {
  // Arrange: kube-proxy's fake proxier: clusterCIDR 10.0.0.0/8, endpoints on no node, and a node
  // whose iptables has no nfacct counters and no --random-fully.
  const cluster = clusterOf(
    proxyConfig({ mode: 'iptables', clusterCIDR: '10.0.0.0/8' }),
    clusterNetwork({ nfacct: false, randomFully: false }),
    node('test-node', '10.0.0.0/24', '192.168.0.2'),
    service('ns1', 'svc1', { type: 'ClusterIP', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: 'TCP' }] }),
    slice('ns1', 'svc1', [{ name: 'p80', port: 80 }], [{ ip: '10.0.1.1' }]),
    service('ns2', 'svc2', { type: 'ClusterIP', clusterIP: '172.30.0.42', ports: [{ name: 'p8080', port: 8080, protocol: 'TCP' }] }),
    slice('ns2', 'svc2', [{ name: 'p8080', port: 8080 }], [{ ip: '10.0.2.1' }]),
  );
  // Act
  const text = payload(cluster, 'iptables', 'iptables-restore');
  // Assert
  assert.deepEqual(lineDiff(kIptablesRestoreFirstSync, text), { missing: [], extra: [] });
  assert.match(text, /^\*filter\n[\s\S]*^COMMIT\n\*nat\n[\s\S]*^COMMIT\n$/m, 'filter then nat, each ending in COMMIT');
});

// kubernetes/kubernetes pkg/proxy/iptables/proxier_test.go, TestLoadBalancer (the same revision
// as above): a LoadBalancer with two ingress IPs and loadBalancerSourceRanges, one of them written
// with a leading space ("Regression test that excess whitespace gets ignored").
const kIptablesRestoreLoadBalancer = `
*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by KUBE-FW-XPGD46QRK7WJZT7O" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-PROXY-FIREWALL -m comment --comment "ns1/svc1:p80 traffic not accepted by KUBE-FW-XPGD46QRK7WJZT7O" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j DROP
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-XPGD46QRK7WJZT7O - [0:0]
:KUBE-FW-XPGD46QRK7WJZT7O - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-FW-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 loadbalancer IP" -m tcp -p tcp -d 5.6.7.8 --dport 80 -j KUBE-FW-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-XPGD46QRK7WJZT7O -m comment --comment "masquerade traffic for ns1/svc1:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-XPGD46QRK7WJZT7O -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 192.168.0.0/24 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 203.0.113.0/25 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 1.2.3.4 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 loadbalancer IP" -s 5.6.7.8 -j KUBE-EXT-XPGD46QRK7WJZT7O
-A KUBE-FW-XPGD46QRK7WJZT7O -m comment --comment "other traffic to ns1/svc1:p80 will be dropped by KUBE-PROXY-FIREWALL"
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
`;

test("--format iptables-restore is kube-proxy's payload for a LoadBalancer with source ranges, line for line (TestLoadBalancer)", () => {
  const cluster = clusterOf(
    proxyConfig({ mode: 'iptables', clusterCIDR: '10.0.0.0/8' }),
    clusterNetwork({ nfacct: false, randomFully: false }),
    node('test-node', '10.0.0.0/24', '192.168.0.2'),
    service(
      'ns1',
      'svc1',
      {
        type: 'LoadBalancer',
        clusterIP: '172.30.0.41',
        ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }],
        loadBalancerSourceRanges: ['192.168.0.0/24', ' 203.0.113.0/25'],
      },
      { loadBalancer: { ingress: [{ ip: '1.2.3.4' }, { ip: '5.6.7.8' }] } },
    ),
    slice('ns1', 'svc1', [{ name: 'p80', port: 80 }], [{ ip: '10.180.0.1' }]),
  );
  assert.deepEqual(lineDiff(kIptablesRestoreLoadBalancer, payload(cluster, 'iptables', 'iptables-restore')), { missing: [], extra: [] });
});

test('the ClusterNetwork node settings reach the payload: nfacct counters and --random-fully', () => {
  const base = [proxyConfig({ mode: 'iptables', clusterCIDR: '10.0.0.0/8' }), node('test-node', '10.0.0.0/24', '192.168.0.2')];
  const byDefault = payload(clusterOf(...base), 'iptables', 'iptables-restore');
  assert.match(byDefault, /-j MASQUERADE --random-fully$/m, '--random-fully on by default');
  assert.doesNotMatch(byDefault, /-m nfacct/, 'no nfacct counters by default');
  const withCounters = payload(clusterOf(...base, clusterNetwork({ nfacct: true })), 'iptables', 'iptables-restore');
  assert.match(withCounters, /-m conntrack --ctstate INVALID -m nfacct --nfacct-name ct_state_invalid_dropped_pkts -j DROP$/m);
  const ipvs = payload(clusterOf(proxyConfig({ mode: 'ipvs', clusterCIDR: '10.0.0.0/8' }), node('test-node', '10.0.0.0/24', '192.168.0.2'), clusterNetwork({ randomFully: false })), 'ipvs', 'iptables-save');
  assert.match(ipvs, /"kubernetes service traffic requiring SNAT" -j MASQUERADE$/m, 'IPVS mode follows randomFully too');
});

// pkg/proxy/iptables/proxier.go, "Capture nodeports": with localhostNodePorts, IPv4 and the
// localhost_nps_accepted_pkts nfacct counter created, a NodePort with endpoints gets, before its
// ordinary KUBE-NODEPORTS rule, `-A KUBE-NODEPORTS -m comment --comment <svcPortName> -m <proto> -p
// <proto> -d 127.0.0.0/8 --dport <nodePort> -m nfacct --nfacct-name localhost_nps_accepted_pkts -j
// <external chain>`; without the counter only the ordinary rule.
test('a localhost NodePort is counted by nfacct localhost_nps_accepted_pkts ahead of the ordinary NodePort rule', () => {
  const objects = (nfacct: boolean) => clusterOf(
    proxyConfig({ mode: 'iptables', clusterCIDR: '10.0.0.0/8' }),
    clusterNetwork({ nfacct, randomFully: false }),
    node('test-node', '10.0.0.0/24', '192.168.0.2'),
    service('ns1', 'svc1', { type: 'NodePort', clusterIP: '172.30.0.41', ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }] }),
    slice('ns1', 'svc1', [{ name: 'p80', port: 80 }], [{ ip: '10.180.0.1' }]),
  );
  const nodePorts = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('-A KUBE-NODEPORTS ') && l.includes('ns1/svc1:p80'));
  assert.deepEqual(nodePorts(payload(objects(true), 'iptables', 'iptables-restore')), [
    '-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp -d 127.0.0.0/8 --dport 3001 -m nfacct --nfacct-name localhost_nps_accepted_pkts -j KUBE-EXT-XPGD46QRK7WJZT7O',
    '-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O',
  ]);
  assert.deepEqual(nodePorts(payload(objects(false), 'iptables', 'iptables-restore')), [
    '-A KUBE-NODEPORTS -m comment --comment ns1/svc1:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-XPGD46QRK7WJZT7O',
  ]);
});

// kubernetes/kubernetes pkg/proxy/nftables/proxier_test.go `baseRules` at commit
// 81810de635aa13aa0a32992f6def3aa9d6025ebc (after PR 132456: filter-*-pre-dnat at -110, the
// other filter chains at 0): what every sync of kube-proxy's fake proxier holds with no Services.
const kNftBaseRules = `
add table ip kube-proxy { comment "rules for kube-proxy" ; }
add set ip kube-proxy cluster-ips { type ipv4_addr ; comment "Active ClusterIPs" ; }
add set ip kube-proxy nodeport-ips { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }
add map ip kube-proxy firewall-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "destinations that are subject to LoadBalancerSourceRanges" ; }
add map ip kube-proxy no-endpoint-nodeports { type inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to service nodeports with no endpoints" ; }
add map ip kube-proxy no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict ; comment "vmap to drop or reject packets to services with no endpoints" ; }
add map ip kube-proxy service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; comment "ClusterIP, ExternalIP and LoadBalancer IP traffic" ; }
add map ip kube-proxy service-nodeports { type inet_proto . inet_service : verdict ; comment "NodePort traffic" ; }
add chain ip kube-proxy cluster-ips-check
add chain ip kube-proxy filter-prerouting-pre-dnat { type filter hook prerouting priority -110 ; }
add chain ip kube-proxy filter-output-pre-dnat { type filter hook output priority -110 ; }
add chain ip kube-proxy filter-forward { type filter hook forward priority 0 ; }
add chain ip kube-proxy filter-input { type filter hook input priority 0 ; }
add chain ip kube-proxy filter-output { type filter hook output priority 0 ; }
add chain ip kube-proxy firewall-check
add chain ip kube-proxy mark-for-masquerade
add chain ip kube-proxy masquerading
add chain ip kube-proxy nat-output { type nat hook output priority -100 ; }
add chain ip kube-proxy nat-postrouting { type nat hook postrouting priority 100 ; }
add chain ip kube-proxy nat-prerouting { type nat hook prerouting priority -100 ; }
add chain ip kube-proxy nodeport-endpoints-check
add chain ip kube-proxy reject-chain { comment "helper for @no-endpoint-services / @no-endpoint-nodeports" ; }
add chain ip kube-proxy services
add chain ip kube-proxy service-endpoints-check
add rule ip kube-proxy cluster-ips-check ip daddr @cluster-ips reject comment "Reject traffic to invalid ports of ClusterIPs"
add rule ip kube-proxy cluster-ips-check ip daddr { 172.30.0.0/16 } drop comment "Drop traffic to unallocated ClusterIPs"
add rule ip kube-proxy filter-prerouting-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-forward ct state new jump service-endpoints-check
add rule ip kube-proxy filter-forward ct state new jump cluster-ips-check
add rule ip kube-proxy filter-input ct state new jump nodeport-endpoints-check
add rule ip kube-proxy filter-input ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output ct state new jump service-endpoints-check
add rule ip kube-proxy filter-output-pre-dnat ct state new jump firewall-check
add rule ip kube-proxy filter-output ct state new jump cluster-ips-check
add rule ip kube-proxy firewall-check ip daddr . meta l4proto . th dport vmap @firewall-ips
add rule ip kube-proxy mark-for-masquerade mark set mark or 0x4000
add rule ip kube-proxy masquerading mark and 0x4000 == 0 return
add rule ip kube-proxy masquerading mark set mark xor 0x4000
add rule ip kube-proxy masquerading masquerade fully-random
add rule ip kube-proxy nat-output jump services
add rule ip kube-proxy nat-postrouting jump masquerading
add rule ip kube-proxy nat-prerouting jump services
add rule ip kube-proxy nodeport-endpoints-check ip daddr @nodeport-ips meta l4proto . th dport vmap @no-endpoint-nodeports
add rule ip kube-proxy reject-chain reject
add rule ip kube-proxy services ip daddr . meta l4proto . th dport vmap @service-ips
add rule ip kube-proxy services ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports
add element ip kube-proxy nodeport-ips { 192.168.0.2 }
add rule ip kube-proxy service-endpoints-check ip daddr . meta l4proto . th dport vmap @no-endpoint-services
`;

test("--format nft-transaction holds kube-proxy's baseRules, and only flushes besides (nftables proxier_test.go)", () => {
  // Arrange: kube-proxy's fake nftables proxier: node IP 192.168.0.2, pods 10.0.0.0/8, ServiceCIDR 172.30.0.0/16, no Services.
  const cluster = clusterOf(
    proxyConfig({ mode: 'nftables', clusterCIDR: '10.0.0.0/8' }),
    { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec: { cidrs: ['172.30.0.0/16'] } },
    node('test-node', '10.0.0.0/24', '192.168.0.2'),
  );
  // Act
  const text = payload(cluster, 'nftables', 'nft-transaction');
  // Assert: the Dump lists objects, a transaction also empties them first (knftables' tx.Flush).
  const { missing, extra } = lineDiff(kNftBaseRules, text);
  assert.deepEqual(missing, []);
  assert.deepEqual(extra.filter((l) => !l.startsWith('flush ')), []);
  assert.ok(extra.length > 0, 'a full sync flushes the chains, sets and maps it declares');
  for (const l of text.trimEnd().split('\n')) assert.match(l, /^(add|flush|delete) /, `one statement per line: ${l}`);
});

test('the real iptables-restore --noflush loads --format iptables-restore into a throw-away namespace, every rule', { skip: iptablesSkip() }, () => {
  const cluster = clusterOf(
    proxyConfig({ mode: 'iptables', clusterCIDR: '10.244.0.0/16' }),
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    service('default', 'lb', { type: 'LoadBalancer', clusterIP: '10.96.0.30', externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, loadBalancerSourceRanges: ['203.0.113.0/25'], ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080, protocol: 'TCP' }] }, { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } }),
    slice('default', 'lb', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.5', node: 'node-1' }]),
    service('default', 'web', { clusterIP: '10.96.0.10', sessionAffinity: 'ClientIP', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] }),
    slice('default', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.6', node: 'node-1' }, { ip: '10.244.2.6', node: 'node-2' }]),
  );
  const text = payload(cluster, 'iptables', 'iptables-restore');
  const r = spawnSync('unshare', ['-n', 'sh', '-c', 'iptables-restore --noflush && iptables-save'], { input: text, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const count = (t: string): number => t.split('\n').filter((l) => l.startsWith('-A ')).length;
  assert.equal(count(r.stdout), count(text));
});

function iptablesSkip(): string | undefined {
  return unshareSkipReason('iptables-restore');
}
