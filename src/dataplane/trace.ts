/**
 * `kdp trace`: one packet through the same pipeline the benchmark runs, with a recorder
 * attached, told hop by hop; and, with `reply`, the answer back through conntrack.
 *
 * The JSON shape is relied on by other tools (`kdp verify`, scripts): see TraceResult.
 */
import { VERDICT_ACCEPT, VERDICT_DNAT, VERDICT_DROP, VERDICT_REDIRECT, VERDICT_REJECT, newFirstPacket } from '../compile/dataplane.js';
import { protocolName, servicePortName } from '../model/types.js';
import { PacketBatch } from '../net/batch.js';
import { formatIp } from '../net/ipv4.js';
import { l4HdrLen, TCP_ACK, TCP_SYN } from '../net/l4.js';
import { InvalidArgumentError } from '../errors.js';
import type { PipelineContext } from './context.js';
import { END_DROPPED, END_EXTERNAL, END_HOST, END_POD, END_REJECTED, kDropNames } from './next.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD, inject, runBatch } from './pipeline.js';
import { TraceRecorder, type CapturedFrame, type PolicyVerdict, type TraceHop } from './trace-recorder.js';
import type { Protocol } from '../net/proto.js';

export interface Probe {
  readonly proto: Protocol;
  readonly srcIp: number;
  readonly srcPort: number;
  readonly dstIp: number;
  readonly dstPort: number;
  /** The node where the packet enters, and how (ENTRY_POD / ENTRY_HOST / ENTRY_EXTERNAL). */
  readonly node: number;
  readonly entry: number;
  /** Payload bytes (default 64, or the length of `payloadBytes`). */
  readonly payload?: number;
  /** The payload's first bytes, made real in the packet (a DNS message); the rest stays implicit zeros. */
  readonly payloadBytes?: Uint8Array;
}

/**
 * What the receiver of a delivered packet sends back, given the payload bytes that reached it and
 * where they arrived; undefined when it sends nothing kdp knows (the reply is then not traced).
 */
export type Answer = (payload: Uint8Array, arrivedAt: { readonly ip: number; readonly port: number }) => Uint8Array | undefined;

/** A batch slot large enough for any payload `payloadBytes` carries (a 512-byte DNS message and its headers). */
const kPayloadSlotSize = 1024;

export interface TraceResult {
  readonly mode: string;
  /** The node where the service decision was made. */
  readonly node: string;
  readonly packet: { readonly protocol: string; readonly src: string; readonly dst: string };
  readonly decision: 'dnat' | 'reject' | 'drop' | 'accept' | 'none';
  readonly service: string | null;
  /** Every endpoint this first packet could be DNATed to, in the order of the mode's rules. */
  readonly candidates: string[];
  readonly endpoint: string | null;
  readonly masquerade: boolean;
  readonly verdict: 'delivered' | 'rejected' | 'dropped' | 'local';
  readonly dropReason: string | null;
  /** Calico's policy verdicts for this packet's flow (both `none` where no policy is enforced). */
  readonly policy: { readonly egress: PolicyVerdict; readonly ingress: PolicyVerdict };
  readonly hops: TraceHop[];
  readonly reply?: TraceResult;
}

export interface TraceOutput {
  readonly result: TraceResult;
  /** Every hop's packet bytes (forward, then reply), when capture was asked for. */
  readonly frames: CapturedFrame[];
  /** With `answer`: the reply's payload as it reached the sender, when it did. */
  readonly answered?: Uint8Array;
}

const kNoPolicy: PolicyVerdict = { verdict: 'none', policy: null, rule: null };

const ipPort = (ip: number, port: number): string => `${formatIp(ip)}:${port}`;

function runOne(ctx: PipelineContext, probe: Probe, tcpFlags: number, capture: boolean) {
  const batch = new PacketBatch({ capacity: 2, ...(probe.payloadBytes ? { slotSize: kPayloadSlotSize } : {}) });
  const i = batch.push(probe.proto, probe.srcIp, probe.srcPort, probe.dstIp, probe.dstPort, probe.payload ?? probe.payloadBytes?.length ?? 64, tcpFlags);
  if (probe.payloadBytes && !batch.writePayload(i, probe.payloadBytes)) {
    throw new InvalidArgumentError(`a traced payload of ${probe.payloadBytes.length} bytes does not fit its packet`);
  }
  const rec = new TraceRecorder(i, (n) => ctx.world.cluster.nodes[n]?.name ?? `node ${n}`, capture);
  ctx.recorder = rec;
  inject(ctx, batch, i, probe.node, probe.entry);
  // With socket LB the application's send meets its socket before any packet is on eth0.
  const socket = probe.entry !== ENTRY_EXTERNAL && ctx.world.socketLb(probe.node);
  const where = probe.entry === ENTRY_POD ? (socket ? 'pod socket' : 'pod eth0') : probe.entry === ENTRY_HOST ? (socket ? 'host socket' : 'host network') : 'eth0 (from outside)';
  rec.record(batch, i, where, socket ? 'sent by the application' : 'sent');
  runBatch(ctx, batch);
  ctx.recorder = null;
  return { batch, i, rec };
}

function summarize(ctx: PipelineContext, probe: Probe, run: ReturnType<typeof runOne>): TraceResult {
  const { batch, i, rec } = run;
  const cluster = ctx.world.cluster;
  const d = rec.decision;
  const decisionNode = d?.node ?? probe.node;
  let candidates: string[] = [];
  let masquerade = false;
  let service: string | null = null;
  if (d) {
    // The slow path explores every random branch of the same compiled rules for the same packet.
    const pkt = newFirstPacket();
    Object.assign(pkt, { srcIp: d.srcIp, srcPort: d.srcPort, dstIp: d.dstIp, dstPort: d.dstPort, proto: d.proto, hook: d.hook, fromPodInterface: d.fromPodInterface, rand: d.rand, now: ctx.now });
    const ex = ctx.world.compiled.dataplane(decisionNode).explain(pkt);
    // Rows are in kube-proxy's order (sorted "ip:port" strings), the order every mode writes its
    // rules in; explain() may find the branches in another order.
    candidates = [...ex.candidates].sort((a, b) => a - b).map((r) => ipPort(cluster.endpoints.ip[r], cluster.endpoints.port[r]));
    masquerade = ex.masquerade;
    const sp = d.servicePort >= 0 ? d.servicePort : ex.servicePort;
    service = sp >= 0 ? servicePortName(cluster, cluster.ports[sp]) : null;
  }
  const v = d?.verdict ?? 0;
  const end = batch.verdict[i];
  return {
    mode: ctx.world.mode,
    node: cluster.nodes[decisionNode]?.name ?? String(decisionNode),
    packet: { protocol: protocolName(probe.proto), src: ipPort(probe.srcIp, probe.srcPort), dst: ipPort(probe.dstIp, probe.dstPort) },
    decision: v === VERDICT_DNAT || v === VERDICT_REDIRECT ? 'dnat' : v === VERDICT_REJECT ? 'reject' : v === VERDICT_DROP ? 'drop' : v === VERDICT_ACCEPT ? 'accept' : 'none',
    service,
    candidates,
    endpoint: d && d.endpoint >= 0 ? ipPort(cluster.endpoints.ip[d.endpoint], cluster.endpoints.port[d.endpoint]) : null,
    masquerade,
    verdict: end === END_POD || end === END_EXTERNAL ? 'delivered' : end === END_HOST ? 'local' : end === END_REJECTED ? 'rejected' : 'dropped',
    dropReason: end === END_DROPPED || end === END_REJECTED ? kDropNames[batch.drop[i]] : null,
    policy: { egress: rec.policy.egress ?? kNoPolicy, ingress: rec.policy.ingress ?? kNoPolicy },
    hops: rec.hops,
  };
}

/**
 * The answer to a delivered packet: it starts where the packet arrived, from the addresses it
 * arrived with, entering as the receiver would send it (a pod's veth, the host, the outside).
 * Undefined for a packet that was not delivered.
 */
export function replyProbeOf(probe: Probe, batch: PacketBatch, i: number): Probe | undefined {
  const end = batch.verdict[i];
  if (end !== END_POD && end !== END_EXTERNAL && end !== END_HOST) return undefined;
  return {
    proto: probe.proto,
    srcIp: batch.dstIp[i],
    srcPort: batch.dstPort[i],
    dstIp: batch.srcIp[i],
    dstPort: batch.srcPort[i],
    node: batch.node[i],
    entry: end === END_POD ? ENTRY_POD : end === END_HOST ? ENTRY_HOST : ENTRY_EXTERNAL,
    ...(probe.payload !== undefined ? { payload: probe.payload } : probe.payloadBytes ? { payload: probe.payloadBytes.length } : {}),
  };
}

/** The payload bytes packet i carries for real (after its L4 header), as its receiver reads them. */
function payloadOf(batch: PacketBatch, i: number): Uint8Array {
  const l4 = batch.l4Off[i];
  const from = l4 + l4HdrLen(batch.bytes, l4, batch.proto[i]);
  return batch.bytes.slice(from, batch.pktOff(i) + batch.hdrLen[i]);
}

/**
 * Traces a probe (and its reply) in `ctx`, whose conntrack carries the flow between the two.
 * With `answer`, the reply carries what the receiver answers to the payload that reached it, and
 * is traced only when it answers.
 */
export function tracePacket(ctx: PipelineContext, probe: Probe, options: { reply?: boolean; capture?: boolean; answer?: Answer } = {}): TraceOutput {
  const capture = options.capture ?? false;
  const forward = runOne(ctx, probe, TCP_SYN, capture);
  const result = summarize(ctx, probe, forward);
  const frames = [...(forward.rec.frames ?? [])];
  let replyProbe = options.reply ? replyProbeOf(probe, forward.batch, forward.i) : undefined;
  if (replyProbe && options.answer) {
    const { batch, i } = forward;
    const bytes = options.answer(payloadOf(batch, i), { ip: batch.dstIp[i], port: batch.dstPort[i] });
    replyProbe = bytes ? { ...replyProbe, payload: bytes.length, payloadBytes: bytes } : undefined;
  }
  if (!replyProbe) return { result, frames };
  const back = runOne(ctx, replyProbe, TCP_SYN | TCP_ACK, capture);
  frames.push(...(back.rec.frames ?? []).map((f) => ({ ...f, hop: f.hop + forward.rec.hops.length })));
  const reply = summarize(ctx, replyProbe, back);
  const arrived = options.answer && reply.verdict !== 'dropped' && reply.verdict !== 'rejected' ? payloadOf(back.batch, back.i) : undefined;
  return { result: { ...result, reply }, frames, ...(arrived ? { answered: arrived } : {}) };
}
