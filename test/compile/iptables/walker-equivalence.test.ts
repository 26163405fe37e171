/**
 * The specialised decide() (fast-reject keys, decide-only walker) must decide exactly as the
 * general walker does, so the optimisation cannot change a decision:
 * - against explain(): same verdict, the endpoint among explain's candidates, no masquerade
 *   unless explain reports one, and the same masquerade when there is at most one candidate;
 * - against decideGeneric() (the general walker that decide() used to be): every field equal,
 *   including `work`, the number of rules evaluated — also with live `-m recent` state.
 * Packets are random but seeded: portal addresses and ports taken from the rules themselves,
 * near misses (port +-1, other protocol), NodePorts, pods, the node, loopback and the outside.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  HOOK_OUTPUT, HOOK_PREROUTING, kVerdictNames, newFirstPacket, newNatDecision, type FirstPacket, type NatDecision,
} from '../../../src/compile/dataplane.js';
import { compileIptables, dataplaneFromIptablesSave, renderIptablesSave, type IptablesDataplane } from '../../../src/compile/iptables/index.js';
import { nodeLocalAddresses } from '../../../src/compile/iptables/build.js';
import { M_DPORT, M_DST, M_PROTO, TABLE_NAT } from '../../../src/compile/iptables/ruleset.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { Prng } from '../../../src/model/prng.js';
import type { Cluster } from '../../../src/model/types.js';

const kPackets = 3000;

interface Targets {
  /** (dst, proto, dport) of every nat rule that names an address and a port. */
  portals: { dst: number; proto: number; dport: number }[];
  /** (proto, dport) of nat rules with a port but no address (NodePorts). */
  ports: { proto: number; dport: number }[];
  local: number[];
}

function targetsOf(dp: IptablesDataplane, cluster: Cluster, node: number): Targets {
  const rs = dp.rules;
  const portals: Targets['portals'] = [];
  const ports: Targets['ports'] = [];
  for (let r = 0; r < rs.ruleCount; r++) {
    if (rs.chainTable[rs.ruleChain[r]] !== TABLE_NAT) continue;
    const f = rs.ruleFlags[r];
    if ((f & (M_PROTO | M_DPORT)) !== (M_PROTO | M_DPORT)) continue;
    if (f & M_DST) portals.push({ dst: rs.ruleDst[r], proto: rs.ruleProto[r], dport: rs.ruleDport[r] });
    else ports.push({ proto: rs.ruleProto[r], dport: rs.ruleDport[r] });
  }
  return { portals, ports, local: nodeLocalAddresses(cluster, node) };
}

const kProtos = [6, 17, 132];

function randomPacket(prng: Prng, t: Targets, cluster: Cluster, p: FirstPacket): FirstPacket {
  const eps = cluster.endpoints.ip;
  const nEps = eps.length;
  const anyIp = (): number => prng.nextU32() >>> 0;
  const pod = (): number => (nEps > 0 ? eps[prng.below(nEps)] : anyIp()) >>> 0;
  // Destination.
  const kind = prng.below(10);
  if (kind < 5 && t.portals.length > 0) {
    const x = t.portals[prng.below(t.portals.length)];
    p.dstIp = x.dst >>> 0;
    p.proto = x.proto;
    p.dstPort = x.dport;
  } else if (kind < 7 && t.ports.length > 0) {
    const x = t.ports[prng.below(t.ports.length)];
    p.dstIp = prng.below(4) === 0 ? 0x7f000001 : t.local[prng.below(t.local.length)] >>> 0;
    p.proto = x.proto;
    p.dstPort = x.dport;
  } else if (kind < 8) {
    p.dstIp = pod();
    p.proto = kProtos[prng.below(3)];
    p.dstPort = 1 + prng.below(65535);
  } else {
    p.dstIp = (prng.below(2) === 0 ? 0x0a600000 + prng.below(1 << 12) : anyIp()) >>> 0;
    p.proto = kProtos[prng.below(3)];
    p.dstPort = prng.pick([53, 80, 443, 8080, 9000, 1 + prng.below(65535)]);
  }
  // Near misses: the right address with the wrong port or protocol.
  const miss = prng.below(8);
  if (miss === 0) p.dstPort = (p.dstPort + (prng.below(2) === 0 ? 1 : 65535)) & 0xffff;
  else if (miss === 1) p.proto = kProtos[prng.below(3)];
  // Source and hook.
  const from = prng.below(6);
  p.hook = HOOK_PREROUTING;
  if (from <= 2) p.srcIp = pod();
  else if (from === 3) p.srcIp = anyIp();
  else if (from === 4) {
    p.srcIp = t.local[prng.below(t.local.length)] >>> 0;
    p.hook = HOOK_OUTPUT;
  } else {
    p.srcIp = 0x7f000001;
    p.hook = HOOK_OUTPUT;
  }
  if (prng.below(10) === 0) p.hook = p.hook === HOOK_OUTPUT ? HOOK_PREROUTING : HOOK_OUTPUT;
  p.srcPort = 1024 + prng.below(60000);
  p.fromPodInterface = prng.below(2) === 0;
  p.rand = prng.nextU32();
  return p;
}

const show = (p: FirstPacket): string => JSON.stringify(p);

function assertSameDecision(a: NatDecision, b: NatDecision, p: FirstPacket, what: string): void {
  const msg = `${what} for ${show(p)}: ${JSON.stringify(a)} vs ${JSON.stringify(b)}`;
  assert.equal(a.verdict, b.verdict, msg);
  assert.equal(a.endpoint, b.endpoint, msg);
  assert.equal(a.servicePort, b.servicePort, msg);
  assert.equal(a.dnatIp >>> 0, b.dnatIp >>> 0, msg);
  assert.equal(a.dnatPort, b.dnatPort, msg);
  assert.equal(a.masquerade, b.masquerade, msg);
  assert.equal(a.work, b.work, msg);
}

function checkCluster(cluster: Cluster, node: number, seed: number): Record<string, number> {
  // Arrange
  const dp = compileIptables(cluster, { node });
  const t = targetsOf(dp, cluster, node);
  const prng = new Prng(seed);
  const p = newFirstPacket();
  const fast = newNatDecision();
  const ref = newNatDecision();
  const seen: Record<string, number> = {};
  for (let i = 0; i < kPackets; i++) {
    randomPacket(prng, t, cluster, p);
    // Act
    const ex = dp.explain(p);
    dp.reset();
    dp.decide(p, fast);
    dp.reset();
    dp.decideGeneric(p, ref);
    // Assert
    assertSameDecision(fast, ref, p, 'decide vs decideGeneric');
    const verdict = kVerdictNames[fast.verdict];
    seen[verdict] = (seen[verdict] ?? 0) + 1;
    const msg = `decide vs explain for ${show(p)}: ${JSON.stringify(fast)} vs ${JSON.stringify({ ...ex, steps: ex.steps.length })}`;
    assert.equal(verdict, ex.verdict, msg);
    if (fast.verdict === 1) {
      assert.ok(ex.candidates.includes(fast.endpoint), msg);
      assert.equal(fast.servicePort, ex.servicePort, msg);
    }
    if (!ex.masquerade) assert.equal(fast.masquerade, false, msg);
    if (ex.candidates.length <= 1) assert.equal(fast.masquerade, ex.masquerade, msg);
  }
  return seen;
}

test('decide() agrees with explain() and the general walker on random packets (node 0)', () => {
  const cluster = generateCluster({ services: 300, endpoints: 4, nodes: 4, seed: 7 });
  const seen = checkCluster(cluster, 0, 1);
  // The packet mix reaches the interesting verdicts, not only "none".
  assert.ok((seen.dnat ?? 0) > kPackets / 4, JSON.stringify(seen));
  assert.ok((seen.none ?? 0) > 0, JSON.stringify(seen));
  assert.ok((seen.reject ?? 0) + (seen.drop ?? 0) > 0, JSON.stringify(seen));
});

test('decide() agrees with explain() and the general walker on random packets (other node, 1 endpoint)', () => {
  const cluster = generateCluster({ services: 150, endpoints: 1, nodes: 3, seed: 11 });
  checkCluster(cluster, 2, 2);
});

test('decide() and the general walker stay equal with live -m recent state (session affinity)', () => {
  // Arrange: two dataplanes over the same rules, fed the same packets, never reset.
  const cluster = generateCluster({ services: 200, endpoints: 3, nodes: 3, seed: 5 });
  const a = compileIptables(cluster, { node: 0 });
  const b = compileIptables(cluster, { node: 0 });
  const t = targetsOf(a, cluster, 0);
  const prng = new Prng(3);
  const p = newFirstPacket();
  const fast = newNatDecision();
  const ref = newNatDecision();
  const clients = Array.from({ length: 8 }, () => cluster.endpoints.ip[prng.below(cluster.endpoints.ip.length)] >>> 0);
  for (let i = 0; i < kPackets; i++) {
    randomPacket(prng, t, cluster, p);
    p.srcIp = clients[prng.below(clients.length)]; // few clients: affinity entries are hit
    p.hook = HOOK_PREROUTING;
    p.now = i * 7; // some entries outlive the 10800 s default timeout, some do not
    // Act
    a.decide(p, fast);
    b.decideGeneric(p, ref);
    // Assert
    assertSameDecision(fast, ref, p, `packet ${i}: decide vs decideGeneric`);
  }
});

test('decide() equals the general walker on an imported iptables-save dump (no cluster rows)', () => {
  const cluster = generateCluster({ services: 120, endpoints: 3, nodes: 3, seed: 9 });
  const compiled = compileIptables(cluster, { node: 1 });
  const dp = dataplaneFromIptablesSave(renderIptablesSave(compiled.rules), { localAddresses: nodeLocalAddresses(cluster, 1) });
  const t = targetsOf(compiled, cluster, 1);
  const prng = new Prng(4);
  const p = newFirstPacket();
  const fast = newNatDecision();
  const ref = newNatDecision();
  for (let i = 0; i < kPackets; i++) {
    randomPacket(prng, t, cluster, p);
    dp.reset();
    dp.decide(p, fast);
    dp.reset();
    dp.decideGeneric(p, ref);
    assertSameDecision(fast, ref, p, 'imported dump: decide vs decideGeneric');
  }
});
