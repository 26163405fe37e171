/**
 * A pod's lookup as packets (src/dataplane/dns-lookup.ts), in every mode. The expected query
 * sequences are written here from glibc's rules (ndots:5, search `shop.svc.cluster.local
 * svc.cluster.local cluster.local`, A and AAAA per name) and the Kubernetes DNS specification;
 * tshark, which has its own DNS dissector, reads the pcap of the same lookup and must see the
 * same questions, answers and codes, and no malformed or warned-about packet.
 */
import { strict as assert } from 'node:assert';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { modeNames } from '../../src/compile/index.js';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { kFirstResolverPort, traceLookup } from '../../src/dataplane/dns-lookup.js';
import { loadClusterOrThrow } from '../../src/model/load.js';
import type { Cluster, Pod } from '../../src/model/types.js';
import { PcapWriter } from '../../src/net/pcap.js';
import { fixturePath, loadFixture } from '../helpers/cluster.js';

const hasTshark = !spawnSync('tshark', ['--version'], { stdio: 'ignore' }).error;
const kCoredns = '10.244.1.2:53';

function client(cluster: Cluster): Pod {
  return cluster.pods.find((p) => p.namespace === 'shop' && p.name === 'client')!;
}

function lookup(cluster: Cluster, mode: string, name: string, capture = false) {
  const ctx = new PipelineContext(new CompiledCluster(cluster, mode as never), { seed: 1 });
  return { ctx, ...traceLookup(ctx, client(cluster), name, { capture }) };
}

describe('a lookup travels as DNS packets through the mode\'s rules', () => {
  const cluster = loadFixture('dns-cluster.yaml');
  for (const mode of modeNames()) {
    it(`${mode}: web.shop from shop/client asks two names, A and AAAA each, and reaches CoreDNS every time`, () => {
      const { dns, resolution } = lookup(cluster, mode, 'web.shop');
      assert.deepEqual(
        dns.map((q) => `${q.qname} ${q.qtype} ${q.rcode}`),
        [
          'web.shop.shop.svc.cluster.local. A NXDOMAIN',
          'web.shop.shop.svc.cluster.local. AAAA NXDOMAIN',
          'web.shop.svc.cluster.local. A NOERROR',
          'web.shop.svc.cluster.local. AAAA NOERROR',
        ],
      );
      assert.deepEqual(dns.map((q) => q.deliveredTo), [kCoredns, kCoredns, kCoredns, kCoredns]);
      assert.deepEqual(dns.map((q) => q.server), Array(4).fill('10.96.0.10:53'));
      assert.deepEqual(dns.map((q) => q.sourcePort), [kFirstResolverPort, kFirstResolverPort, kFirstResolverPort + 1, kFirstResolverPort + 1], 'one socket per name');
      assert.deepEqual(dns[2].answers, [{ name: 'web.shop.svc.cluster.local.', type: 'A', ttl: 30, data: '10.96.0.20' }]);
      assert.equal(resolution.report.address, '10.96.0.20');
      for (const q of dns) {
        const last = q.hops.at(-1)!;
        assert.equal(last.dst, '10.244.1.10:' + q.sourcePort, `${q.qname} ${q.qtype}: the answer reaches the pod's socket`);
        assert.equal(last.src, '10.96.0.10:53', `${q.qname} ${q.qtype}: from the address it asked (reverse NAT or the socket's own translation)`);
      }
    });
  }

  it('iptables: each name is one conntrack entry (A and AAAA share the socket), the second query follows the first', () => {
    const { ctx, dns } = lookup(cluster, 'iptables', 'web.shop');
    assert.equal(ctx.world.conntrack(0).count, 2);
    assert.match(dns[1].hops[1].action, /established/);
    assert.match(dns[0].hops[1].action, /DNAT to 10\.244\.1\.2:53/);
  });

  it('a name outside the zone goes through the search list and stops where CoreDNS would forward it', () => {
    const { dns, resolution } = lookup(cluster, 'iptables', 'api.example.com');
    assert.deepEqual(
      dns.map((q) => `${q.qname} ${q.qtype} ${q.rcode}`),
      [
        'api.example.com.shop.svc.cluster.local. A NXDOMAIN',
        'api.example.com.shop.svc.cluster.local. AAAA NXDOMAIN',
        'api.example.com.svc.cluster.local. A NXDOMAIN',
        'api.example.com.svc.cluster.local. AAAA NXDOMAIN',
        'api.example.com.cluster.local. A NXDOMAIN',
        'api.example.com.cluster.local. AAAA NXDOMAIN',
        'api.example.com. A null',
        'api.example.com. AAAA null',
      ],
    );
    assert.equal(dns.at(-1)!.deliveredTo, kCoredns, 'the query itself reaches CoreDNS');
    assert.match(dns.at(-1)!.why!, /forward/);
    assert.equal(resolution.report.address, null);
  });

  it('with no CoreDNS endpoint the query is rejected by the Service rules and the lookup ends without an answer', () => {
    const text = readFileSync(fixturePath('dns-cluster.yaml'), 'utf8').replace('      - {addresses: [10.244.1.2], conditions: {ready: true}, nodeName: node-1}\n', '      - {addresses: [10.244.1.2], conditions: {ready: false}, nodeName: node-1}\n');
    const broken = loadClusterOrThrow(text);
    const { dns, resolution } = lookup(broken, 'iptables', 'web.shop');
    assert.deepEqual(dns.map((q) => `${q.qname} ${q.qtype} ${q.sourcePort}`), [`web.shop.shop.svc.cluster.local. A ${kFirstResolverPort}`, `web.shop.shop.svc.cluster.local. AAAA ${kFirstResolverPort}`], 'the pair is sent, and glibc stops at an error that is not a DNS answer');
    for (const q of dns) {
      assert.equal(q.rcode, null);
      assert.equal(q.deliveredTo, null);
      assert.equal(q.why, 'the query was rejected (service-reject)');
    }
    assert.equal(resolution.report.address, null);
  });

  it('tshark reads the same questions, answers and codes from the pcap, with no warning', { skip: hasTshark ? false : 'tshark is not installed (apt-get install tshark; .ci/run installs it)' }, () => {
    const { dns, frames } = lookup(cluster, 'iptables', 'web.shop', true);
    const dir = mkdtempSync(join(tmpdir(), 'kdp-dns-'));
    try {
      const file = join(dir, 'lookup.pcap');
      const w = new PcapWriter();
      frames.forEach((f, k) => w.write(f.bytes, 0, f.bytes.length, f.wireLen, k * 1000));
      writeFileSync(file, w.bytes());
      const fields = ['dns.id', 'dns.flags.response', 'dns.qry.name', 'dns.qry.type', 'dns.flags.rcode', 'dns.a', 'dns.flags.authoritative', 'dns.flags.recavail', 'dns.retransmission', '_ws.expert.severity', '_ws.malformed'];
      const out = execFileSync('tshark', ['-r', file, '-o', 'udp.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=|', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const rows = out.trimEnd().split('\n').map((l) => Object.fromEntries(l.split('|').map((v, k) => [fields[k], v])));
      assert.equal(rows.length, frames.length);
      for (const r of rows) {
        assert.equal(r['_ws.malformed'], '', `frame ${JSON.stringify(r)} is not malformed`);
        // One frame per hop: the same message seen again further on is, to tshark, a retransmission (a warning).
        if (r['dns.retransmission'] !== '') continue;
        assert.ok(r['_ws.expert.severity'] === '' || Number(r['_ws.expert.severity']) < 0x600000, `no expert warning: ${JSON.stringify(r)}`);
      }
      assert.ok(rows.filter((r) => r['dns.retransmission'] === '').length >= 2 * dns.length, 'each query and answer is seen once as an original');
      // The last answer frame of each ID is the answer as the pod received it.
      const seen = rows.filter((r) => r['dns.flags.response'] === '1' || r['dns.flags.response'] === 'True');
      const kRcodes: Record<string, string> = { '0': 'NOERROR', '3': 'NXDOMAIN' };
      const byId = new Map(seen.map((r) => [Number(r['dns.id']), r]));
      assert.equal(byId.size, dns.length);
      dns.forEach((q, k) => {
        const r = byId.get(k + 1)!;
        assert.equal(`${r['dns.qry.name']}.`, q.qname);
        assert.equal(r['dns.qry.type'], q.qtype === 'A' ? '1' : '28');
        assert.equal(kRcodes[r['dns.flags.rcode']], q.rcode);
        assert.equal(r['dns.a'], q.answers.map((a) => a.data).join(','));
        assert.match(r['dns.flags.authoritative'], /^(1|True)$/);
        assert.match(r['dns.flags.recavail'], /^(0|False)$/);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * NodeLocal DNSCache, as kubernetes/dns's node-cache sets a node up: NOTRACK in the raw table for
 * DNS to and from its addresses, those addresses on a dummy interface, misses for the cluster
 * domain forwarded over TCP to kube-dns-upstream.
 */
describe('NodeLocal DNSCache', () => {
  const withCache = (extra = ''): Cluster => loadClusterOrThrow(readFileSync(fixturePath('dns-nodelocal.yaml'), 'utf8') + extra);

  // The cache's upstream connections are the only tracked flows: one entry each, two in userspace
  // mode, where kube-proxy's own connection to the endpoint is a second flow.
  const kUpstreamEntries: Record<string, number> = { iptables: 2, nftables: 2, userspace: 4 };
  for (const mode of Object.keys(kUpstreamEntries)) {
    it(`${mode}: a pod's queries to the kube-dns ClusterIP stay untracked and are answered by the cache on its node`, () => {
      const { ctx, dns, resolution } = lookup(withCache(), mode, 'web.shop.svc.cluster.local.');
      assert.deepEqual(dns.map((q) => `${q.qtype} ${q.rcode} ${q.deliveredTo}`), ['A NOERROR 10.96.0.10:53', 'AAAA NOERROR 10.96.0.10:53']);
      assert.equal(resolution.report.address, '10.96.0.20');
      for (const q of dns) {
        assert.deepEqual(q.hops.map((h) => h.at).slice(0, 3), ['pod eth0', 'PREROUTING (raw)', 'routing']);
        assert.match(q.hops[1].action, /NOTRACK/);
        assert.equal(q.hops.at(-1)!.src, '10.96.0.10:53');
        // The miss goes upstream over TCP from the node, through the Service rules, to CoreDNS.
        assert.equal(q.upstream?.server, '10.96.0.11:53');
        assert.equal(q.upstream?.deliveredTo, kCoredns);
      }
      assert.equal(ctx.world.conntrack(0).count, kUpstreamEntries[mode], "the pod's queries and answers make no entry");
    });
  }

  it('a name outside the cluster domain is not sent to kube-dns-upstream: the cache forwards `.` to the node\'s own resolv.conf servers, outside the cluster file', () => {
    // NodeLocal DNSCache's Corefile (kubernetes/dns, nodelocaldns.yaml): the cluster.local, in-addr.arpa and
    // ip6.arpa zones forward to __PILLAR__CLUSTER__DNS__ (kube-dns-upstream), `.` to __PILLAR__UPSTREAM__SERVERS__.
    const { dns, resolution } = lookup(withCache(), 'iptables', 'api.example.com.');
    assert.deepEqual(dns.map((q) => `${q.qtype} ${q.rcode} ${q.deliveredTo}`), ['A null 10.96.0.10:53', 'AAAA null 10.96.0.10:53']);
    for (const q of dns) {
      assert.equal(q.upstream, undefined, 'a query outside the cluster domain went to kube-dns-upstream');
      assert.match(q.why!, /outside the cluster file|forward|upstream/);
    }
    assert.equal(resolution.report.address, null);
  });

  it('without the cache the same lookup makes one conntrack entry per name and no upstream', () => {
    const { ctx, dns } = lookup(loadFixture('dns-cluster.yaml'), 'iptables', 'web.shop.svc.cluster.local.');
    assert.equal(ctx.world.conntrack(0).count, 1);
    assert.ok(dns.every((q) => q.upstream === undefined && q.deliveredTo === kCoredns));
  });

  it('ipvs: the cache binds only 169.254.20.10, so pods still pointed at the ClusterIP bypass it; pointed at the local address they use it', () => {
    const ipvs = `
  - apiVersion: kubeproxy.config.k8s.io/v1alpha1
    kind: KubeProxyConfiguration
    mode: ipvs
`;
    const bypass = lookup(withCache(ipvs), 'ipvs', 'web.shop.svc.cluster.local.');
    assert.deepEqual(bypass.dns.map((q) => q.deliveredTo), [kCoredns, kCoredns]);
    assert.match(bypass.dns[0].hops[1].action, /ipvs|IPVS|DNAT/);
    const kubelet = `
  - apiVersion: kubelet.config.k8s.io/v1beta1
    kind: KubeletConfiguration
    clusterDNS: [169.254.20.10]
`;
    const local = lookup(withCache(ipvs + kubelet), 'ipvs', 'web.shop.svc.cluster.local.');
    assert.deepEqual(local.dns.map((q) => `${q.server} ${q.deliveredTo} ${q.rcode}`), ['169.254.20.10:53 169.254.20.10:53 NOERROR', '169.254.20.10:53 169.254.20.10:53 NOERROR']);
  });

  it("cilium: socket LB translates the ClusterIP at sendmsg(), before the raw table, so the cache is bypassed (Cilium's docs: use a Local Redirect Policy)", () => {
    const { dns } = lookup(withCache(), 'cilium', 'web.shop.svc.cluster.local.');
    assert.deepEqual(dns.map((q) => q.deliveredTo), [kCoredns, kCoredns]);
    assert.ok(dns.every((q) => q.hops.every((h) => !/NOTRACK/.test(h.action))));
  });

  it('without kube-dns-upstream the cache has nowhere to send a miss, and says so', () => {
    const full = readFileSync(fixturePath('dns-nodelocal.yaml'), 'utf8');
    const text = full.slice(0, full.lastIndexOf('  - apiVersion: v1\n    kind: Service'));
    const { dns } = lookup(loadClusterOrThrow(text), 'iptables', 'web.shop.svc.cluster.local.');
    assert.equal(dns[0].rcode, null);
    assert.match(dns[0].why!, /kube-dns-upstream/);
  });
});
