/**
 * Cluster DNS answers, one question at a time, as a packet-flow-style table: a question in, the
 * RCODE and the records (as dig prints them) out. Every expected value is written here from the
 * Kubernetes DNS specification (kubernetes/dns docs/specification.md) and CoreDNS 1.14's
 * kubernetes plugin (plugin/kubernetes, plugin/backend_lookup.go), not computed by the code.
 *
 * The cluster (test/fixtures/dns-cluster.yaml): shop/web ClusterIP 10.96.0.20 (http 80, metrics
 * 9090; endpoint 10.244.1.5 ready, 10.244.1.6 not); shop/db headless (db-0 10.244.1.20, db-1
 * 10.244.1.21, db-2 10.244.1.22 not ready, 10.244.1.23 without hostname; postgres 5432);
 * shop/peers headless with publishNotReadyAddresses (peer-0 10.244.1.30 not ready); shop/idle
 * headless with only a not-ready endpoint; shop/payments ExternalName api.example.com; shop/front
 * ExternalName web.shop.svc.cluster.local; kube-system/kube-dns 10.96.0.10; Namespace empty.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterZone, type CorednsSettings, type QueryType } from '../../src/dns/index.js';
import { loadFixture } from '../helpers/cluster.js';

interface Row {
  q: string;
  type: QueryType;
  /** null: answered outside the cluster (forwarded upstream). */
  rcode: 'NOERROR' | 'NXDOMAIN' | null;
  /** `TYPE data` per answer record, in order. */
  answers?: string[];
  /** `name TYPE data` per additional record. */
  additional?: string[];
  why: string;
}

const W = 'web.shop.svc.cluster.local.';

const kRows: Row[] = [
  // ClusterIP Service.
  { q: W, type: 'A', rcode: 'NOERROR', answers: ['A 10.96.0.20'], why: 'A of a ClusterIP Service is its ClusterIP' },
  { q: 'WEB.Shop.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['A 10.96.0.20'], why: 'names match without regard to case' },
  { q: W, type: 'AAAA', rcode: 'NOERROR', answers: [], why: 'AAAA of an IPv4 Service is NODATA, not NXDOMAIN' },
  { q: W, type: 'ANY', rcode: 'NOERROR', answers: [], why: 'the plugin answers ANY with a fake A lookup: NODATA for a name that exists' },
  { q: W, type: 'CNAME', rcode: 'NOERROR', answers: [], why: 'a ClusterIP Service has no CNAME' },
  { q: W, type: 'SRV', rcode: 'NOERROR', answers: ['SRV 0 50 80 web.shop.svc.cluster.local.', 'SRV 0 50 9090 web.shop.svc.cluster.local.'], additional: [`${W} A 10.96.0.20`], why: 'SRV without port labels: every port, weight 100/2' },
  { q: `_http._tcp.${W}`, type: 'SRV', rcode: 'NOERROR', answers: ['SRV 0 100 80 web.shop.svc.cluster.local.'], additional: [`${W} A 10.96.0.20`], why: 'SRV of a named port: the Service port (not the target port), target the Service' },
  { q: `_http._udp.${W}`, type: 'SRV', rcode: 'NXDOMAIN', why: 'no UDP port named http' },
  { q: `_grpc._tcp.${W}`, type: 'SRV', rcode: 'NXDOMAIN', why: 'no port named grpc' },
  { q: `10-244-1-5.${W}`, type: 'A', rcode: 'NOERROR', answers: ['A 10.244.1.5'], why: 'CoreDNS names endpoints of ClusterIP Services too (dashed address)' },
  { q: `10-244-1-6.${W}`, type: 'A', rcode: 'NXDOMAIN', why: 'a not-ready endpoint has no record' },
  { q: 'nosuch.shop.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', why: 'no such Service' },
  { q: 'nosuch.shop.svc.cluster.local.', type: 'AAAA', rcode: 'NXDOMAIN', why: 'NXDOMAIN whatever the type' },
  { q: 'web.other.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', why: 'no such namespace' },
  { q: 'a.b.c.web.shop.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', why: 'too many labels' },
  { q: 'web.shop.cluster.local.', type: 'A', rcode: 'NXDOMAIN', why: 'neither svc nor pod' },
  // Namespaces and the zone's apex: names that exist and hold no record.
  { q: 'shop.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: [], why: 'an existing namespace is NODATA' },
  { q: 'empty.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: [], why: 'a namespace with only a Namespace object' },
  { q: 'svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: [], why: 'svc.<zone> is NODATA' },
  { q: 'cluster.local.', type: 'A', rcode: 'NOERROR', answers: [], why: 'the apex is NODATA' },
  // Headless Service.
  { q: 'db.shop.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['A 10.244.1.20', 'A 10.244.1.21', 'A 10.244.1.23'], why: 'headless: every ready endpoint address, not db-2' },
  { q: 'db.shop.svc.cluster.local.', type: 'AAAA', rcode: 'NOERROR', answers: [], why: 'headless, IPv4 endpoints: NODATA' },
  { q: 'db-0.db.shop.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['A 10.244.1.20'], why: 'an endpoint with a hostname' },
  { q: 'db-2.db.shop.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', why: 'a not-ready endpoint is left out' },
  { q: '10-244-1-23.db.shop.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['A 10.244.1.23'], why: 'an endpoint without hostname is named by its dashed address' },
  {
    q: '_postgres._tcp.db.shop.svc.cluster.local.',
    type: 'SRV',
    rcode: 'NOERROR',
    answers: ['SRV 0 33 5432 db-0.db.shop.svc.cluster.local.', 'SRV 0 33 5432 db-1.db.shop.svc.cluster.local.', 'SRV 0 33 5432 10-244-1-23.db.shop.svc.cluster.local.'],
    additional: ['db-0.db.shop.svc.cluster.local. A 10.244.1.20', 'db-1.db.shop.svc.cluster.local. A 10.244.1.21', '10-244-1-23.db.shop.svc.cluster.local. A 10.244.1.23'],
    why: 'headless SRV: one per ready endpoint, weight floor(100/3), the endpoint as target, its A in additional',
  },
  { q: 'peers.shop.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['A 10.244.1.30'], why: 'publishNotReadyAddresses publishes a not-ready endpoint' },
  { q: 'peer-0.peers.shop.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['A 10.244.1.30'], why: '... and its hostname' },
  { q: '_gossip._udp.peers.shop.svc.cluster.local.', type: 'SRV', rcode: 'NOERROR', answers: ['SRV 0 100 7946 peer-0.peers.shop.svc.cluster.local.'], additional: ['peer-0.peers.shop.svc.cluster.local. A 10.244.1.30'], why: 'UDP named port' },
  { q: 'idle.shop.svc.cluster.local.', type: 'A', rcode: 'NXDOMAIN', why: 'a headless Service with no ready endpoint does not exist for CoreDNS' },
  // ExternalName.
  { q: 'front.shop.svc.cluster.local.', type: 'CNAME', rcode: 'NOERROR', answers: ['CNAME web.shop.svc.cluster.local.'], why: 'ExternalName is a CNAME' },
  { q: 'front.shop.svc.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['CNAME web.shop.svc.cluster.local.', 'A 10.96.0.20'], why: 'an A query chases a CNAME inside the zone' },
  { q: 'front.shop.svc.cluster.local.', type: 'AAAA', rcode: 'NOERROR', answers: [], why: 'the chase finds no AAAA, so CoreDNS drops the CNAME too: NODATA' },
  { q: 'front.shop.svc.cluster.local.', type: 'SRV', rcode: 'NOERROR', answers: [], why: 'SRV never follows an ExternalName' },
  { q: 'payments.shop.svc.cluster.local.', type: 'CNAME', rcode: 'NOERROR', answers: ['CNAME api.example.com.'], why: 'CNAME to an outside name, with its dot' },
  { q: 'payments.shop.svc.cluster.local.', type: 'A', rcode: null, answers: ['CNAME api.example.com.'], why: 'the A behind it comes from upstream: unknown' },
  { q: '_http._tcp.payments.shop.svc.cluster.local.', type: 'CNAME', rcode: 'NXDOMAIN', why: 'no port labels under an ExternalName' },
  // PTR.
  { q: '20.0.96.10.in-addr.arpa.', type: 'PTR', rcode: 'NOERROR', answers: ['PTR web.shop.svc.cluster.local.'], why: 'PTR of a ClusterIP' },
  { q: '10.0.96.10.in-addr.arpa.', type: 'PTR', rcode: 'NOERROR', answers: ['PTR kube-dns.kube-system.svc.cluster.local.'], why: 'PTR of the DNS Service' },
  { q: '21.1.244.10.in-addr.arpa.', type: 'PTR', rcode: 'NOERROR', answers: ['PTR db-1.db.shop.svc.cluster.local.'], why: 'PTR of a headless endpoint, by hostname' },
  { q: '5.1.244.10.in-addr.arpa.', type: 'PTR', rcode: 'NOERROR', answers: ['PTR 10-244-1-5.web.shop.svc.cluster.local.'], why: 'PTR of a ClusterIP Service endpoint, by dashed address' },
  { q: '22.1.244.10.in-addr.arpa.', type: 'PTR', rcode: null, answers: [], why: 'a not-ready endpoint has no PTR: fallthrough in-addr.arpa sends it upstream' },
  { q: '99.1.244.10.in-addr.arpa.', type: 'PTR', rcode: null, answers: [], why: 'an unknown address falls through upstream' },
  { q: '20.0.96.10.in-addr.arpa.', type: 'A', rcode: null, answers: [], why: 'only PTR is answered in the reverse zone' },
  // Pods, `pods insecure`.
  { q: '10-244-1-10.shop.pod.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['A 10.244.1.10'], why: 'a pod A record' },
  { q: '10-9-9-9.shop.pod.cluster.local.', type: 'A', rcode: 'NOERROR', answers: ['A 10.9.9.9'], why: 'insecure: any address answers, pod or not' },
  { q: '10-244-1-10.nosuch.pod.cluster.local.', type: 'A', rcode: 'NXDOMAIN', why: 'the namespace must exist' },
  { q: 'client.shop.pod.cluster.local.', type: 'A', rcode: 'NXDOMAIN', why: 'pod names are addresses, not pod names' },
  { q: '10-244-1-10.shop.pod.cluster.local.', type: 'AAAA', rcode: 'NOERROR', answers: [], why: 'IPv4 pod: AAAA is NODATA' },
  { q: 'shop.pod.cluster.local.', type: 'A', rcode: 'NOERROR', answers: [], why: 'a namespace under pod is NODATA' },
  // Outside the zone.
  { q: 'api.example.com.', type: 'A', rcode: null, answers: [], why: 'CoreDNS forwards other names upstream' },
];

function rendered(zone: ClusterZone, row: Row) {
  const r = zone.answer(row.q, row.type);
  return {
    rcode: r.rcode,
    answers: r.answers.map((a) => `${a.type} ${a.data}`),
    additional: r.additional.map((a) => `${a.name} ${a.type} ${a.data}`),
  };
}

test('cluster DNS answers as CoreDNS 1.14 with kubeadm\'s Corefile (table)', () => {
  const zone = new ClusterZone(loadFixture('dns-cluster.yaml'));
  for (const row of kRows) {
    const got = rendered(zone, row);
    const want = { rcode: row.rcode, answers: row.answers ?? [], additional: row.additional ?? [] };
    assert.deepEqual(got, want, `${row.q} ${row.type}: ${row.why}`);
  }
});

test('every record carries kubeadm\'s ttl 30 and the question as its owner name', () => {
  const zone = new ClusterZone(loadFixture('dns-cluster.yaml'));
  const r = zone.answer('_postgres._tcp.db.shop.svc.cluster.local.', 'SRV');
  assert.ok(r.answers.length === 3 && r.additional.length === 3);
  for (const rec of [...r.answers, ...r.additional]) assert.equal(rec.ttl, 30);
  for (const rec of r.answers) assert.equal(rec.name, '_postgres._tcp.db.shop.svc.cluster.local.');
});

test('the pods setting: disabled answers no pod name, verified only a pod with that address in that namespace', () => {
  const cluster = loadFixture('dns-cluster.yaml');
  const with_ = (pods: CorednsSettings['pods']) => new ClusterZone(cluster, { pods, ttl: 5 });
  const q = (zone: ClusterZone, name: string) => zone.answer(name, 'A');
  assert.equal(q(with_('disabled'), '10-244-1-10.shop.pod.cluster.local.').rcode, 'NXDOMAIN');
  const verified = with_('verified');
  assert.deepEqual(q(verified, '10-244-1-10.shop.pod.cluster.local.').answers, [{ name: '10-244-1-10.shop.pod.cluster.local.', type: 'A', ttl: 5, data: '10.244.1.10' }]);
  assert.equal(q(verified, '10-9-9-9.shop.pod.cluster.local.').rcode, 'NXDOMAIN', 'no pod has 10.9.9.9');
  assert.equal(q(verified, '10-244-1-10.kube-system.pod.cluster.local.').rcode, 'NXDOMAIN', 'the pod is in shop, not kube-system');
  assert.equal(q(with_('insecure'), '10-9-9-9.shop.pod.cluster.local.').rcode, 'NOERROR');
});

test('SRV weights are floor(100 / records), computed as CoreDNS does', async () => {
  const { clusterOf, service, slice } = await import('../helpers/cluster.js');
  // 7 ready endpoints: 100 / 700 * 100 = 14.28... -> 14.
  const eps = Array.from({ length: 7 }, (_, i) => ({ ip: `10.244.0.${i + 2}` }));
  const cluster = clusterOf(service('ns', 'many', { clusterIP: 'None', ports: [{ name: 'p', port: 81 }] }), slice('ns', 'many', [{ name: 'p', port: 81 }], eps));
  const r = new ClusterZone(cluster).answer('_p._tcp.many.ns.svc.cluster.local.', 'SRV');
  assert.equal(r.answers.length, 7);
  for (const a of r.answers) assert.match(a.data, /^0 14 81 10-244-0-\d\.many\.ns\.svc\.cluster\.local\.$/);
});

test('the cluster domain follows a KubeletConfiguration', async () => {
  const { clusterOf, service } = await import('../helpers/cluster.js');
  const cluster = clusterOf(
    { apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration', clusterDomain: 'corp.internal', clusterDNS: ['10.0.0.10'] },
    service('ns', 'api', { clusterIP: '10.0.0.50', ports: [{ port: 443 }] }),
  );
  assert.equal(cluster.dns.domain, 'corp.internal');
  assert.deepEqual(cluster.dns.servers, [0x0a00000a]);
  const zone = new ClusterZone(cluster);
  assert.deepEqual(zone.answer('api.ns.svc.corp.internal.', 'A').answers.map((a) => a.data), ['10.0.0.50']);
  assert.equal(zone.answer('api.ns.svc.cluster.local.', 'A').rcode, null, 'cluster.local is now outside the zone');
});
