/**
 * The raw table (priority -300, before conntrack): the NOTRACK rules NodeLocal DNSCache's
 * node-cache installs for each address it listens on (kubernetes/dns cmd/node-cache/app/
 * cache_app.go, initIptables): `-t raw -A PREROUTING -p udp|tcp -d IP --dport 53 -j NOTRACK`,
 * the same in OUTPUT for the host's own queries, and `-t raw -A OUTPUT -p udp|tcp -s IP --sport 53
 * -j NOTRACK` for its answers (with matching filter-table ACCEPTs, which kdp's open filter table
 * needs no copy of). An untracked packet makes no conntrack entry and skips the nat table, so a
 * pod's query to the kube-dns ClusterIP is not DNATed: the `nodelocaldns` dummy interface holds
 * that address too, and routing delivers the query to the cache on the pod's own node.
 *
 * Reads:  batch 5-tuple, node; meta hook
 * Writes: meta newFlow 0, ctInvalid 0 and batch.ctSlot -1 for an untracked packet (what later
 *         stages read as "no conntrack"), nothing else
 * Next:   route (untracked) | prerouting (everything else)
 * Counts: nothing
 *
 * Only packets a node sends itself come here, and only on nodes with such rules (NodeWorld
 * `afterSocket`): elsewhere the stage returns at once. Per packet, at most two compares per
 * listen address (two addresses).
 */
import { HOOK_OUTPUT } from '../compile/dataplane.js';
import type { PacketBatch } from '../net/batch.js';
import { formatIp } from '../net/ipv4.js';
import { PROTO_TCP, PROTO_UDP } from '../net/proto.js';
import type { PipelineContext } from './context.js';
import { kHookNames } from './hooks.js';
import { NEXT_PREROUTING, NEXT_ROUTE } from './next.js';

const kDnsPort = 53;

function listens(addrs: Uint32Array, ip: number): boolean {
  for (let k = 0; k < addrs.length; k++) if (addrs[k] === ip) return true;
  return false;
}

// Cost: ~5-6 ns per established packet, ~8-9 per packet of the cell, at batch 256, 100 Services,
// NodeLocal DNSCache on (ipvs and nftables, ndots 5 and 1: `kdp bench --dns --services 100 --modes
// ipvs,nftables --workers 1 --flows 300000`, a result's establishedStages and stages, 2026-12-07);
// the default sweep has no NodeLocal DNSCache, and no packet comes here.
export function raw(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const addrs = ctx.world.notrackDns;
  // Packets come here only on nodes with such rules (NodeWorld.afterSocket): none, no work.
  if (addrs.length === 0) return;
  const rec = ctx.recorder;
  const { hook, newFlow, ctInvalid } = ctx.meta;
  const { srcIp, dstIp, srcPort, dstPort, proto } = batch;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    next[i] = NEXT_PREROUTING;
    const p = proto[i];
    if (p !== PROTO_UDP && p !== PROTO_TCP) continue;
    const query = dstPort[i] === kDnsPort && listens(addrs, dstIp[i]);
    const answer = !query && hook[i] === HOOK_OUTPUT && srcPort[i] === kDnsPort && listens(addrs, srcIp[i]);
    if (!query && !answer) continue;
    newFlow[i] = 0;
    ctInvalid[i] = 0;
    batch.ctSlot[i] = -1;
    next[i] = NEXT_ROUTE;
    if (rec) {
      const ip = formatIp(query ? dstIp[i] : srcIp[i]);
      rec.record(batch, i, `${kHookNames[hook[i]]} (raw)`, `NOTRACK: node-local-dns ${query ? 'listens on' : 'answers from'} ${ip}:53 (no conntrack entry, no service NAT)`);
    }
  }
}
