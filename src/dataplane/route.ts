/**
 * Routing: the node's longest-prefix match on the (possibly DNATed) destination, and the TTL of
 * a forwarded packet.
 *
 * Reads:  batch dstIp, node; meta hook, fromPod, dnatted, redirected, ctInvalid
 * Writes: meta outKind, outNode, outGateway; batch TTL (forwarded packets only)
 * Next:   postrouting (leaving through a device) | local-in (one of the node's own addresses, or
 *         redirected to the userspace proxy's socket) | policy (a new flow where Calico enforces
 *         policy: filter FORWARD / INPUT come after routing) | done (no route; TTL exceeded; a
 *         conntrack INVALID packet a filter rule drops)
 * Counts: drops no-route, ttl-exceeded, conntrack-invalid
 *
 * kubenet bridges pod-to-pod traffic on the same node (cbr0 is a layer-2 hop: no TTL change);
 * traffic a pod sent to a Service address went to its gateway and is routed.
 */
import { HOOK_OUTPUT } from '../compile/dataplane.js';
import { formatIp } from '../net/ipv4.js';
import type { PacketBatch } from '../net/batch.js';
import type { PipelineContext } from './context.js';
import { DROP_CONNTRACK_INVALID, DROP_NO_ROUTE, DROP_TTL, NEXT_LOCAL_IN, NEXT_POLICY, NEXT_POSTROUTING } from './next.js';
import { bridgeName, vethName } from './pod-network.js';
import { RK_BLACKHOLE, RK_BRIDGE, RK_LOCAL, RK_VETH, ROUTE_KIND_NAMES } from './route-table.js';

/**
 * The filter rules a packet conntrack called INVALID meets after routing (ctInvalid: it went on
 * untracked), in netfilter's order. Felix's workload chains come first (it inserts cali-FORWARD
 * and cali-INPUT at the top): `-m conntrack --ctstate INVALID -j DROP` in every `cali-fw-<if>` and
 * `cali-tw-<if>`, policy or not (felix rules/endpoints.go appendConntrackRules, unless
 * DisableConntrackInvalidCheck, default false), reached from FORWARD and INPUT for a packet from a
 * local workload and from FORWARD for one to a local workload (felix's OUTPUT does not dispatch to
 * `cali-tw-`). Then the mode's FORWARD rule (InvalidDrop `forward`: kube-proxy's KUBE-FORWARD).
 * Only INVALID packets come here: nothing on the hot path.
 */
function invalidDropped(ctx: PipelineContext, batch: PacketBatch, i: number, kind: number): boolean {
  const { hook, fromPod } = ctx.meta;
  const cni = ctx.world.plan.cni;
  const output = hook[i] === HOOK_OUTPUT;
  // Which rule drops it, as the workload interface felix names the chain by (0: none of felix's).
  let felixIf = 0;
  if (cni.startsWith('calico')) {
    if (fromPod[i] === 1) felixIf = batch.srcIp[i];
    else if (kind === RK_VETH && !output) felixIf = batch.dstIp[i];
  }
  const drop = felixIf === 0 && kind !== RK_LOCAL && !output ? ctx.world.compiled.dataplane(batch.node[i]).invalidDrop : undefined;
  if (felixIf === 0 && drop?.at !== 'forward') return false;
  ctx.drop(batch, i, DROP_CONNTRACK_INVALID);
  const rec = ctx.recorder;
  if (rec) {
    const words = felixIf !== 0 ? `felix cali-${fromPod[i] === 1 ? 'fw' : 'tw'}-${vethName(cni, felixIf)}: -m conntrack --ctstate INVALID -j DROP` : drop!.words;
    rec.record(batch, i, kind === RK_LOCAL ? 'INPUT' : 'FORWARD', `conntrack INVALID, dropped: ${words}`);
  }
  return true;
}

// Cost: ~46-49 ns per established packet (iptables, ipvs, nftables; cilium 49, userspace 76) at batch 256, 100 Services, ~40-41 at 30k (cilium 41, userspace 70), two lookups each (one a node); about as much per packet of the cell (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: a result's establishedStages and stages, 1 worker, 1,000,000 flows).
export function route(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const plan = ctx.world.plan;
  const nodes = plan.nodes;
  const rec = ctx.recorder;
  const { redirected, outKind, outNode, outGateway, fromPod, dnatted, hook, newFlow, ctInvalid } = ctx.meta;
  // Only new flows meet policy: conntrack accepted the rest (felix's RELATED,ESTABLISHED ACCEPT).
  const policed = ctx.world.compiled.policy !== null;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    const node = batch.node[i];
    const rt = nodes[node].routes;
    const r = redirected[i] === 1 ? -2 : rt.lookup(batch.dstIp[i] | 0);
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
      if (ctInvalid[i] === 1 && invalidDropped(ctx, batch, i, kind)) continue;
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
    if (ctInvalid[i] === 1 && invalidDropped(ctx, batch, i, kind)) continue;
    next[i] = policed && newFlow[i] === 1 ? NEXT_POLICY : NEXT_POSTROUTING;
    if (rec) {
      const via = outGateway[i] ? ` via ${formatIp(outGateway[i])}` : '';
      const to = outNode[i] >= 0 && outNode[i] !== node ? ` (node ${nodes[outNode[i]].name})` : outNode[i] < 0 ? ' (default route: out of the cluster)' : '';
      const dev = kind === RK_VETH ? vethName(plan.cni, batch.dstIp[i]) : kind === RK_BRIDGE ? bridgeName(plan.cni) : ROUTE_KIND_NAMES[kind];
      rec.record(batch, i, 'routing', `${bridged ? `bridged on ${dev}` : 'route'} ${formatIp(batch.dstIp[i])} dev ${dev}${via}${to}`);
    }
  }
}
