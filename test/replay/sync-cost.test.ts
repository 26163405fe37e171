/**
 * The sync-cost measurement writes kdp's one-endpoint update into the cell's shared tables and
 * undoes it: afterwards the image holds exactly its bytes from before (the replay that follows
 * measures the cell's own cluster), and the update it timed really changed them meanwhile. The
 * one-Service figure (a Service deleted and created again) is measured where the mode has it.
 */
import { strict as assert } from 'node:assert';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { modeNames, modeNamed } from '../../src/compile/index.js';
import { compileIptables, renderIptablesSave } from '../../src/compile/iptables/index.js';
import { ReplaySetup, type SetupKey } from '../../src/replay/replay.js';
import { fullBuildTimes, kFullBuilds, measureSync, oneEndpointChange } from '../../src/replay/sync-cost.js';
import { clusterOf, node, proxyConfig, service, slice } from '../helpers/cluster.js';

/** The image's bytes, but for its seqlock word, which every update moves on purpose. */
function digestOf(b: SharedArrayBuffer, generation: Int32Array | undefined): string {
  const bytes = new Uint8Array(b).slice();
  if (generation) bytes.fill(0, generation.byteOffset, generation.byteOffset + generation.byteLength);
  return createHash('sha256').update(bytes).digest('hex');
}

describe('measureSync', () => {
  for (const mode of modeNames()) {
    it(`${mode}: times the in-place update and leaves the shared tables as they were`, () => {
      const key: SetupKey = { mode, services: 30, endpointsPerService: 4, cni: 'calico-vxlan', seed: 3, zipf: 0 };
      const setup = new ReplaySetup(key);
      const image = setup.images()[0].tables.buffer;
      const generation = setup.dataplane(0).generation;
      const digest = (b: SharedArrayBuffer): string => digestOf(b, generation);
      const before = digest(image);
      const word = generation?.[0];
      const sync = measureSync(setup, () => performance.now());
      assert.equal(digest(image), before, 'the update was undone');
      // The one-Service figure runs on a compile of its own: the shared image never sees it.
      if (modeNamed(mode).updateServices) {
        assert.ok(sync.oneServiceMs !== undefined && sync.oneServiceMs >= 0, 'a mode with updateServices has the one-Service figure');
        assert.equal(sync.oneServiceRecompiled, undefined, 'a Service deleted and created again fits the room');
        assert.ok((sync.oneServiceEntriesWritten ?? 0) > 0, 'the Service update wrote table slots');
      } else {
        assert.equal(sync.oneServiceMs, undefined, 'no in-place Service update: no figure');
      }
      if (!modeNamed(mode).updateEndpoints) {
        assert.equal(sync.oneEndpointMs, undefined, 'no in-place update: no figure');
        return;
      }
      assert.ok(sync.oneEndpointMs !== undefined && sync.oneEndpointMs >= 0);
      assert.ok((sync.oneEndpointEntriesWritten ?? 0) > 0, 'the update wrote table slots');
      assert.ok(generation !== undefined && generation.buffer === image, 'the seqlock word is in the shared image');
      assert.equal(generation[0], word! + 4 * 7, 'each of the 7 updates and undos moved the seqlock word by 2');
      // Between the update and its undo the image differs: the update reaches the shared bytes.
      const { next, service } = oneEndpointChange(setup.cluster);
      modeNamed(mode).updateEndpoints!(setup.dataplane(0), next, [service]);
      assert.notEqual(digest(image), before, 'the update wrote the shared image');
      modeNamed(mode).updateEndpoints!(setup.dataplane(0), setup.cluster, [service]);
      assert.equal(digest(image), before);
    });
  }
});

describe('measureSync, a change the mode cannot write in place', () => {
  it('times the recompile it falls back to, says so, and leaves the tables alone', () => {
    // Arrange: externalTrafficPolicy: Local, node-1's only pod is the one turning unready, so
    // node-1's KUBE-EXTERNAL-SERVICES gains a DROP: iptables' update gives up (update.ts).
    const p80 = [{ name: 'p80', port: 80, protocol: 'TCP' }];
    const cluster = clusterOf(
      proxyConfig({ mode: 'iptables', clusterCIDR: '10.0.0.0/8' }),
      node('node-1', '10.0.1.0/24', '192.168.0.2'),
      node('node-2', '10.0.2.0/24', '192.168.0.3'),
      service('ns', 'local', { type: 'NodePort', clusterIP: '172.30.0.12', externalTrafficPolicy: 'Local', ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 30012 }] }),
      slice('ns', 'local', p80, [{ ip: '10.0.1.5', node: 'node-1' }, { ip: '10.0.2.5', node: 'node-2' }]),
    );
    const dp = compileIptables(cluster, { node: 0 });
    const text = renderIptablesSave(dp.rules);
    const setup = { cluster, mode: modeNamed('iptables'), dataplane: () => dp, compileMs: [1] } as unknown as ReplaySetup;
    // Act
    const sync = measureSync(setup, () => performance.now());
    // Assert
    assert.equal(sync.oneEndpointRecompiled, true);
    assert.ok(sync.oneEndpointMs !== undefined && sync.oneEndpointMs > 0, 'the recompile was timed');
    assert.equal(sync.oneEndpointEntriesWritten, undefined, 'no table slot was written');
    assert.equal(renderIptablesSave(dp.rules), text);
  });
});

describe('the full build figure', () => {
  // A setup whose compile advances a fake clock by the next of `durations` (ms).
  const fake = (compileMs: number[], durations: number[]) => {
    let now = 0;
    let builds = 0;
    const dp = { name: 'built' };
    const setup = { compileMs, cluster: {}, mode: { compile: () => ((now += durations[builds++]!), dp) } };
    return { setup: setup as unknown as ReplaySetup, clock: () => now, builds: () => builds, dp };
  };
  it('times the setup\'s build and two more, and hands over the last one\'s tables', () => {
    const f = fake([100], [5, 300]);
    const { times, dp } = fullBuildTimes(f.setup, f.clock);
    assert.deepEqual(times, [100, 5, 300]);
    assert.equal(f.builds(), kFullBuilds - 1);
    assert.equal(dp, f.dp);
  });
  it('stops once the builds took 8 s, and times every build of a setup that compiled none', () => {
    const over = fake([7000], [2000, 2000]);
    assert.deepEqual(fullBuildTimes(over.setup, over.clock).times, [7000, 2000]);
    const slow = fake([9000], [1]);
    assert.deepEqual(fullBuildTimes(slow.setup, slow.clock).times, [9000]);
    assert.equal(slow.builds(), 1, 'the one-Service figure still gets a compile of its own');
    const attached = fake([], [3, 4, 5]);
    assert.deepEqual(fullBuildTimes(attached.setup, attached.clock).times, [3, 4, 5]);
  });
  it('is the median of the builds in measureSync: one slow build is not the figure', () => {
    const setup = new ReplaySetup({ mode: 'iptables', services: 20, endpointsPerService: 3, cni: 'calico-vxlan', seed: 5, zipf: 0 });
    setup.compileMs[0] = 7000; // the setup's build, as if a neighbour had stalled it; the two more take milliseconds
    const sync = measureSync(setup, () => performance.now());
    assert.equal(sync.fullBuilds, kFullBuilds);
    assert.ok(sync.fullMs > 0 && sync.fullMs < 1000, `${sync.fullMs} ms`);
  });
});
