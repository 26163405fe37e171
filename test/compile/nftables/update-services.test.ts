/**
 * The two ways nftables' in-place Service update gives up (src/compile/nftables/update-services.ts),
 * which the law (test/properties/incremental-service.test.ts) meets too rarely to count on: the
 * spare room a compile leaves is spent, and two Services share a key. Either way the update
 * returns undefined and writes nothing: the seqlock word, the tables' counts and their decisions
 * are as they were, and the caller's recompile (the oracle) is what decides from then on.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { compileDataplane, modeNamed } from '../../../src/compile/index.js';
import { newNatDecision } from '../../../src/compile/dataplane.js';
import type { NftablesDataplane } from '../../../src/compile/nftables/index.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { servicesUpTo, withServiceGone } from '../../../src/model/service-change.js';
import { parseIp } from '../../../src/net/ipv4.js';
import { PROTO_TCP } from '../../../src/net/proto.js';
import { HOOK_OUTPUT, type FirstPacket } from '../../../src/compile/dataplane.js';
import { clusterOf, node, service, slice } from '../../helpers/cluster.js';

const nft = modeNamed('nftables');

/** A pod's first packet to ip:port. */
function toService(ip: number, port: number): FirstPacket {
  return { srcIp: parseIp('10.244.1.9'), srcPort: 40000, dstIp: ip, dstPort: port, proto: PROTO_TCP, hook: HOOK_OUTPUT, fromPodInterface: true, rand: 0x9e3779b9, now: 0 };
}

test('nftables: Services added one at a time to a small cluster end in a give-up once the spare room is spent, and it writes nothing', () => {
  // Arrange: one Service compiled, 400 more to add (each two ports of ten endpoints at most).
  const big = generateCluster({ services: 401, endpoints: 10, nodes: 2, cni: 'calico-vxlan', seed: 3 });
  const dp = compileDataplane(servicesUpTo(big, 1), 'nftables', 0) as NftablesDataplane;
  // Act
  let added = 1;
  let gaveUp = false;
  for (; added < big.services.length && !gaveUp; added++) {
    const next = servicesUpTo(big, added + 1);
    const gen = dp.generation[0];
    const counts = JSON.stringify(dp.stats());
    if (nft.updateServices!(dp, next, [added], []) !== undefined) continue;
    gaveUp = true;
    // Assert: nothing written; the tables still decide as the cluster before the add.
    assert.equal(dp.generation[0], gen, `the give-up at Service ${added} moved the seqlock word`);
    assert.equal(JSON.stringify(dp.stats()), counts, `the give-up at Service ${added} changed the tables`);
    const before = servicesUpTo(big, added);
    const fresh = compileDataplane(before, 'nftables', 0);
    const a = newNatDecision();
    const b = newNatDecision();
    for (const p of before.ports) {
      const ip = before.services[p.service].clusterIPs[0];
      if (ip === undefined) continue;
      dp.decide(toService(ip, p.port), a);
      fresh.decide(toService(ip, p.port), b);
      assert.deepEqual(a, b, `after the give-up, port ${p.index} decides as a compile of the ${added} Services`);
    }
  }
  assert.ok(gaveUp, 'the spare room never ran out: 400 Services fit in the room of one');
  assert.ok(added > 3, `the room took only ${added - 2} Services before it gave up`);
});

test('nftables: a Service removed in place gives up when a key of its port is another Service\'s too', () => {
  // Arrange: web and api on port 80, then api given web's externalIP in the model (the loader
  // refuses such a cluster, "already claimed"; a model edited in code, as service-change.ts edits
  // one, does not), so that two ports write the key 198.51.100.7 . tcp . 80.
  const loaded = clusterOf(
    node('n1', '10.244.1.0/24', '192.168.0.11'),
    service('default', 'web', { type: 'ClusterIP', clusterIP: '10.96.0.10', externalIPs: ['198.51.100.7'], ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] }),
    service('default', 'api', { type: 'ClusterIP', clusterIP: '10.96.0.11', ports: [{ port: 80, targetPort: 8443, protocol: 'TCP' }] }),
    slice('default', 'web', [{ port: 8080 }], [{ ip: '10.244.1.5', node: 'n1' }]),
    slice('default', 'api', [{ port: 8443 }], [{ ip: '10.244.1.6', node: 'n1' }]),
  );
  const web = loaded.services.findIndex((s) => s.name === 'web');
  const api = 1 - web;
  const services = loaded.services.slice();
  services[api] = { ...services[api], externalIPs: [parseIp('198.51.100.7')] };
  const cluster = { ...loaded, services };
  const dp = compileDataplane(cluster, 'nftables', 0) as NftablesDataplane;
  const gen = dp.generation[0];
  const counts = JSON.stringify(dp.stats());
  // Act
  const u = nft.updateServices!(dp, withServiceGone(cluster, web), [], [web]);
  // Assert: which Service's element stays for 198.51.100.7:80 only a full pass can tell.
  assert.equal(u, undefined, 'the removal was written in place');
  assert.equal(dp.generation[0], gen, 'the give-up moved the seqlock word');
  assert.equal(JSON.stringify(dp.stats()), counts, 'the give-up changed the tables');
  // And without the shared key the same removal is written in place.
  const plain = compileDataplane(loaded, 'nftables', 0);
  assert.notEqual(nft.updateServices!(plain, withServiceGone(loaded, web), [], [web]), undefined, 'a removal with no shared key gave up');
});
