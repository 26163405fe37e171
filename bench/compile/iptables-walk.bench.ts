/**
 * iptables-mode chain walk: ns per first packet, and per rule traversed, for a ClusterIP whose
 * portal rule is the LAST one of nat/KUBE-SERVICES (the worst case a linear scan has to pay).
 *
 *   node dist/bench/compile/iptables-walk.bench.js
 *   SERVICES=1000 ENDPOINTS=10 TIME=2000 SEED=1 node dist/bench/compile/iptables-walk.bench.js
 *
 * Tasks: `decide` (the specialised scan) and `decideGeneric` (the general walker explain() uses,
 * i.e. decide() as it was before), so before/after come from the same run. ns/rule = ns / work,
 * work = rules evaluated for the packet (NatDecision.work), identical for both.
 * // ~0.45 ns/rule (decide) vs ~3.5 ns/rule (generic), medians @ 10k svc x 10 ep, 2.6 GHz EPYC, shared box
 * // ~0.7 ns/rule vs ~3.8 ns/rule @ 1k svc (fixed per-packet cost weighs more)
 */
import { Bench } from 'tinybench';
import { newFirstPacket, newNatDecision, kVerdictNames } from '../../src/compile/dataplane.js';
import { compileIptables } from '../../src/compile/iptables/index.js';
import { M_DPORT, M_DST, M_DST_NEG, T_JUMP, TABLE_NAT } from '../../src/compile/iptables/ruleset.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { Prng } from '../../src/model/prng.js';

const env = (name: string, fallback: number): number => {
  const v = process.env[name];
  const n = v === undefined || v === '' ? fallback : Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`${name} must be a positive whole number, not ${v}`);
  return n;
};
const kServices = env('SERVICES', 10000);
const kEndpoints = env('ENDPOINTS', 10);
const kNodes = env('NODES', 10);
const kTime = env('TIME', 1000);
const kSeed = env('SEED', 1);
const kPackets = 4096; // power of two: packet i uses slot i & mask

const t0 = performance.now();
const cluster = generateCluster({ services: kServices, endpoints: kEndpoints, nodes: kNodes, seed: kSeed });
const dp = compileIptables(cluster, { node: 0 });
const compileMs = performance.now() - t0;
const rs = dp.rules;

// The last `-d VIP/32 … --dport P -j KUBE-SVC-…` portal rule of nat/KUBE-SERVICES.
const ks = rs.chainId(TABLE_NAT, 'KUBE-SERVICES');
if (ks < 0) throw new Error('no nat/KUBE-SERVICES chain');
let last = -1;
for (let r = rs.chainStart[ks]; r < rs.chainEnd[ks]; r++) {
  const f = rs.ruleFlags[r];
  if (rs.ruleTarget[r] !== T_JUMP || (f & (M_DST | M_DST_NEG | M_DPORT)) !== (M_DST | M_DPORT) || rs.ruleDstMask[r] !== 0xffffffff) continue;
  if (!rs.chainName[rs.ruleJump[r]].startsWith('KUBE-SVC-')) continue;
  last = r;
}
if (last < 0) throw new Error('no ClusterIP portal rule in nat/KUBE-SERVICES');

// First packets from pods (10.128.0.0/9) to that ClusterIP, each with its own flow random.
const prng = new Prng(kSeed);
const pkts = Array.from({ length: kPackets }, () => {
  const p = newFirstPacket();
  p.srcIp = (0x0a800000 + 256 + prng.below(0x7ffe00)) >>> 0;
  p.srcPort = 1024 + prng.below(60000);
  p.dstIp = rs.ruleDst[last];
  p.dstPort = rs.ruleDport[last];
  p.proto = rs.ruleProto[last];
  p.rand = prng.nextU32();
  return p;
});
const out = newNatDecision();
const ref = newNatDecision();

// Same decision from both walkers before timing anything; work varies a little with the endpoint drawn.
let workSum = 0;
for (let i = 0; i < kPackets; i++) {
  dp.reset();
  dp.decide(pkts[i], out);
  dp.reset();
  dp.decideGeneric(pkts[i], ref);
  if (out.verdict !== ref.verdict || out.endpoint !== ref.endpoint || out.work !== ref.work || out.masquerade !== ref.masquerade) {
    throw new Error(`decide and decideGeneric disagree on packet ${i}: ${JSON.stringify(out)} vs ${JSON.stringify(ref)}`);
  }
  workSum += out.work;
}
dp.reset();
const work = workSum / kPackets;

let sink = 0;
let iDecide = 0;
let iGeneric = 0;
// Warmup outside tinybench too, so both walkers are optimised before the first sample.
for (let i = 0; i < 2000; i++) {
  dp.decide(pkts[i & (kPackets - 1)], out);
  sink += out.endpoint;
  dp.decideGeneric(pkts[i & (kPackets - 1)], ref);
  sink += ref.endpoint;
}

const bench = new Bench({ name: `iptables walk: ${kServices} services x ${kEndpoints} endpoints, last KUBE-SERVICES rule`, time: kTime, warmupTime: 200 });
bench
  .add('decide', () => {
    dp.decide(pkts[iDecide++ & (kPackets - 1)], out);
    sink += out.endpoint + out.work;
  })
  .add('decideGeneric (before)', () => {
    dp.decideGeneric(pkts[iGeneric++ & (kPackets - 1)], ref);
    sink += ref.endpoint + ref.work;
  });
await bench.run();

console.log(bench.name);
console.log(`compiled in ${compileMs.toFixed(0)} ms: ${rs.ruleCount} rules, KUBE-SERVICES ${rs.chainEnd[ks] - rs.chainStart[ks]} rules, portal rule #${last - rs.chainStart[ks] + 1} (${rs.chainName[rs.ruleJump[last]]})`);
console.table(bench.table());
// On a shared machine the median is the robust figure; the mean is printed too.
const nsPerPacket: Record<string, number> = {};
for (const task of bench.tasks) {
  const res = task.result;
  if (res.state !== 'completed') {
    console.log(`${task.name}: ${res.state}`);
    continue;
  }
  const mean = res.latency.mean * 1e6; // latency is in ms
  const median = res.latency.p50 * 1e6;
  nsPerPacket[task.name] = median;
  console.log(`${task.name}: ${median.toFixed(0)} ns per first packet (median; mean ${mean.toFixed(0)}), work ${work.toFixed(1)} rules, ${(median / work).toFixed(3)} ns/rule (mean ${(mean / work).toFixed(3)})`);
}
const a = nsPerPacket['decide'];
const b = nsPerPacket['decideGeneric (before)'];
if (a !== undefined && b !== undefined) console.log(`decide is ${(b / a).toFixed(2)}x faster than decideGeneric (medians); target <= 2 ns/rule: ${a / work <= 2 ? 'met' : 'NOT met'}`);
console.log(`verdict ${kVerdictNames[out.verdict]}, sink ${sink}`);
