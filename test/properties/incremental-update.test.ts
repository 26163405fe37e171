/**
 * Law: an endpoint change written into a node's compiled tables in place (ProxyMode.updateEndpoints)
 * leaves them deciding exactly as a fresh compile of the changed cluster. After any sequence of
 * random condition changes (a pod becoming ready, unready, serving-and-terminating, terminating
 * only, or gone: no condition left), for every mode and every node the packets enter:
 *  - the updated dataplane and a fresh compile of the resulting cluster, given the same packets,
 *    random words and clocks in the same order, make the same decisions (verdict, service port,
 *    endpoint, DNAT address and port, masquerade) and explain the same candidates;
 *  - the same holds for a dataplane attached to the shared image the update wrote into (workers
 *    read the update without re-attaching);
 *  - the tables' seqlock word is even again after the update, and moved;
 *  - the updated tables count what a fresh compile holds (stats: rules, chains, elements, sets;
 *    not their bytes, which include the room an update writes into), Cilium's backends aside.
 * The oracle is the mode's own compile of the changed cluster, a path that shares no code with the
 * update's range rewriting beyond the endpoint categorisation (topology.ts) both follow.
 *
 * Runs in `npm test`: 60 scenarios, each with up to 6 changes.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { compileDataplane, modeNamed, modeNames } from '../../src/compile/index.js';
import { newNatDecision, type ServiceDataplane } from '../../src/compile/dataplane.js';
import { dataplaneFromImage, dataplaneImage } from '../../src/compile/image.js';
import { EP_READY, EP_SERVING, EP_TERMINATING, type Cluster } from '../../src/model/types.js';
import { ciliumConfigOf } from '../../src/compile/cilium/index.js';
import { resolveScenario, scenarioArb, type Scenario } from '../helpers/arbitraries.js';
import { checkProperty, firstPacketOf, holds, runs, scenarioReport } from '../helpers/nat-assertions.js';

const kRuns = runs(60);
/** ready, unready (serving), serving-and-terminating, terminating only, gone. */
const kStates = [EP_READY | EP_SERVING, 0 | EP_SERVING, EP_SERVING | EP_TERMINATING, EP_TERMINATING, 0];

interface Change { readonly row: number; readonly state: number }

/** The cluster with every row of the changed pod (same address, same Service) set to `state`. */
function applyChange(cluster: Cluster, change: Change): { next: Cluster; service: number } {
  const eps = cluster.endpoints;
  const rows = eps.ip.length;
  const row = change.row % rows;
  const port = cluster.ports.find((p) => row >= p.endpointStart && row < p.endpointStart + p.endpointCount)!;
  const svc = cluster.services[port.service];
  const conditions = eps.conditions.slice();
  for (const sp of svc.ports) {
    const p = cluster.ports[sp];
    for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if (eps.ip[r] === eps.ip[row]) conditions[r] = kStates[change.state];
  }
  return { next: { ...cluster, endpoints: { ...eps, conditions } }, service: port.service };
}

const changesArb = fc.array(fc.record({ row: fc.nat({ max: 1000 }), state: fc.nat({ max: kStates.length - 1 }) }), { minLength: 1, maxLength: 6 });

function sameDecisions(updated: ServiceDataplane, fresh: ServiceDataplane, sc: ReturnType<typeof resolveScenario>, node: number, where: string): void {
  const a = newNatDecision();
  const b = newNatDecision();
  for (const p of sc.packets) {
    if (p.probe.node !== node) continue;
    for (const now of [0, 1000]) {
      for (const rand of [0, 0x55555555, 0xaaaaaaaa, 0xffffffff]) {
        const pkt = firstPacketOf(p.probe, rand, now, fresh.socketLb);
        fresh.decide(pkt, b);
        updated.decide(pkt, a);
        const at = `${where}, packet to ${p.probe.dstIp >>> 0}:${p.probe.dstPort}, rand ${rand}, t=${now}s`;
        holds(JSON.stringify(a) === JSON.stringify(b) ? '' : `updated decides ${JSON.stringify(a)}, fresh compile ${JSON.stringify(b)}`, at);
        const ea = updated.explain(pkt);
        const eb = fresh.explain(pkt);
        holds(ea.verdict === eb.verdict && JSON.stringify(ea.candidates) === JSON.stringify(eb.candidates) ? '' : `updated explains ${ea.verdict} ${JSON.stringify(ea.candidates)}, fresh ${eb.verdict} ${JSON.stringify(eb.candidates)}`, at);
      }
    }
  }
}

for (const mode of modeNames()) {
  test(`${mode}: tables updated in place decide as a fresh compile of the changed cluster`, () => {
    checkProperty(
      `${mode} incremental update`,
      fc.tuple(scenarioArb(), changesArb),
      ([scenario, changes]: [Scenario, Change[]]) => {
        // Arrange
        const plain = resolveScenario(scenario);
        if (plain.cluster.endpoints.ip.length === 0) return;
        // Cilium's Maglev tables are rebuilt by an update too: every other scenario runs with them.
        const maglev = mode === 'cilium' && changes.length % 2 === 0;
        const sc = maglev ? { ...plain, cluster: { ...plain.cluster, cilium: { ...ciliumConfigOf(plain.cluster), lbAlgorithm: 'maglev' as const, maglevTableSize: 251 } } } : plain;
        const proxy = modeNamed(mode);
        if (!proxy.updateEndpoints) return;
        const nodes = [...new Set(sc.packets.map((p) => p.probe.node))];
        const updated = new Map(nodes.map((n) => [n, compileDataplane(sc.cluster, mode, n)]));
        const images = new Map(nodes.map((n) => [n, dataplaneImage(compileDataplane(sc.cluster, mode, n))]));
        const writers = new Map(nodes.map((n) => [n, dataplaneFromImage(sc.cluster, images.get(n)!)]));
        // Act
        let cluster = sc.cluster;
        for (const change of changes) {
          const { next, service } = applyChange(cluster, change);
          for (const n of nodes) {
            const before = updated.get(n)!.generation?.[0];
            proxy.updateEndpoints(updated.get(n)!, next, [service]);
            proxy.updateEndpoints(writers.get(n)!, next, [service]);
            const after = updated.get(n)!.generation?.[0];
            if (before !== undefined) assert.ok(after !== undefined && after % 2 === 0 && after > before, `${mode}: the seqlock word ${before} -> ${after}`);
          }
          cluster = next;
        }
        // Assert
        for (const n of nodes) {
          // Cilium's backend map keeps backends no Service uses any more (as the agent keeps their IDs): its counts may differ.
          if (mode !== 'cilium') {
            const { tableBytes: _u, ...counted } = updated.get(n)!.stats();
            const { tableBytes: _f, ...freshCounted } = compileDataplane(cluster, mode, n).stats();
            holds(JSON.stringify(counted) === JSON.stringify(freshCounted) ? '' : `updated tables count ${JSON.stringify(counted)}, a fresh compile ${JSON.stringify(freshCounted)}`, `${mode}, node ${n}`);
          }
          sameDecisions(updated.get(n)!, compileDataplane(cluster, mode, n), sc, n, `${mode}, node ${n}`);
          sameDecisions(dataplaneFromImage(cluster, images.get(n)!), compileDataplane(cluster, mode, n), sc, n, `${mode}, node ${n}, a reader attached to the written image`);
        }
      },
      {
        numRuns: kRuns,
        describe: ([scenario, changes]) => `${scenarioReport(mode).describe!(scenario)}\nchanges (row mod rows, state index into ready/unready/serving-terminating/terminating/gone): ${JSON.stringify(changes)}`,
      },
    );
  });
}
