/**
 * Calico's policy (felix's filter chains, Calico v3.29): a new flow meets the egress policy of
 * the workload that sent it, at that workload's interface (`cali-fw-<if>`, reached from
 * FORWARD or, for the node's own addresses, INPUT), and the ingress policy of the workload it
 * goes to (`cali-tw-<if>`), after the service NAT, so policy sees the endpoint and not the
 * Service. Each node polices its own workloads only: a packet from a remote pod is judged for
 * ingress on the destination's node, its egress was judged on the sender's. Established and
 * related packets never come here (route sends only new flows): conntrack accepts them before
 * any policy, so a reply is never denied. Host-networked pods are no workload endpoints, and the
 * node's own packets to its workloads are not policed (felix's filter OUTPUT does not dispatch to
 * `cali-tw-`: "we don't currently police host -> endpoint", felix/rules/static.go), which is what
 * lets kubelet's probes through a default deny.
 *
 * Reads:  batch 5-tuple, node; meta outKind, hook
 * Writes: nothing but the verdict
 * Next:   postrouting | local-in (the node's own addresses) | done (denied)
 * Counts: drops policy
 */
import { HOOK_OUTPUT } from '../compile/dataplane.js';
import type { PacketBatch } from '../net/batch.js';
import { DIR_EGRESS, DIR_INGRESS, PV_ALLOW, PV_DEFAULT_DENY, PV_DENY, PV_NONE, PV_PASS, type PolicyTables } from '../compile/calico-policy/policy-tables.js';
import type { PipelineContext } from './context.js';
import { DROP_POLICY, NEXT_LOCAL_IN, NEXT_POSTROUTING } from './next.js';
import { vethName } from './pod-network.js';
import { RK_BRIDGE, RK_LOCAL, RK_VETH } from './route-table.js';
import type { TraceRecorder } from './trace-recorder.js';

// Cost: ~0.22-0.26 µs per new flow at 100 policies, ~0.27-0.36 at 1,000, ~0.51 (nftables) to ~0.63 µs (iptables) at 10,000, 1,000 Services (its stage timer per first packet; established packets never enter it) (kdp bench --services 1000 --modes nftables,iptables --policies 0,100,1000,10000 --flows 200000 --repeats 3, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md "Policy stage time per new flow").
export function policy(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const tables = ctx.world.compiled.policy;
  // Route sends packets here only where policy is compiled: without it the stage has no work.
  if (!tables) return;
  const rec = ctx.recorder;
  const { outKind, hook } = ctx.meta;
  const { srcIp, dstIp, srcPort, dstPort, proto, node } = batch;
  // ~40 ns a new flow with no policy selecting either workload (two hash probes), plus ~10-30 ns
  // a rule of the policies that select them; established packets never pay it.
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    const kind = outKind[i];
    const here = node[i];
    const from = tables.workload(srcIp[i]);
    if (from >= 0 && tables.workloadNode[from] === here) {
      const v = tables.evaluate(DIR_EGRESS, from, proto[i], srcIp[i], srcPort[i], dstIp[i], dstPort[i]);
      if (rec) note(rec, tables, batch, i, ctx, 'egress', v);
      if (v === PV_DENY || v === PV_DEFAULT_DENY) {
        ctx.drop(batch, i, DROP_POLICY);
        continue;
      }
    }
    const to = (kind === RK_VETH || kind === RK_BRIDGE) && hook[i] !== HOOK_OUTPUT ? tables.workload(dstIp[i]) : -1;
    if (to >= 0 && tables.workloadNode[to] === here) {
      const v = tables.evaluate(DIR_INGRESS, to, proto[i], srcIp[i], srcPort[i], dstIp[i], dstPort[i]);
      if (rec) note(rec, tables, batch, i, ctx, 'ingress', v);
      if (v === PV_DENY || v === PV_DEFAULT_DENY) {
        ctx.drop(batch, i, DROP_POLICY);
        continue;
      }
    }
    next[i] = kind === RK_LOCAL ? NEXT_LOCAL_IN : NEXT_POSTROUTING;
  }
}

/** The trace's words for a verdict, and its JSON record. */
function note(rec: TraceRecorder, tables: PolicyTables, batch: PacketBatch, i: number, ctx: PipelineContext, dir: 'egress' | 'ingress', v: number): void {
  const p = tables.lastPolicy >= 0 ? tables.policies[tables.lastPolicy] : undefined;
  const name = p ? p.source : null;
  const rule = p ? tables.lastRule : null;
  const ip = dir === 'egress' ? batch.srcIp[i] : batch.dstIp[i];
  const chain = `${dir === 'egress' ? 'cali-fw-' : 'cali-tw-'}${vethName(ctx.world.plan.cni, ip)}`;
  const words =
    v === PV_NONE
      ? 'no policy selects the workload'
      : v === PV_ALLOW
        ? `policy: ${name} allowed`
        : v === PV_DENY
          ? `policy: ${name} denied`
          : v === PV_PASS
            ? `policy: ${name} passed; no later tier: the namespace profile allowed`
            : 'default deny';
  const ruleText = rule !== null ? ` (${dir} rule ${rule})` : '';
  rec.record(batch, i, chain, `${words}${ruleText}${v === PV_DENY || v === PV_DEFAULT_DENY ? ': dropped' : ''}`);
  if (i === rec.index) {
    rec.policy[dir] = { verdict: v === PV_NONE ? 'none' : v === PV_ALLOW || v === PV_PASS ? 'allow' : 'deny', policy: name, rule };
  }
}
