/**
 * The specialised decide() (decide.ts: the fixed chains written into its source, the common
 * shapes of the Service and endpoint chains written out behind guards on each rule's ops, the
 * rest walked by walkChain()) must decide exactly as the flag-driven walker (decideGeneric, behind explain())
 * does, so the optimisation cannot change a decision:
 * - against decideGeneric(): every field equal, `work` (rules, set and map lookups) included,
 *   also with live affinity state (dynamic sets filled by `update @affinity-…`);
 * - against explain(): the same verdict, the endpoint among explain's candidates.
 * Clusters and packets come from fast-check (the awkward clusters of the property suite: every
 * Service type, traffic policies, source ranges, affinity, no-endpoint Services) and from a seeded
 * sweep over the verdict maps' own keys with near misses on a larger synthetic cluster, compiled
 * four ways: kdp's own compile; the same rules read back from `nft list` text (no fixed part: all
 * walked); a ruleset edited so that every branch decide()'s source can hold is taken (every
 * verdict a map element can hold, a jump past the kernel's stack, the mark, a return inside a
 * jump, a range of two CIDRs); and one whose Service and endpoint chains leave the common shape
 * at each rule in turn, so that every guard of the written-out shapes is refused somewhere (each
 * guard left out, one at a time, fails that test: checked).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { HOOK_OUTPUT, HOOK_PREROUTING, kVerdictNames, newFirstPacket, newNatDecision, type FirstPacket, type NatDecision } from '../../../src/compile/dataplane.js';
import { ActionOp, ChainWord, dnatRowAt, DnatWord, MapWord, RuleWord, VerdictBits, VerdictWord } from '../../../src/compile/nftables/program.js';
import { buildRuleset, compileNftables, dataplaneFromNftText, dataplaneFromRuleset, renderRuleset, type Chain, type MapElement, type NftablesDataplane, type Ruleset, type Verdict } from '../../../src/compile/nftables/index.js';
import type { Cluster } from '../../../src/model/types.js';
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
  for (const t of dp.program.maps) for (let s = 0; s < t.capacity; s++) if (t.occupied(s)) keys.push({ a: t.key0(s), b: t.key1(s) });
  return keys;
}

/**
 * Feeds 4,000 seeded packets (map keys, near misses, NodePorts, OUTPUT and PREROUTING, few clients
 * so that affinity entries are hit) to `fastDp.decide` and `refDp.decideGeneric` and asserts every
 * decision equal; returns how many of each verdict it saw.
 */
function sameOnMapKeys(cluster: Cluster, node: number, fastDp: NftablesDataplane, refDp: NftablesDataplane): Record<string, number> {
  const keys = mapKeys(fastDp);
  const local = nodeAddresses(cluster, node);
  const eps = cluster.endpoints.ip;
  const prng = new Prng(5);
  const clients = Array.from({ length: 6 }, () => eps[prng.below(eps.length)]! >>> 0);
  // Each ClusterIP's (address, port) -> its endpoints' addresses: a packet from one of them is
  // hairpin traffic (its endpoint chain's first rule matches when the numgen picks it).
  const own = new Map<string, number[]>();
  for (const sp of cluster.ports) {
    const ips = Array.from(cluster.endpoints.ip.subarray(sp.endpointStart, sp.endpointStart + sp.endpointCount));
    for (const ip of cluster.services[sp.service]!.clusterIPs) own.set(`${ip >>> 0}:${sp.port}`, ips);
  }
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
    // Few clients (affinity entries are hit), some of them the Service's own endpoints.
    const from = prng.below(8);
    const mine = own.get(`${p.dstIp}:${p.dstPort}`);
    p.srcIp = from < 2 ? prng.nextU32() >>> 0 : from === 2 && mine !== undefined && mine.length > 0 ? mine[prng.below(mine.length)]! : clients[prng.below(clients.length)]!;
    p.srcPort = 1024 + prng.below(60000);
    p.hook = prng.below(5) === 0 ? HOOK_OUTPUT : HOOK_PREROUTING;
    p.fromPodInterface = prng.below(2) === 0;
    p.rand = prng.nextU32() | 0;
    p.now = i * 5; // some affinity entries outlive their timeout, some do not
    fastDp.decide(p, fast);
    refDp.decideGeneric(p, ref);
    assertSame(fast, ref, p, `packet ${i}: decide vs decideGeneric`);
    seen[kVerdictNames[fast.verdict]!] = (seen[kVerdictNames[fast.verdict]!] ?? 0) + 1;
  }
  return seen;
}

/** decide() and the walker on twin programs compiled with room from `edited` decide alike (sameOnMapKeys). */
function sameOnEdited(edited: Ruleset, cluster: Cluster): void {
  const fastDp = dataplaneFromRuleset(edited, cluster, { node: 1 }, true);
  const refDp = dataplaneFromRuleset(edited, cluster, { node: 1 }, true);
  assert.ok(fastDp.program.room !== undefined);
  assertVaried(sameOnMapKeys(cluster, 1, fastDp, refDp), 200);
}

/** The packet mix reaches the interesting verdicts, not only "none". */
function assertVaried(seen: Record<string, number>, dnat = 1000): void {
  assert.ok((seen.dnat ?? 0) > dnat, JSON.stringify(seen));
  assert.ok((seen.none ?? 0) > 0, JSON.stringify(seen));
  assert.ok((seen.reject ?? 0) + (seen.drop ?? 0) > 0, JSON.stringify(seen));
}

test('decide() equals the flag-driven walker on map keys, near misses, NodePorts and affinity (seeded, 400 Services)', () => {
  // Arrange: kdp's own compile, whose fixed chains decide() writes into its source.
  const cluster = generateCluster({ services: 400, endpoints: 3, nodes: 3, seed: 21 });
  const fastDp = compileNftables(cluster, { node: 1 });
  const refDp = compileNftables(cluster, { node: 1 });
  assert.ok(fastDp.program.room !== undefined && fastDp.program.fixedChains > 0);
  // Act, Assert
  assertVaried(sameOnMapKeys(cluster, 1, fastDp, refDp));
});

test('decide() of nodes that write one source (one compiled factory) reads each its own node\'s tables (seeded, 400 Services)', () => {
  // Arrange: every node of the cluster; the premise is that they write one decide() source.
  const cluster = generateCluster({ services: 400, endpoints: 3, nodes: 3, seed: 21 });
  const fast = [0, 1, 2].map((node) => compileNftables(cluster, { node }));
  assert.equal(fast[0]!.decide.toString(), fast[1]!.decide.toString());
  assert.equal(fast[0]!.decide.toString(), fast[2]!.decide.toString());
  // Act, Assert: each against its own twin, the nodes' decisions interleaved with each other's
  // compiles (a NodePort packet is to the node's own addresses, which only that node's tables hold).
  for (const node of [0, 1, 2]) assertVaried(sameOnMapKeys(cluster, node, fast[node]!, compileNftables(cluster, { node })));
});

test('decide() equals the flag-driven walker on a ruleset read from `nft list` text, which it walks whole (seeded, 400 Services)', () => {
  // Arrange: a dump has no room, so no chain of it is written into decide()'s source.
  const cluster = generateCluster({ services: 400, endpoints: 3, nodes: 3, seed: 21 });
  const text = renderRuleset(buildRuleset(cluster, { node: 1 }));
  const fastDp = dataplaneFromNftText(text, cluster, { node: 1 });
  const refDp = dataplaneFromNftText(text, cluster, { node: 1 });
  assert.equal(fastDp.program.room, undefined);
  // Act, Assert
  assertVaried(sameOnMapKeys(cluster, 1, fastDp, refDp));
});

test('decide() equals the flag-driven walker when the maps hold every verdict an element can and the fixed chains rules kube-proxy\'s do not', () => {
  // Arrange: kdp's compile, edited, then compiled with room, so that decide() writes the fixed
  // chains into its source:
  // - the elements of service-ips and no-endpoint-services turned in turn into each verdict nft
  //   allows in a verdict map: goto and jump to their own chain, goto an endpoint's chain of another port,
  //   goto and jump to mark-for-masquerade, accept, return, drop, jump to a chain 16 jumps deep;
  // - the Service chains' numgen branches turned in turn into goto an endpoint's chain of another
  //   port (whose Service port the decision then names), jump to their own endpoint chain, goto
  //   mark-for-masquerade, return and drop (a branch holds its chain's span and port: VerdictWord);
  // - deep-1 ... deep-16, each jumping to the next (deep-17 is empty), which filter-input jumps
  //   to as well: past NFT_JUMP_STACK_SIZE both ways;
  // - cluster-ips-check's range of two CIDRs (a /24 of pods too);
  // - filter-forward setting the mark's bit 1 and jumping to masquerading while bit 0 is clear,
  //   nat-postrouting setting bit 0 after its jump: the mark and a return inside a jump are seen.
  const cluster = generateCluster({ services: 400, endpoints: 3, nodes: 3, seed: 21 });
  const rs = buildRuleset(cluster, { node: 1 });
  const deep = Array.from({ length: 17 }, (_, i): Chain => ({ name: `deep-${i + 1}`, rules: i < 16 ? [{ matches: [], action: { k: 'jump', chain: `deep-${i + 2}` } }] : [] }));
  const verdicts = (own: string, other: string): Verdict[] => [
    { k: 'goto', chain: own }, { k: 'jump', chain: own }, { k: 'goto', chain: other }, { k: 'goto', chain: 'mark-for-masquerade' }, { k: 'jump', chain: 'mark-for-masquerade' },
    { k: 'accept' }, { k: 'return' }, { k: 'drop' }, { k: 'jump', chain: 'deep-1' },
  ];
  const chainOf = (e: MapElement): string => (e.verdict.k === 'goto' ? e.verdict.chain : 'reject-chain');
  const endpointChains = rs.chains.filter((c) => c.name.startsWith('endpoint-')).map((c) => c.name);
  const branches = (own: Verdict, other: string): Verdict[] => [
    { k: 'goto', chain: other }, own.k === 'goto' ? { k: 'jump', chain: own.chain } : own, { k: 'goto', chain: 'mark-for-masquerade' }, { k: 'return' }, { k: 'drop' },
  ];
  let branch = 0;
  const edited: Ruleset = {
    ...rs,
    maps: rs.maps.map((m) =>
      m.name !== 'service-ips' && m.name !== 'no-endpoint-services'
        ? m
        : { ...m, elements: m.elements.map((e, i): MapElement => ({ ...e, verdict: verdicts(chainOf(e), endpointChains[(i * 7) % endpointChains.length]!)[i % 9]! })) },
    ),
    chains: [
      ...rs.chains.map((c): Chain => {
        if (c.name === 'cluster-ips-check') {
          return { ...c, rules: c.rules.map((r) => ({ ...r, matches: r.matches.map((m) => (m.k === 'addr' ? { ...m, cidrs: [...m.cidrs, { base: (cluster.endpoints.ip[0]! & 0xffffff00) >>> 0, prefix: 24 }] } : m)) })) };
        }
        if (c.name.startsWith('service-')) {
          return {
            ...c,
            rules: c.rules.map((r) => (r.action.k !== 'numgen' ? r : { ...r, action: { ...r.action, targets: r.action.targets.map((t) => branches(t, endpointChains[(branch * 7) % endpointChains.length]!)[branch++ % 5]!) } })),
          };
        }
        if (c.name === 'filter-input') return { ...c, rules: [...c.rules, { matches: [], action: { k: 'jump', chain: 'deep-1' } }] };
        if (c.name === 'filter-forward') {
          return { ...c, rules: [...c.rules, { matches: [], action: { k: 'mark-or', mask: 2 } }, { matches: [{ k: 'mark-zero', mask: 1 }], action: { k: 'jump', chain: 'masquerading' } }] };
        }
        if (c.name === 'nat-postrouting') return { ...c, rules: [...c.rules, { matches: [], action: { k: 'mark-or', mask: 1 } }] };
        return c;
      }),
      ...deep,
    ],
  };
  // Act, Assert
  sameOnEdited(edited, cluster);
});

test('decide() equals the flag-driven walker where Service and endpoint chains leave the shape decide() writes out', () => {
  // Arrange: decide()'s source writes out the shape most Service chains and endpoint chains have
  // (shaped() in decide.ts), each rule behind a guard on its ops, and walks the rest of a chain
  // from the first rule whose ops differ. Six in ten Service chains and seven in eight endpoint
  // chains are edited so that a guard fails at each rule in turn (the edits never lengthen a
  // chain: each port's room in the compiled program is sized for kube-proxy's own rules):
  // - Service chains: the masquerade rule set the mark's bit 3 instead, or gone (the numgen
  //   first), or its source match negated the other way, or jumping to reject-chain (another
  //   fixed chain); the numgen a plain goto to one endpoint, or its first branch to the endpoint
  //   chain of the Service port before (whose DNAT row names that port: DnatWord.PORT);
  // - endpoint chains: the hairpin rule set the mark's bit 4 instead, or match the destination;
  //   the DNAT rule without its protocol match, or with `ct state new` in its place (another op
  //   with the same flags), or matching another protocol; a chain without its DNAT rule, the next
  //   without its hairpin rule, so that what follows the first in the code is the shape's next rule.
  const cluster = generateCluster({ services: 400, endpoints: 3, nodes: 3, seed: 23 });
  const rs = buildRuleset(cluster, { node: 1 });
  let svc = 0;
  let ep = 0;
  let other: Chain['rules'][number]['action'] | undefined;
  type R = Chain['rules'][number];
  const flip = (r: R): R => {
    const last = r.matches[r.matches.length - 1];
    return last?.k !== 'addr' ? r : { ...r, matches: [...r.matches.slice(0, -1), { ...last, neg: !last.neg }] };
  };
  const gotoFirst = (r: R): R => (r.action.k === 'numgen' && r.action.targets[0] ? { matches: [], action: r.action.targets[0] } : r);
  const edited: Ruleset = {
    ...rs,
    chains: rs.chains.map((c): Chain => {
      const [a, b] = c.rules;
      if (c.name.startsWith('service-') && a && b && c.rules.length === 2) {
        const k = svc++ % 10;
        if (k === 0) return { ...c, rules: [{ matches: [], action: { k: 'mark-or', mask: 8 } }, b] };
        if (k === 1) return { ...c, rules: [b] };
        if (k === 2) return { ...c, rules: [flip(a), b] };
        if (k === 3) return { ...c, rules: [a, gotoFirst(b)] };
        if (k === 4) return { ...c, rules: [{ ...a, action: { k: 'jump', chain: 'reject-chain' } }, b] };
        const mine = b.action.k === 'numgen' ? b.action.targets[0] : undefined;
        const before = other;
        if (mine !== undefined) other = mine;
        if (k === 5 && b.action.k === 'numgen' && before !== undefined && (before.k === 'goto' || before.k === 'jump')) {
          return { ...c, rules: [a, { ...b, action: { ...b.action, targets: [before, ...b.action.targets.slice(1)] } }] };
        }
        return c;
      }
      if (c.name.startsWith('endpoint-') && a && b && c.rules.length === 2) {
        const k = ep++ % 8;
        if (k === 0) return { ...c, rules: [{ matches: [], action: { k: 'mark-or', mask: 16 } }, b] };
        if (k === 1) return { ...c, rules: [{ ...a, matches: a.matches.map((m) => (m.k === 'addr' ? { ...m, field: 'daddr' as const } : m)) }, b] };
        if (k === 2) return { ...c, rules: [a, { ...b, matches: [] }] };
        if (k === 3) return { ...c, rules: [a, { ...b, matches: [{ k: 'ct-new' }] }] };
        // A chain that ends after its hairpin rule, beside one that begins with its DNAT rule.
        if (k === 4) return { ...c, rules: [a] };
        if (k === 5) return { ...c, rules: [b] };
        // The DNAT rule's protocol another than its Service's: a DNAT row holds that DNAT (DnatWord), which the packet's protocol must match.
        if (k === 6) return { ...c, rules: [a, { ...b, matches: b.matches.map((m) => (m.k === 'l4proto' ? { ...m, proto: m.proto === 6 ? 17 : 6 } : m)) }] };
        return c;
      }
      return c;
    }),
  };
  assert.ok(svc > 100 && ep > 300, `${svc} Service chains, ${ep} endpoint chains edited or kept`);
  // Act, Assert
  sameOnEdited(edited, cluster);
});

test('decide() equals the flag-driven walker where ClientIP affinity chains leave the rules decide() writes out for them', () => {
  // Arrange: decide()'s source writes out a Service chain's run of `ip saddr @affinity-… goto
  // endpoint-…` rules before its numgen, and an endpoint chain's `update @affinity-… { ip saddr }`
  // before its DNAT rule, each rule behind a guard on its ops. Affinity Service chains edited so
  // that each guard fails somewhere (no edit lengthens a chain): an affinity rule that jumps
  // instead, or looks the destination up, or matches a CIDR instead of a set, or looks two sets up
  // (the next affinity rule gone to make room), or a chain that ends in its affinity rules (no
  // numgen); endpoint chains whose update has a match that never holds (the DNAT rule's protocol
  // match gone to make room), or is a jump to mark-for-masquerade instead, or that end after their
  // update (no DNAT). (Each guard left out alone fails this test, the update's match count by
  // walking misaligned code without end, but the two `pc < e`: here the code after such a chain
  // holds no such rule; the next test places one there.)
  const cluster = generateCluster({ services: 400, endpoints: 3, nodes: 3, seed: 23 });
  const rs = buildRuleset(cluster, { node: 1 });
  type R = Chain['rules'][number];
  const isAffinity = (r: R | undefined): boolean => r?.action.k === 'goto' && r.matches.length === 1 && r.matches[0]!.k === 'addr-set';
  let svc = 0;
  let ep = 0;
  const edited: Ruleset = {
    ...rs,
    chains: rs.chains.map((c): Chain => {
      const rules = c.rules;
      if (c.name.startsWith('service-') && isAffinity(rules[1]) && isAffinity(rules[2])) {
        const [masq, first, second] = rules as [R, R, R];
        const m = first.matches[0] as Extract<R['matches'][number], { k: 'addr-set' }>;
        const rest = rules.slice(2);
        switch (svc++ % 6) {
          case 0:
            return { ...c, rules: [masq, { ...first, action: { k: 'jump', chain: (first.action as { chain: string }).chain } }, ...rest] };
          case 1:
            return { ...c, rules: [masq, { ...first, matches: [{ ...m, field: 'daddr' as const }] }, ...rest] };
          case 2:
            return { ...c, rules: [masq, { ...first, matches: [{ k: 'addr', field: 'saddr', neg: false, cidrs: [{ base: 0, prefix: 1 }] }] }, ...rest] };
          case 3:
            return { ...c, rules: [masq, { ...first, matches: [m, second.matches[0]!] }, ...rules.slice(3)] };
          case 4:
            return { ...c, rules: rules.filter((r) => r.action.k !== 'numgen') };
          default:
            return c;
        }
      }
      const u = rules.findIndex((r) => r.action.k === 'update');
      if (c.name.startsWith('endpoint-') && u === 1 && rules.length === 3) {
        const [hairpin, update, dnat] = rules as [R, R, R];
        switch (ep++ % 4) {
          case 0:
            return { ...c, rules: [hairpin, { ...update, matches: [{ k: 'addr', field: 'saddr', neg: false, cidrs: [{ base: 0xc0000200, prefix: 24 }] }] }, { ...dnat, matches: [] }] };
          case 1:
            return { ...c, rules: [hairpin, { matches: [], action: { k: 'jump', chain: 'mark-for-masquerade' } }, dnat] };
          case 2:
            return { ...c, rules: [hairpin, update] };
          default:
            return c;
        }
      }
      return c;
    }),
  };
  assert.ok(svc >= 24 && ep >= 60, `${svc} affinity Service chains, ${ep} affinity endpoint chains edited or kept`);
  // Act, Assert
  sameOnEdited(edited, cluster);
});

test('decide() stops at a chain\'s end where the code after it holds an affinity rule or an `update`', () => {
  // Arrange: decide()'s affinity run (a Service chain's `ip saddr @affinity-… goto` rules) and an
  // endpoint chain's `update` each stop at their chain's end (the two `pc < e`). kube-proxy's
  // chains never end in such rules, so the code after them is edited to hold one: half the
  // affinity Service chains lose their numgen (they end in their affinity run) and the chain
  // encoded after each begins with a copy of its first affinity rule; in the others one endpoint
  // chain keeps only its hairpin rule, and the endpoint chain encoded after it, which the numgen
  // also reaches, begins with `update @` the set that sends a client back to the first, so the
  // affinity rule then enters the first from the written-out path. Packets to those Services'
  // ports from two clients (a chain that returns without a DNAT leaves the packet to
  // cluster-ips-check's reject). (Either `pc < e` left out fails this test: checked.)
  const cluster = generateCluster({ services: 400, endpoints: 3, nodes: 3, seed: 23 });
  type R = Chain['rules'][number];
  type SetMatch = Extract<R['matches'][number], { k: 'addr-set' }>;
  const isAffinity = (r: R | undefined): boolean => r?.action.k === 'goto' && r.matches.length === 1 && r.matches[0]!.k === 'addr-set';
  const gotoOf = (r: R): string => (r.action as { chain: string }).chain;
  // Each chain's name -> the name of the chain encoded right after it (kdp's compile with room).
  const followers = (rs: Ruleset): Map<string, string> => {
    const p = dataplaneFromRuleset(rs, cluster, { node: 1 }, true).program;
    const CR = p.chainRows;
    const startingAt = new Map<number, string>();
    p.chainNames.forEach((name, c) => {
      if (CR[c * ChainWord.STRIDE + ChainWord.RULE_COUNT]! > 0) startingAt.set(CR[c * ChainWord.STRIDE + ChainWord.START]!, name);
    });
    const out = new Map<string, string>();
    p.chainNames.forEach((name, c) => {
      const next = startingAt.get(CR[c * ChainWord.STRIDE + ChainWord.END]!);
      if (next !== undefined) out.set(name, next);
    });
    return out;
  };
  const rs = buildRuleset(cluster, { node: 1 });
  const after = followers(rs);
  const services = rs.chains.filter((c) => c.name.startsWith('service-') && isAffinity(c.rules[1]));
  const ended = new Map<string, R>(); // chain -> the affinity rule the chain after it begins with
  const cut = new Map<string, string>(); // endpoint chain cut to its hairpin -> the set the chain after it updates
  services.forEach((svc, k) => {
    const targets = svc.rules.filter(isAffinity);
    if (k % 2 === 0) {
      ended.set(svc.name, targets[0]!);
      return;
    }
    const x = targets.find((r) => targets.some((t) => gotoOf(t) === after.get(gotoOf(r))));
    if (x !== undefined) cut.set(gotoOf(x), (x.matches[0] as SetMatch).set);
  });
  const byFollower = new Map<string, R>();
  for (const [name, rule] of ended) byFollower.set(after.get(name)!, rule);
  for (const [name, set] of cut) byFollower.set(after.get(name)!, { matches: [], action: { k: 'update', set } });
  const edited: Ruleset = {
    ...rs,
    chains: rs.chains.map((c): Chain => {
      let rules = c.rules;
      if (ended.has(c.name)) rules = rules.filter((r) => r.action.k !== 'numgen');
      if (cut.has(c.name)) rules = rules.slice(0, 1);
      const first = byFollower.get(c.name);
      if (first !== undefined) rules = [first, ...rules.slice(1)];
      return rules === c.rules ? c : { ...c, rules };
    }),
  };
  // The edits keep the order of the code: each edited chain is still followed by the one edited to follow it.
  const afterEdit = followers(edited);
  const placed = [...ended.keys(), ...cut.keys()].filter((name) => byFollower.has(afterEdit.get(name) ?? '')).length;
  assert.ok(ended.size >= 8 && cut.size >= 8 && placed === ended.size + cut.size, `${ended.size} Service chains end in their affinity run, ${cut.size} endpoint chains cut, ${placed} followed as edited`);
  const fastDp = dataplaneFromRuleset(edited, cluster, { node: 1 }, true);
  const refDp = dataplaneFromRuleset(edited, cluster, { node: 1 }, true);
  const target = new Set([...ended.keys(), ...services.filter((_, k) => k % 2 === 1).map((c) => c.name)]);
  const prng = new Prng(9);
  const clients = [cluster.endpoints.ip[1]! >>> 0, cluster.endpoints.ip[2]! >>> 0];
  const p = newFirstPacket();
  const fast = newNatDecision();
  const ref = newNatDecision();
  const seen: Record<string, number> = {};
  let keys = 0;
  for (const t of fastDp.program.maps) {
    for (let s = 0; s < t.capacity; s++) {
      const o = t.at(s);
      const verdict = t.rows[o + VerdictWord.VERDICT]!;
      if (!t.occupied(s) || verdict === 0 || !target.has(fastDp.program.chainNames[verdict >> VerdictBits.ARG_SHIFT] ?? '')) continue;
      keys++;
      // Act, Assert: each packet of a client decides alike; the affinity state is carried along.
      for (let i = 0; i < 40; i++) {
        p.dstIp = t.key0(s);
        p.proto = t.key1(s) >>> 16;
        p.dstPort = t.key1(s) & 0xffff;
        p.srcIp = clients[i & 1]!;
        p.srcPort = 1024 + i;
        p.hook = HOOK_PREROUTING;
        p.fromPodInterface = (i & 2) === 0;
        p.rand = prng.nextU32() | 0;
        p.now = keys * 1000 + i;
        fastDp.decide(p, fast);
        refDp.decideGeneric(p, ref);
        assertSame(fast, ref, p, `packet ${i} to key ${keys}: decide vs decideGeneric`);
        seen[kVerdictNames[fast.verdict]!] = (seen[kVerdictNames[fast.verdict]!] ?? 0) + 1;
      }
    }
  }
  assert.ok(keys >= 16 && (seen.dnat ?? 0) > 100 && (seen.reject ?? 0) > 100, `${keys} keys: ${JSON.stringify(seen)}`);
});

test('decide() equals the flag-driven walker when the map elements\' endpoint-chain hints are stale (seeded, 400 Services)', () => {
  // Arrange: kdp's compile, then each goto element's hint (MapWord: where its Service chain's
  // numgen branches' chains lie) made wrong in one of the ways an update could leave it: another
  // Service's chains (same shape, wrong endpoints), the stride short of the DNAT rule (branch 0's
  // chain found where the hint says, its end wrong), branch 0's end found but its start wrong, one
  // chain on, the count off; every sixth kept right, so the guessed path is taken too. (Each of the
  // guard's two compares left out fails it: checked.) decide() guesses only where a numgen branch
  // has no DNAT (program.ts DnatWord), so every branch's is cleared, as a chain of another
  // shape leaves it.
  const cluster = generateCluster({ services: 400, endpoints: 3, nodes: 3, seed: 21 });
  const fastDp = compileNftables(cluster, { node: 1 });
  const refDp = compileNftables(cluster, { node: 1 });
  const { code: K, chainRows: CR } = fastDp.program;
  let cleared = 0;
  for (let c = 0; c < CR.length / ChainWord.STRIDE; c++) {
    for (let pc = CR[c * ChainWord.STRIDE + ChainWord.START]!; pc < CR[c * ChainWord.STRIDE + ChainWord.END]!; pc = K[pc + RuleWord.NEXT]!) {
      if (K[pc + RuleWord.OP] !== ActionOp.NUMGEN) continue;
      for (let k = 0; k < K[pc + RuleWord.B]!; k++) {
        const d = dnatRowAt(K[pc + RuleWord.A]!, K[pc + RuleWord.B]!, k);
        if (K[d + DnatWord.ENDPOINT]! >= 0) cleared++;
        K[d + DnatWord.ENDPOINT] = -1;
      }
    }
  }
  assert.ok(cleared > 1000, `${cleared} branches' DNATs cleared`);
  let hinted = 0;
  for (const t of fastDp.program.maps) {
    const V = t.rows;
    let previous = -1;
    for (let s = 0; s < t.capacity; s++) {
      const o = t.at(s);
      if (!t.occupied(s) || V[o + MapWord.HINT_START]! < 0 || V[o + MapWord.HINT]! === 0) continue;
      hinted++;
      // MapWord.HINT: the count in its high half, the stride in its low one.
      const count = V[o + MapWord.HINT]! >> 16;
      const stride = V[o + MapWord.HINT]! & 0xffff;
      switch (hinted % 6) {
        case 0: // another element's chains
          if (previous >= 0) [V[o + MapWord.HINT_START], V[o + MapWord.HINT]] = [V[previous + MapWord.HINT_START]!, V[previous + MapWord.HINT]!];
          break;
        case 1: // branch 0's chain starts where the hint says and ends before its DNAT rule (its second, 11 words in)
          V[o + MapWord.HINT] = (count << 16) | 11;
          break;
        case 2: // branch 0's chain ends where the hint says and starts elsewhere
          V[o + MapWord.HINT_START] = V[o + MapWord.HINT_START]! + 4;
          V[o + MapWord.HINT] = (count << 16) | (stride - 4);
          break;
        case 3: // one chain on
          V[o + MapWord.HINT_START] = V[o + MapWord.HINT_START]! + stride;
          break;
        case 4: // the count off: another branch picked
          V[o + MapWord.HINT] = ((count + 1) << 16) | stride;
          break;
      }
      previous = o;
    }
  }
  assert.equal(fastDp.program.maps[0]!.width, MapWord.STRIDE, 'a map element is a MapWord row');
  assert.ok(hinted > 300, `${hinted} elements with a hint`);
  // Act, Assert
  assertVaried(sameOnMapKeys(cluster, 1, fastDp, refDp));
});
