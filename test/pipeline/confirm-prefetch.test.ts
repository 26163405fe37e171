/**
 * Law: confirm's prefetch (touchConfirms, run by postrouting and local-in before their confirms)
 * reads the index slot of the reply tuple that confirm() then inserts, for every new flow a stage
 * confirms, in every mode: masqueraded flows (MASQUERADE's address and `--random-fully` port), flows
 * kept unmasqueraded, and the userspace proxy's own connections. A prefetch of another slot would
 * change no decision, only cost a read, so no other test would see it.
 *
 * Oracle: the conntrack entry itself: the hash of its reply tuple (ConntrackTable.hashOf over
 * replySrc, replyDst and their ports), against the hash the prefetch left in meta.lookupHash.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PipelineContext } from '../../src/dataplane/context.js';
import { NEXT_LOCAL_IN, NEXT_POSTROUTING } from '../../src/dataplane/next.js';
import { inject, runBatch } from '../../src/dataplane/pipeline.js';
import { kStages, type Stage } from '../../src/dataplane/stages.js';
import { kBatchSize, PacketBatch } from '../../src/net/batch.js';
import { TCP_SYN } from '../../src/net/l4.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { FlowChunk } from '../../src/replay/flows.js';
import { ReplaySetup } from '../../src/replay/replay.js';

describe('confirm\'s prefetch reads the slot confirm inserts the reply tuple at', () => {
  for (const mode of ['iptables', 'ipvs', 'nftables', 'userspace', 'cilium'] as const) {
    it(mode, () => {
      const setup = new ReplaySetup({ mode, services: 20, endpointsPerService: 4, cni: 'calico-vxlan', seed: 1, zipf: 0 });
      const ctx = new PipelineContext(setup.compiledCluster, { seed: 1, conntrackMax: 1 << 16, capacity: kBatchSize });
      const flows = new FlowChunk(4 * kBatchSize);
      setup.flowSet.fillShard(0, 4 * kBatchSize, 0, 1, flows);
      let checked = 0;
      let rewritten = 0;
      // The stages that confirm, each followed by the check of what it confirmed.
      const checking = (s: Stage): Stage => ({
        ...s,
        run: (c, batch) => {
          const news = Array.from(c.frame.subarray(0, c.frameCount)).filter((i) => c.meta.newFlow[i] === 1);
          // A reply tuple other than the packet's inverse: MASQUERADE's, or the proxy's own connection's.
          const rewrites = news.map((i) => c.meta.masq[i] === 1 || c.meta.proxyClientSlot[i]! >= 0);
          s.run(c, batch);
          news.forEach((i, k) => {
            const slot = batch.ctSlot[i]!;
            if (slot < 0) return; // dropped, or a confirm that failed: nothing inserted
            const ct = c.world.conntrack(batch.node[i]!);
            const reply = ct.hashOf(ct.replySrc(slot), ct.replyDst(slot), ct.replySport(slot), ct.replyDport(slot), batch.proto[i]!);
            assert.equal(c.meta.lookupHash[i], reply, `${mode}: packet ${i} on node ${batch.node[i]}: the prefetch hashed another tuple than the entry's reply`);
            checked++;
            if (rewrites[k]) rewritten++;
          });
        },
      });
      const stages = kStages.map((s) => (s.id === NEXT_POSTROUTING || s.id === NEXT_LOCAL_IN ? checking(s) : s));
      const batch = new PacketBatch({ capacity: kBatchSize });
      ctx.now = 0.5;
      for (let j = 0; j < flows.count; ) {
        batch.reset();
        for (; batch.count < kBatchSize && j < flows.count; j++) {
          const i = batch.push(flows.proto[j]!, flows.srcIp[j]!, flows.srcPort[j]!, flows.dstIp[j]!, flows.dstPort[j]!, 0, flows.proto[j] === PROTO_TCP ? TCP_SYN : 0);
          inject(ctx, batch, i, flows.node[j]!, flows.entry[j]!);
        }
        runBatch(ctx, batch, stages);
        ctx.now += 0.000256;
      }
      // Most first packets are confirmed (on each node they cross), and some with a rewritten reply.
      assert.ok(checked >= flows.count, `${mode}: ${checked} confirms checked for ${flows.count} flows`);
      assert.ok(rewritten > 0, `${mode}: no masqueraded flow nor proxy connection among ${checked}`);
    });
  }
});
