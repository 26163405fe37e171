/**
 * The userspace proxy's Services added and removed in place (update-services.ts), against what the
 * proxier does (pkg/proxy/userspace/proxier.go, v1.25): unmergeService closes a deleted port's
 * socket and deletes its portal rules, and no other socket moves; mergeService gives a new port
 * the allocator's next port and appends its portal rules. A worker that attached to the shared
 * image before the change, and still holds the older cluster, decides the new Service's packets
 * from the tables alone. The general law (every mode, random clusters) is
 * test/properties/incremental-service.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newNatDecision, VERDICT_NONE, VERDICT_REDIRECT } from '../../../src/compile/dataplane.js';
import { dataplaneFromImage, dataplaneImage } from '../../../src/compile/image.js';
import { compileUserspace, renderUserspaceIptablesSave, type UserspaceDataplane } from '../../../src/compile/userspace/index.js';
import { userspaceMode } from '../../../src/compile/userspace/index.js';
import { servicesUpTo, withServiceGone } from '../../../src/model/service-change.js';
import { clusterOf, node, service, slice } from '../../helpers/cluster.js';
import { firstPacket } from '../../helpers/packet-flow.js';

const sticky = { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } };
const full = clusterOf(
  node('n1', '10.244.1.0/24', '192.168.0.11'),
  service('default', 'a-web', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 }] }),
  service('default', 'b-api', { type: 'ClusterIP', clusterIP: '10.96.0.11', ...sticky, ports: [{ port: 443, targetPort: 8443, protocol: 'TCP' }] }),
  service('default', 'c-db', { type: 'ClusterIP', clusterIP: '10.96.0.12', ...sticky, ports: [{ port: 5432, targetPort: 5432, protocol: 'TCP' }] }),
  slice('default', 'a-web', [{ port: 8080 }], [{ ip: '10.244.1.5', node: 'n1' }]),
  slice('default', 'b-api', [{ port: 8443 }], [{ ip: '10.244.1.6', node: 'n1' }]),
  slice('default', 'c-db', [{ port: 5432 }], [{ ip: '10.244.1.7', node: 'n1' }, { ip: '10.244.1.8', node: 'n1' }]),
);
const index = (name: string): number => full.services.findIndex((s) => s.name === name);

test('userspace: a Service removed in place closes its socket alone; one added gets the next proxy port, and an older worker decides it', () => {
  // Arrange: web and api compiled (proxy ports 32768 and 32769, handed out in order); a worker attached.
  const [web, api, db] = [index('a-web'), index('b-api'), index('c-db')];
  assert.deepEqual([web, api, db], [0, 1, 2], 'the fixture lists db last, so it is the one added');
  const before = servicesUpTo(full, 2);
  const dp = compileUserspace(before, { node: 'n1' });
  const image = dataplaneImage(dp);
  const writer = dataplaneFromImage(before, image) as UserspaceDataplane;
  const worker = dataplaneFromImage(before, image) as UserspaceDataplane;
  const apiPort = full.services[api].ports[0];
  assert.equal(dp.tables.proxyPort[apiPort], 32769);
  const out = newNatDecision();

  // Act: web deleted.
  const gone = withServiceGone(full, web);
  const noWeb = servicesUpTo(gone, 2);
  assert.ok(userspaceMode.updateServices!(writer, noWeb, [], [web]), 'the removal is written in place');

  // Assert: web's portal and NodePort rules are gone, api's socket stays on 32769 (a compile of the
  // smaller cluster would hand it 32768, web's released port).
  worker.decide(firstPacket({ src: '10.244.1.99', dst: '10.96.0.10', port: 80, fromPod: true }), out);
  assert.equal(out.verdict, VERDICT_NONE, 'web\'s ClusterIP no longer redirects');
  worker.decide(firstPacket({ src: '10.244.1.99', dst: '192.168.0.11', port: 30080, fromPod: true }), out);
  assert.equal(out.verdict, VERDICT_NONE, 'web\'s NodePort no longer redirects');
  worker.decide(firstPacket({ src: '10.244.1.99', dst: '10.96.0.11', port: 443, fromPod: true }), out);
  assert.equal(out.verdict, VERDICT_REDIRECT);
  assert.equal(out.dnatPort, 32769, 'api keeps its proxy socket');
  assert.equal(compileUserspace(noWeb, { node: 'n1' }).tables.proxyPort[apiPort], 32768, 'where a compile renumbers it');
  const text = renderUserspaceIptablesSave(writer);
  assert.ok(!text.includes('default/a-web'), 'iptables-save lists none of web\'s rules');
  assert.match(text, /-A KUBE-PORTALS-CONTAINER -d 10\.96\.0\.11\/32 -p tcp .* -j REDIRECT --to-ports 32769/);

  // Act: db created (ClientIP affinity, two endpoints).
  assert.ok(userspaceMode.updateServices!(writer, gone, [db], []), 'the add is written in place');

  // Assert: db's socket is on the next port (32770, not web's released 32768), its rules appended
  // after api's, and the worker, whose cluster has no db, redirects to it and sticks to one endpoint.
  const dbPort = full.services[db].ports[0];
  assert.equal(writer.tables.proxyPort[dbPort], 32770);
  const after = renderUserspaceIptablesSave(writer).split('\n').filter((l) => l.startsWith('-A KUBE-PORTALS-CONTAINER'));
  assert.deepEqual(after.map((l) => /-d (\S+)/.exec(l)?.[1]), ['10.96.0.11/32', '10.96.0.12/32'], 'appended in the chain, after api\'s rule');
  const dbRows = new Set([full.ports[dbPort].endpointStart, full.ports[dbPort].endpointStart + 1]);
  const chosen = new Set<number>();
  for (let k = 0; k < 4; k++) {
    worker.decide(firstPacket({ src: '10.244.1.99', dst: '10.96.0.12', port: 5432, fromPod: true }, k), out);
    assert.equal(out.verdict, VERDICT_REDIRECT);
    assert.equal(out.dnatPort, 32770);
    assert.ok(dbRows.has(out.endpoint), `endpoint row ${out.endpoint} is db's`);
    chosen.add(out.endpoint);
  }
  assert.equal(chosen.size, 1, 'ClientIP affinity keeps the client on one endpoint');
});

test('userspace: an add gives up (writes nothing) when a new NodePort lies where a proxy socket may already be', () => {
  // Arrange: a proxy port range that holds NodePorts, so a new NodePort can fall on a handed-out port.
  const base = (np: number): ReturnType<typeof clusterOf> => clusterOf(
    node('n1', '10.244.1.0/24', '192.168.0.11'),
    service('default', 'a', { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ port: 80, protocol: 'TCP' }] }),
    service('default', 'b', { type: 'ClusterIP', clusterIP: '10.96.0.11', ports: [{ port: 80, protocol: 'TCP' }] }),
    service('default', 'c', { type: 'NodePort', clusterIP: '10.96.0.12', ports: [{ port: 80, protocol: 'TCP', nodePort: np }] }),
  );
  for (const [np, fits] of [[30001, false], [30005, true]] as const) {
    const next = base(np);
    const dp = compileUserspace(servicesUpTo(next, 2), { node: 'n1', proxyPortRange: [30000, 30010] });
    const gen = dp.tables.generation[0];
    // Act
    const u = userspaceMode.updateServices!(dp, next, [2], []);
    // Assert: 30001 is b's proxy socket (a compile of the larger cluster would have stepped over it).
    assert.equal(u !== undefined, fits, `NodePort ${np}`);
    if (!fits) assert.equal(dp.tables.generation[0], gen, 'nothing was written');
    else assert.equal(dp.tables.proxyPort[next.services[2].ports[0]], 30002, 'the next port in order');
  }
});

// Each userspace portal rule is a table slot (pkg/proxy/userspace/proxier.go openPortal writes one
// rule per chain it uses, closePortal deletes each): a removal's size counts at least the
// iptables-save rules it deletes.
test('userspace: a removal in place reports at least one entry written per portal rule it deletes', () => {
  const web = index('a-web');
  const before = servicesUpTo(full, 2);
  const dp = compileUserspace(before, { node: 'n1' });
  const rulesOf = (text: string): number => text.split('\n').filter((l) => l.startsWith('-A ') && l.includes('default/a-web')).length;
  const deleted = rulesOf(renderUserspaceIptablesSave(dp));
  assert.ok(deleted >= 4, `${deleted} rules: ClusterIP and NodePort portals, from containers and from the host`);
  const u = userspaceMode.updateServices!(dp, servicesUpTo(withServiceGone(full, web), 2), [], [web]);
  assert.ok(u !== undefined);
  assert.equal(rulesOf(renderUserspaceIptablesSave(dp)), 0);
  assert.ok(u.entriesWritten >= deleted, `${u.entriesWritten} entries written for ${deleted} rules deleted`);
});
