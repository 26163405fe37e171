/**
 * PREROUTING / OUTPUT conntrack: the kernel's `nf_conntrack_in`, then the destination half of NAT.
 *
 * Reads:  batch 5-tuple, tcpFlags, node; meta hook
 * Writes: batch.ctSlot, dst (DNAT / un-SNAT of an established flow); meta ctDir, newFlow, ctInvalid,
 *         origSrc/origDst/origSport/origDport, dnatted; ctx.newFlows (confirm's prefetch reads it)
 * Next:   route (known flow; conntrack INVALID, untracked) | service-nat (new flow) | done
 *         (conntrack INVALID where the mode drops it at conntrack: InvalidDrop)
 * Counts: drops conntrack-invalid, loop
 *
 * The fast path: a known flow never reaches the proxy mode's rules; its NAT binding is replayed
 * from the entry, as netfilter does for every packet after the first.
 */
import type { PacketBatch } from '../net/batch.js';
import { CT_ACCEPT, CT_REOPEN, DIR_ORIGINAL, IPS_DST_NAT, IPS_SRC_NAT } from './conntrack.js';
import type { PipelineContext } from './context.js';
import { kHookNames } from './hooks.js';
import { DROP_CONNTRACK_INVALID, DROP_LOOP, NEXT_ROUTE, NEXT_SERVICE_NAT } from './next.js';

/**
 * A packet conntrack calls INVALID: nf_conntrack_in leaves it without an entry (its own entry
 * untouched, as update() left it), so no nat table sees it. Where the mode drops it at conntrack
 * (InvalidDrop `conntrack`), it ends here; otherwise it goes on to routing untracked, and the
 * filter FORWARD / INPUT rules that may drop it are routing's to apply (route.ts).
 */
function invalid(ctx: PipelineContext, batch: PacketBatch, i: number): void {
  const rec = ctx.recorder;
  const where = kHookNames[ctx.meta.hook[i]];
  const drop = ctx.world.compiled.dataplane(batch.node[i]).invalidDrop;
  if (drop?.at === 'conntrack') {
    ctx.drop(batch, i, DROP_CONNTRACK_INVALID);
    if (rec) rec.record(batch, i, where, `conntrack: INVALID, dropped: ${drop.words}`);
    return;
  }
  ctx.meta.ctInvalid[i] = 1;
  ctx.meta.newFlow[i] = 0;
  batch.ctSlot[i] = -1;
  batch.next[i] = NEXT_ROUTE;
  if (rec) rec.record(batch, i, where, 'conntrack: INVALID: on untracked (no entry, no NAT)');
}

/** A packet that passes PREROUTING more often than this is in a routing loop. */
export const kMaxVisits = 8;

// Cost: ~155-165 ns per established packet (iptables, ipvs, nftables; cilium 164, userspace 272) at batch 256, 100 Services, ~147-158 at 30k (cilium 155, userspace 279), and about as much per packet of the cell (first packets' lookups miss alike); most of it the conntrack touches, whose misses overlap: the whole path replayed with 2,000 flows, its conntrack tables in cache, took ~231-244 ns an established packet at 100 Services against ~293-313 (established.inCache), so the tables' size adds ~62-69 ns a packet, mostly here (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: a result's establishedStages and stages, 1 worker, 1,000,000 flows).
export function prerouting(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const { srcIp, dstIp, srcPort, dstPort, proto, tcpFlags, node, ctSlot } = batch;
  const { ctDir, newFlow, ctInvalid, origSrc, origDst, origSport, origDport, visits, hook, dnatted } = ctx.meta;
  const world = ctx.world;
  const rec = ctx.recorder;
  // Conntrack is the one random access of an established packet, into a table far larger than
  // the caches: hash the whole batch and touch each tuple's index slot, then each entry, so the
  // misses overlap (see ConntrackTable.touchIndex), before the lookups proper.
  const hash = ctx.meta.lookupHash;
  const warm = ctx.meta.lookupWarm;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    hash[i] = world.conntrack(node[i]).hashOf(srcIp[i] | 0, dstIp[i] | 0, srcPort[i], dstPort[i], proto[i]);
  }
  // Short loops: the fewer instructions between two misses, the more misses the core keeps in flight.
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    warm[i] = world.conntrack(node[i]).touchIndex(hash[i]);
  }
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    warm[i] = world.conntrack(node[i]).touchEntry(warm[i]);
  }
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    if (++visits[i] > kMaxVisits) {
      ctx.drop(batch, i, DROP_LOOP);
      continue;
    }
    const ct = world.conntrack(node[i]);
    ctInvalid[i] = 0;
    let slot = ct.lookupHashed(hash[i], srcIp[i] | 0, dstIp[i] | 0, srcPort[i], dstPort[i], proto[i]);
    if (slot >= 0) {
      const dir = ct.dir;
      const verdict = ct.update(slot, dir, tcpFlags[i]);
      if (verdict === CT_REOPEN) slot = -1; // a new SYN on a closed connection starts over
      else if (verdict !== CT_ACCEPT) {
        invalid(ctx, batch, i);
        continue;
      }
    }
    if (slot < 0) {
      newFlow[i] = 1;
      ctx.newFlows++;
      ctSlot[i] = -1;
      origSrc[i] = srcIp[i];
      origDst[i] = dstIp[i];
      origSport[i] = srcPort[i];
      origDport[i] = dstPort[i];
      next[i] = NEXT_SERVICE_NAT;
      continue;
    }
    newFlow[i] = 0;
    ctSlot[i] = slot;
    const dir = ct.dir;
    ctDir[i] = dir;
    const status = ct.statusOf(slot);
    const before = batch.dstIp[i];
    if (dir === DIR_ORIGINAL) {
      // Original direction: the destination becomes the reply tuple's source (the endpoint).
      if ((status & IPS_DST_NAT) !== 0) {
        batch.natDst(i, ct.replySrc(slot), ct.replySport(slot));
        dnatted[i] = 1;
      }
    } else if ((status & IPS_SRC_NAT) !== 0) {
      // Reply to a masqueraded flow: the destination goes back to the original client.
      batch.natDst(i, ct.origSrc(slot), ct.origSport(slot));
      dnatted[i] = 1;
    }
    if (rec) {
      const rewrote = dnatted[i] === 1 && (before !== batch.dstIp[i] || (status & (IPS_DST_NAT | IPS_SRC_NAT)) !== 0);
      rec.record(batch, i, kHookNames[hook[i]], `conntrack: ${dir === DIR_ORIGINAL ? 'established' : 'reply'} flow${rewrote ? ', destination NAT replayed from the entry' : ''}`);
    }
    next[i] = NEXT_ROUTE;
  }
}
