/**
 * The specialised decide() (decide.ts: locals, switches, no trace flags) must decide exactly as
 * the flag-driven walker (decideGeneric, behind explain()) does, so the optimisation cannot
 * change a decision:
 * - against decideGeneric(): every field equal, `work` (rules, set and map lookups) included,
 *   also with live affinity state (dynamic sets filled by `update @affinity-…`);
 * - against explain(): the same verdict, the endpoint among explain's candidates.
 * Clusters and packets come from fast-check (the awkward clusters of the property suite: every
 * Service type, traffic policies, source ranges, affinity, no-endpoint Services) and from a seeded
 * sweep over the verdict maps' own keys with near misses on a larger synthetic cluster.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HOOK_OUTPUT, HOOK_PREROUTING, kVerdictNames, newFirstPacket, newNatDecision, type FirstPacket, type NatDecision } from '../../../src/compile/dataplane.js';
import { compileNftables } from '../../../src/compile/nftables/index.js';
import { nodeAddresses } from '../../../src/compile/node-addresses.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { Prng } from '../../../src/model/prng.js';
import { resolveScenario, scenarioArb } from '../../helpers/arbitraries.js';
import { firstPacketOf, runs } from '../../helpers/nat-assertions.js';

function assertSame(a: NatDecision, b: NatDecision, p: FirstPacket, what: string): void {
  assert.deepEqual({ ...a, dnatIp: a.dnatIp >>> 0 }, { ...b, dnatIp: b.dnatIp >>> 0 }, `${what} for ${JSON.stringify(p)}`);
}

test('decide() equals the flag-driven walker and agrees with explain() on the property suite\'s clusters (fast-check)', () => {
  fc.assert(
    fc.property(scenarioArb({ packets: 6 }), fc.nat({ max: 2 }), fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 6, maxLength: 6 }), (sc, nodePick, rands) => {
      // Arrange
      const { cluster, packets } = resolveScenario(sc);
      const node = nodePick % cluster.nodes.length;
      const fastDp = compileNftables(cluster, { node });
      const refDp = compileNftables(cluster, { node });
      const fast = newNatDecision();
      const ref = newNatDecision();
      packets.forEach((rp, i) => {
        const p = firstPacketOf(rp.probe, rands[i]! | 0, i * 3);
        // Act: the two walkers on twins fed the same packets, affinity state carried along.
        const ex = fastDp.explain(p);
        fastDp.decide(p, fast);
        refDp.decideGeneric(p, ref);
        // Assert
        assertSame(fast, ref, p, 'decide vs decideGeneric');
        assert.equal(kVerdictNames[fast.verdict], ex.verdict, `decide vs explain for ${JSON.stringify(p)}`);
        if (fast.verdict === 1) assert.ok(ex.candidates.includes(fast.endpoint), `endpoint ${fast.endpoint} not among explain's ${ex.candidates.join(',')}`);
      });
    }),
    { numRuns: runs(60) },
  );
});

/** Every (daddr, l4proto, dport) key of the verdict maps, and the (l4proto, dport) keys of NodePort maps. */
function mapKeys(dp: ReturnType<typeof compileNftables>): { a: number; b: number }[] {
  const keys: { a: number; b: number }[] = [];
  for (const t of dp.program.maps) for (let s = 0; s < t.capacity; s++) if (t.keys[2 * s + 1] !== 0) keys.push({ a: t.keys[2 * s]!, b: t.keys[2 * s + 1]! });
  return keys;
}

test('decide() equals the flag-driven walker on map keys, near misses, NodePorts and affinity (seeded, 400 Services)', () => {
  // Arrange
  const cluster = generateCluster({ services: 400, endpoints: 3, nodes: 3, seed: 21 });
  const fastDp = compileNftables(cluster, { node: 1 });
  const refDp = compileNftables(cluster, { node: 1 });
  const keys = mapKeys(fastDp);
  const local = nodeAddresses(cluster, 1);
  const eps = cluster.endpoints.ip;
  const prng = new Prng(5);
  const clients = Array.from({ length: 6 }, () => eps[prng.below(eps.length)]! >>> 0);
  const p = newFirstPacket();
  const fast = newNatDecision();
  const ref = newNatDecision();
  const seen: Record<string, number> = {};
  for (let i = 0; i < 4000; i++) {
    const k = keys[prng.below(keys.length)]!;
    p.dstIp = k.a !== 0 ? k.a : local[prng.below(local.length)]! >>> 0;
    p.proto = k.b >>> 16;
    p.dstPort = k.b & 0xffff;
    const miss = prng.below(8);
    if (miss === 0) p.dstPort = (p.dstPort + 1) & 0xffff;
    else if (miss === 1) p.dstIp = eps[prng.below(eps.length)]! >>> 0;
    else if (miss === 2) p.proto = p.proto === 6 ? 17 : 6;
    p.srcIp = prng.below(4) === 0 ? prng.nextU32() >>> 0 : clients[prng.below(clients.length)]!; // few clients: affinity entries are hit
    p.srcPort = 1024 + prng.below(60000);
    p.hook = prng.below(5) === 0 ? HOOK_OUTPUT : HOOK_PREROUTING;
    p.fromPodInterface = prng.below(2) === 0;
    p.rand = prng.nextU32() | 0;
    p.now = i * 5; // some affinity entries outlive their timeout, some do not
    // Act
    fastDp.decide(p, fast);
    refDp.decideGeneric(p, ref);
    // Assert
    assertSame(fast, ref, p, `packet ${i}: decide vs decideGeneric`);
    seen[kVerdictNames[fast.verdict]!] = (seen[kVerdictNames[fast.verdict]!] ?? 0) + 1;
  }
  // The packet mix reaches the interesting verdicts, not only "none".
  assert.ok((seen.dnat ?? 0) > 1000, JSON.stringify(seen));
  assert.ok((seen.none ?? 0) > 0, JSON.stringify(seen));
  assert.ok((seen.reject ?? 0) + (seen.drop ?? 0) > 0, JSON.stringify(seen));
});
