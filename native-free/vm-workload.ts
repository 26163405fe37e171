/**
 * The work done inside the bare context by vm-run.ts: only engine core imports here.
 * Each later piece of the core (compilers, stages) adds its smoke run to this file.
 */
import { loadClusterOrThrow } from '../src/model/load.js';
import { generateCluster } from '../src/model/synthetic.js';

export function run(fixtureText: string): Record<string, number> {
  const fixture = loadClusterOrThrow(fixtureText, 'fixture');
  const synthetic = generateCluster({ services: 200, endpoints: 5, nodes: 4, seed: 7 });
  return {
    fixtureServices: fixture.services.length,
    fixtureEndpoints: fixture.endpoints.count,
    syntheticServices: synthetic.services.length,
    syntheticEndpoints: synthetic.endpoints.count,
  };
}
