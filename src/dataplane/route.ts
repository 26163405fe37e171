/**
 * Routing: the node's longest-prefix match on the (possibly DNATed) destination, and the TTL of
 * a forwarded packet.
 *
 * Reads:  batch dstIp, node; meta hook, fromPod, dnatted, redirected
 * Writes: meta outKind, outNode, outGateway; batch TTL (forwarded packets only)
 * Next:   postrouting (leaving through a device) | local-in (one of the node's own addresses, or
 *         redirected to the userspace proxy's socket) | policy (a new flow where Calico enforces
 *         policy: filter FORWARD / INPUT come after routing) | done (no route; TTL exceeded)
 * Counts: drops no-route, ttl-exceeded
 *
 * kubenet bridges pod-to-pod traffic on the same node (cbr0 is a layer-2 hop: no TTL change);
 * traffic a pod sent to a Service address went to its gateway and is routed.
 */
import { HOOK_OUTPUT } from '../compile/dataplane.js';
import { formatIp } from '../net/ipv4.js';
import type { PacketBatch } from '../net/batch.js';
import type { PipelineContext } from './context.js';
import { DROP_NO_ROUTE, DROP_TTL, NEXT_LOCAL_IN, NEXT_POLICY, NEXT_POSTROUTING } from './next.js';
import { vethName } from './pod-network.js';
import { RK_BLACKHOLE, RK_BRIDGE, RK_LOCAL, RK_VETH, ROUTE_KIND_NAMES } from './route-table.js';

// Cost: ~130-165 ns per packet at batch 256, 100 Services (kdp bench --services 100 --modes iptables,ipvs,nftables --workers 1 --flows 200000, medians of two runs, 2026-12-02, on the 2-core machine at load ~9-10: upper bounds).
export function route(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const plan = ctx.world.plan;
  const nodes = plan.nodes;
  const rec = ctx.recorder;
  const { redirected, outKind, outNode, outGateway, fromPod, dnatted, hook, newFlow } = ctx.meta;
  // Only new flows meet policy: conntrack accepted the rest (felix's RELATED,ESTABLISHED ACCEPT).
  const policed = ctx.world.compiled.policy !== null;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    const node = batch.node[i];
    const rt = nodes[node].routes;
    const r = redirected[i] === 1 ? -2 : rt.lookup(batch.dstIp[i]);
    if (r === -1 || (r >= 0 && rt.kind[r] === RK_BLACKHOLE)) {
      ctx.drop(batch, i, DROP_NO_ROUTE);
      if (rec) rec.record(batch, i, 'routing', `no route to ${formatIp(batch.dstIp[i])}: dropped`);
      continue;
    }
    const kind = r === -2 ? RK_LOCAL : rt.kind[r];
    outKind[i] = kind;
    outNode[i] = r === -2 ? node : rt.node[r];
    outGateway[i] = r === -2 ? 0 : rt.gateway[r];
    if (kind === RK_LOCAL) {
      next[i] = policed && newFlow[i] === 1 ? NEXT_POLICY : NEXT_LOCAL_IN;
      continue;
    }
    const bridged = kind === RK_BRIDGE && fromPod[i] === 1 && dnatted[i] === 0;
    if (hook[i] !== HOOK_OUTPUT && !bridged) {
      if (batch.decTtl(i) === 0) {
        ctx.drop(batch, i, DROP_TTL);
        if (rec) rec.record(batch, i, 'routing', 'TTL exceeded: dropped');
        continue;
      }
    }
    next[i] = policed && newFlow[i] === 1 ? NEXT_POLICY : NEXT_POSTROUTING;
    if (rec) {
      const via = outGateway[i] ? ` via ${formatIp(outGateway[i])}` : '';
      const to = outNode[i] >= 0 && outNode[i] !== node ? ` (node ${nodes[outNode[i]].name})` : outNode[i] < 0 ? ' (default route: out of the cluster)' : '';
      const dev = kind === RK_VETH ? vethName(plan.cni, batch.dstIp[i]) : ROUTE_KIND_NAMES[kind];
      rec.record(batch, i, 'routing', `${bridged ? 'bridged on cbr0' : 'route'} ${formatIp(batch.dstIp[i])} dev ${dev}${via}${to}`);
    }
  }
}
