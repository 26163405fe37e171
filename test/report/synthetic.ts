/**
 * SYNTHETIC result cells for the report's tests: made-up numbers with known shapes (exact power
 * laws, chosen crossings), never measurements, and never written to BENCHMARKS.md.
 */
import type { CellResult, MachineInfo } from '../../src/report/result.js';

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export interface CellInput extends Partial<Omit<CellResult, 'newFlow' | 'established'>> {
  mode: string;
  services: number;
  /** First-packet ns per flow; perSecond follows as workers·1e9/ns. */
  nsPerFlow?: number;
  /** Established ns per packet; packetsPerSecond follows as workers·1e9/ns. */
  nsPerPacket?: number;
  /** Overrides the rates derived from the ns figures (for exact ratios). */
  perSecond?: number;
  packetsPerSecond?: number;
  spread?: boolean;
}

export function syntheticCell(input: CellInput): CellResult {
  const { nsPerFlow = 500, nsPerPacket = 100, spread = false, perSecond: rate, packetsPerSecond, ...rest } = input;
  const workers = rest.workers ?? 1;
  const perSecond = rate ?? (workers * 1e9) / nsPerFlow;
  const pps = packetsPerSecond ?? (workers * 1e9) / nsPerPacket;
  const cell: Mutable<CellResult> = {
    schema: 1,
    endpointsPerService: 10,
    cni: 'calico-vxlan',
    workers,
    flows: 100_000,
    seed: 1,
    zipf: 0,
    finishedAt: '2000-01-01T00:00:00.000Z',
    packets: 1_000_000,
    wireBytes: 1_000_000 * 150,
    gbitPerSecond: (pps * 150 * 8) / 1e9,
    newFlow: { nsPerFlow, perSecond, ...(spread ? { spread: { median: nsPerFlow, min: nsPerFlow * 0.9, max: nsPerFlow * 1.2, runs: 5 } } : {}) },
    established: { packetsPerSecond: pps, nsPerPacket, ...(spread ? { spread: { median: pps, min: pps * 0.95, max: pps * 1.05, runs: 5 } } : {}) },
    sync: { fullMs: rest.services * 0.01, oneEndpointMs: 0.5, oneEndpointRewrittenBytes: 4096 },
    memory: { tableBytes: rest.services * 640, conntrackBytesPerEntry: 64 },
    limits: { randomReadNs: 80, scanNsPerElement: 0.5 },
    decisionChecksum: 'abc123',
    ...rest,
  };
  return cell;
}

export const kServices = [10, 100, 1000, 10000, 30000] as const;

/**
 * A default-shaped sweep: iptables grows linearly (200 ns + 1.5 ns per Service), the hash modes
 * are flat, plus a workers sweep at 1000 Services.
 */
export function syntheticSweep(): CellResult[] {
  const out: CellResult[] = [];
  for (const services of kServices) {
    out.push(syntheticCell({ mode: 'iptables', services, nsPerFlow: 200 + 1.5 * services, iptables: { rulesPerFirstPacket: services + 10, nsPerRule: (1.5 * services) / (services + 10) + 0.1 }, spread: true }));
    out.push(syntheticCell({ mode: 'ipvs', services, nsPerFlow: 900 + services / 1000, spread: true }));
    out.push(syntheticCell({ mode: 'nftables', services, nsPerFlow: 1200, spread: true }));
    out.push(syntheticCell({ mode: 'userspace', services, nsPerFlow: 5000, nsPerPacket: 2000 }));
  }
  for (const mode of ['iptables', 'ipvs']) {
    const base = out.find((c) => c.mode === mode && c.services === 1000)!;
    out.push(syntheticCell({ mode, services: 1000, workers: 2, nsPerFlow: base.newFlow.nsPerFlow * 1.05, nsPerPacket: base.established.nsPerPacket * 1.05, iptables: base.iptables }));
  }
  return out;
}

export const kSyntheticMachine: MachineInfo = {
  cpuModel: 'Synthetic CPU (test data)',
  cores: 8,
  memoryBytes: 16 * 1024 ** 3,
  node: 'v20.0.0',
  platform: 'linux',
  kernel: '6.0.0-test',
  gitCommit: '0000000',
  date: '2000-01-01T00:00:00.000Z',
  command: 'npm run bench',
};
