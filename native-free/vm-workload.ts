/**
 * The work done inside the bare context by vm-run.ts: only engine core imports here. It loads
 * the fixture, builds a synthetic cluster, compiles it in every mode and traces a packet through
 * the whole pipeline, so every part of the core runs without Node.
 */
import { compileDataplane, modeNames, renderRules } from '../src/compile/index.js';
import { CompiledCluster } from '../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../src/dataplane/context.js';
import { resolveProbe } from '../src/dataplane/resolve.js';
import { tracePacket } from '../src/dataplane/trace.js';
import { loadClusterOrThrow } from '../src/model/load.js';
import { generateCluster } from '../src/model/synthetic.js';

export function run(fixtureText: string): Record<string, number | string> {
  const fixture = loadClusterOrThrow(fixtureText, 'fixture');
  const synthetic = generateCluster({ services: 200, endpoints: 5, nodes: 4, seed: 7 });
  const out: Record<string, number | string> = {
    fixtureServices: fixture.services.length,
    fixtureEndpoints: fixture.endpoints.count,
    syntheticServices: synthetic.services.length,
    syntheticEndpoints: synthetic.endpoints.count,
  };
  for (const mode of modeNames()) out[`${mode}Rules`] = compileDataplane(synthetic, mode, 0).stats().rules;
  out.iptablesSaveBytes = renderRules(fixture, 'iptables', 0, 'iptables-save').length;
  out.nftBytes = renderRules(fixture, 'nftables', 0, 'nft').length;
  const compiled = new CompiledCluster(fixture, 'iptables');
  const ctx = new PipelineContext(compiled, { seed: 1, conntrackMax: 64 });
  const probe = resolveProbe(fixture, compiled.plan, { src: '10.244.1.9:40000', dst: '10.96.0.10:80' });
  const { result } = tracePacket(ctx, probe, { reply: true });
  out.traceVerdict = result.verdict;
  out.traceReplyVerdict = result.reply?.verdict ?? 'none';
  return out;
}
