import { strict as assert } from 'node:assert';
import { describe, it, after } from 'node:test';
import { performance } from 'node:perf_hooks';
import { ReplayPool } from '../../src/replay/pool.js';
import { kChunkFlows, mergeShards, ReplaySetup, replayShard, type SetupKey } from '../../src/replay/replay.js';

const clock = (): number => performance.now();

describe('replay', () => {
  const pool = new ReplayPool();
  after(() => pool.close());

  it('gives the same decision checksum for 1 and 2 shards, in one thread', () => {
    const key: SetupKey = { mode: 'nftables', services: 40, endpointsPerService: 5, cni: 'calico-vxlan', seed: 9, zipf: 0 };
    const setup = new ReplaySetup(key);
    const one = mergeShards([replayShard(setup, { ...key, flows: 3000, shard: 0, shards: 1 }, clock)]);
    const two = mergeShards([0, 1].map((s) => replayShard(setup, { ...key, flows: 3000, shard: s, shards: 2 }, clock)));
    assert.equal(one.flows, 3000);
    assert.equal(two.flows, 3000);
    assert.equal(two.decisionChecksum, one.decisionChecksum);
    assert.equal(two.firstPackets + two.establishedPackets, one.firstPackets + one.establishedPackets);
    assert.equal(one.conntrack.invalid, 0);
    assert.equal(one.foreignEndpoints, 0);
    assert.ok(one.exactDecisions > 0);
    // Delivered, not dropped: only the Services without a ready endpoint (REJECT) and
    // externalTrafficPolicy Local without a local endpoint (DROP) lose flows.
    assert.ok(one.failedFlows < 0.1 * one.flows, `${one.failedFlows} failed flows`);
    assert.ok(one.ends['delivered-pod']! > one.flows, 'replies are delivered too');
    assert.ok(one.wireBytes > 0 && one.encapBytes > 0);
  });

  it('a cell runs on threads that have replayed no other mode: the same mode keeps them, another gets new ones', async () => {
    const own = new ReplayPool();
    try {
      const cell = { mode: 'ipvs' as const, services: 20, endpointsPerService: 2, cni: 'calico-vxlan' as const, seed: 3, zipf: 0, flows: 500 };
      const first = await own.run(cell, 2);
      const again = await own.run({ ...cell, services: 30 }, 2);
      assert.deepEqual([...again.threadIds].sort(), [...first.threadIds].sort());
      const other = await own.run({ ...cell, mode: 'nftables' }, 2);
      assert.equal(other.threadIds.length, 2);
      assert.ok(other.threadIds.every((id) => !first.threadIds.includes(id)), `${other.threadIds} after ${first.threadIds}`);
      const back = await own.run(cell, 2);
      assert.ok(back.threadIds.every((id) => !other.threadIds.includes(id) && !first.threadIds.includes(id)));
    } finally {
      await own.close();
    }
  });

  it('a revisit pass replays the first flows again, conntrack emptied and the rules\' affinity kept', () => {
    // 120 Services hold a few ClientIP ones (synthetic.ts: 5 %), of five endpoints each.
    const key: SetupKey = { mode: 'nftables', services: 120, endpointsPerService: 5, cni: 'calico-vxlan', seed: 4, zipf: 0 };
    const setup = new ReplaySetup(key);
    const run = (flows: number, revisitFlows?: number) => replayShard(setup, { ...key, flows, shard: 0, shards: 1, ...(revisitFlows ? { revisitFlows } : {}) }, clock);
    const all = run(3000);
    const first = run(1000);
    const both = run(3000, 1000);
    // Every revisited flow is new again to conntrack, emptied with its counters: the second
    // pass's entries are those of the same flows alone, none clashing with the first pass's.
    assert.equal(both.firstPackets, all.firstPackets + first.firstPackets);
    assert.equal(both.conntrack.new, first.conntrack.new);
    assert.equal(both.conntrack.insertFailed, first.conntrack.insertFailed);
    // The rules were not reset: a revisited flow to a ClientIP Service meets its client's
    // remembered endpoint at the first affinity rule that holds it, where alone it walked them all
    // and the numgen: the second pass costs fewer rules than the same flows alone.
    assert.ok(both.decisionWork - all.decisionWork < first.decisionWork, `${both.decisionWork - all.decisionWork} rules against ${first.decisionWork}`);
  });

  it('tells the flows replayed so far from the shards\' heartbeats, warm-up first, rising to the run\'s total', async () => {
    const cell = { mode: 'ipvs' as const, services: 20, endpointsPerService: 2, cni: 'calico-vxlan' as const, seed: 3, zipf: 0, flows: 3 * kChunkFlows };
    const heard: [number, number][] = [];
    await pool.run(cell, 2, { warmUpFlows: kChunkFlows, onFlows: (done, total) => heard.push([done, total]) });
    assert.ok(heard.length >= 2, `${heard.length} reports`);
    assert.ok(heard.every(([, total]) => total === 4 * kChunkFlows), 'the total is warm-up plus the cell\'s flows');
    const done = heard.map(([d]) => d);
    assert.deepEqual(done, [...done].sort((a, b) => a - b), 'never goes back');
    assert.ok(done[done.length - 1]! > kChunkFlows && done[done.length - 1]! < 4 * kChunkFlows, `reached ${done[done.length - 1]} within the timed phase`);
  });

  for (const mode of ['iptables', 'ipvs', 'nftables', 'userspace'] as const) {
    it(`gives the same decision checksum for 1 and 2 piscina workers, which attach to tables compiled once (${mode})`, async () => {
      const cell = { mode, services: 30, endpointsPerService: 4, cni: 'calico-vxlan' as const, seed: 4, zipf: 1, flows: 4000 };
      const a = await pool.run(cell, 1);
      const b = await pool.run(cell, 2, { measureSync: true });
      assert.equal(b.threads, 2, 'two threads ran the two shards');
      assert.equal(b.run.decisionChecksum, a.run.decisionChecksum);
      // Compiled on the main thread, once for both runs; no worker compiled a node.
      assert.equal(a.workerCompiledNodes, 0);
      assert.equal(b.workerCompiledNodes, 0);
      assert.ok(a.sharedTables && b.sharedTables, 'the workers read the tables from shared memory');
      assert.equal(b.compileMs, a.compileMs, 'the second run reused the first run\'s compiled tables');
      // And says so, so that the sweep's time split does not count that cluster and build twice.
      assert.deepEqual([a.setupReused, b.setupReused], [undefined, true]);
      assert.equal(a.compileMs.length, 2);
      // And the same decisions as a replay in this thread over tables it compiled itself.
      const local = new ReplaySetup(cell);
      const here = mergeShards([replayShard(local, { ...cell, shard: 0, shards: 1 }, clock)]);
      assert.equal(here.decisionChecksum, a.run.decisionChecksum);
      assert.equal(b.run.flows, 4000);
      assert.ok(b.sync, 'sync measured');
      // The userspace proxy's portal rules do not change when an endpoint does.
      if (mode !== 'userspace') assert.ok(b.sync.oneEndpointRewrittenBytes > 0, 'the endpoint change rewrote rules');
      if (mode === 'ipvs' || mode === 'userspace') assert.ok(a.run.candidateDecisions > 0, 'round robin checksums candidate sets');
      // A warm-up run first changes nothing that is counted: its results are dropped.
      const warmed = await pool.run(cell, 2, { warmUpFlows: 1000 });
      assert.equal(warmed.warmUpFlows, 1000);
      // Two workers replay the first min(1000, 2 x kRevisitFlows) of them a second time.
      assert.equal(warmed.warmUpRevisitFlows, 1000);
      assert.equal(warmed.run.flows, 4000);
      assert.equal(warmed.run.decisionChecksum, a.run.decisionChecksum);
      assert.equal(warmed.run.firstPackets + warmed.run.establishedPackets, a.run.firstPackets + a.run.establishedPackets);
    });
  }

  it('splits out the established phase\'s stage times: a part of every stage\'s, within the phase\'s runBatch time, no service-nat', () => {
    const key: SetupKey = { mode: 'iptables', services: 30, endpointsPerService: 3, cni: 'calico-vxlan', seed: 5, zipf: 0 };
    const setup = new ReplaySetup(key);
    const runs = [0, 1, 2].map(() => replayShard(setup, { ...key, flows: 3000, shard: 0, shards: 1 }, clock));
    const r = runs[0]!;
    const est = Object.entries(r.establishedStageNs);
    assert.ok(r.establishedPackets > r.firstPackets && est.length >= 5, `${est.length} stages timed in the established phase`);
    // Conntrack answers a later packet before the service NAT's table: no established packet is decided.
    assert.ok(r.stageNs['service-nat']! > 0, 'first packets were decided');
    assert.equal(r.establishedStageNs['service-nat'], undefined);
    for (const [name, ns] of est) {
      assert.ok(ns > 0, name);
      // Every first packet passes prerouting and route too, so the whole run took more there.
      assert.ok(ns < r.stageNs[name]!, `${name}: ${ns} of ${r.stageNs[name]} ns`);
    }
    // The stage timers run inside runBatch's, which the phase's time is: always less, and most of it
    // in one run of three at least (the phase is ~12 ms, so one pause between two stages, the OS
    // taking the core or a collection, weighs: once the stages were 44 % of a run's phase, in a
    // clean-clone CI run, where alone they are 87-99 %).
    const stagesOf = (x: typeof r) => Object.values(x.establishedStageNs).reduce((a, ns) => a + ns, 0);
    for (const x of runs) assert.ok(stagesOf(x) < x.establishedPhaseNs, `stages ${stagesOf(x)} ns, phase ${x.establishedPhaseNs} ns`);
    const share = Math.max(...runs.map((x) => stagesOf(x) / x.establishedPhaseNs));
    assert.ok(share > 0.5, `the stages are most of the phase's time in the best of three runs: ${share.toFixed(2)}`);
    // Shards merge by stage.
    const two = mergeShards([r, r]);
    assert.equal(two.establishedStageNs.prerouting, 2 * r.establishedStageNs.prerouting!);
  });

  it('decides the same across repeats (state is reset between runs)', () => {
    const key: SetupKey = { mode: 'userspace', services: 20, endpointsPerService: 3, cni: 'calico-ipip', seed: 2, zipf: 0 };
    const setup = new ReplaySetup(key);
    const cache = {};
    const r1 = replayShard(setup, { ...key, flows: 1500, shard: 0, shards: 1 }, clock, cache);
    const r2 = replayShard(setup, { ...key, flows: 1500, shard: 0, shards: 1 }, clock, cache);
    assert.equal(r2.checksumLo, r1.checksumLo);
    assert.equal(r2.checksumHi, r1.checksumHi);
    assert.equal(r2.conntrack.new, r1.conntrack.new);
    assert.ok(r1.proxyCopiedBytes > 0);
  });

  it('a warm-up sized for the timed run leaves it its context, and the timed run decides as a fresh one', () => {
    // Arrange
    const key: SetupKey = { mode: 'nftables', services: 20, endpointsPerService: 3, cni: 'calico-vxlan', seed: 3, zipf: 0 };
    const setup = new ReplaySetup(key);
    const cache: Parameters<typeof replayShard>[3] & object = {};
    // Act: a short warm-up sized for 3,000 flows, then the 3,000-flow run on its cache; and a fresh run.
    replayShard(setup, { ...key, flows: 500, sizedForFlows: 3000, shard: 0, shards: 1 }, clock, cache);
    const warmed = cache.ctx;
    const timed = replayShard(setup, { ...key, flows: 3000, shard: 0, shards: 1 }, clock, cache);
    const fresh = replayShard(new ReplaySetup(key), { ...key, flows: 3000, shard: 0, shards: 1 }, clock, {});
    // Assert
    assert.ok(warmed !== undefined);
    assert.equal(cache.ctx, warmed, 'the timed run reused the warm-up\'s context (its tables, its objects)');
    assert.equal(timed.checksumLo, fresh.checksumLo);
    assert.equal(timed.checksumHi, fresh.checksumHi);
    assert.deepEqual(timed.conntrack, fresh.conntrack);
    assert.equal(timed.establishedPackets, fresh.establishedPackets);
  });
});
