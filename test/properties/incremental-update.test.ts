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
 *    not their bytes, which include the room an update writes into), Cilium's backends aside;
 *  - iptables: the updated tables print the same iptables-save text as a fresh compile (the room
 *    stays invisible), and an update the mode cannot write in place (ProxyMode.updateEndpoints
 *    gives undefined: a port's KUBE-SERVICES rules change) writes nothing, in either copy; the
 *    caller then recompiles, as the test does. Every mode writes most changes in place (counted).
 * The oracle is the mode's own compile of the changed cluster, a path that shares no code with the
 * update's range rewriting beyond the endpoint categorisation (topology.ts) both follow.
 *
 * Runs in `npm test`: 60 scenarios, each with up to 6 changes.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { compileDataplane, modeNamed, modeNames } from '../../src/compile/index.js';
import { dataplaneFromImage, dataplaneImage } from '../../src/compile/image.js';
import { EP_READY, EP_SERVING, EP_TERMINATING, type Cluster } from '../../src/model/types.js';
import { ciliumConfigOf } from '../../src/compile/cilium/index.js';
import { compileRuleset, IptablesDataplane, renderIptablesSave } from '../../src/compile/iptables/index.js';
import { resolveScenario, scenarioArb, type Scenario } from '../helpers/arbitraries.js';
import { checkProperty, holds, runs, scenarioReport } from '../helpers/nat-assertions.js';
import { probesOf, sameDecisions } from '../helpers/incremental.js';

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

/** Updates written in place and updates that gave up (recompiled), per mode, over all scenarios. */
const inPlace: Record<string, number> = {};
const recompiled: Record<string, number> = {};

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
            const imageBytes = new Uint8Array(images.get(n)!.tables.buffer).slice();
            const a = proxy.updateEndpoints(updated.get(n)!, next, [service]);
            const b = proxy.updateEndpoints(writers.get(n)!, next, [service]);
            assert.equal(a === undefined, b === undefined, `${mode}: the compiled tables and the image's agree on whether the change fits in place`);
            if (a === undefined) {
              // Nothing written: the caller recompiles (and publishes a new image).
              assert.equal(updated.get(n)!.generation?.[0], before, `${mode}: an update that gave up moved the seqlock word`);
              assert.ok(Buffer.from(imageBytes).equals(Buffer.from(new Uint8Array(images.get(n)!.tables.buffer))), `${mode}: an update that gave up wrote the image`);
              recompiled[mode] = (recompiled[mode] ?? 0) + 1;
              updated.set(n, compileDataplane(next, mode, n));
              images.set(n, dataplaneImage(compileDataplane(next, mode, n)));
              writers.set(n, dataplaneFromImage(next, images.get(n)!));
              continue;
            }
            inPlace[mode] = (inPlace[mode] ?? 0) + 1;
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
          sameDecisions(updated.get(n)!, compileDataplane(cluster, mode, n), probesOf(sc, cluster, n), `${mode}, node ${n}`);
          sameDecisions(dataplaneFromImage(cluster, images.get(n)!), compileDataplane(cluster, mode, n), probesOf(sc, cluster, n), `${mode}, node ${n}, a reader attached to the written image`);
          const u = updated.get(n)!;
          if (u instanceof IptablesDataplane) {
            const fresh = renderIptablesSave(compileRuleset(cluster, { node: n }));
            holds(renderIptablesSave(u.rules) === fresh ? '' : 'the updated tables print other iptables-save text than a fresh compile', `${mode}, node ${n}`);
            const reader = dataplaneFromImage(cluster, images.get(n)!) as IptablesDataplane;
            holds(renderIptablesSave(reader.rules) === fresh ? '' : 'the written image prints other iptables-save text than a fresh compile', `${mode}, node ${n}, a reader attached to the written image`);
          }
        }
      },
      {
        numRuns: kRuns,
        describe: ([scenario, changes]) => `${scenarioReport(mode).describe!(scenario)}\nchanges (row mod rows, state index into ready/unready/serving-terminating/terminating/gone): ${JSON.stringify(changes)}`,
      },
    );
    // Not a vacuous law: most changes were written in place (only iptables may give up, and only
    // for changes that reach KUBE-SERVICES).
    if (modeNamed(mode).updateEndpoints) {
      const done = inPlace[mode] ?? 0;
      const gaveUp = recompiled[mode] ?? 0;
      assert.ok(done > gaveUp, `${mode}: ${done} updates in place, ${gaveUp} recompiles`);
      if (mode !== 'iptables') assert.equal(gaveUp, 0, `${mode}: its update never gives up`);
    }
  });
}
