/**
 * What Cilium's Maglev costs at a cluster's size, measured on the node's compiled maps: the time
 * to build one Service's lookup table (what the agent spends per Service on every backend change
 * with `bpf-lb-algorithm: maglev`, pkg/maglev GetLookupTable), whether or not the cluster's
 * configuration selects Maglev, and the table's memory (M backend IDs of 4 bytes, per frontend
 * that has one). The median over up to 200 Services with backends, so a cell's figure does not
 * grow with the number of Services.
 */
import type { Cluster } from '../../model/types.js';
import type { CiliumDataplane } from './dataplane.js';
import { ciliumMaglevTable, maglevSeeds } from './maglev.js';
import {
  SCOPE_EXT, beIp, bePort, feCount, feRevNat, feServicePort, feSlotStart, slotBackend,
} from './tables.js';

const kSample = 200;

export function maglevFigures(dp: CiliumDataplane, _cluster: Cluster, clock: () => number): Record<string, number> {
  const t = dp.tables;
  const m = dp.config.maglevTableSize;
  const seeds = maglevSeeds(dp.config.maglevHashSeed);
  const seed = typeof seeds === 'string' ? 0 : seeds.murmur;
  const out = new Uint32Array(m);
  const times: number[] = [];
  const seen = new Set<number>();
  let warm = false;
  for (let f = 0; f < t.frontends && times.length < kSample; f++) {
    const sp = feServicePort(t, f);
    if (feRevNat(t, f) === 0 || t.feScope[f] !== SCOPE_EXT || feCount(t, f) === 0 || seen.has(sp)) continue;
    seen.add(sp);
    const backends = [];
    for (let k = 0; k < feCount(t, f); k++) {
      const id = slotBackend(t, feSlotStart(t, f) + k);
      backends.push({ id, ip: beIp(t, id), port: bePort(t, id), proto: t.feProto[f] as 6 });
    }
    // One untimed build first: the first call pays the JIT's compilation, not Maglev's.
    if (!warm) {
      ciliumMaglevTable(backends, m, seed, out);
      warm = true;
    }
    const t0 = clock();
    ciliumMaglevTable(backends, m, seed, out);
    times.push((clock() - t0) * 1000);
  }
  times.sort((a, b) => a - b);
  const figures: Record<string, number> = {
    maglevTableBytesPerService: 4 * m,
    maglevServicesTimed: times.length,
    lbMapEntries: t.lbMapEntries,
    lbMapMax: dp.config.lbMapMax,
    lbMapUnprogrammed: t.lbMapUnprogrammed,
  };
  // A figure not measured is left out, never 0.
  if (times.length > 0) figures.maglevBuildUsPerService = times[times.length >> 1];
  return figures;
}
