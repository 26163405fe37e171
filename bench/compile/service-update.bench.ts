/**
 * In-place Service add and remove (ProxyMode.updateServices) against a full build of node 0's
 * tables, per mode that has the update, on a 2-node synthetic cluster of SERVICES Services.
 * The cluster is generated with kRepeats more Services; the tables are compiled from the first
 * SERVICES, then the others are added one at a time (each a sync of one new Service), then as
 * many removed one at a time; a first pass on tables of its own warms the JIT up. Reports the median of each, and the full build (median of 3, 1 past
 * 5,000 Services). Clusters for each step are made before the clock starts (the model's copies
 * are the caller's, not the update's).
 * Run: SERVICES=30000 MODES=cilium node dist/bench/compile/service-update.bench.js
 */
import { performance } from 'node:perf_hooks';
import { compileDataplane, modeNamed } from '../../src/compile/index.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { servicesUpTo, withServiceGone } from '../../src/model/service-change.js';
import type { Cluster } from '../../src/model/types.js';
import { knobs } from '../common.js';
import { ciliumConfigOf } from '../../src/compile/cilium/index.js';

const kRepeats = 7;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const generated = generateCluster({ services: knobs.services + kRepeats, endpoints: knobs.endpoints, nodes: 2, cni: 'calico-vxlan', seed: knobs.seed });
// Cilium's default bpf-lb-map-max (65,536 entries) holds about 6,000 such Services: past it the
// agent leaves frontends out and the update gives up. An operator of a larger cluster raises it;
// so does the bench, to every entry the cluster needs.
const big: Cluster = { ...generated, cilium: { ...ciliumConfigOf(generated), lbMapMax: 1 << 24 } };
const base = servicesUpTo(big, knobs.services);
const grown: Cluster[] = Array.from({ length: kRepeats }, (_, i) => servicesUpTo(big, knobs.services + i + 1));
let shrunk = big;
const gone: Cluster[] = [];
for (let i = 0; i < kRepeats; i++) gone.push((shrunk = withServiceGone(shrunk, i)));

for (const name of knobs.modes) {
  const mode = modeNamed(name);
  if (!mode.updateServices) {
    console.log(`${name}: no in-place Service update (every add or remove recompiles the node)`);
    continue;
  }
  const builds: number[] = [];
  for (let k = 0; k < (knobs.services > 5000 ? 1 : 3); k++) {
    const t0 = performance.now();
    compileDataplane(base, name, 0);
    builds.push(performance.now() - t0);
  }
  const adds: number[] = [];
  const removes: number[] = [];
  let entries = 0;
  let addsGaveUp = 0;
  let removesGaveUp = 0;
  // The first pass, on tables of its own, warms the JIT up; the second is timed.
  for (const timed of [false, true]) {
    const dp = compileDataplane(base, name, 0);
    for (let i = 0; i < kRepeats; i++) {
      const t0 = performance.now();
      const u = mode.updateServices(dp, grown[i], [knobs.services + i], []);
      if (!timed) continue;
      adds.push(performance.now() - t0);
      if (u === undefined) addsGaveUp++;
      else entries += u.entriesWritten;
    }
    for (let i = 0; i < kRepeats; i++) {
      const t0 = performance.now();
      const u = mode.updateServices(dp, gone[i], [], [i]);
      if (!timed) continue;
      removes.push(performance.now() - t0);
      if (u === undefined) removesGaveUp++;
    }
  }
  const full = median(builds);
  const add = median(adds);
  const remove = median(removes);
  console.log(
    `${name}, ${knobs.services.toLocaleString('en-US')} Services x ${knobs.endpoints} endpoints: full build ${full.toFixed(2)} ms; `
    + `one Service added in place ${(add * 1000).toFixed(1)} µs (median of ${kRepeats}, ${(entries / kRepeats).toFixed(0)} entries each), `
    + `removed ${(remove * 1000).toFixed(1)} µs; add/full ${(add / full).toExponential(2)}`
    + (addsGaveUp + removesGaveUp > 0 ? `; ${addsGaveUp} add(s) and ${removesGaveUp} removal(s) gave up (the mode recompiles for them; their time above is only the check)` : ''),
  );
}
