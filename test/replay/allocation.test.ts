/**
 * Law: the replay writes each packet it sends without allocating (the developers' guide: "no
 * allocation per packet"): its passes over a chunk's flows (firstPass, laterPass), the packet's
 * schedule (packetAt) and its bytes (PacketBatch.push). What the stages do with the packet is
 * test/pipeline/allocation.test.ts's law, and is left out here (runBatch).
 *
 * Oracle: V8's sampling heap profiler, the objects minor and major GCs collected counted in, over
 * a warmed replay: the bytes sampled in those functions and what they call, over the packets
 * replayed. Unlike the pipeline's law, the replay's per-flow work (generating the flows, the
 * decisions' checksum) runs in the same replay, so the heap's own total would not tell a packet's
 * allocation from a flow's; the profiler's stacks do. Under 1 byte a packet leaves the per-batch
 * clock readings (performance.now returns a boxed double) and fails on one boxed value in sixteen
 * packets: a uint32 above 2^31 or a 48-bit MAC passed to a call the JIT does not inline is a
 * 16-byte heap number, which the replay made before 2026-12-07 (17-64 bytes a packet, by how the JIT
 * inlined push). Under the V8 flags the replay's workers run with (kWorkerV8Flags), as the
 * pipeline's law.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { kWorkerV8Flags } from '../../src/replay/pool.js';
import { mergeShards, ReplaySetup, replayShard } from '../../src/replay/replay.js';

// Before any function runs: V8 reads the inlining budget when it optimises one.
for (const flag of kWorkerV8Flags) setFlagsFromString(flag);

interface HeapNode {
  callFrame: { functionName: string };
  selfSize: number;
  children: HeapNode[];
}

/** The replay's per-packet functions: what runs under them counts, but for the stages (runBatch, and `timed` around it, which the JIT may inline). */
const kPerPacket = new Set(['push', 'packetAt', 'laterPass', 'firstPass']);
const kStages = new Set(['timed', 'runBatch']);
const kMaxBytesPerPacket = 1;

test('a warmed replay writes its packets with under 1 byte allocated a packet (V8 sampling heap profiler)', async () => {
  const key = { mode: 'ipvs' as const, services: 100, endpointsPerService: 10, cni: 'calico-vxlan' as const, seed: 1, zipf: 0 };
  const clock = () => performance.now();
  const setup = new ReplaySetup(key, clock);
  const run = () => mergeShards([replayShard(setup, { ...key, flows: 40_000, shard: 0, shards: 1 }, clock)]);
  // Warm-up: the JIT optimises the replay's functions (an unoptimised function boxes every double).
  for (let k = 0; k < 3; k++) run();
  const session = new Session();
  session.connect();
  try {
    await session.post('HeapProfiler.enable');
    await session.post('HeapProfiler.startSampling', { samplingInterval: 256, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    const r = run();
    const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: HeapNode } };
    let bytes = 0;
    const byFunction = new Map<string, number>();
    const walk = (n: HeapNode, under: boolean): void => {
      if (kStages.has(n.callFrame.functionName)) return;
      const inside = under || kPerPacket.has(n.callFrame.functionName);
      if (inside && n.selfSize > 0) {
        bytes += n.selfSize;
        byFunction.set(n.callFrame.functionName, (byFunction.get(n.callFrame.functionName) ?? 0) + n.selfSize);
      }
      for (const c of n.children) walk(c, inside);
    };
    walk(profile.head, false);
    const packets = r.firstPackets + r.establishedPackets;
    assert.ok(packets > 250_000, `the replay sent ${packets} packets`);
    const top = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([f, b]) => `${f} ${b} B`).join(', ');
    assert.ok(bytes / packets < kMaxBytesPerPacket, `${(bytes / packets).toFixed(2)} bytes a packet over ${packets} packets (${top})`);
  } finally {
    await session.post('HeapProfiler.disable');
    session.disconnect();
  }
});
