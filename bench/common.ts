/**
 * Shared knobs and helpers of the micro-benchmarks: every bench file runs standalone
 * (`node dist/bench/<dir>/<name>.bench.js`), seeded, with a sink against dead-code elimination.
 *
 * Knobs (environment variables): SERVICES (default 1000), ENDPOINTS (10), BATCH (256),
 * WORKERS (1), FLOWS (100000), SEED (1), TIME (ms per task, 1000), MODES (every mode).
 */
import { Bench } from 'tinybench';
import { HOOK_PREROUTING, HOOK_SOCKET, type FirstPacket, type ServiceDataplane } from '../src/compile/dataplane.js';
import { kModes } from '../src/compile/index.js';
import { mix32 } from '../src/net/hash.js';
import type { Cluster, ModeName, ServicePort } from '../src/model/types.js';

export function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`${name} must be a whole number, not "${v}"`);
  return n;
}

export const knobs = {
  services: envInt('SERVICES', 1000),
  endpoints: envInt('ENDPOINTS', 10),
  batch: envInt('BATCH', 256),
  workers: envInt('WORKERS', 1),
  flows: envInt('FLOWS', 100_000),
  seed: envInt('SEED', 1),
  time: envInt('TIME', 1000),
  modes: (process.env.MODES ? process.env.MODES.split(',') : kModes.map((m) => m.name)) as ModeName[],
};

/**
 * `n` first packets from pods to ClusterIP ports of `ports` (uniform, seeded by the SEED knob),
 * each from a random endpoint address: the decision benchmarks' traffic.
 */
export function clusterIpTraffic(cluster: Cluster, ports: readonly ServicePort[], n: number): ClusterIpTraffic {
  const t = { srcIp: new Uint32Array(n), dstIp: new Uint32Array(n), dstPort: new Uint16Array(n), proto: new Uint8Array(n) };
  for (let i = 0; i < n; i++) {
    const p = ports[mix32(knobs.seed, i) % ports.length];
    t.dstIp[i] = cluster.services[p.service].clusterIPs[0];
    t.dstPort[i] = p.port;
    t.proto[i] = p.protocol;
    t.srcIp[i] = cluster.endpoints.ip[mix32(knobs.seed ^ 3, i) % cluster.endpoints.count];
  }
  return t;
}

export interface ClusterIpTraffic {
  readonly srcIp: Uint32Array;
  readonly dstIp: Uint32Array;
  readonly dstPort: Uint16Array;
  readonly proto: Uint8Array;
}

/** Writes packet `i` of `t` into `pkt`, its source port 1024 + i and its numgen random mix32(i, SEED): the packet a decision benchmark asks about. */
export function loadPacket(pkt: FirstPacket, t: ClusterIpTraffic, i: number): void {
  pkt.srcIp = t.srcIp[i];
  pkt.srcPort = 1024 + i;
  pkt.dstIp = t.dstIp[i];
  pkt.dstPort = t.dstPort[i];
  pkt.proto = t.proto[i];
  pkt.rand = mix32(i, knobs.seed);
}

/** The hook a mode decides a pod's new connection at: the socket where it balances there (Cilium's socket LB), else PREROUTING. */
export function podDecisionHook(dp: ServiceDataplane): number {
  return dp.socketLb ? HOOK_SOCKET : HOOK_PREROUTING;
}

/** Results go here so the optimiser cannot drop the work. */
export const sink = { value: 0 };

export function newBench(name: string): Bench {
  return new Bench({ name, time: knobs.time, warmupTime: Math.min(500, knobs.time), warmupIterations: 16 });
}

/** Prints the table with ns per operation (mean ± relative margin) and the difference from the first task. */
export function report(bench: Bench, perOp: Record<string, number> = {}): void {
  const base = bench.tasks[0]?.result;
  const baseNs = base && 'latency' in base ? base.latency.mean * 1e6 : 0;
  console.log(`\n${bench.name}  (SERVICES=${knobs.services} ENDPOINTS=${knobs.endpoints} BATCH=${knobs.batch} SEED=${knobs.seed})`);
  const rows = bench.tasks.map((t) => {
    const r = t.result;
    if (!r || !('latency' in r)) return { task: t.name, error: String((r as { error?: unknown } | undefined)?.error ?? 'no result') };
    const ops = perOp[t.name] ?? 1;
    const ns = (r.latency.mean * 1e6) / ops;
    return {
      task: t.name,
      'ns/op': ns.toFixed(1),
      '±%': r.latency.rme.toFixed(1),
      'Mops/s': (1e3 / ns).toFixed(2),
      'vs first': baseNs > 0 ? `${((r.latency.mean * 1e6) / baseNs).toFixed(2)}x` : '',
      samples: r.latency.samplesCount,
    };
  });
  console.table(rows);
  console.log(`(sink ${sink.value})`);
}
