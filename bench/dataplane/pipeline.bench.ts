/**
 * Established packets through the whole path (conntrack hit on both nodes, NAT replayed with
 * incremental checksums, routing, VXLAN encap, the wire, decap, delivery), BATCH packets per
 * iteration, after FLOWS flows were opened; "write headers" is the PacketBatch.push cost alone,
 * to subtract. With WORKERS > 1 it then replays FLOWS flows on the worker pool and prints the
 * aggregate established rate.
 * Run: node dist/bench/dataplane/pipeline.bench.js   (knobs: SERVICES, ENDPOINTS, BATCH, WORKERS, FLOWS, MODES, SEED, TIME)
 */
import { performance } from 'node:perf_hooks';
import { PipelineContext } from '../../src/dataplane/context.js';
import { END_EXTERNAL, END_HOST, END_POD } from '../../src/dataplane/next.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD, inject, runBatch } from '../../src/dataplane/pipeline.js';
import { PacketBatch } from '../../src/net/batch.js';
import { FlowChunk } from '../../src/replay/flows.js';
import { ReplayPool } from '../../src/replay/pool.js';
import { conntrackMaxFor, ReplaySetup } from '../../src/replay/replay.js';
import { knobs, newBench, report, sink } from '../common.js';

const mode = knobs.modes[0] === 'iptables' && knobs.modes.length === 4 ? 'nftables' : knobs.modes[0]!;
const key = { mode, services: knobs.services, endpointsPerService: knobs.endpoints, cni: 'calico-vxlan' as const, seed: knobs.seed, zipf: 0 };
const setup = new ReplaySetup(key);
const ctx = new PipelineContext(setup.compiledCluster, { seed: knobs.seed, conntrackMax: conntrackMaxFor(knobs.flows, 1, setup.mode), capacity: knobs.batch });
const flows = new FlowChunk(knobs.flows);
setup.flowSet.fillShard(0, knobs.flows, 0, 1, flows);
const n = flows.count;
// Open every flow with its SYN, remembering where it arrived (the replies start there).
const aSrc = new Uint32Array(n), aDst = new Uint32Array(n), aSport = new Uint16Array(n), aDport = new Uint16Array(n), aNode = new Uint16Array(n), aEntry = new Uint8Array(n), ok = new Uint8Array(n);
const batch = new PacketBatch({ capacity: knobs.batch });
for (let j0 = 0; j0 < n; j0 += knobs.batch) {
  batch.reset();
  const j1 = Math.min(n, j0 + knobs.batch);
  for (let j = j0; j < j1; j++) inject(ctx, batch, batch.push(flows.proto[j], flows.srcIp[j], flows.srcPort[j], flows.dstIp[j], flows.dstPort[j], 0, 0x02), flows.node[j], flows.entry[j]);
  runBatch(ctx, batch);
  for (let i = 0; i < batch.count; i++) {
    const j = j0 + i, end = batch.verdict[i];
    aSrc[j] = batch.srcIp[i]; aDst[j] = batch.dstIp[i]; aSport[j] = batch.srcPort[i]; aDport[j] = batch.dstPort[i]; aNode[j] = batch.node[i];
    aEntry[j] = end === END_POD ? ENTRY_POD : end === END_HOST ? ENTRY_HOST : ENTRY_EXTERNAL;
    ok[j] = end === END_POD || end === END_HOST || end === END_EXTERNAL ? 1 : 0;
  }
}
// SYN/ACK for all, so the flows are established in both directions.
const live: number[] = [];
for (let j = 0; j < n; j++) if (ok[j]) live.push(j);
const fill = (reply: boolean, start: number, flags: number, stride = 7919): void => {
  batch.reset();
  for (let b = 0; b < knobs.batch; b++) {
    const j = live[(start + b * stride) % live.length]!;
    const i = reply
      ? batch.push(flows.proto[j], aDst[j], aDport[j], aSrc[j], aSport[j], 1400, flags)
      : batch.push(flows.proto[j], flows.srcIp[j], flows.srcPort[j], flows.dstIp[j], flows.dstPort[j], 200, flags);
    inject(ctx, batch, i, reply ? aNode[j] : flows.node[j], reply ? aEntry[j] : flows.entry[j]);
  }
};
for (let s = 0; s < live.length; s += knobs.batch) {
  fill(true, s, 0x12, 1);
  runBatch(ctx, batch);
}
for (let s = 0; s < live.length; s += knobs.batch) {
  fill(false, s, 0x10, 1);
  runBatch(ctx, batch);
}
const setupDrops = [...ctx.counters.drops].reduce((a, b) => a + b, 0);
let cursor = 0;
const bench = newBench(`established packets, ${mode}, ${live.length.toLocaleString('en-US')} open flows, batch ${knobs.batch}`);
bench
  .add('write headers only (PacketBatch.push)', () => {
    fill(false, cursor, 0x10);
    cursor += 104729;
    sink.value ^= batch.count;
  })
  .add('forward: write headers + runBatch', () => {
    fill(false, cursor, 0x10);
    runBatch(ctx, batch);
    cursor += 104729;
    sink.value ^= batch.verdict[0];
  })
  .add('reply: write headers + runBatch', () => {
    fill(true, cursor, 0x10);
    runBatch(ctx, batch);
    cursor += 104729;
    sink.value ^= batch.verdict[0];
  });
await bench.run();
report(bench, Object.fromEntries(bench.tasks.map((t) => [t.name, knobs.batch])));
const drops = [...ctx.counters.drops].reduce((a, b) => a + b, 0) - setupDrops;
console.log(`drops while measured: ${drops}${drops > 0 ? ' (a bug: established packets should all be delivered)' : ''}`);

if (knobs.workers > 1) {
  const pool = new ReplayPool();
  for (const w of [1, knobs.workers]) {
    const t0 = performance.now();
    const r = await pool.run({ ...key, flows: knobs.flows }, w);
    const pps = (r.run.establishedPackets / r.run.establishedPhaseNs) * 1e9 * w;
    console.log(`replay on ${w} worker(s): ${(pps / 1e6).toFixed(2)} M established packets/s, checksum ${r.run.decisionChecksum} (${(performance.now() - t0).toFixed(0)} ms)`);
  }
  await pool.close();
}
