/**
 * Endpoint choice is uniform. For a ClusterIP with n ready endpoints, many new flows (random
 * 5-tuples hashed and mixed with the run's seed exactly as service-nat.ts does) are decided by
 * iptables' probability chains, nftables' numgen, IPVS rr and IPVS mh (Maglev); a chi-square test
 * at family-wise significance 0.001 (per chooser, over its runs) does not reject uniformity. Maglev's lookup table gives every backend a
 * share within the paper's bound (Eisenbud et al., NSDI 2016, §3.4: with M > 100 N the shares
 * differ by about 1 %; kdp's fill gives floor(M/N) or ceil(M/N) slots).
 *
 * Fixed seeds (statistical laws must not flake): fast-check seed 42. Runs in `npm test`: 12
 * endpoint counts per mode, 3000 flows each; the Maglev table law 30 backend sets.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { compileDataplane } from '../../src/compile/index.js';
import { compileIpvs } from '../../src/compile/ipvs/index.js';
import { maglevPopulate, kMaglevDefaultSize } from '../../src/compile/ipvs/maglev.js';
import { HOOK_PREROUTING, newFirstPacket, newNatDecision, type ServiceDataplane } from '../../src/compile/dataplane.js';
import { mix32, hash5 } from '../../src/net/hash.js';
import { buildCluster, clusterIp, servicePortNumber, type ClusterSpec } from '../helpers/arbitraries.js';
import { checkProperty, holds, runs } from '../helpers/nat-assertions.js';
import { PROTO_TCP } from '../../src/net/proto.js';

const kRuns = runs(12);
const kFlows = 3000;

/** The standard normal's upper tail P(Z > z), by Abramowitz and Stegun 7.1.26 (erfc within 1.5e-7). */
function normalUpperTail(z: number): number {
  const x = z / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return 0.5 * poly * Math.exp(-x * x);
}

/** The z whose upper tail is `alpha` (bisection over normalUpperTail, z > 0). */
function normalQuantile(alpha: number): number {
  let lo = 0;
  let hi = 10;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (normalUpperTail(mid) > alpha) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/**
 * The chi-square value with df degrees of freedom that a uniform choice exceeds with probability
 * 0.001 over the whole family of kRuns tests of one chooser (Bonferroni: alpha 0.001 / kRuns each;
 * Wilson-Hilferty). The family, not each test: twelve tests at 0.001 each reject a uniform chooser
 * 1.2 % of the time, and a fixed seed only freezes which samples that hits.
 */
function chiSquareCritical(df: number): number {
  const z = normalQuantile(0.001 / kRuns);
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}

function chiSquare(counts: readonly number[]): number {
  const total = counts.reduce((a, b) => a + b, 0);
  const e = total / counts.length;
  return counts.reduce((s, c) => s + ((c - e) * (c - e)) / e, 0);
}

function cluster(n: number) {
  const cs: ClusterSpec = {
    cni: 'kubenet', nodes: 2, nodeExternalIPs: false, masqueradeAll: false,
    services: [{ kind: 'ClusterIP', externalIP: false, sourceRanges: false, externalLocal: false, internalLocal: false, affinity: false, ports: [{ udp: false, namedTarget: false }], endpoints: Array.from({ length: n }, (_, k) => ({ node: k % 2, state: 'ready' as const })) }],
  };
  return buildCluster(cs);
}

const kChoosers: readonly [string, (c: ReturnType<typeof cluster>) => ServiceDataplane][] = [
  ['iptables probability chains', (c) => compileDataplane(c, 'iptables', 0)],
  ['nftables numgen', (c) => compileDataplane(c, 'nftables', 0)],
  ['IPVS rr', (c) => compileIpvs(c, { node: 0, scheduler: 'rr' })],
  ['IPVS mh (Maglev)', (c) => compileIpvs(c, { node: 0, scheduler: 'mh', mhTableSize: 4093 })],
];

for (const [name, make] of kChoosers) {
  test(`endpoint choice is uniform: ${name} (chi-square, family-wise alpha 0.001, fixed seed)`, () => {
    checkProperty(
      `${name}: uniform choice`,
      fc.record({ n: fc.integer({ min: 2, max: 12 }), runSeed: fc.integer({ min: 0, max: 0xffff }) }),
      ({ n, runSeed }) => {
        // Arrange
        const c = cluster(n);
        const dp = make(c);
        const pkt = newFirstPacket();
        const out = newNatDecision();
        const counts = new Array<number>(n).fill(0);
        // Act: kFlows new flows from distinct clients.
        for (let f = 0; f < kFlows; f++) {
          pkt.srcIp = (0x0af40000 | (f & 0xffff)) >>> 0;
          pkt.srcPort = 1024 + ((f * 7919) % 60000);
          pkt.dstIp = clusterIp(0);
          pkt.dstPort = servicePortNumber(0);
          pkt.proto = PROTO_TCP;
          pkt.hook = HOOK_PREROUTING;
          pkt.fromPodInterface = true;
          pkt.rand = mix32(hash5(pkt.srcIp, pkt.dstIp, pkt.srcPort, pkt.dstPort, PROTO_TCP), runSeed);
          dp.decide(pkt, out);
          holds(out.endpoint >= 0 ? '' : `flow ${f} got no endpoint`);
          counts[out.endpoint - c.ports[0].endpointStart]++;
        }
        // Assert
        const x2 = chiSquare(counts);
        holds(x2 <= chiSquareCritical(n - 1) ? '' : `chi-square ${x2.toFixed(1)} > ${chiSquareCritical(n - 1).toFixed(1)} (df ${n - 1}); counts ${counts.join(' ')}`);
      },
      { numRuns: kRuns, seed: 42 },
    );
  });
}

test("Maglev: every backend's share of the lookup table is within the paper's bound", () => {
  checkProperty(
    'Maglev table shares',
    fc.record({ n: fc.integer({ min: 1, max: 40 }), base: fc.integer({ min: 0, max: 0xffffff }) }),
    ({ n, base }) => {
      // Arrange
      const ip = Array.from({ length: n }, (_, k) => (0x0af40000 + base + k * 257) >>> 0);
      const port = Array.from({ length: n }, () => 8080);
      // Act
      const m = kMaglevDefaultSize;
      const table = maglevPopulate({ ip, port, start: 0, count: n }, m);
      const counts = new Array<number>(n).fill(0);
      for (let s = 0; s < m; s++) counts[table[s]]++;
      // Assert: M > 100 N, so each share is within 1 % of M/N (and here within one slot).
      for (const c of counts) holds(Math.abs(c - m / n) <= Math.max(1, 0.01 * (m / n)) ? '' : `a backend holds ${c} of ${m} slots, M/N = ${(m / n).toFixed(1)}`);
    },
    { numRuns: runs(30), seed: 42 },
  );
});
