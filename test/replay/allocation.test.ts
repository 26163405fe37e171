/**
 * The replay allocates nothing per packet (the developers' guide: "no allocation per packet"),
 * on the path of a packet's bytes (PacketBatch.push, packetAt, the replay's passes) and in
 * runBatch's stages. The oracle is V8's own sampling heap profiler, with the objects minor and
 * major GCs collected counted in: what the functions of a warmed replay allocated, over the
 * packets it replayed. The bound leaves the per-batch clock readings (performance.now returns a
 * boxed double, ~1 byte a packet at batch 256) and fails on one boxed value a packet: a uint32
 * above 2^31 or a 48-bit MAC passed to a call the JIT does not inline is a 16-byte HeapNumber,
 * which the replay did before 2026-12-07 (push, laterPass, packetAt: 28-56 bytes a packet over
 * a replay of 1.6 M packets, scavenges every ~0.4 s of the worker's replay).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from 'node:inspector/promises';
import { performance } from 'node:perf_hooks';
import { mergeShards, ReplaySetup, replayShard } from '../../src/replay/replay.js';

interface HeapNode {
  callFrame: { functionName: string };
  selfSize: number;
  children: HeapNode[];
}

/** The replay's per-packet functions: everything under them counts. */
const kPerPacket = new Set(['runBatch', 'push', 'packetAt', 'laterPass', 'firstPass', 'sent', 'timed']);
const kMaxBytesPerPacket = 4;

test('a warmed replay allocates under 4 bytes a packet on the packet path (V8 sampling heap profiler)', async () => {
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
