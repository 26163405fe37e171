/**
 * `kdp bench --dns`'s flows, held to the specification rather than to the code:
 *
 * - Law: the lookup flows written before a connection are the queries of an independent model of
 *   the resolv.conf rules (kubelet's search list for the client's namespace, resolv.conf(5)'s
 *   ndots, glibc's order: the name as it is first when it has ndots dots or more, each search
 *   domain, the name last otherwise; stop at the first name that exists), one UDP flow per name
 *   from the client pod to its nameserver on port 53, each the size of the RFC 1035 query.
 * - The flows are the same whatever the number of shards (NodeLocal DNSCache's misses included).
 * - NodeLocal DNSCache: the pods' queries to its listener make no conntrack entry (NOTRACK), the
 *   cache's upstream connections do; without it every query does.
 * - A --dns sweep cell (a real tiny run) writes the `lookups` contract and its key.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { PipelineContext } from '../../src/dataplane/context.js';
import { FlowChunk, LOOKUP_NONE, LOOKUP_QUERY, LOOKUP_UPSTREAM } from '../../src/replay/flows.js';
import { ReplaySetup, replayShard } from '../../src/replay/replay.js';
import { planSweep, runSweep } from '../../src/replay/sweep.js';
import { cellKeyString } from '../../src/report/result.js';
import { PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';
import { runHere } from './run-here.js';

const base = { mode: 'iptables', services: 60, endpointsPerService: 3, cni: 'calico-vxlan', seed: 7, zipf: 0 } as const;

/** The spec's search list (kubelet, ClusterFirst, a node resolv.conf with no search domains). */
const searchList = (ns: string): string[] => [`${ns}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local'];

/** Names that exist in the synthetic cluster: its Services' `svc.ns.svc.cluster.local`, and example.com's API names. */
function exists(setup: ReplaySetup, name: string): boolean {
  if (/^api-\d+\.example\.com$/.test(name)) return true;
  return setup.cluster.services.some((s) => name === `${s.name}.${s.namespace}.svc.cluster.local`);
}

/** The candidates resolv.conf(5) gives, walked until one exists. */
function oracle(setup: ReplaySetup, ns: string, name: string, ndots: number): string[] {
  const dots = name.split('.').length - 1;
  const candidates = [...(dots >= ndots ? [name] : []), ...searchList(ns).map((d) => `${name}.${d}`), ...(dots >= ndots ? [] : [name])];
  const asked: string[] = [];
  for (const c of candidates) {
    asked.push(`${c}.`);
    if (exists(setup, c)) break;
  }
  return asked;
}

/** RFC 1035 4.1: a 12-byte header, the name as length-prefixed labels and a zero, QTYPE and QCLASS. */
function querySize(qname: string): number {
  const labels = qname.replace(/\.$/, '').split('.');
  return 12 + labels.reduce((a, l) => a + 1 + l.length, 0) + 1 + 4;
}

/** The name the application asks for connection `j`'s target, from the flow alone. */
function appName(setup: ReplaySetup, chunk: FlowChunk, j: number, clientNs: string): string {
  if (chunk.servicePort[j] < 0) {
    const k = (chunk.dstIp[j] - 0x97650000) >>> 0;
    return `api-${k}.example.com`;
  }
  const svc = setup.cluster.services[setup.cluster.ports[chunk.servicePort[j]].service];
  return svc.namespace === clientNs ? svc.name : `${svc.name}.${svc.namespace}`;
}

function setupOf(dns: 'kube-dns' | 'nodelocal', ndots: number, external = 0.2): ReplaySetup {
  return new ReplaySetup({ ...base, dns, ndots, dnsExternal: external });
}

/** The client pod's namespace: the Service whose endpoint its address is. */
function namespaceOf(setup: ReplaySetup, ip: number): string {
  const { cluster } = setup;
  for (const svc of cluster.services) {
    for (const p of svc.ports) {
      const port = cluster.ports[p];
      for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) if (cluster.endpoints.ip[r] === ip) return svc.namespace;
    }
  }
  throw new Error(`no pod ${ip}`);
}

describe('bench --dns flows', () => {
  for (const ndots of [5, 1]) {
    it(`law: a connection's lookup flows are the resolv.conf model's queries, in order and size (ndots ${ndots})`, () => {
      // Arrange
      const setup = setupOf('kube-dns', ndots);
      const flows = setup.flowSet;
      const chunk = new FlowChunk(4096);
      // Act
      flows.fillShard(0, 300, 0, 1, chunk);
      // Assert
      let pending: number[] = [];
      let checked = 0;
      let external = 0;
      for (let j = 0; j < chunk.count; j++) {
        if (chunk.lookup[j] === LOOKUP_QUERY) {
          pending.push(j);
          continue;
        }
        assert.equal(chunk.lookup[j], LOOKUP_NONE, 'no upstream flow without NodeLocal DNSCache');
        const id = chunk.id[j];
        const named = chunk.servicePort[j] >= 0 ? chunk.kind[j] === 0 : chunk.dstPort[j] === 443 && pending.length > 0;
        if (!named) {
          assert.equal(pending.length, 0, `flow ${id}: only named connections look up`);
          continue;
        }
        const ns = namespaceOf(setup, chunk.srcIp[j]);
        const want = oracle(setup, ns, appName(setup, chunk, j, ns), ndots);
        if (chunk.servicePort[j] < 0) external++;
        assert.deepEqual(flows.lookupNames(id), want, `flow ${id} from ${ns}`);
        assert.equal(chunk.names[j], want.length);
        assert.equal(pending.length, want.length, `flow ${id}: one UDP flow per name`);
        const ports = new Set<number>();
        pending.forEach((q, k) => {
          assert.equal(chunk.id[q], id);
          assert.equal(chunk.proto[q], PROTO_UDP);
          assert.equal(chunk.srcIp[q], chunk.srcIp[j], 'from the client pod');
          assert.equal(chunk.dstIp[q], setup.cluster.dns.servers[0], 'to its nameserver');
          assert.equal(chunk.dstPort[q], 53);
          assert.equal(chunk.queryBytes[q], querySize(want[k]), `the query for ${want[k]}`);
          assert.equal(chunk.request[q], 2, 'A and AAAA on one socket');
          ports.add(chunk.srcPort[q]);
        });
        assert.equal(ports.size, pending.length, 'a new socket (source port) per name');
        pending = [];
        checked++;
      }
      assert.ok(checked > 150 && external > 10, `${checked} looked-up connections checked, ${external} of them external`);
    });
  }

  it('writes the same flows whatever the number of shards, NodeLocal DNSCache misses included', () => {
    const flowsOf = (shards: number): string[] => {
      const setup = setupOf('nodelocal', 5);
      const out: string[] = [];
      for (let s = 0; s < shards; s++) {
        setup.flowSet.reset();
        const chunk = new FlowChunk(8192);
        setup.flowSet.fillShard(0, 600, s, shards, chunk);
        for (let j = 0; j < chunk.count; j++) out.push(`${chunk.id[j]} ${chunk.lookup[j]} ${chunk.srcIp[j]}:${chunk.srcPort[j]} ${chunk.dstIp[j]}:${chunk.dstPort[j]}`);
      }
      return out.sort();
    };
    const one = flowsOf(1);
    assert.ok(one.some((f) => f.split(' ')[1] === String(LOOKUP_UPSTREAM)), 'some cache misses');
    assert.deepEqual(flowsOf(3), one);
  });

  it('NodeLocal DNSCache: queries to its listener make no conntrack entry, its upstream connections do; kube-dns alone tracks every query', () => {
    const entries = (dns: 'kube-dns' | 'nodelocal') => {
      const setup = setupOf(dns, 5);
      const cache: { ctx?: PipelineContext } = {};
      const r = replayShard(setup, { ...base, dns, ndots: 5, dnsExternal: 0.2, flows: 3000, shard: 0, shards: 1 }, () => performance.now(), cache);
      const server = setup.cluster.dns.servers[0];
      const upstream = setup.cluster.dns.nodeLocal?.upstream ?? -1;
      let queries = 0;
      let upstreamEntries = 0;
      for (const ct of cache.ctx!.world.conntrackTables()) {
        for (let e = 0; e < ct.maxEntries; e++) {
          if (ct.statusOf(e) === 0 || ct.origDport(e) !== 53) continue;
          if (ct.protoOf(e) === PROTO_UDP && ct.origDst(e) >>> 0 === server >>> 0) queries++;
          if (ct.protoOf(e) === PROTO_TCP && ct.origDst(e) >>> 0 === upstream >>> 0) upstreamEntries++;
        }
      }
      return { r, queries, upstreamEntries };
    };
    const plain = entries('kube-dns');
    assert.equal(plain.queries, plain.r.lookupNames, 'one entry per name (A and AAAA share it) on the pod\'s node');
    assert.equal(plain.r.upstreamConnections, 0);
    assert.equal(plain.r.failedLookups, 0);
    const local = entries('nodelocal');
    assert.ok(local.r.lookupNames > 1000, 'the pods asked as many names');
    assert.equal(local.queries, 0, 'NOTRACK: no entry for a query to node-local-dns');
    assert.ok(local.r.upstreamConnections > 0 && local.r.upstreamConnections < local.r.lookupNames, 'the cache answered some names itself');
    assert.equal(local.upstreamEntries, local.r.upstreamConnections, 'one entry per upstream connection on the sending node');
    assert.equal(local.r.failedLookups, 0);
    assert.ok(local.r.dnsConntrackEntries < plain.r.dnsConntrackEntries, 'fewer DNS entries behind the cache');
  });

  it('userspace mode behind NodeLocal DNSCache: the proxy never dials from a port whose tuple conntrack still holds, so no upstream packet is invalid', () => {
    // Thousands of upstream connections from one node's proxy to the same CoreDNS endpoints: a
    // source port drawn from the flow's hash alone hit a still-live tuple (1,847 conntrack-invalid
    // drops in `kdp bench --dns --services 100 --modes userspace --flows 20000`), which the
    // kernel's connect() never picks.
    const setup = new ReplaySetup({ ...base, mode: 'userspace', dns: 'nodelocal', ndots: 5, dnsExternal: 0.2 });
    const r = replayShard(setup, { ...base, mode: 'userspace', dns: 'nodelocal', ndots: 5, dnsExternal: 0.2, flows: 6000, shard: 0, shards: 1 }, () => performance.now());
    assert.ok(r.upstreamConnections > 2000, `${r.upstreamConnections} upstream connections: too few to make port clashes likely`);
    assert.equal(r.drops['conntrack-invalid'] ?? 0, 0);
    assert.equal(r.conntrack.invalid ?? 0, 0);
    assert.equal(r.failedLookups, 0);
  });

  it('a --dns sweep runs its cells with the lookups contract and keys of their own', async () => {
    const cells = planSweep({ cores: 1, services: [20], modes: ['nftables'], flows: 1500, dns: { ndots: [5, 1], external: 0.1 } });
    assert.deepEqual(cells.map((c) => `${c.dns}/${c.ndots}`), ['kube-dns/5', 'nodelocal/5', 'kube-dns/1', 'nodelocal/1']);
    assert.match(cellKeyString(cells[1]!), /\|dns=nodelocal,ndots=5,external=0\.1$/);
    const dir = mkdtempSync(join(tmpdir(), 'kdp-dns-'));
    try {
      const limits = () => ({ randomReadNs: 80, independentReadNs: 20, scanNsPerElement: 0.5, randomReadBytes: 1 << 20 });
      const summary = await runSweep({ cells, outDir: dir, command: 'test', runCell: async (c) => runHere(c), limits });
      assert.equal(summary.ran, 4);
      const results = readFileSync(join(dir, 'results.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      for (const r of results) {
        assert.deepEqual(Object.keys(r.lookups).sort(), ['connections', 'conntrackEntries', 'conntrackShare', 'failedLookups', 'firstPacketNs', 'lookedUp', 'lookupNsPerConnection', 'names', 'queries', 'queriesPerConnection', 'upstreamConnections']);
        assert.equal(r.lookups.queries, 2 * r.lookups.names);
        assert.ok(r.lookups.lookedUp > 0 && r.lookups.conntrackShare > 0 && r.lookups.conntrackShare < 1);
        assert.equal(r.lookups.upstreamConnections > 0, r.dns === 'nodelocal');
      }
      const [plain5, local5] = results;
      assert.ok(local5.lookups.conntrackEntries < plain5.lookups.conntrackEntries);
      // --resume skips them by key.
      const again = await runSweep({ cells, outDir: dir, command: 'test', resume: true, runCell: async () => assert.fail('a finished DNS cell ran again'), limits });
      assert.equal(again.skipped, 4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
