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
import { churnTimeline, kGraceS, kPacketGapS, kPacketsPerFlow, runChurn, runnerNextRun } from '../../src/replay/churn.js';

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
