/**
 * Each mode's first-packet decision with the caches as the pipeline leaves them. The pipeline
 * decides a batch's first packets between other stages' touches of a cell's conntrack tables
 * (tens of MB at a million flows), so its decisions start cold; lookup.bench.ts decides packet
 * after packet with everything warm. Three figures a mode, in ns a decision, over batches of
 * BATCH (256) ClusterIP first packets from pods:
 * - warm: no sweep between batches (lookup.bench's case);
 * - cold: a write sweep over a COLD_MB buffer (64) before each batch;
 * - cold, tables read: the same sweep, then every cache line of the mode's shared tables (its
 *   image, image.ts) read, untimed.
 * cold less "tables read" is what fetching the tables' lines costs; "tables read" less warm is
 * the rest (the decision's machine code, the branch predictors, the TLB, the JS objects a
 * decision touches). The dataplane is built as a replay worker builds it, from its image.
 * Medians of ROUNDS (3) rounds of 400 timed batches, modes alternated within a round. A sweep
 * evicts what it can: L2 (2 MB a core on the benchmark machine) whatever its size, a shared L3
 * only when COLD_MB exceeds it.
 * Run: SERVICES=100 MODES=ipvs,nftables node dist/bench/compile/cold.bench.js   (knobs: SERVICES,
 * ENDPOINTS, MODES, SEED, BATCH, COLD_MB, ROUNDS)
 */
import { performance } from 'node:perf_hooks';
import { newFirstPacket, newNatDecision, type ServiceDataplane } from '../../src/compile/dataplane.js';
import { dataplaneImage } from '../../src/compile/image.js';
import { compileDataplane, modeNamed } from '../../src/compile/index.js';
import { unpackTables } from '../../src/compile/table-image.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { clusterIpTraffic, envInt, knobs, loadPacket, podDecisionHook, sink, type ClusterIpTraffic } from '../common.js';

const kColdMb = envInt('COLD_MB', 64);
const kRounds = envInt('ROUNDS', 3);
const kBatches = 400;
const kWarmup = 100;
const kTraffic = 4096;
const kCases = ['warm', 'cold', 'cold, tables read'] as const;

interface Subject {
  readonly name: string;
  readonly dp: ServiceDataplane;
  readonly time: TimingLoop;
  readonly tables: Int32Array;
  readonly traffic: ClusterIpTraffic;
  readonly ns: number[][];
}

const sweep = new Int32Array(kColdMb << 18);
let phase = 0;

/** Writes a word of every line of the sweep buffer: what a cell's conntrack touches leave in the caches. */
function coldSweep(): void {
  phase = (phase + 1) & 15;
  for (let j = phase; j < sweep.length; j += 16) sweep[j]++;
}

/** Reads a word of every line of `words`. */
function readLines(words: Int32Array): number {
  let acc = 0;
  for (let j = 0; j < words.length; j += 16) acc ^= words[j];
  return acc;
}

// The timed loop, compiled once a mode (timingLoop): one function for every mode would call
// decide() from one site, megamorphic past four modes, which cost IPVS's warm figure ~36 ns a
// decision at 100 Services in a run of all five.
type TimingLoop = (dp: ServiceDataplane, traffic: ClusterIpTraffic, before: () => void, batches: number, warmup: number, batch: number) => number;
const kLoopSource = `
  const pkt = newFirstPacket();
  const out = newNatDecision();
  pkt.hook = podDecisionHook(dp);
  pkt.fromPodInterface = true;
  pkt.now = 0;
  const mask = traffic.srcIp.length - 1;
  let cursor = 0;
  let ns = 0;
  for (let b = 0; b < warmup + batches; b++) {
    before();
    const t0 = performance.now();
    for (let q = 0; q < batch; q++) {
      const i = cursor;
      cursor = (cursor + 1) & mask;
      loadPacket(pkt, traffic, i);
      dp.decide(pkt, out);
      sink.value ^= out.endpoint;
    }
    if (b >= warmup) ns += (performance.now() - t0) * 1e6;
  }
  return ns / (batches * batch);`;

/** A fresh copy of the loop that times a mode's decisions: ns a decision over `batches` batches, each after `before`. */
function timingLoop(): TimingLoop {
  const make = new Function('newFirstPacket', 'newNatDecision', 'podDecisionHook', 'performance', 'loadPacket', 'sink', `return function time(dp, traffic, before, batches, warmup, batch) {${kLoopSource}\n};`);
  return make(newFirstPacket, newNatDecision, podDecisionHook, performance, loadPacket, sink) as TimingLoop;
}

const subjects: Subject[] = knobs.modes.map((name) => {
  const mode = modeNamed(name);
  // Each mode's own cluster, as `kdp bench` makes a cell's: Cilium's sizes its service map (synthetic.ts).
  const cluster = generateCluster({ services: knobs.services, endpoints: knobs.endpoints, nodes: 2, cni: 'calico-vxlan', seed: knobs.seed, mode: name });
  const traffic = clusterIpTraffic(cluster, cluster.ports.filter((p) => cluster.services[p.service].clusterIPs.length > 0), kTraffic);
  const image = dataplaneImage(compileDataplane(cluster, name, 0));
  const dp = mode.attach(cluster, unpackTables<unknown>(image.tables, mode.sharedClasses));
  const buffer = image.tables.buffer;
  return { name, dp, time: timingLoop(), tables: new Int32Array(buffer, 0, buffer.byteLength >> 2), traffic, ns: kCases.map(() => []) };
});

console.log(`decide() with the caches as the pipeline leaves them, ${knobs.services.toLocaleString('en-US')} Services x ${knobs.endpoints} endpoints, batches of ${knobs.batch} ClusterIP first packets, a ${kColdMb} MB sweep before each cold batch (ns a decision, medians of ${kRounds} rounds)`);
// An untimed warm round first: a round's first figure would otherwise carry the JIT's warm-up.
for (const s of subjects) s.time(s.dp, s.traffic, () => {}, kBatches, kWarmup, knobs.batch);
for (let r = 0; r < kRounds; r++) {
  for (const s of subjects) {
    const time = (before: () => void): number => s.time(s.dp, s.traffic, before, kBatches, kWarmup, knobs.batch);
    s.ns[0].push(time(() => {}));
    s.ns[1].push(time(coldSweep));
    s.ns[2].push(time(() => {
      coldSweep();
      sink.value ^= readLines(s.tables);
    }));
  }
}
const median = (a: readonly number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1];
for (const s of subjects) {
  const [warm, cold, read] = s.ns.map(median);
  const kib = (s.tables.byteLength / 1024).toFixed(0);
  console.log(`${s.name.padEnd(10)} warm ${warm.toFixed(1).padStart(6)}  cold ${cold.toFixed(1).padStart(6)}  cold, tables read ${read.toFixed(1).padStart(6)}  (tables' lines ${(cold - read).toFixed(1)}, the rest ${(read - warm).toFixed(1)}; tables ${kib} KiB)`);
}
if (sink.value === 0x7fffffff) console.log('');
