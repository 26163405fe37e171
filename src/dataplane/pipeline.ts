/**
 * The pipeline's driver: it runs a batch through the stage table (stages.ts) until every
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
import { TCP_ACK, TCP_SYN } from '../net/l4.js';
import { PROTO_TCP } from '../net/proto.js';
import type { PipelineContext } from './context.js';
import { DROP_LOOP, NEXT_DONE, NEXT_PREROUTING, NEXT_SOCKET } from './next.js';
import { kStages, type Stage } from './stages.js';

/** Enough passes for the longest path (userspace: client node, proxy, endpoint node). */
const kMaxPasses = 8;

/** Where a packet enters a node. */
export const ENTRY_POD = 0; // from a pod's eth0 through its veth: PREROUTING
export const ENTRY_HOST = 1; // sent by the node itself (host network, loopback): OUTPUT
export const ENTRY_EXTERNAL = 2; // from outside, at the node's NIC: PREROUTING

/**
 * Starts packet i at `node` (the batch slot already holds the packet's bytes). A local socket's
 * packet on a node whose mode balances at the socket passes the socket stage first when a socket
 * program runs for it: a UDP datagram (sendmsg()) or a TCP socket's SYN (connect()). A TCP
 * socket's later packets meet none (the kernel's per-packet socket-address hooks are UDP's:
 * BPF_CGROUP_UDP4_SENDMSG and _RECVMSG; TCP has connect4 and getpeername4), so whoever sends them
 * addresses them to the backend the socket was given at connect() (PacketMeta.peerIp: replay.ts).
 */
export function inject(ctx: PipelineContext, batch: PacketBatch, i: number, node: number, entry: number): void {
  batch.node[i] = node;
  // Only what a node sends itself (its pods, its host) meets the raw table here: packets from
  // outside or from other nodes are not bound for the node-local DNS addresses it exempts.
  const socket = ctx.world.socketLb(node) && (batch.proto[i] !== PROTO_TCP || (batch.tcpFlags[i] & (TCP_SYN | TCP_ACK)) === TCP_SYN);
  batch.next[i] = entry === ENTRY_EXTERNAL ? NEXT_PREROUTING : socket ? NEXT_SOCKET : ctx.world.afterSocket;
  batch.verdict[i] = 0;
  batch.drop[i] = 0;
  ctx.meta.begin(i, entry === ENTRY_HOST ? HOOK_OUTPUT : HOOK_PREROUTING, entry === ENTRY_POD ? 1 : 0);
}

/**
 * Runs the batch through `stages` (the stage table; tests pass a checked copy) until it is done.
 * Each stage runs over its frame only: the slots queued for it, gathered ascending from a bitmap
 * (so packets meet a stage in slot order, as a pass over the batch would take them); a stage with
 * nothing queued is skipped, and after it runs, only its own packets are queued again by their new
 * `next`. A stage moves only its own packets (the stage-contract test checks it); a slot whose
 * `next` no longer names the stage is left out of its frame all the same. A frame whose packets
 * all went on to one stage, with nothing else queued for it, is carried there as it is: the frame
 * a gather would make (test/dataplane/stage-contract.test.ts checks the frames against a plain
 * gather, pass by pass).
 */
// Cost: ~293-313 ns per established packet (3.19-3.41 M a second; iptables, ipvs, nftables), ~558 (userspace) and ~335 (cilium), all stages of the two-node calico-vxlan path, at batch 256, 100 Services; 3.19-3.62 M a second over every Services count of the default sweep; the stages' own timers sum to ~268-287 of the 293-313 ns, the rest this dispatch (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: a result's establishedStages and stages, 1 worker, 1,000,000 flows).
export function runBatch(ctx: PipelineContext, batch: PacketBatch, stages: readonly Stage[] = kStages): void {
  const clock = ctx.clock;
  const stageMs = ctx.counters.stageMs;
  const next = batch.next;
  const n = batch.count;
  const queued = ctx.queued;
  const words = ctx.queueWords;
  const frame = ctx.frame;
  queued.fill(0);
  ctx.newFlows = 0;
  // Queueing ORs a word's bits in a local while the packets go to one word, and stores it when the
  // word changes: an OR into memory per packet chains each packet's load on the store before it
  // (store-to-load forwarding, a few cycles each), and most runs of slots go to one stage. The
  // established path in cache (established.inCache) went from 288 to 276 ns a packet in ipvs at 100
  // Services, 281 to 272 in nftables, 273 to 266 in ipvs at 10k (medians of three runs of each build
  // alternated, `kdp bench --services 100,10000 --modes ipvs,nftables --workers 1 --flows 1000000`,
  // 2026-12-06; nftables at 10k 273 either way).
  let word = -1;
  let acc = 0;
  for (let i = 0; i < n; i++) {
    const s = next[i];
    if (s === NEXT_DONE) continue;
    const q = s * words + (i >>> 5);
    if (q !== word) {
      if (word >= 0) queued[word] |= acc;
      word = q;
      acc = 0;
    }
    acc |= 1 << (i & 31);
  }
  if (word >= 0) queued[word] |= acc;
  let inFlight = word >= 0;
  // A frame whose packets a stage sent on to one stage alike (most of an established packet's
  // hops) is carried to that stage as it is, in slot order, when no other packet is queued for it:
  // the frame the stage would gather. `carry` names that stage while the frame holds its packets,
  // none of them in `queued`; a stage that gathers first puts them there (flushCarry). An
  // established packet took 273 ns, not 286, in ipvs at 100 Services, 264 not 280 at 10k;
  // nftables 270 and 269 against 281 and 282; iptables 275 and 276 against 289 and 285 (`kdp bench
  // --services 100,10000 --modes ipvs,nftables,iptables --workers 1 --flows 1000000`, three runs of
  // each build alternated, tables on huge pages, 2026-12-07); ipvs 266 and 257 against 276 and 275 at
  // 1k and 30k, cilium 286 and 282 against 300 and 296; userspace 520 and 524 against 499 and 535,
  // its runs spread from 494 to 577 (`--services 1000,30000 --modes userspace,cilium,ipvs`, the same way).
  let carry = -1;
  let carried = 0;
  for (let pass = 0; pass < kMaxPasses && inFlight; pass++) {
    for (let s = 0; s < stages.length; s++) {
      const stage = stages[s];
      const id = stage.id;
      let count = 0;
      if (carry === id) {
        count = carried;
        carry = -1;
      } else {
        for (let w = 0, q = id * words; w < words; w++, q++) {
          let bits = queued[q];
          if (bits === 0) continue;
          if (carry >= 0) {
            flushCarry(queued, words, frame, carried, carry);
            carry = -1;
          }
          queued[q] = 0;
          while (bits !== 0) {
            const low = bits & -bits;
            const i = (w << 5) + 31 - Math.clz32(low);
            bits ^= low;
            if (next[i] === id) frame[count++] = i;
          }
        }
      }
      if (count === 0) continue;
      ctx.frameCount = count;
      if (clock) {
        const t0 = clock();
        stage.run(ctx, batch);
        stageMs[id] += clock() - t0;
      } else {
        stage.run(ctx, batch);
      }
      // The frame's packets that go on, kept in order, and the one stage they all go to (-2: more than one).
      let kept = 0;
      let to1 = -1;
      for (let k = 0; k < count; k++) {
        const i = frame[k];
        const to = next[i];
        if (to === NEXT_DONE) continue;
        frame[kept++] = i;
        if (to !== to1) to1 = to1 === -1 ? to : -2;
      }
      if (to1 >= 0 && idle(queued, words, to1)) {
        carry = to1;
        carried = kept;
        continue;
      }
      // Requeue them where the stage sent them (a later stage takes them this pass), a word's bits
      // gathered as at the batch's start. Written out twice: as one function the two called, the
      // established path in cache measured no faster (three runs of each build alternated, `kdp
      // bench --services 100 --modes ipvs,nftables,iptables --workers 1 --flows 200000`, 2026-12-06).
      word = -1;
      acc = 0;
      for (let k = 0; k < kept; k++) {
        const i = frame[k];
        const q = next[i] * words + (i >>> 5);
        if (q !== word) {
          if (word >= 0) queued[word] |= acc;
          word = q;
          acc = 0;
        }
        acc |= 1 << (i & 31);
      }
      if (word >= 0) queued[word] |= acc;
    }
    inFlight = carry >= 0;
    for (let q = 0; q < queued.length && !inFlight; q++) if (queued[q] !== 0) inFlight = true;
  }
  if (!inFlight) return;
  for (let i = 0; i < n; i++) if (next[i] !== NEXT_DONE) ctx.drop(batch, i, DROP_LOOP);
}

/** Whether no packet is queued for stage `id`. */
function idle(queued: Int32Array, words: number, id: number): boolean {
  for (let w = 0, q = id * words; w < words; w++, q++) if (queued[q] !== 0) return false;
  return true;
}

/** Queues the carried frame's packets for stage `id` (runBatch's carry), before another stage gathers into the frame. */
function flushCarry(queued: Int32Array, words: number, frame: Int32Array, count: number, id: number): void {
  for (let k = 0; k < count; k++) {
    const i = frame[k];
    queued[id * words + (i >>> 5)] |= 1 << (i & 31);
  }
}
