/**
 * nf_conntrack_max on a node as kube-proxy leaves it. The oracle is written from the sources, not
 * from node-world.ts:
 * - kube-proxy (cmd/kube-proxy/app/server_linux.go getConntrackMax, v1.31): maxPerCore > 0 gives
 *   maxPerCore x CPUs if that is greater than min, else min; maxPerCore 0 sets nothing;
 * - kube-proxy writes the sysctl only to raise it (cmd/kube-proxy/app/conntrack.go setIntSysCtl:
 *   `val < value`), so the kernel's default is a floor;
 * - the kernel's default (nf_conntrack_core.c, Linux 5.15+, 64-bit): RAM/131072 buckets, 262144
 *   above 4 GiB, 65536 above 1 GiB, at least 1024, and nf_conntrack_max = buckets.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { PipelineContext } from '../../src/dataplane/context.js';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { kAssumedCpus, kAssumedKernelConntrackMax, nodeConntrackMax } from '../../src/dataplane/node-world.js';
import { parseQuantity } from '../../src/model/fields.js';
import { loadCluster } from '../../src/model/load.js';
import { clusterOf, node, proxyConfig } from '../helpers/cluster.js';

const GiB = 2 ** 30;
const MiB = 2 ** 20;
const defaults = { maxPerCore: 32768, min: 131072 };

test('nodeConntrackMax: kube-proxy raises the kernel default to max(maxPerCore x CPUs, min), never lowers it', () => {
  const rows: [string, { maxPerCore: number; min: number }, number | undefined, number | undefined, number][] = [
    // name, conntrack config, CPUs, RAM, nf_conntrack_max
    ['defaults, 2 CPUs, 2 GiB: min wins over 65536 x 1 and 2 x 32768', defaults, 2, 2 * GiB, 131072],
    ['defaults, 8 CPUs, 2 GiB: 8 x 32768', defaults, 8, 2 * GiB, 262144],
    ['defaults, 16 CPUs, 64 GiB: 16 x 32768 over the kernel 262144', defaults, 16, 64 * GiB, 524288],
    ['defaults, 2 CPUs, 16 GiB: the kernel 262144 stays (kube-proxy only raises)', defaults, 2, 16 * GiB, 262144],
    ['maxPerCore 0, 8 CPUs, 512 MiB: the kernel default, 512 MiB / 131072', { maxPerCore: 0, min: 131072 }, 8, 512 * MiB, 4096],
    ['maxPerCore 0, exactly 1 GiB: not above 1 GiB, so 1 GiB / 131072', { maxPerCore: 0, min: 131072 }, 4, GiB, 8192],
    ['maxPerCore 0, 64 MiB: the 1024 floor', { maxPerCore: 0, min: 0 }, 4, 64 * MiB, 1024],
    ['maxPerCore 1000, min 0, 4 CPUs, 512 MiB: 4000 is below the kernel 4096', { maxPerCore: 1000, min: 0 }, 4, 512 * MiB, 4096],
    ['maxPerCore 100000, min 0, 3 CPUs, 256 MiB', { maxPerCore: 100000, min: 0 }, 3, 256 * MiB, 300000],
    ['maxPerCore 10, min 5000, 2 CPUs, 256 MiB: min over the kernel 2048', { maxPerCore: 10, min: 5000 }, 2, 256 * MiB, 5000],
    ['no capacity given: 1 CPU, and the kernel default of a node above 4 GiB', defaults, undefined, undefined, 262144],
    ['no CPUs given, maxPerCore 200000: one CPU', { maxPerCore: 200000, min: 0 }, undefined, 512 * MiB, 200000],
  ];
  assert.equal(kAssumedCpus, 1);
  assert.equal(kAssumedKernelConntrackMax, 262144);
  for (const [name, config, cpus, ram, want] of rows) assert.equal(nodeConntrackMax(config, cpus, ram), want, name);
});

test('Kubernetes quantities: integers, milli, binary and decimal suffixes, exponents; junk refused', () => {
  const rows: [unknown, number | undefined][] = [
    ['8', 8],
    ['7500m', 7.5],
    ['16393216Ki', 16393216 * 1024],
    ['1.5Gi', 1.5 * GiB],
    ['2e3', 2000],
    ['4k', 4000],
    [16, 16],
    ['', undefined],
    ['8 cores', undefined],
    ['Gi', undefined],
    ['1.5Xi', undefined],
    [null, undefined],
    ['9'.repeat(400), undefined],
  ];
  for (const [text, want] of rows) assert.equal(parseQuantity(text), want, JSON.stringify(text));
});

function clusterText(capacity: Record<string, unknown> | undefined, conntrack: Record<string, unknown>): string {
  const nodeObj = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'n1' },
    spec: { podCIDR: '10.244.1.0/24' },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.0.11' }], ...(capacity ? { capacity } : {}) },
  };
  return JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [nodeObj, proxyConfig({ mode: 'iptables', clusterCIDR: '10.244.0.0/16', conntrack })] });
}

test("a node's conntrack table is sized from its capacity and the KubeProxyConfiguration (conntrackMax 'kube-proxy')", () => {
  // Arrange: a 6-CPU node with 2 GiB (kernel default 65536) and maxPerCore 20000, min 1000.
  const { cluster, diagnostics } = loadCluster(clusterText({ cpu: '6', memory: '2097152Ki' }, { maxPerCore: 20000, min: 1000 }), 'sized.json');
  assert.ok(cluster, JSON.stringify(diagnostics));
  assert.equal(cluster.nodes[0].cpus, 6);
  assert.equal(cluster.nodes[0].memoryBytes, 2 * GiB);
  // Act
  const ctx = new PipelineContext(new CompiledCluster(cluster, 'iptables'), { conntrackMax: 'kube-proxy' });
  // Assert: 6 x 20000 over the kernel's 65536; a fixed size still wins when given.
  assert.equal(ctx.world.conntrack(0).maxEntries, 120000);
  assert.equal(new PipelineContext(new CompiledCluster(cluster, 'iptables'), { conntrackMax: 512 }).world.conntrack(0).maxEntries, 512);
  // Three workers each own a third of the node's flows (RSS), so a third of its table; a fixed size is per shard already.
  assert.equal(new PipelineContext(new CompiledCluster(cluster, 'iptables'), { conntrackMax: 'kube-proxy', conntrackShards: 3 }).world.conntrack(0).maxEntries, 40000);
  assert.equal(new PipelineContext(new CompiledCluster(cluster, 'iptables'), { conntrackMax: 512, conntrackShards: 3 }).world.conntrack(0).maxEntries, 512);
});

test('a node that gives no status.capacity has no cpus in the model, and its table is sized for one CPU and the kernel\'s assumed default', () => {
  // kube-proxy's getConntrackMax: max(maxPerCore x NumCPU, min); with maxPerCore 300000 one CPU
  // already exceeds min and the kernel's default, so the size says how many CPUs were assumed.
  const { cluster, diagnostics } = loadCluster(clusterText(undefined, { maxPerCore: 300000, min: 1000 }), 'bare.json');
  assert.ok(cluster, JSON.stringify(diagnostics));
  assert.equal(cluster.nodes[0].cpus, undefined);
  assert.equal(cluster.nodes[0].memoryBytes, undefined);
  assert.equal(new PipelineContext(new CompiledCluster(cluster, 'iptables'), { conntrackMax: 'kube-proxy' }).world.conntrack(0).maxEntries, 300000);
});

test('an unreadable or absurd status.capacity is an error naming the field', () => {
  for (const [capacity, field] of [[{ cpu: 'lots' }, 'cpu'], [{ cpu: '0' }, 'cpu'], [{ memory: '12 GB' }, 'memory'], [{ memory: '1Ki' }, 'memory']] as const) {
    const { cluster, diagnostics } = loadCluster(clusterText(capacity, {}), 'bad.json');
    assert.equal(cluster, undefined, JSON.stringify(capacity));
    const d = diagnostics.find((x) => x.severity === 'error');
    assert.equal(d?.path, `status.capacity.${field}`, JSON.stringify(diagnostics));
    assert.equal(d?.name, 'n1');
  }
});

test("a cilium node sized as its proxy leaves it gets Cilium's two CT maps (bpf-ct-global-tcp-max, bpf-ct-global-any-max); a size given for every node stays one map", () => {
  const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'cilium-config' }, data: { 'kube-proxy-replacement': 'true', 'bpf-ct-global-tcp-max': '40000', 'bpf-ct-global-any-max': '33000' } };
  const cluster = clusterOf(node('node-1', '10.244.1.0/24', '192.168.0.11'), cm);
  const compiled = new CompiledCluster(cluster, 'cilium');
  const own = new PipelineContext(compiled, { conntrackMax: 'kube-proxy' }).world.conntrack(0);
  assert.deepEqual({ max: own.maxEntries, tcpMax: own.tcpMax }, { max: 73000, tcpMax: 40000 });
  const given = new PipelineContext(compiled, { conntrackMax: 5000 }).world.conntrack(0);
  assert.deepEqual({ max: given.maxEntries, tcpMax: given.tcpMax }, { max: 5000, tcpMax: 0 });
});
