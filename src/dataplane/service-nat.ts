/**
 * The slow path: the first packet of a new flow meets the node's proxy-mode rules (iptables
 * chains, IPVS table, nftables maps or the userspace proxy's redirect), compiled once and asked
 * through one interface, `ServiceDataplane.decide`.
 *
 * Reads:  batch 5-tuple, flowHash, node, the IPv4 header's DSR option; meta hook, fromPod, dsrIp/dsrPort
 * Writes: batch dst (DNAT / REDIRECT), DSR's IPv4 option; meta endpoint, servicePort, masq, redirected,
 *         dnatted, dsrIp/dsrPort; the node's DSR flows (see dsr.ts)
 * Next:   route | done (REJECT: ICMP port unreachable; DROP; a DSR option with no room: conntrack-invalid,
 *         Cilium's DROP_CT_INVALID_HDR)
 * Counts: drops service-reject, service-drop, conntrack-invalid; decisions, decisionWork
 *
 * Every random choice of the rules derives from the flow's hash and the run's seed, so a flow
 * decides the same way in every run and on every worker.
 */
import { decideConsistent } from '../compile/table-generation.js';
import { DSR_NONE, DSR_OPTION, DSR_REPLY, DSR_TUNNEL, HOOK_PREROUTING, VERDICT_DNAT, VERDICT_DROP, VERDICT_REDIRECT, VERDICT_REJECT, kVerdictNames } from '../compile/dataplane.js';
import { mix32 } from '../net/hash.js';
import { formatIp } from '../net/ipv4.js';
import type { PacketBatch } from '../net/batch.js';
import type { PipelineContext } from './context.js';
import { kHookNames } from './hooks.js';
import { dsrCarry, dsrFrontendOf, dsrRemember } from './dsr.js';
import { prefetchDecisions } from './prefetch-decisions.js';
import { DROP_CONNTRACK_INVALID, DROP_SERVICE_DROP, DROP_SERVICE_REJECT, NEXT_ROUTE, NEXT_SERVICE_NAT } from './next.js';

// Cost: per first packet (only first packets visit), at batch 256, 100 Services: ~156 ns (ipvs), ~236 (nftables), ~1,226 (iptables), ~342 (userspace), ~91 (cilium); at 30k ~277, ~469, ~26,600, ~36,700, ~118 (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: 1 worker, 1,000,000 flows).
export function serviceNat(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const pkt = ctx.firstPacket;
  const d = ctx.decision;
  const seed = ctx.seed;
  const rec = ctx.recorder;
  const compiled = ctx.world.compiled;
  const counters = ctx.counters;
  const { hook, fromPod, servicePort, endpoint, masq, redirected, dnatted } = ctx.meta;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  prefetchDecisions(ctx, batch);
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    const dp = compiled.dataplane(batch.node[i]);
    pkt.srcIp = batch.srcIp[i];
    pkt.srcPort = batch.srcPort[i];
    pkt.dstIp = batch.dstIp[i];
    pkt.dstPort = batch.dstPort[i];
    pkt.proto = batch.proto[i];
    pkt.hook = hook[i];
    pkt.fromPodInterface = fromPod[i] === 1;
    pkt.rand = mix32(batch.flowHash[i], seed);
    pkt.now = ctx.now;
    dsrFrontendOf(ctx, batch, i, pkt);
    decideConsistent(dp, pkt, d);
    counters.decisions++;
    counters.decisionWork += d.work;
    servicePort[i] = d.servicePort;
    endpoint[i] = d.endpoint;
    masq[i] = d.masquerade ? 1 : 0;
    redirected[i] = 0;
    const v = d.verdict;
    const dsr = d.dsr ?? DSR_NONE;
    if (v === VERDICT_DNAT || v === VERDICT_REDIRECT) {
      batch.natDst(i, d.dnatIp | 0, d.dnatPort);
      dnatted[i] = 1;
      if (v === VERDICT_REDIRECT) redirected[i] = 1;
    } else if (v === VERDICT_REJECT) {
      ctx.drop(batch, i, DROP_SERVICE_REJECT);
    } else if (v === VERDICT_DROP) {
      ctx.drop(batch, i, DROP_SERVICE_DROP);
    }
    if (rec && i === rec.index && rec.decision === null) {
      rec.decision = {
        node: batch.node[i],
        verdict: v,
        servicePort: d.servicePort,
        endpoint: d.endpoint,
        masquerade: d.masquerade,
        hook: pkt.hook,
        fromPodInterface: pkt.fromPodInterface,
        srcIp: pkt.srcIp,
        srcPort: pkt.srcPort,
        dstIp: pkt.dstIp,
        dstPort: pkt.dstPort,
        proto: pkt.proto,
        rand: pkt.rand,
      };
    }
    if (rec) {
      const what =
        v === VERDICT_DNAT || v === VERDICT_REDIRECT
          ? `${compiled.mode}: ${kVerdictNames[v].toUpperCase()} to ${formatIp(d.dnatIp)}:${d.dnatPort}${d.masquerade ? ', marked for masquerade' : ''}`
          : `${compiled.mode}: ${v === 0 ? 'no service rule matched' : kVerdictNames[v].toUpperCase()}`;
      // A mode that names its programs (eBPF) also tells its map lookups, from explain().
      const lookups = dp.programAt ? `; ${dp.explain(pkt).steps.map((s) => `${s.rule}: ${s.action}`).join('; ')}` : '';
      rec.record(batch, i, dp.programAt ? dp.programAt(pkt) : `${kHookNames[pkt.hook === HOOK_PREROUTING ? 0 : 1]} (new flow)`, what + lookups);
    }
    // DSR (Cilium): the frontend goes with the packet to the backend's node, which remembers it for the replies.
    if (dsr === DSR_OPTION || dsr === DSR_TUNNEL) {
      if (!dsrCarry(ctx, batch, i, dsr, pkt.dstIp, pkt.dstPort)) ctx.drop(batch, i, DROP_CONNTRACK_INVALID);
    } else if (dsr === DSR_REPLY) {
      dsrRemember(ctx, batch, i, pkt, endpoint[i]);
    }
    if (v !== VERDICT_REJECT && v !== VERDICT_DROP && next[i] === NEXT_SERVICE_NAT) next[i] = NEXT_ROUTE;
  }
}
