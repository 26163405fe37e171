/**
 * A mode is one folder and one record: the test-only mode in ./toy-mode/ is registered with one
 * line, and the pipeline, `kdp trace`'s path, the shared images of the workers, the replay, the
 * sync measurement and the sweep's plan all run through it with no edit anywhere else. If any of
 * them still switched on a mode's name, the toy mode would fail there.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { compileDataplane, formatsOf, modeNamed, modeNames, registerMode, renderRules } from '../../src/compile/index.js';
import { newFirstPacket, newNatDecision, VERDICT_DNAT } from '../../src/compile/dataplane.js';
import { dataplaneFromImage, dataplaneImage } from '../../src/compile/image.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { resolveProbe } from '../../src/dataplane/resolve.js';
import { tracePacket } from '../../src/dataplane/trace.js';
import { parseIp } from '../../src/net/ipv4.js';
import { mergeShards, ReplaySetup, replayShard } from '../../src/replay/replay.js';
import { cellWeight, planSweep } from '../../src/replay/sweep.js';
import { measureSync } from '../../src/replay/sync-cost.js';
import { clusterOf } from '../helpers/cluster.js';
import { twoNodeObjects } from '../helpers/two-nodes.js';
import { ToyDataplane, toyMode } from './toy-mode/index.js';

registerMode(toyMode);

const cluster = clusterOf(...twoNodeObjects('calico-vxlan', 'toy'));

describe('a fifth mode is one folder and one line', () => {
  it('is found by name, compiled, rendered, and refuses a second registration', () => {
    assert.ok(modeNames().includes('toy'));
    assert.ok(compileDataplane(cluster, 'toy', 0) instanceof ToyDataplane);
    assert.deepEqual(formatsOf(modeNamed('toy')), ['toy']);
    assert.match(renderRules(cluster, 'toy', 0, 'toy'), /^10\.96\.0\.10:80\/6 -> \d+$/m);
    assert.throws(() => renderRules(cluster, 'toy', 0, 'nft'), /toy mode prints toy, not nft/);
    assert.throws(() => registerMode(toyMode), /registered already/);
  });

  it('runs through the pipeline: a pod reaches a ClusterIP, and the reply comes back', () => {
    const compiled = new CompiledCluster(cluster, 'toy');
    const ctx = new PipelineContext(compiled, { seed: 1, conntrackMax: 1024 });
    const probe = resolveProbe(cluster, compiled.plan, { src: '10.244.1.5:40000', dst: '10.96.0.10:80' });
    const { result } = tracePacket(ctx, probe, { reply: true });
    assert.equal(result.mode, 'toy');
    assert.equal(result.decision, 'dnat');
    assert.equal(result.endpoint, '10.244.2.7:8080');
    assert.equal(result.verdict, 'delivered');
    assert.equal(result.reply?.verdict, 'delivered');
    assert.equal(result.reply?.hops.at(-1)?.src, '10.96.0.10:80', 'the reply is un-DNATed back to the ClusterIP');
  });

  it('shares its tables with workers through an image, and decides alike over it', () => {
    const dp = compileDataplane(cluster, 'toy', 1);
    const attached = dataplaneFromImage(cluster, dataplaneImage(dp));
    assert.ok(attached instanceof ToyDataplane);
    const pkt = Object.assign(newFirstPacket(), { srcIp: parseIp('10.244.1.5'), srcPort: 40000, dstIp: parseIp('10.96.0.20'), dstPort: 80, proto: 6, rand: 12345 });
    const a = newNatDecision();
    const b = newNatDecision();
    dp.decide(pkt, a);
    attached.decide(pkt, b);
    assert.equal(a.verdict, VERDICT_DNAT);
    assert.deepEqual(b, a);
  });

  it('replays flows, resets through the contract, measures its sync, and sweeps', () => {
    const spec = { mode: 'toy', services: 20, endpointsPerService: 3, cni: 'calico-vxlan' as const, seed: 3, zipf: 0 };
    const setup = new ReplaySetup(spec, performance.now.bind(performance));
    const task = { ...spec, flows: 3000, shard: 0, shards: 1, stageTiming: false };
    const one = replayShard(setup, task, performance.now.bind(performance));
    assert.equal(one.flows, 3000);
    assert.equal(one.foreignEndpoints, 0);
    assert.ok(one.decisions > 0);
    assert.ok(setup.compiled().every((dp) => (dp as ToyDataplane).resets >= 1), 'replayShard resets every node through ServiceDataplane.reset()');
    // orderDependent is false, so two shards decide every flow exactly as one does.
    const halves = [0, 1].map((shard) => replayShard(setup, { ...task, shard, shards: 2 }, performance.now.bind(performance)));
    const whole = mergeShards([one]);
    const split = mergeShards(halves);
    assert.equal(split.decisionChecksum, whole.decisionChecksum);
    assert.equal(split.exactDecisions, whole.exactDecisions);
    const sync = measureSync(setup, performance.now.bind(performance));
    assert.equal(sync.oneEndpointRewrittenRules, 1, 'one endpoint turning unready rewrites one table line');
    const cells = planSweep({ cores: 1, services: [10], modes: ['toy'] });
    assert.deepEqual(cells.map((c) => c.mode), ['toy']);
    assert.ok(cellWeight(cells[0]) > 0);
  });
});
