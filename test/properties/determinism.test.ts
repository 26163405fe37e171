/**
 * The same seed gives the same decisions whatever the number of workers.
 *
 *  - Through src/replay (the benchmark's own, worker-count-independent API: flows are a pure
 *    function of (seed, flow id), sharded by RSS): the merged decision checksum of 1, 2 and 3
 *    shards is the same. The checksum holds every flow's exact endpoint where the choice depends
 *    only on the flow (iptables statistic, nftables numgen, IPVS sh/mh) and the service port
 *    where kube-proxy's own choice depends on arrival order (IPVS rr, userspace round robin,
 *    ClientIP affinity: each mode record's orderDependent), since those legitimately differ per shard.
 *  - Metamorphic, through the pipeline: for iptables and nftables mode (no affinity) a flow's
 *    endpoint depends only on (flow hash, seed): replaying the same flows in two different orders
 *    through two separate contexts gives every flow the same endpoint.
 *
 * Runs in `npm test`: 6 replay cells (1,500 flows each, 3 shard counts); 40 metamorphic scenarios per mode.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { ReplaySetup, mergeShards, replayShard } from '../../src/replay/replay.js';
import type { ModeName } from '../../src/model/types.js';
import { resolveScenario, scenarioArb } from '../helpers/arbitraries.js';
import { checkProperty, holds, isDnat, loggedContext, runs, scenarioReport, sendPacket } from '../helpers/nat-assertions.js';


function workerLaw(modes: readonly ModeName[]): () => void {
  return () =>
    checkProperty(
      `worker-count independence (${modes.join(', ')})`,
      fc.record({
        mode: fc.constantFrom(...modes),
        services: fc.integer({ min: 1, max: 12 }),
        endpointsPerService: fc.integer({ min: 1, max: 5 }),
        cni: fc.constantFrom('kubenet' as const, 'calico-vxlan' as const, 'calico-ipip' as const),
        seed: fc.integer({ min: 1, max: 1000 }),
      }),
      (cell) => {
        // Arrange
        const setup = new ReplaySetup({ ...cell, zipf: 0 });
        const flows = 1500;
        const run = (shards: number) =>
          mergeShards(Array.from({ length: shards }, (_, shard) => replayShard(setup, { ...setup.spec, flows, shard, shards, stageTiming: false }, () => performance.now())));
        // Act
        const one = run(1);
        // Assert
        for (const shards of [2, 3]) {
          const r = run(shards);
          holds(r.decisionChecksum === one.decisionChecksum ? '' : `${shards} shards: checksum ${r.decisionChecksum} (${r.failedFlows} failed flows), 1 shard: ${one.decisionChecksum} (${one.failedFlows} failed flows)`);
          holds(r.flows === one.flows ? '' : `${shards} shards replayed ${r.flows} flows, 1 shard ${one.flows}`);
        }
      },
      { numRuns: runs(6), describe: (c) => JSON.stringify(c) },
    );
}

test('the same seed gives the same decisions whatever the number of workers (src/replay shards)', workerLaw(['iptables', 'ipvs', 'nftables']));
test('the same seed gives the same decisions whatever the number of workers (src/replay shards): userspace', workerLaw(['userspace']));

for (const mode of ['iptables', 'nftables'] as const) {
  test(`[${mode}] a flow's endpoint depends only on (flow hash, seed): two orders, two contexts, same endpoints`, () => {
    checkProperty(
      `${mode}: order independence`,
      scenarioArb({ packets: 6 }),
      (sc) => {
        // Arrange: no affinity (ClientIP affinity is order-dependent by design).
        fc.pre(sc.cluster.services.every((s) => !s.affinity));
        const { cluster, packets } = resolveScenario(sc);
        const a = loggedContext(cluster, mode, { seed: 7 });
        const b = loggedContext(cluster, mode, { seed: 7 });
        // Act
        const endpointOf = (lc: typeof a, k: number): number => sendPacket(lc, packets[k].probe).decisions.filter(isDnat).map((d) => d.out.endpoint)[0] ?? -1;
        const fwd = packets.map((_, k) => endpointOf(a, k));
        const rev = new Array<number>(packets.length);
        for (let k = packets.length - 1; k >= 0; k--) rev[k] = endpointOf(b, k);
        // Assert
        holds(JSON.stringify(fwd) === JSON.stringify(rev) ? '' : `in order: ${fwd}; reversed: ${rev}`);
      },
      { numRuns: runs(40), ...scenarioReport(mode) },
    );
  });
}
