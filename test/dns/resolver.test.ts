/**
 * A pod's resolver: resolv.conf as kubelet writes it (pkg/kubelet/network/dns/dns.go), and the
 * exact queries glibc sends for relative and absolute names under ndots:5, each answered by the
 * cluster's CoreDNS. Expected sequences are written out by hand from res_query.c's rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { podResolvConf, resolveName } from '../../src/dns/index.js';
import { formatIp } from '../../src/net/ipv4.js';
import { clusterNetwork, clusterOf, loadFixture, service } from '../helpers/cluster.js';

const cluster = loadFixture('dns-cluster.yaml');
const pod = (name: string) => cluster.pods.find((p) => p.namespace === 'shop' && p.name === name)!;
const conf = (name?: string) => {
  const c = podResolvConf(cluster, 'shop', name ? pod(name) : undefined);
  return { nameservers: c.nameservers.map(formatIp), searches: c.searches, options: c.options, ndots: c.ndots, applied: c.applied };
};

test('resolv.conf by dnsPolicy, as kubelet writes it', () => {
  const clusterSearch = ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'];
  assert.deepEqual(conf(), { nameservers: ['10.96.0.10'], searches: clusterSearch, options: ['ndots:5'], ndots: 5, applied: 'cluster' }, 'ClusterFirst: the kube-dns ClusterIP');
  assert.deepEqual(conf('client'), conf(), 'a pod without dnsPolicy is ClusterFirst');
  assert.deepEqual(conf('host-agent'), { nameservers: [], searches: [], options: [], ndots: 1, applied: 'host' }, 'hostNetwork + ClusterFirst is Default (node file empty here)');
  assert.deepEqual(conf('host-agent-cluster'), conf(), 'ClusterFirstWithHostNet keeps cluster DNS');
  assert.deepEqual(
    conf('custom'),
    { nameservers: ['10.96.0.10'], searches: ['shop.svc.cluster.local', 'corp.example'], options: ['edns0', 'ndots:2'], ndots: 2, applied: 'none' },
    'None: dnsConfig only',
  );
  assert.deepEqual(
    conf('tuned'),
    { nameservers: ['10.96.0.10'], searches: [...clusterSearch, 'corp.example'], options: ['ndots:1'], ndots: 1, applied: 'cluster' },
    'dnsConfig appends searches and overrides ndots',
  );
});

test("ClusterFirst appends the node's search list (deduplicated) and replaces its options; Default takes the node's file", () => {
  const c = clusterOf(
    service('kube-system', 'kube-dns', { clusterIP: '10.96.0.10', ports: [{ port: 53, protocol: 'UDP' }] }),
    clusterNetwork({ nodeResolvConf: { nameservers: ['192.168.0.1'], searches: ['corp.example', 'cluster.local'], options: ['ndots:2', 'timeout:1'] } }),
  );
  const cf = podResolvConf(c, 'app');
  assert.deepEqual(cf.searches, ['app.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'corp.example']);
  assert.deepEqual(cf.options, ['ndots:5']);
  const def = podResolvConf(c, 'app', { namespace: 'app', name: 'p', ip: 1, node: -1, hostNetwork: false, dnsPolicy: 'Default', labels: {}, namedPorts: [] });
  assert.deepEqual({ ns: def.nameservers.map(formatIp), s: def.searches, o: def.options, n: def.ndots }, { ns: ['192.168.0.1'], s: ['corp.example', 'cluster.local'], o: ['ndots:2', 'timeout:1'], n: 2 });
});

test('without clusterDNS, ClusterFirst falls back to Default (kubelet MissingClusterDNS)', () => {
  const c = clusterOf(service('app', 'web', { clusterIP: '10.96.0.20', ports: [{ port: 80 }] }));
  const rc = podResolvConf(c, 'app');
  assert.equal(rc.applied, 'host');
  assert.deepEqual(rc.nameservers, []);
  assert.ok(rc.notes.some((n) => /falls back to Default/.test(n)));
});

/** `qname qtype rcode` per query. */
const seq = (name: string, from: string, type?: 'A' | 'SRV') =>
  resolveName(cluster, name, from, type).report.queries.map((q) => `${q.qname} ${q.qtype} ${q.rcode ?? 'unknown'}`);

test('the query sequence for relative and absolute names under ndots:5', () => {
  // A Service of the pod's namespace: the first search domain answers.
  assert.deepEqual(seq('web', 'shop/client'), ['web.shop.svc.cluster.local. A NOERROR', 'web.shop.svc.cluster.local. AAAA NOERROR']);
  // service.namespace: the first candidate is NXDOMAIN, the second answers.
  assert.deepEqual(seq('kube-dns.kube-system', 'shop/client'), [
    'kube-dns.kube-system.shop.svc.cluster.local. A NXDOMAIN',
    'kube-dns.kube-system.shop.svc.cluster.local. AAAA NXDOMAIN',
    'kube-dns.kube-system.svc.cluster.local. A NOERROR',
    'kube-dns.kube-system.svc.cluster.local. AAAA NOERROR',
  ]);
  // An outside name with 2 dots: the three cluster domains, then as it is (answered upstream).
  assert.deepEqual(seq('api.example.com', 'shop'), [
    'api.example.com.shop.svc.cluster.local. A NXDOMAIN',
    'api.example.com.shop.svc.cluster.local. AAAA NXDOMAIN',
    'api.example.com.svc.cluster.local. A NXDOMAIN',
    'api.example.com.svc.cluster.local. AAAA NXDOMAIN',
    'api.example.com.cluster.local. A NXDOMAIN',
    'api.example.com.cluster.local. AAAA NXDOMAIN',
    'api.example.com. A unknown',
    'api.example.com. AAAA unknown',
  ]);
  // The full name without its dot has 4 dots < 5: still searched first, each search NXDOMAIN.
  assert.deepEqual(seq('web.shop.svc.cluster.local', 'shop'), [
    'web.shop.svc.cluster.local.shop.svc.cluster.local. A NXDOMAIN',
    'web.shop.svc.cluster.local.shop.svc.cluster.local. AAAA NXDOMAIN',
    'web.shop.svc.cluster.local.svc.cluster.local. A NXDOMAIN',
    'web.shop.svc.cluster.local.svc.cluster.local. AAAA NXDOMAIN',
    'web.shop.svc.cluster.local.cluster.local. A NXDOMAIN',
    'web.shop.svc.cluster.local.cluster.local. AAAA NXDOMAIN',
    'web.shop.svc.cluster.local. A NOERROR',
    'web.shop.svc.cluster.local. AAAA NOERROR',
  ]);
  // Absolute: one query per type.
  assert.deepEqual(seq('web.shop.svc.cluster.local.', 'shop'), ['web.shop.svc.cluster.local. A NOERROR', 'web.shop.svc.cluster.local. AAAA NOERROR']);
  assert.deepEqual(seq('nosuch.shop.svc.cluster.local.', 'shop'), ['nosuch.shop.svc.cluster.local. A NXDOMAIN', 'nosuch.shop.svc.cluster.local. AAAA NXDOMAIN']);
  // 5 dots: as it is first.
  assert.deepEqual(seq('a.b.c.d.e.f', 'shop', 'A'), ['a.b.c.d.e.f. A unknown']);
  // NODATA on both types does not stop the search: a namespace name exists but has no address.
  assert.deepEqual(seq('shop', 'shop', 'A'), ['shop.shop.svc.cluster.local. A NXDOMAIN', 'shop.svc.cluster.local. A NOERROR', 'shop.cluster.local. A NXDOMAIN', 'shop. A unknown']);
});

test('the address the application gets', () => {
  assert.equal(resolveName(cluster, 'front', 'shop').report.address, '10.96.0.20', 'through the in-zone CNAME');
  assert.equal(resolveName(cluster, '_postgres._tcp.db', 'shop', 'SRV').report.address, '10.244.1.20', 'the first SRV target');
  assert.equal(resolveName(cluster, 'idle.shop.svc.cluster.local.', 'shop').report.address, null, 'no ready endpoint');
});
