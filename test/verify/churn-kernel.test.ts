/**
 * The churn run on the real kernel (src/verify/churn-kernel.ts), as root: for iptables (legacy and
 * nf_tables backends) and nftables, on a tiny cluster, every sync's partial payload is applied
 * into a table of a namespace of its own, loaded first with the cluster's full payload. Laws:
 *  - every backend of the mode is run; each apply is measured (positive, finite), one per sync;
 *  - every change's latency holds its sync's measured kernel apply: latency = wait + kdp's apply +
 *    the kernel's, and the next sync starts only after the kernel's apply ended;
 *  - the cell's contract latency is the node's own backend's run, and says so; the run without
 *    the kernel is kept beside it; the namespaces are gone afterwards;
 *  - a mode kdp cannot apply to the kernel says why, with no figure.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { modeNamed } from '../../src/compile/index.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { runChurn, type SyncRecord } from '../../src/replay/churn.js';
import { churnCellOnKernel, churnOnKernel } from '../../src/verify/churn-kernel.js';

const root = process.getuid?.() === 0;
const skip = root ? undefined : 'needs root (network namespaces)';
const clock = (): number => performance.now();
const cluster = generateCluster({ services: 15, endpoints: 3, nodes: 2, seed: 9 });
const ours = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(`kdpv-${process.pid}-`));

describe('churn on the kernel', () => {
  for (const [name, backends] of [['iptables', ['iptables-legacy', 'iptables-nft']], ['nftables', ['nftables']]] as const) {
    it(`${name}: each sync's apply measured and in its changes' latencies, on every backend`, { skip }, async () => {
      const syncs = new Map<string, SyncRecord[]>();
      const k = await churnOnKernel(modeNamed(name), cluster, 10, 2, clock, 3, (b, s) => void (syncs.get(b) ?? syncs.set(b, []).get(b)!).push(s));
      assert.deepEqual(k.missing, []);
      assert.deepEqual(k.runs.map((r) => r.backend), [...backends]);
      for (const { backend, run } of k.runs) {
        const ss = syncs.get(backend)!;
        assert.ok(ss.length > 0, backend);
        assert.equal(run.kernel?.applies, ss.length, `${backend}: one apply per sync`);
        assert.ok(run.kernel!.loadMs > 0 && Number.isFinite(run.kernel!.loadMs), `${backend}: load ${run.kernel!.loadMs} ms`);
        for (const s of ss) assert.ok(s.kernelMs > 0 && Number.isFinite(s.kernelMs), `${backend}: apply ${s.kernelMs} ms`);
        for (let i = 1; i < ss.length; i++) assert.ok(ss[i]!.start >= ss[i - 1]!.end - 1e-9, `${backend}: sync ${i} starts before the kernel finished the last`);
        // The smallest latency is at least the smallest wait + kdp + kernel apply of any sync.
        const floor = Math.min(...ss.map((s) => (s.start - Math.max(...s.changedAt)) * 1000 + s.kdpMs + s.kernelMs));
        assert.ok(run.result.programmingLatencyMs.p50 >= floor - 1e-6 && floor >= Math.min(...ss.map((s) => s.kernelMs)), `${backend}: p50 ${run.result.programmingLatencyMs.p50} ms, floor ${floor} ms`);
        const all = ss.flatMap((s) => s.changedAt.map((t) => (s.start - t) * 1000 + s.kdpMs + s.kernelMs)).sort((a, b) => a - b);
        assert.ok(Math.abs(all[Math.floor(0.99 * all.length)]! - run.result.programmingLatencyMs.p99) < 1e-6, `${backend}: p99 is the kernel-inclusive latencies'`);
      }
      assert.deepEqual(ours(), [], 'namespaces deleted');
    });
  }

  it('the cell: the node\'s own backend\'s run in the contract, the run without the kernel beside it', { skip }, async () => {
    const mode = modeNamed('iptables');
    const own = /nf_tables/.test(execFileSync('iptables-restore', ['--version'], { encoding: 'utf8' })) ? 'iptables-nft' : 'iptables-legacy';
    const plain = runChurn(mode, cluster, 10, 2, clock, 3);
    // churnCellOnKernel runs the full 10 simulated seconds: kept small by the cluster.
    const { run, kernelApply } = await churnCellOnKernel(mode, cluster, 10, 2, clock, plain);
    assert.equal(kernelApply.included, own);
    assert.equal(kernelApply.notIncluded, undefined);
    assert.deepEqual(kernelApply.withoutKernelMs, plain.result.programmingLatencyMs);
    assert.deepEqual(kernelApply.backends!.map((b) => b.backend), ['iptables-legacy', 'iptables-nft']);
    const b = kernelApply.backends!.find((x) => x.backend === own)!;
    assert.deepEqual(run.result.programmingLatencyMs, b.programmingLatencyMs);
    assert.ok(b.applyMs > 0 && b.applies === b.syncs.full + b.syncs.partial);
    assert.ok(run.result.programmingLatencyMs.p50 > plain.result.programmingLatencyMs.p50 || run.result.programmingLatencyMs.p50 >= b.applyMs, 'the kernel part is in the latency');
    assert.deepEqual(ours(), []);
  });

  it('a mode kdp cannot apply to the kernel says why, with no figure', async () => {
    const mode = modeNamed('ipvs');
    const plain = runChurn(mode, cluster, 10, 2, clock, 2);
    const { run, kernelApply } = await churnCellOnKernel(mode, cluster, 10, 2, clock, plain);
    assert.equal(run, plain);
    assert.deepEqual(Object.keys(kernelApply), ['notIncluded']);
    assert.match(kernelApply.notIncluded!, /ipvs mode has no kernel apply rules/);
  });
});
