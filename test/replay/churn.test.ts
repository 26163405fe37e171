/**
 * The churn benchmark's model, checked against what its parts promise, worked out independently:
 *  - the timeline is rolling updates: per step a gone pod becomes ready, the oldest ready one
 *    terminates 1/R later and is gone kGraceS after the step; R changes per second in all;
 *  - kube-proxy's runner (token bucket: `burst` tokens, one more per minSyncPeriod) runs at most
 *    burst + T / minSyncPeriod syncs in T seconds, and a change waits at most one minSyncPeriod
 *    plus the syncs' own apply time; a throttled sync starts minSyncPeriod after the last one
 *    ended (Kubernetes v1.33 tryRun); an 'immediate' mode syncs once per change;
 *  - every change gets a latency, none shorter than the apply that carried it;
 *  - every sync writes at least one rule, and one chain in the modes whose syncs write chains;
 *  - a mode that programs at once never loses a packet when flows are shorter than a pod's
 *    terminating time (kGraceS - 1/R): new flows never pick a pod that is terminating or gone.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { modeNamed } from '../../src/compile/index.js';
import type { ProxyMode } from '../../src/compile/mode.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { EP_READY, EP_SERVING, EP_TERMINATING } from '../../src/model/types.js';
import { churnTimeline, kGraceS, kPacketGapS, kPacketsPerFlow, runChurn, runChurnOnKernel, runnerNextRun, type SyncRecord } from '../../src/replay/churn.js';

const cluster = generateCluster({ services: 30, endpoints: 4, nodes: 2, seed: 5 });
const clock = (): number => performance.now();

describe('churn timeline', () => {
  it('is rolling updates at R changes per second', () => {
    const rate = 6;
    const { start, changes } = churnTimeline(cluster, rate, 10, 1);
    // The gone changes of the last kGraceS seconds of steps fall after the end of the run.
    assert.ok(changes.length <= rate * 10 + 3 && changes.length >= rate * 10 - (rate * kGraceS) / 3 - 3, `${changes.length} changes in 10 s at ${rate}/s`);
    for (let i = 1; i < changes.length; i++) assert.ok(changes[i].t >= changes[i - 1].t, 'in time order');
    // Step k: ready at t, terminating at t + 1/R, gone at t + grace, for two pods of one Service.
    const ready = changes.filter((c) => c.conditions === (EP_READY | EP_SERVING));
    for (const r of ready) {
      const term = changes.find((c) => c.service === r.service && c.conditions === (EP_SERVING | EP_TERMINATING) && Math.abs(c.t - (r.t + 1 / rate)) < 1e-9);
      if (!term) continue; // past the end of the run
      assert.notEqual(term.ip, r.ip, 'the pod that terminates is an old one');
      const gone = changes.find((c) => c.service === r.service && c.ip === term.ip && c.conditions === 0);
      if (gone) assert.ok(Math.abs(gone.t - (r.t + kGraceS)) < 1e-9);
    }
    // Every Service that rolls starts with one gone pod (the slot of the next one).
    const rows = start.endpoints.conditions;
    assert.ok(Array.from(rows).some((c) => c === 0) && Array.from(rows).some((c) => c !== 0));
  });
});

describe('runChurn', () => {
  const runnerMode = (minSyncPeriodS: number, burst: number): ProxyMode => ({ ...modeNamed('ipvs'), syncLoop: { trigger: 'runner', minSyncPeriodS, burst, kind: 'partial' } });

  it('runner: at most burst + T / minSyncPeriod syncs, and no change waits more than minSyncPeriod plus the applies', () => {
    for (const [period, burst] of [[1, 2], [0.5, 1], [2, 2]] as const) {
      const run = runChurn(runnerMode(period, burst), cluster, 20, 3, clock, 6);
      const syncs = run.result.syncs.full + run.result.syncs.partial;
      assert.ok(syncs <= burst + Math.ceil(6 / period) + 1, `${syncs} syncs with minSyncPeriod ${period} s, burst ${burst}`);
      assert.ok(syncs >= 6 / period - 1, `${syncs} syncs: the runner keeps syncing while changes come`);
      assert.equal(run.changes, churnTimeline(cluster, 20, 6, 3).changes.length, 'every change measured');
      assert.ok(run.result.programmingLatencyMs.p99 <= period * 1000 + 50 * run.applyMs + 50, `p99 ${run.result.programmingLatencyMs.p99} ms`);
    }
  });

  it('runner: a throttled run waits minSyncPeriod from the end of the last one, and for a token (v1.33 tryRun)', () => {
    // A token there: now. None: the timer fires minSyncPeriod after the last run ended, then
    // retries until the bucket (one token per minSyncPeriod) has one.
    assert.equal(runnerNextRun(1, 5, 4.5, 1), 5);
    assert.equal(runnerNextRun(1.7, 5, 4.9, 1), 5);
    // Ran 4.0 to 4.8 with burst 1 (bucket empty at 4.0, 0.5 of a token at 4.5): asked at 4.5,
    // the token comes at 5.0 but the timer only fires at 4.8 + 1.
    assert.ok(Math.abs(runnerNextRun(0.5, 4.5, 4.8, 1) - 5.8) < 1e-9);
    // minSyncPeriod 2 s: the timer fires at 3.9 + 2, the token (0.75 of one missing at 4.5) comes at 6.
    assert.ok(Math.abs(runnerNextRun(0.25, 4.5, 3.9, 2) - 6) < 1e-9);
  });

  it('counts what each sync writes: rules always, chains where the mode writes chains (at least one per sync)', () => {
    for (const mode of ['iptables', 'nftables', 'ipvs']) {
      const run = runChurn(modeNamed(mode), cluster, 6, 3, clock, 4);
      const syncs = run.result.syncs.full + run.result.syncs.partial;
      assert.ok(syncs > 0, mode);
      assert.ok(run.rulesWrittenPerSecond * run.seconds >= syncs, `${mode}: ${run.rulesWrittenPerSecond} rules/s over ${syncs} syncs`);
      if (mode === 'ipvs') assert.equal(run.chainsWrittenPerSecond, undefined, 'IPVS syncs write virtual servers, not chains');
      else assert.ok((run.chainsWrittenPerSecond ?? 0) * run.seconds >= syncs, `${mode}: ${run.chainsWrittenPerSecond} chains/s over ${syncs} syncs`);
    }
  });

  it('immediate: one sync per change, no wait, nothing lost', () => {
    // A pod terminates 1/R after its step and is gone kGraceS after it: at 20 changes per second
    // a flow that picked it just before (1.9 s of packets) ends before it goes (1.95 s later).
    const rate = 20;
    assert.ok((kPacketsPerFlow - 1) * kPacketGapS < kGraceS - 1 / rate, 'a flow ends before a terminating pod is gone');
    for (const mode of ['userspace', 'cilium']) {
      const run = runChurn(modeNamed(mode), cluster, rate, 2, clock, 5);
      assert.equal(run.result.syncs.partial, run.changes, mode);
      assert.ok(run.result.programmingLatencyMs.p50 < 50, `${mode}: p50 ${run.result.programmingLatencyMs.p50} ms is the apply alone`);
      assert.ok(run.packets > 0, `${mode}: flows sent packets`);
      assert.equal(run.result.packetsToGoneEndpoints, 0, mode);
    }
  });

  it('a slow runner loses packets to gone pods, a fast one fewer', () => {
    const slow = runChurn(runnerMode(3, 1), cluster, 12, 4, clock, 8).result.packetsToGoneEndpoints;
    const fast = runChurn(runnerMode(0.05, 1), cluster, 12, 4, clock, 8).result.packetsToGoneEndpoints;
    assert.ok(slow > 0, 'programming that lags the terminations sends flows to pods that then go');
    assert.ok(fast < slow, `fast ${fast} < slow ${slow}`);
  });
});

/**
 * The kernel's apply in the churn run (runChurnOnKernel), with a fake kernel whose every apply
 * takes a fixed simulated time: no root needed. Laws, from issue 17's definition (latency = the
 * wait for the next allowed sync + the sync + the kernel's apply) and kube-proxy's runner (a sync
 * is done when syncProxyRules returns, after iptables-restore / nft exits; no run overlaps another):
 *  - the table is loaded once, before the first apply, and every sync applies exactly once;
 *  - every change's latency = (its sync's start - its arrival) + kdp's apply + the kernel's apply;
 *  - a sync starts no earlier than the previous one ended, the kernel's apply included, and no
 *    earlier than minSyncPeriod after that end when the bucket has no token;
 *  - a slower kernel makes fewer syncs and longer latencies than the same run without it.
 */
describe('runChurnOnKernel', () => {
  const kernelMs = 2000;
  const fake = () => {
    const calls: string[] = [];
    return {
      calls,
      kernel: {
        load: async (text: string) => (calls.push(`load ${text.length}`), 7),
        apply: async (text: string) => (calls.push(`apply ${text.length}`), kernelMs),
      },
    };
  };
  const percentileOf = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))]!;

  for (const name of ['iptables', 'nftables']) {
    it(`${name}: every latency holds its sync's kernel apply, and the runner waits for it`, async () => {
      const mode = modeNamed(name);
      const { calls, kernel } = fake();
      const syncs: SyncRecord[] = [];
      const run = await runChurnOnKernel(mode, cluster, 10, 3, clock, kernel, 8, (s) => syncs.push(s));
      const plain = runChurn(mode, cluster, 10, 3, clock, 8);
      // One load first, then one apply per sync, each of a non-empty payload.
      assert.match(calls[0]!, /^load [1-9]/);
      assert.equal(calls.filter((c) => c.startsWith('load')).length, 1);
      assert.equal(calls.length - 1, syncs.length);
      assert.ok(calls.slice(1).every((c) => /^apply [1-9]/.test(c)), 'every sync writes something');
      assert.deepEqual(run.kernel, { loadMs: 7, applyMs: kernelMs, applies: syncs.length });
      assert.equal(run.result.syncs.full + run.result.syncs.partial, syncs.length);
      // Latencies: recomputed from each sync's start, its changes' arrivals and both applies.
      const expected = syncs.flatMap((s) => s.changedAt.map((t) => (s.start - t) * 1000 + s.kdpMs + kernelMs));
      assert.equal(expected.length, run.changes);
      for (const q of ['p50', 'p90', 'p99'] as const) {
        assert.ok(Math.abs(run.result.programmingLatencyMs[q] - percentileOf(expected, { p50: 0.5, p90: 0.9, p99: 0.99 }[q])) < 1e-6, `${q}`);
        assert.ok(run.result.programmingLatencyMs[q] >= kernelMs, `${q} ${run.result.programmingLatencyMs[q]} ms holds the ${kernelMs} ms apply`);
      }
      // The runner: a sync ends after kdp's and the kernel's apply; the next starts after that end.
      for (let i = 0; i < syncs.length; i++) {
        const s = syncs[i]!;
        assert.ok(Math.abs(s.end - (s.start + (s.kdpMs + kernelMs) / 1000)) < 1e-9);
        if (i > 0) assert.ok(s.start >= syncs[i - 1]!.end - 1e-9, `sync ${i} starts at ${s.start}, before the last ended at ${syncs[i - 1]!.end}`);
      }
      // Syncs of 2 s, changes every 0.1 s: back to back, so at most one per 2 s (plus the last).
      assert.ok(syncs.length <= Math.ceil(8 / 2) + 2, `${syncs.length} syncs in 8 s of 2-s applies`);
      const plainSyncs = plain.result.syncs.full + plain.result.syncs.partial;
      assert.ok(syncs.length < plainSyncs, `${syncs.length} syncs with the kernel, ${plainSyncs} without`);
      assert.ok(run.result.programmingLatencyMs.p50 > plain.result.programmingLatencyMs.p50 + kernelMs / 2);
      assert.equal(plain.kernel, undefined, 'without a kernel no kernel figure');
    });
  }

  it('with the kernel the token bucket still holds: burst 1 means one sync start per minSyncPeriod, none before the last ended', async () => {
    // burst 1, minSyncPeriod 3 s, applies of 2 s; then applies of 4 s, longer than the period.
    const mode: ProxyMode = { ...modeNamed('iptables'), syncLoop: { trigger: 'runner', minSyncPeriodS: 3, burst: 1, kind: 'partial' } };
    for (const ms of [2000, 4000]) {
      const syncs: SyncRecord[] = [];
      await runChurnOnKernel(mode, cluster, 10, 3, clock, { load: async () => 1, apply: async () => ms }, 14, (s) => syncs.push(s));
      assert.ok(syncs.length >= 3, `${syncs.length} syncs`);
      for (let i = 1; i < syncs.length; i++) {
        const [a, b] = [syncs[i - 1]!, syncs[i]!];
        assert.ok(b.start >= a.start + 3 - 1e-9 && b.start >= a.end - 1e-9, `${ms} ms applies: sync ${i} at ${b.start}, the last ran ${a.start} to ${a.end}`);
      }
    }
  });

  it('a kernel that refuses a payload fails the run (no figure), and a mode without apply rules is refused', async () => {
    const refusing = { load: async () => 1, apply: async () => { throw new Error('iptables-restore: line 3 failed'); } };
    await assert.rejects(runChurnOnKernel(modeNamed('nftables'), cluster, 10, 3, clock, refusing, 3), /line 3 failed/);
    await assert.rejects(runChurnOnKernel(modeNamed('ipvs'), cluster, 10, 3, clock, fake().kernel, 3), /ipvs mode has no kernel apply rules/);
  });
});
