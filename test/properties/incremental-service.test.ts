/**
 * Law: Services added to and removed from a cluster, written into a node's compiled tables in
 * place (ProxyMode.updateServices), leave them deciding exactly as a fresh compile of the changed
 * cluster. For random clusters, the last k of their Services are added to the cluster of the
 * others (servicesUpTo), then one Service at random is removed (withServiceGone); after each step,
 * for every mode that has the update and every node the packets enter:
 *  - the updated dataplane and a fresh compile of the resulting cluster, given the same packets,
 *    random words and clocks in the same order, make the same decisions (verdict, service port,
 *    endpoint, DNAT address and port, masquerade; not the hash probes counted as work, which
 *    depend on the order keys came and went, but iptables' rules scanned, which must not) and
 *    explain the same candidates, for the scenario's
 *    packets and one to every frontend of every Service the larger cluster has (its ClusterIP,
 *    external and LoadBalancer IPs, NodePorts): the added Service answers, the removed one does
 *    not, every other one is unchanged;
 *  - the same holds for a dataplane attached to the shared image the update wrote into;
 *  - the seqlock word is even again after an update, and moved; an update that gives up
 *    (undefined: no room) wrote nothing, in either copy, and the caller recompiles;
 *  - the updated tables count what a fresh compile programs (iptables: live rules and chains; Cilium: service-map entries used and
 *    needed, live frontends; IPVS: virtual and real servers, bound addresses, Maglev tables;
 *    userspace: rules, proxy sockets; nftables: live chains and their rules, map elements, live
 *    sets and their elements), and IPVS's print the same `ipvsadm -S -n`, `ipset save` and
 *    iptables-save text, userspace's the same iptables-save; Cilium's IDs (rev-NAT, backend) are
 *    kept by the update as the agent keeps them, so its listings differ; the userspace proxy's
 *    ports are held to what the proxier keeps (kKept), then compared through the fresh compile.
 * The oracle is the mode's own compile of the changed cluster.
 *
 * Runs in `npm test`: 60 scenarios per mode.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import fc from 'fast-check';
import { compileDataplane, modeNamed, modeNames } from '../../src/compile/index.js';
import type { ServiceDataplane } from '../../src/compile/dataplane.js';
import { dataplaneFromImage, dataplaneImage } from '../../src/compile/image.js';
import { ciliumConfigOf } from '../../src/compile/cilium/index.js';
import type { Cluster } from '../../src/model/types.js';
import { servicesUpTo, withServiceGone } from '../../src/model/service-change.js';
import { resolveScenario, scenarioArb, type Scenario } from '../helpers/arbitraries.js';
import { checkProperty, holds, runs, scenarioReport } from '../helpers/nat-assertions.js';
import { clusterOf, node, service, slice } from '../helpers/cluster.js';
import { parseIp } from '../../src/net/ipv4.js';
import { probesOf, sameDecisions } from '../helpers/incremental.js';
import { renderIpvsadmSave, renderIpvsIptablesSave, type IpvsDataplane } from '../../src/compile/ipvs/index.js';
import { renderIpsetSave } from '../../src/compile/ipvs/ipsets.js';
import { renderUserspaceIptablesSave, type UserspaceDataplane } from '../../src/compile/userspace/index.js';

const kRuns = runs(60);

/** What a fresh compile and an update must count alike, per mode (the rest keeps IDs or room). */
const kCounted: Readonly<Record<string, readonly string[]>> = {
  cilium: ['rules', 'chains', 'lbMapEntries', 'lbMapUnprogrammed'],
  iptables: ['rules', 'chains'],
  ipvs: ['rules', 'virtualServices', 'realServers', 'boundAddresses', 'maglevTables'],
  userspace: ['rules', 'chains', 'proxySockets', 'portalRules'],
  nftables: ['rules', 'chains', 'mapElements', 'sets', 'setElements'],
};

/**
 * What the mode's own tools would print of the tables, where an update keeps no IDs of its own:
 * IPVS's `ipvsadm -S -n`, `ipset save` and its iptables rules (Cilium's listings print rev-NAT and
 * backend IDs, which an update keeps and a compile renumbers).
 */
const kTexts: Readonly<Record<string, (dp: ServiceDataplane) => string>> & { ipvs: (dp: ServiceDataplane) => string } = {
  ipvs: (dp) => [renderIpvsadmSave(dp as IpvsDataplane), renderIpsetSave(dp as IpvsDataplane), renderIpvsIptablesSave(dp as IpvsDataplane)].join('\n'),
  userspace: (dp) => renderUserspaceIptablesSave(dp as UserspaceDataplane),
};

/**
 * State an update keeps where a compile would renumber it, per mode: `before` takes it from the
 * tables before the update; `kept` checks the updated tables' against the spec and writes it into
 * a fresh compile, which is then the oracle for everything else. The userspace proxier never
 * moves a live proxy socket (unmergeService closes a removed port's and releases its port), where
 * a compile hands every port after a removed one out one lower: after the update, a port the
 * tables had keeps its proxy port, a removed Service's ports have none, and a new port has the one
 * a compile of the larger cluster hands it (the steps add before they remove).
 */
const kKept: Readonly<Record<string, { before(dp: ServiceDataplane): Uint16Array; kept(before: Uint16Array, updated: ServiceDataplane, fresh: ServiceDataplane, next: Cluster, removed: readonly number[]): string }>> = {
  userspace: {
    before: (dp) => (dp as UserspaceDataplane).tables.proxyPort.slice(0, (dp as UserspaceDataplane).tables.extent[0]),
    kept: (before, updated, fresh, next, removed) => {
      const gone = new Set(removed.flatMap((s) => next.services[s].ports));
      const has = (updated as UserspaceDataplane).tables.proxyPort;
      const oracle = (fresh as UserspaceDataplane).tables.proxyPort;
      for (let sp = 0; sp < next.ports.length; sp++) {
        const want = gone.has(sp) ? 0 : sp < before.length ? before[sp] : oracle[sp];
        if (has[sp] !== want) return `service port ${sp} has proxy port ${has[sp]}, the proxier's would be ${want}`;
        oracle[sp] = want;
      }
      return '';
    },
  },
};

function counted(dp: ServiceDataplane): string {
  const s = dp.stats();
  return JSON.stringify((kCounted[dp.mode] ?? []).map((k) => [k, s[k]]));
}

const inPlace: Record<string, number> = {};
const recompiled: Record<string, number> = {};

for (const mode of modeNames()) {
  if (!modeNamed(mode).updateServices) continue;
  test(`${mode}: Services added and removed in place decide as a fresh compile of the changed cluster`, () => {
    checkProperty(
      `${mode} in-place Service add and remove`,
      fc.tuple(scenarioArb({ maxServices: 5 }), fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, fc.nat({ max: 4 })), fc.nat({ max: 4 }), fc.boolean()),
      ([scenario, addPick, removePick, maglevPick]: [Scenario, number, number, boolean]) => {
        // Arrange
        const plain = resolveScenario(scenario);
        const maglev = mode === 'cilium' && maglevPick;
        const sc = maglev ? { ...plain, cluster: { ...plain.cluster, cilium: { ...ciliumConfigOf(plain.cluster), lbAlgorithm: 'maglev' as const, maglevTableSize: 251 } } } : plain;
        const full = sc.cluster;
        const n = full.services.length;
        const k = 1 + (addPick % n);
        const added = Array.from({ length: k }, (_, i) => n - k + i);
        const removed = removePick % n;
        const steps: { next: Cluster; added: number[]; removed: number[]; what: string }[] = [
          { next: full, added, removed: [], what: `Services ${added.join(', ')} added` },
          { next: withServiceGone(full, removed), added: [], removed: [removed], what: `then Service ${removed} removed` },
        ];
        const proxy = modeNamed(mode);
        const nodes = [...new Set(sc.packets.map((p) => p.probe.node))];
        const before = servicesUpTo(full, n - k);
        for (const node of nodes) {
          let updated = compileDataplane(before, mode, node);
          let image = dataplaneImage(compileDataplane(before, mode, node));
          let writer = dataplaneFromImage(before, image);
          for (const step of steps) {
            const where = `${mode}, node ${node}, ${step.what}`;
            // Act
            const gen = updated.generation?.[0];
            const keptBefore = kKept[mode]?.before(updated);
            const imageBytes = Buffer.from(new Uint8Array(image.tables.buffer)).toString('base64');
            const a = proxy.updateServices!(updated, step.next, step.added, step.removed);
            const b = proxy.updateServices!(writer, step.next, step.added, step.removed);
            assert.equal(a === undefined, b === undefined, `${where}: the compiled tables and the image's agree on whether the change fits in place`);
            if (a === undefined) {
              assert.equal(updated.generation?.[0], gen, `${where}: an update that gave up moved the seqlock word`);
              assert.equal(Buffer.from(new Uint8Array(image.tables.buffer)).toString('base64'), imageBytes, `${where}: an update that gave up wrote the image`);
              recompiled[mode] = (recompiled[mode] ?? 0) + 1;
              // A removal needs no room: only a frontend bpf-lb-map-max left out makes it give up.
              if (step.added.length === 0) assert.ok(updated.stats().lbMapUnprogrammed !== 0, `${where}: a removal gave up`);
              updated = compileDataplane(step.next, mode, node);
              image = dataplaneImage(compileDataplane(step.next, mode, node));
              writer = dataplaneFromImage(step.next, image);
            } else {
              inPlace[mode] = (inPlace[mode] ?? 0) + 1;
              const after = updated.generation?.[0];
              if (gen !== undefined) assert.ok(after !== undefined && after % 2 === 0 && after > gen, `${where}: the seqlock word ${gen} -> ${after}`);
            }
            // Assert
            // Decided from a clean state (a step's probes moved round-robin cursors and affinity).
            updated.reset();
            const oracle = (dp: ServiceDataplane): ServiceDataplane => {
              const fresh = compileDataplane(step.next, mode, node);
              if (a !== undefined && keptBefore !== undefined) holds(kKept[mode].kept(keptBefore, dp, fresh, step.next, step.removed), where);
              return fresh;
            };
            const fresh = oracle(updated);
            const probes = probesOf(sc, full, node, true);
            holds(counted(updated) === counted(fresh) ? '' : `updated tables count ${counted(updated)}, a fresh compile ${counted(fresh)}`, where);
            const text = kTexts[mode];
            if (text) holds(text(updated) === text(fresh) ? '' : `the updated tables print\n${text(updated)}\na fresh compile\n${text(fresh)}`, where);
            // iptables' work is the rules its scan passed, which an update keeps in the compile's order.
            const ignoreWork = mode !== 'iptables';
            sameDecisions(updated, fresh, probes, where, ignoreWork);
            const reader = dataplaneFromImage(step.next, image);
            sameDecisions(reader, oracle(reader), probes, `${where}, a reader attached to the written image`, ignoreWork);
          }
        }
      },
      {
        numRuns: kRuns,
        describe: ([scenario, addPick, removePick, maglev]) => `${scenarioReport(mode).describe!(scenario)}\nadd pick ${addPick}, remove pick ${removePick}, maglev ${maglev}`,
      },
    );
    // Not a vacuous law: most changes were written in place (an add gives up when many Services
    // join a few, past the room a compile keeps: that path is checked too). Two in three at least:
    // userspace, which gives up most often, wrote 5 to 18 in place for each recompile over 15 runs
    // of random seeds (2026-12-05), and 3.5 in one clean-clone CI run, which a bound of 4 failed.
    const done = inPlace[mode] ?? 0;
    const gaveUp = recompiled[mode] ?? 0;
    assert.ok(done > 2 * gaveUp, `${mode}: ${done} Service updates in place, ${gaveUp} recompiles`);
  });
}

test('ipvs: an externalIP two Services bind on two ports stays on kube-ipvs0 while one of them is left, and goes with the last', () => {
  // Arrange: web and api share externalIP 198.51.100.7 (80 and 443), so KUBE-IPVS-IPS holds it once for two VSs.
  const cluster = clusterOf(
    node('n1', '10.244.1.0/24', '192.168.0.11'),
    service('default', 'web', { type: 'ClusterIP', clusterIP: '10.96.0.10', externalIPs: ['198.51.100.7'], ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] }),
    service('default', 'api', { type: 'ClusterIP', clusterIP: '10.96.0.11', externalIPs: ['198.51.100.7'], ports: [{ port: 443, targetPort: 8443, protocol: 'TCP' }] }),
    slice('default', 'web', [{ port: 8080 }], [{ ip: '10.244.1.5', node: 'n1' }]),
    slice('default', 'api', [{ port: 8443 }], [{ ip: '10.244.1.6', node: 'n1' }]),
  );
  const web = cluster.services.findIndex((s) => s.name === 'web');
  const api = 1 - web;
  const mode = modeNamed('ipvs');
  const dp = compileDataplane(cluster, 'ipvs', 0);
  const shared = parseIp('198.51.100.7');
  const bound = (): boolean => (dp as IpvsDataplane).tables.bound.has(shared);
  // Act, Assert
  const oneGone = withServiceGone(cluster, web);
  assert.ok(mode.updateServices!(dp, oneGone, [], [web]), 'the removal is written in place');
  assert.ok(bound(), 'the address stays bound: api still has a VS on it');
  assert.equal(kTexts.ipvs(dp), kTexts.ipvs(compileDataplane(oneGone, 'ipvs', 0)), 'as a fresh compile prints it');
  const bothGone = withServiceGone(oneGone, api);
  assert.ok(mode.updateServices!(dp, bothGone, [], [api]), 'the removal is written in place');
  assert.ok(!bound(), 'the address leaves kube-ipvs0 with its last VS');
  assert.equal(kTexts.ipvs(dp), kTexts.ipvs(compileDataplane(bothGone, 'ipvs', 0)), 'as a fresh compile prints it');
});
