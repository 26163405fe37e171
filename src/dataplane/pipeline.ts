/**
 * The pipeline: the stages in order, and the driver that runs a batch through them until every
 * packet is delivered or dropped (VPP's graph dispatch, simplified: each stage takes every packet
 * whose `next` names it, and the driver repeats the order while packets are in flight, since a
 * packet may visit PREROUTING again on the next node or after the userspace proxy).
 *
 * A pod-to-Service packet to a remote endpoint takes:
 *   prerouting -> service-nat -> route -> postrouting -> encap -> underlay -> decap
 *   -> prerouting (node 2) -> route -> postrouting -> delivered to the pod
 */
import { HOOK_OUTPUT, HOOK_PREROUTING } from '../compile/dataplane.js';
import type { PacketBatch } from '../net/batch.js';
import type { PipelineContext } from './context.js';
import { decap } from './decap.js';
import { encap } from './encap.js';
import { DROP_LOOP, NEXT_DONE, NEXT_PREROUTING } from './next.js';
import { postrouting } from './postrouting.js';
import { prerouting } from './prerouting.js';
import { proxy } from './proxy.js';
import { route } from './route.js';
import { serviceNat } from './service-nat.js';
import { underlay } from './underlay.js';

type Stage = (ctx: PipelineContext, batch: PacketBatch) => void;

/** The stages in dispatch order, with the stage id each one serves (see next.ts). */
export const kPipeline: readonly (readonly [number, Stage])[] = [
  [1, prerouting],
  [2, serviceNat],
  [3, route],
  [8, proxy],
  [4, postrouting],
  [5, encap],
  [6, underlay],
  [7, decap],
];

/** Enough passes for the longest path (userspace: client node, proxy, endpoint node). */
const kMaxPasses = 8;

/** Where a packet enters a node. */
export const ENTRY_POD = 0; // from a pod's eth0 through its veth: PREROUTING
export const ENTRY_HOST = 1; // sent by the node itself (host network, loopback): OUTPUT
export const ENTRY_EXTERNAL = 2; // from outside, at the node's NIC: PREROUTING

/** Starts packet i at `node` (the batch slot already holds the packet's bytes). */
export function inject(ctx: PipelineContext, batch: PacketBatch, i: number, node: number, entry: number): void {
  batch.node[i] = node;
  batch.next[i] = NEXT_PREROUTING;
  batch.verdict[i] = 0;
  batch.drop[i] = 0;
  ctx.hook[i] = entry === ENTRY_HOST ? HOOK_OUTPUT : HOOK_PREROUTING;
  ctx.fromPod[i] = entry === ENTRY_POD ? 1 : 0;
  ctx.visits[i] = 0;
  ctx.newFlow[i] = 0;
  ctx.dnatted[i] = 0;
  ctx.redirected[i] = 0;
  ctx.proxyClientSlot[i] = -1;
}

export function runBatch(ctx: PipelineContext, batch: PacketBatch): void {
  const clock = ctx.clock;
  const next = batch.next;
  const n = batch.count;
  for (let pass = 0; pass < kMaxPasses; pass++) {
    for (let s = 0; s < kPipeline.length; s++) {
      const [id, stage] = kPipeline[s];
      if (clock) {
        const t0 = clock();
        stage(ctx, batch);
        ctx.stageMs[id] += clock() - t0;
      } else {
        stage(ctx, batch);
      }
    }
    let inFlight = false;
    for (let i = 0; i < n; i++) {
      if (next[i] !== NEXT_DONE) {
        inFlight = true;
        break;
      }
    }
    if (!inFlight) return;
  }
  for (let i = 0; i < n; i++) if (next[i] !== NEXT_DONE) ctx.drop(batch, i, DROP_LOOP);
}
