/**
 * Socket-level load balancing (Cilium's cgroup programs in bpf/bpf_sock.c): for a mode whose
 * dataplane has `socketLb`, a pod's or the host's socket is translated at connect() (TCP) or
 * sendmsg() (UDP), before any packet exists, so the packet leaves already addressed to the
 * backend and conntrack never sees the service address; answers are shown to the application
 * from the service address again (cil_sock4_getpeername / cil_sock4_recvmsg).
 *
 * Reads:  batch 5-tuple, flowHash, node; meta fromPod
 * Writes: batch dst (the backend); meta servicePort, endpoint, peerIp, peerPort; the node's socket table
 * Next:   raw (a node with NOTRACK rules) | prerouting | done (connect() refused: a Service without
 *         backends)
 * Counts: drops service-reject; decisions, decisionWork
 *
 * The stage only sees packets a socket program runs for (inject()): a TCP socket's SYN, which
 * stands for its connect(), and every UDP datagram, each an unconnected sendmsg(). A TCP socket's
 * later packets are built for the backend it was given (meta.peerIp) and meet no socket program,
 * nor do its answers (the kernel translates its peer back only at getpeername()); a UDP socket
 * finds its translation in the socket table at every send (one lookup, its misses overlapped
 * across the frame, standing for cil_sock4_sendmsg's), and every answer delivered to it is looked
 * up again (cil_sock4_recvmsg's, socketAnswer). A new socket asks the dataplane once with
 * HOOK_SOCKET.
 */
import { decideConsistent } from '../compile/table-generation.js';
import { HOOK_SOCKET, VERDICT_DNAT, VERDICT_REJECT } from '../compile/dataplane.js';
import type { PacketBatch } from '../net/batch.js';
import { mix32 } from '../net/hash.js';
import { formatIp } from '../net/ipv4.js';
import { PROTO_TCP } from '../net/proto.js';
import type { PipelineContext } from './context.js';
import { DROP_SERVICE_REJECT } from './next.js';
import { prefetchDecisions } from './prefetch-decisions.js';
import { RK_BRIDGE, RK_VETH } from './route-table.js';

const SOCK_SEND = 0;
const SOCK_ANSWER = 1;

// Cost: nothing in a mode without socket LB (runBatch skips a stage with no packet bound for it); ~10.6 ns per established packet of a cilium cell at batch 256, 100 Services (~60 per packet of the cell), ~12.9 at 30k (~73): UDP datagrams and TCP SYNs only (131 and 127 ns per established packet in the record at cae0446, when every TCP packet was looked up) (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: a result's establishedStages and stages, 1 worker, 1,000,000 flows); a new socket's answer slots read for the frame before they are filed (d312d2a, before that record) (SocketTable.open, fileAnswer): the stage's time per new flow 485-519 -> 429-439 ns, a new flow 1,236-1,290 -> 1,183-1,214 ns (`kdp bench --services 100 --modes cilium --workers 1 --flows 1000000`, two runs of each build alternated).
export function socketLb(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const world = ctx.world;
  const compiled = world.compiled;
  const pkt = ctx.firstPacket;
  const d = ctx.decision;
  const rec = ctx.recorder;
  const counters = ctx.counters;
  const { fromPod, servicePort, endpoint, peerIp, peerPort } = ctx.meta;
  const { srcIp, dstIp, srcPort, dstPort, proto } = batch;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  // A socket table holds a node's every connection, far larger than the caches: hash the frame and
  // touch each tuple's index slot, then each entry, so the misses overlap (as prerouting does).
  const hash = ctx.meta.lookupHash;
  const warm = ctx.meta.lookupWarm;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    hash[i] = world.sockets(batch.node[i]).hashOf(srcIp[i], dstIp[i], srcPort[i], dstPort[i], proto[i]);
  }
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    warm[i] = world.sockets(batch.node[i]).touchIndex(hash[i]);
  }
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    warm[i] = world.sockets(batch.node[i]).touchEntry(warm[i]);
  }
  // The decisions' reads, ahead of them: a hint for every packet of the frame, a known socket's
  // too (the loop below resets warm first).
  prefetchDecisions(ctx, batch);
  let opened = 0;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    warm[i] = -1; // from here on: the entry a new socket was opened at, -1 none
    next[i] = world.afterSocket;
    const node = batch.node[i];
    const sockets = world.sockets(node);
    const known = sockets.lookupHashed(hash[i], srcIp[i], dstIp[i], srcPort[i], dstPort[i], proto[i], SOCK_SEND);
    // The hop is where the packet appears: on the pod's eth0 (the host's network), already for the backend.
    const where = fromPod[i] === 1 ? 'pod eth0' : 'host network';
    if (known >= 0) {
      batch.natDst(i, sockets.backendIp(known) | 0, sockets.backendPort(known));
      if (rec) rec.record(batch, i, where, 'the socket is connected to its backend: the packet leaves addressed to it');
      continue;
    }
    // A new socket: a TCP socket's connect(), which its SYN stands for (inject() sends no other
    // TCP packet here), or a UDP socket's first sendmsg().
    const dp = compiled.dataplane(node);
    pkt.srcIp = srcIp[i];
    pkt.srcPort = srcPort[i];
    pkt.dstIp = dstIp[i];
    pkt.dstPort = dstPort[i];
    pkt.proto = proto[i];
    pkt.hook = HOOK_SOCKET;
    pkt.fromPodInterface = fromPod[i] === 1;
    pkt.rand = mix32(batch.flowHash[i], ctx.seed);
    pkt.now = ctx.now;
    decideConsistent(dp, pkt, d);
    counters.decisions++;
    counters.decisionWork += d.work;
    const v = d.verdict;
    if (rec && rec.decision === null && (v === VERDICT_DNAT || v === VERDICT_REJECT)) {
      rec.decision = { node, verdict: v, servicePort: d.servicePort, endpoint: d.endpoint, masquerade: false, hook: HOOK_SOCKET, fromPodInterface: pkt.fromPodInterface, srcIp: pkt.srcIp, srcPort: pkt.srcPort, dstIp: pkt.dstIp, dstPort: pkt.dstPort, proto: pkt.proto, rand: pkt.rand };
    }
    const call = proto[i] === PROTO_TCP ? 'connect()' : 'sendmsg()';
    if (v === VERDICT_REJECT) {
      ctx.drop(batch, i, DROP_SERVICE_REJECT);
      if (rec) rec.record(batch, i, fromPod[i] === 1 ? 'pod socket' : 'host socket', `${call} refused: the Service has no backend (socket LB, -EHOSTUNREACH)`);
      continue;
    }
    if (v !== VERDICT_DNAT) continue;
    warm[i] = sockets.open(srcIp[i], dstIp[i], srcPort[i], dstPort[i], proto[i], d.dnatIp, d.dnatPort, d.endpoint);
    opened++;
    servicePort[i] = d.servicePort;
    endpoint[i] = d.endpoint;
    // connect() gives a TCP socket its peer; an unconnected UDP socket's sendmsg() gives none.
    if (proto[i] === PROTO_TCP) {
      peerIp[i] = d.dnatIp;
      peerPort[i] = d.dnatPort;
    }
    batch.natDst(i, d.dnatIp | 0, d.dnatPort);
    if (rec) {
      // pkt still holds what the application asked for.
      const lookups = dp.explain(pkt).steps.map((s) => `${s.rule}: ${s.action}`).join('; ');
      rec.record(batch, i, where, `socket LB at ${call}: ${formatIp(pkt.dstIp)}:${pkt.dstPort} became ${formatIp(d.dnatIp)}:${d.dnatPort} before the first packet; it leaves addressed to the backend, and conntrack keeps no service NAT (${lookups})`);
    }
  }
  // A new socket is filed under its backend's answer too, another slot of the table and a miss of
  // its own: read those slots for the frame's new sockets together, then file them.
  if (opened === 0) return;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    if (warm[i] >= 0) hash[i] = world.sockets(batch.node[i]).touchAnswer(warm[i]);
  }
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    if (warm[i] >= 0) world.sockets(batch.node[i]).fileAnswer(warm[i]);
  }
}

/**
 * Software prefetch for socketAnswer over postrouting's frame: on a socket-LB node every datagram
 * delivered to a pod looks its node's socket table up, as large as the node's connections, so
 * touch those lookups' index slots, then their records, and the misses overlap (as the socket
 * stage's own lookups do). Hints only: a packet postrouting then rewrites is looked up anew.
 * Nothing where the frame's first node does not balance at the socket (a world's nodes share one
 * mode and configuration).
 */
export function touchAnswers(ctx: PipelineContext, batch: PacketBatch): void {
  const world = ctx.world;
  const frame = ctx.frame;
  const m = ctx.frameCount;
  if (m === 0 || !world.socketLb(batch.node[frame[0]])) return;
  const { srcIp, dstIp, srcPort, dstPort, proto, node } = batch;
  const outKind = ctx.meta.outKind;
  const warm = ctx.meta.lookupWarm;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    const kind = outKind[i];
    if ((kind === RK_VETH || kind === RK_BRIDGE) && proto[i] !== PROTO_TCP && world.socketLb(node[i])) {
      const sockets = world.sockets(node[i]);
      warm[i] = sockets.touchIndex(sockets.hashOf(srcIp[i], dstIp[i], srcPort[i], dstPort[i], proto[i]));
    } else {
      warm[i] = 0;
    }
  }
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    if (warm[i] !== 0) warm[i] = world.sockets(node[i]).touchEntry(warm[i]);
  }
}

/**
 * An answer delivered to a local socket: when it comes from the backend a socket was given for a
 * service, the application sees it from the service address. Called by postrouting (a pod's veth)
 * and local-in (the host), the stages that deliver; no-op elsewhere.
 * For UDP that is cil_sock4_recvmsg, run at every recvmsg() that asks for the sender (the kernel
 * runs BPF_CGROUP_UDP4_RECVMSG programs there): a lookup a datagram. A TCP socket has no such
 * hook: its peer is translated only when the application asks, at getpeername()
 * (cil_sock4_getpeername), so a replay's TCP answers are left as the wire has them and only a
 * trace, which shows what the application sees, looks the answer up.
 */
export function socketAnswer(ctx: PipelineContext, batch: PacketBatch, i: number, where: 'pod socket' | 'host socket'): void {
  // Only the test is inlined where a packet is delivered; the answer is a call on socket-LB nodes.
  if (ctx.world.socketLb(batch.node[i]) && (batch.proto[i] !== PROTO_TCP || ctx.recorder !== null)) answerFromService(ctx, batch, i, where);
}

function answerFromService(ctx: PipelineContext, batch: PacketBatch, i: number, where: 'pod socket' | 'host socket'): void {
  const node = batch.node[i];
  const sockets = ctx.world.sockets(node);
  const e = sockets.lookup(batch.srcIp[i], batch.dstIp[i], batch.srcPort[i], batch.dstPort[i], batch.proto[i], SOCK_ANSWER);
  if (e < 0) return;
  batch.natSrc(i, sockets.dst(e) | 0, sockets.ports(e) & 0xffff);
  const rec = ctx.recorder;
  if (rec) rec.record(batch, i, where, `${batch.proto[i] === PROTO_TCP ? 'getpeername()' : 'recvmsg()'}: the application sees the service address (cilium_lb4_reverse_sk)`);
}
