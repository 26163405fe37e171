/**
 * What the law (test/properties/incremental-service.test.ts) cannot see of iptables' in-place
 * Service update (src/compile/iptables/update-services.ts): a Service added in place gets the
 * room the compile gives every port, so that its endpoint changes are written in place too; and
 * the ways it gives up, writing nothing: the spare room spent, large cluster mode flipped, and a
 * dataplane read from a dump (no room at all).
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { compileDataplane, modeNamed } from '../../../src/compile/index.js';
import { HOOK_OUTPUT, newNatDecision, type FirstPacket } from '../../../src/compile/dataplane.js';
import { dataplaneFromIptablesSave, renderIptablesSave, type IptablesDataplane } from '../../../src/compile/iptables/index.js';
import { kLargeClusterEndpointsThreshold } from '../../../src/compile/iptables/build.js';
import { InvalidArgumentError } from '../../../src/errors.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { servicesUpTo } from '../../../src/model/service-change.js';
import { EP_SERVING, type Cluster } from '../../../src/model/types.js';
import { parseIp } from '../../../src/net/ipv4.js';
import { PROTO_TCP } from '../../../src/net/proto.js';
import { chainRoomEnd, TABLE_NAT } from '../../../src/compile/iptables/ruleset.js';
import { clusterOf, node, proxyConfig, service, slice } from '../../helpers/cluster.js';

const ipt = modeNamed('iptables');

/** A pod's first packet to ip:port, with random word `rand`. */
function toService(ip: number, port: number, rand: number): FirstPacket {
  return { srcIp: parseIp('10.244.1.9'), srcPort: 40000, dstIp: ip, dstPort: port, proto: PROTO_TCP, hook: HOOK_OUTPUT, fromPodInterface: true, rand, now: 0 };
}

/** Every ClusterIP port of `cluster`, decided by `dp` and by a fresh compile, with a few random words each. */
function decidesAsCompile(dp: IptablesDataplane, cluster: Cluster, what: string): void {
  const fresh = compileDataplane(cluster, 'iptables', 0);
  const a = newNatDecision();
  const b = newNatDecision();
  for (const p of cluster.ports) {
    const ip = cluster.services[p.service].clusterIPs[0];
    if (ip === undefined) continue;
    for (const rand of [0, 0x9e3779b9, 0x7fffffff, 0xdeadbeef]) {
      dp.decide(toService(ip, p.port, rand), a);
      fresh.decide(toService(ip, p.port, rand), b);
      assert.deepEqual(a, b, `${what}: port ${p.index}, rand ${rand}`);
    }
  }
}

test('iptables: a Service added in place takes endpoint changes in place afterwards, and decides as a compile', () => {
  // Arrange: 3 Services compiled, a 4th added in place.
  const big = generateCluster({ services: 4, endpoints: 5, nodes: 2, cni: 'calico-vxlan', seed: 11 });
  const dp = compileDataplane(servicesUpTo(big, 3), 'iptables', 0) as IptablesDataplane;
  assert.ok(ipt.updateServices!(dp, big, [3], []), 'the add was written in place');
  // Act: one endpoint of the new Service turns unready.
  const sp = big.services[3].ports[0];
  const row = big.ports[sp].endpointStart;
  const conditions = big.endpoints.conditions.slice();
  conditions[row] = EP_SERVING; // serving, not ready
  const next: Cluster = { ...big, endpoints: { ...big.endpoints, conditions } };
  const u = ipt.updateEndpoints!(dp, next, [3]);
  // Assert: written in place (a port without room makes the update give up), and right.
  assert.ok(u !== undefined, 'the new Service\'s endpoint change was not written in place: its port has no room');
  decidesAsCompile(dp, next, 'after the endpoint change of the added Service');
});

test('iptables: Services added one at a time to a small cluster end in a give-up once the spare room is spent, and it writes nothing', () => {
  // Arrange: one Service compiled, 300 more to add.
  const big = generateCluster({ services: 301, endpoints: 3, nodes: 2, cni: 'calico-vxlan', seed: 5 });
  const dp = compileDataplane(servicesUpTo(big, 1), 'iptables', 0) as IptablesDataplane;
  // Act
  let added = 1;
  let gaveUp = false;
  for (; added < big.services.length && !gaveUp; added++) {
    const gen = dp.generation![0];
    const text = renderIptablesSave(dp.rules);
    if (ipt.updateServices!(dp, servicesUpTo(big, added + 1), [added], []) !== undefined) continue;
    gaveUp = true;
    // Assert: nothing written; the tables still decide as the cluster before the add.
    assert.equal(dp.generation![0], gen, `the give-up at Service ${added} moved the seqlock word`);
    assert.equal(renderIptablesSave(dp.rules), text, `the give-up at Service ${added} changed the rules`);
    decidesAsCompile(dp, servicesUpTo(big, added), `after the give-up at Service ${added}`);
  }
  assert.ok(gaveUp, 'the spare room never ran out: 300 Services fit in the room of one');
  assert.ok(added > 3, `the room took only ${added - 2} Services before it gave up`);
});

test('iptables: a Service whose endpoints take the cluster past large cluster mode\'s threshold is not added in place', () => {
  // Arrange: the most Services whose endpoints stay at the threshold, compiled; the next one crosses it.
  const big = generateCluster({ services: 300, endpoints: 10, nodes: 2, cni: 'calico-vxlan', seed: 7 });
  let under = 0;
  let endpoints = 0;
  for (; under < big.services.length; under++) {
    let more = 0;
    for (const sp of big.services[under].ports) more += big.ports[sp].endpointCount;
    if (endpoints + more > kLargeClusterEndpointsThreshold) break;
    endpoints += more;
  }
  assert.ok(under < big.services.length, 'the fixture never crosses the threshold');
  const before = servicesUpTo(big, under);
  const dp = compileDataplane(before, 'iptables', 0) as IptablesDataplane;
  const gen = dp.generation![0];
  // Act
  const u = ipt.updateServices!(dp, servicesUpTo(big, under + 1), [under], []);
  // Assert: every endpoint rule's comment would go (kube-proxy rewrites them all): a recompile.
  assert.equal(u, undefined);
  assert.equal(dp.generation![0], gen, 'the give-up moved the seqlock word');
});

test('iptables: a dataplane read from a dump has no room for a Service update, and says so', () => {
  const cluster = generateCluster({ services: 2, endpoints: 2, nodes: 1, cni: 'calico-vxlan', seed: 1 });
  const dp = dataplaneFromIptablesSave(renderIptablesSave((compileDataplane(cluster, 'iptables', 0) as IptablesDataplane).rules), { cluster, node: 0 });
  assert.throws(() => ipt.updateServices!(dp, cluster, [], [1]), (e: unknown) => e instanceof InvalidArgumentError && /read from a dump/.test(e.message));
});

// kube-proxy writes one nat KUBE-SERVICES rule per ClusterIP port with endpoints ("-A KUBE-SERVICES
// -m comment --comment "NS/SVC:PORT cluster IP" ... -d CLUSTER_IP --dport PORT -j KUBE-SVC-...",
// proxier.go) and nothing into the filter chains for it. So a Service of n such ports needs n slots
// of the room the compile left in nat KUBE-SERVICES (between its last rule and the next chain's
// first): a Service that fills that room exactly is written in place, one with a port more gives up.
test('iptables: a Service that exactly fills nat KUBE-SERVICES\' room is added in place; one port more gives up, writing nothing', () => {
  const withPorts = (n: number): Cluster => {
    const ports = Array.from({ length: n }, (_, k) => ({ name: `p${k}`, port: 1000 + k, protocol: 'TCP' }));
    return clusterOf(
      proxyConfig({ mode: 'iptables', clusterCIDR: '10.244.0.0/16' }),
      node('node-1', '10.244.1.0/24', '192.168.0.11'),
      service('aa', 'first', { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ name: 'p80', port: 80, protocol: 'TCP' }] }),
      slice('aa', 'first', [{ name: 'p80', port: 8080 }], [{ ip: '10.244.1.5', node: 'node-1' }]),
      service('zz', 'added', { type: 'ClusterIP', clusterIP: '10.96.0.99', ports }),
      slice('zz', 'added', ports.map((p) => ({ name: p.name, port: p.port + 7000 })), [{ ip: '10.244.1.6', node: 'node-1' }]),
    );
  };
  const compiled = (): IptablesDataplane => compileDataplane(servicesUpTo(withPorts(1), 1), 'iptables', 0) as IptablesDataplane;
  const probe = compiled();
  const id = probe.rules.chainId(TABLE_NAT, 'KUBE-SERVICES');
  const room = chainRoomEnd(probe.rules, id) - probe.rules.chainEnd[id];
  assert.ok(room > 0 && room < 40, `nat KUBE-SERVICES has room for ${room} rules`);

  const full = withPorts(room);
  assert.equal(full.services[1].ports.length, room);
  const dp = compiled();
  assert.ok(ipt.updateServices!(dp, full, [1], []) !== undefined, `a Service of ${room} ports, exactly the room, was not added in place`);
  decidesAsCompile(dp, full, 'after filling the room exactly');
  const kubeServices = renderIptablesSave(dp.rules).split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES ') && l.includes('-d 10.96.0.99/32'));
  assert.equal(kubeServices.length, room, 'one nat KUBE-SERVICES rule a port');

  const past = compiled();
  const gen = past.generation![0];
  const text = renderIptablesSave(past.rules);
  assert.equal(ipt.updateServices!(past, withPorts(room + 1), [1], []), undefined, `a Service of ${room + 1} ports, one past the room, was added in place`);
  assert.equal(past.generation![0], gen, 'the give-up moved the seqlock word');
  assert.equal(renderIptablesSave(past.rules), text, 'the give-up changed the rules');
});
