/**
 * Contract checks shared by kdp's property tests (test/properties/), whatever the proxy mode:
 * running packets through the real pipeline with every service decision logged, the oracles
 * (which endpoints kube-proxy may choose, where it masquerades) written from kube-proxy's source
 * independently of kdp's own `topology.ts`, reverse NAT restoring the original tuple, checksums
 * of captured frames, and a property runner whose failure message a person can act on: the seed,
 * the shrunk counterexample, and the commands that replay it with `kdp trace`.
 */
import { replyProbeOf } from '../../src/dataplane/trace.js';
import fc from 'fast-check';
import { PROTO_SCTP } from '../../src/net/proto.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  HOOK_OUTPUT,
  HOOK_PREROUTING,
  HOOK_SOCKET,
  VERDICT_DNAT,
  VERDICT_REDIRECT,
  newNatDecision,
  type FirstPacket,
  type NatDecision,
  type ServiceDataplane,
} from '../../src/compile/dataplane.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD, inject, runBatch } from '../../src/dataplane/pipeline.js';
import { TraceRecorder, type CapturedFrame, type TraceHop } from '../../src/dataplane/trace-recorder.js';
import type { Probe } from '../../src/dataplane/trace.js';
import { PacketBatch } from '../../src/net/batch.js';
import { ipv4ChecksumOk } from '../../src/net/ipv4-header.js';
import { l4ChecksumOk } from '../../src/net/l4.js';
import { cidrContains, formatIp, parseCidr } from '../../src/net/ipv4.js';
import { TCP_SYN } from '../../src/net/l4.js';
import { protocolName, type Cluster, type ModeName } from '../../src/model/types.js';
import {
  clusterObjects,
  describeCluster,
  effectiveService,
  endpointIp,
  nodeName,
  resolveScenario,
  type ClusterSpec,
  type Scenario,
  type EndpointState,
  type ServiceSpec,
  type ResolvedPacket,
} from './arbitraries.js';

// ---------------------------------------------------------------------------------------------
// Run counts

/** Multiplier for every property's run count: `KDP_PROPERTY_RUNS=10 npm run test:deep`. */
export const kRunScale = Math.max(1, Number(process.env.KDP_PROPERTY_RUNS ?? '1') || 1);

/** A property's run count in `npm test`, scaled for deeper runs. */
export function runs(base: number): number {
  return Math.round(base * kRunScale);
}

// ---------------------------------------------------------------------------------------------
// The property runner and its failure report

export interface Replay {
  readonly cluster: ClusterSpec;
  readonly packets: readonly ResolvedPacket[];
  readonly mode?: ModeName;
  readonly seed?: number;
}

export interface CheckOptions<T> {
  readonly numRuns: number;
  /** Readable description of a generated value (defaults to fc.stringify). */
  readonly describe?: (value: T) => string;
  /** The cluster and packets to replay with `kdp trace`, when the value has them. */
  readonly replay?: (value: T) => Replay | undefined;
  /** Fixed seed (e.g. for statistical laws); otherwise KDP_PROPERTY_SEED or a random one. */
  readonly seed?: number;
}

const ipPort = (ip: number, port: number): string => `${formatIp(ip)}:${port}`;

/** Writes the cluster to a temp file and returns the `kdp trace` commands that replay the packets. */
export function replayCommands(r: Replay): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'kdp-property-'));
  const file = join(dir, 'cluster.json');
  writeFileSync(file, `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: clusterObjects(r.cluster) }, null, 2)}\n`);
  const modes: readonly string[] = r.mode ? [r.mode] : ['iptables', 'ipvs', 'nftables', 'userspace'];
  const lines: string[] = [`cluster written to ${file}`];
  for (const p of r.packets) {
    const pr = p.probe;
    for (const mode of modes) {
      lines.push(
        `kdp trace ${file} --src ${ipPort(pr.srcIp, pr.srcPort)} --dst ${ipPort(pr.dstIp, pr.dstPort)} --proto ${protocolName(pr.proto).toLowerCase()} --node ${nodeName(pr.node)} --mode ${mode} --seed ${r.seed ?? 1} --reply`,
      );
    }
  }
  return lines;
}

export function describeProbe(p: ResolvedPacket): string {
  const pr = p.probe;
  const entry = pr.entry === ENTRY_HOST ? 'host' : pr.entry === ENTRY_EXTERNAL ? 'external' : 'pod';
  return `${protocolName(pr.proto)} ${ipPort(pr.srcIp, pr.srcPort)} -> ${ipPort(pr.dstIp, pr.dstPort)} entering ${nodeName(pr.node)} from ${entry} (${p.spec.src} -> ${p.spec.dst}${p.target.servicePort >= 0 ? `, addresses svc-${p.target.service} via ${p.target.via}` : ', addresses no service port'})`;
}

/**
 * Runs `fc.check` and, on failure, throws an error carrying the seed, the shrunk counterexample
 * (described for people), the original failure, and `kdp trace` replay commands.
 */
export function checkProperty<T>(name: string, arb: fc.Arbitrary<T>, predicate: (value: T) => boolean | void, options: CheckOptions<T>): void {
  const envSeed = process.env.KDP_PROPERTY_SEED;
  const seed = options.seed ?? (envSeed !== undefined ? Number(envSeed) : undefined);
  const details = fc.check(fc.property(arb, predicate), { numRuns: options.numRuns, ...(seed !== undefined ? { seed } : {}) });
  if (!details.failed) return;
  const ce = details.counterexample?.[0] as T | undefined;
  const parts = [`property "${name}" failed after ${details.numRuns} runs and ${details.numShrinks} shrinks`];
  parts.push(`seed ${details.seed}, path "${details.counterexamplePath}" (rerun: KDP_PROPERTY_SEED=${details.seed})`);
  if (ce !== undefined) {
    parts.push('counterexample:');
    parts.push(indent(options.describe ? options.describe(ce) : fc.stringify(ce)));
    const r = options.replay?.(ce);
    if (r) {
      try {
        parts.push('replay:');
        parts.push(indent(replayCommands(r).join('\n')));
      } catch (e) {
        parts.push(`(could not write the replay file: ${String(e)})`);
      }
    }
  }
  const err = details.errorInstance;
  parts.push(`failure: ${err instanceof Error ? err.message : String(err)}`);
  const message = parts.join('\n');
  throw new Error(message);
}

const indent = (s: string): string =>
  s
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');

/** Failure-report options for a scenario property: description and replay of the counterexample. */
export function scenarioReport(mode?: ModeName, filter: (p: ResolvedPacket) => boolean = () => true): Pick<CheckOptions<Scenario>, 'describe' | 'replay'> {
  return {
    describe: (sc) => describeScenario(sc.cluster, resolveScenario(sc).packets.filter(filter)),
    replay: (sc) => ({ cluster: sc.cluster, packets: resolveScenario(sc).packets.filter(filter), ...(mode ? { mode } : {}) }),
  };
}

/** Default description of a (cluster, packets) scenario. */
export function describeScenario(cs: ClusterSpec, packets: readonly ResolvedPacket[]): string {
  return [describeCluster(cs), ...packets.map((p) => `packet: ${describeProbe(p)}`)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Running packets through the real pipeline, with every service decision logged

export interface LoggedDecision {
  readonly node: number;
  readonly pkt: FirstPacket;
  readonly out: NatDecision;
}

export interface LoggedContext {
  readonly ctx: PipelineContext;
  readonly log: LoggedDecision[];
  /** The node's compiled dataplane (unwrapped, shared by this context). */
  readonly dataplane: (node: number) => ServiceDataplane;
}

export interface ContextOptions {
  readonly seed?: number;
  readonly conntrackMax?: number;
}

/**
 * A pipeline context over `cluster` in `mode` whose dataplanes log every `decide` (the real
 * compiled dataplane answers; the wrapper only copies the packet and the answer).
 */
export function loggedContext(cluster: Cluster, mode: ModeName, options: ContextOptions = {}): LoggedContext {
  const log: LoggedDecision[] = [];
  const compiled = new CompiledCluster(cluster, mode);
  const real = (node: number): ServiceDataplane => compiled.dataplane(node);
  const wrap = (_c: Cluster, node: number): ServiceDataplane => {
    const dp = real(node);
    return {
      mode: dp.mode,
      node: dp.node,
      // The dataplane's optional capabilities pass through (socket LB, its trace names).
      ...(dp.socketLb !== undefined ? { socketLb: dp.socketLb } : {}),
      ...(dp.snatBy !== undefined ? { snatBy: dp.snatBy } : {}),
      ...(dp.programAt ? { programAt: (pkt: FirstPacket) => dp.programAt!(pkt) } : {}),
      decide(pkt: FirstPacket, out: NatDecision): void {
        dp.decide(pkt, out);
        log.push({ node, pkt: { ...pkt }, out: { ...out } });
      },
      explain: (pkt) => dp.explain(pkt),
      reset: () => dp.reset(),
      stats: () => dp.stats(),
    };
  };
  const ctx = new PipelineContext(new CompiledCluster(cluster, mode, wrap, compiled.plan), {
    seed: options.seed ?? 1,
    conntrackMax: options.conntrackMax ?? 4096,
  });
  return { ctx, log, dataplane: real };
}

export interface SentPacket {
  readonly batch: PacketBatch;
  readonly i: number;
  readonly hops: TraceHop[];
  readonly frames: CapturedFrame[];
  /** The decisions this packet caused (one per node whose rules it met as a new flow). */
  readonly decisions: LoggedDecision[];
  /** END_* of the packet. */
  readonly end: number;
}

/** Sends one packet (with `tcpFlags`) through the pipeline, recording hops and frames. */
export function sendPacket(lc: LoggedContext, probe: Probe, tcpFlags: number = TCP_SYN, payload = 64): SentPacket {
  const { ctx, log } = lc;
  const batch = new PacketBatch({ capacity: 2 });
  const i = batch.push(probe.proto, probe.srcIp, probe.srcPort, probe.dstIp, probe.dstPort, probe.payload ?? payload, tcpFlags);
  const rec = new TraceRecorder(i, (n) => ctx.world.cluster.nodes[n]?.name ?? `node ${n}`, true);
  ctx.recorder = rec;
  const before = log.length;
  inject(ctx, batch, i, probe.node, probe.entry);
  rec.record(batch, i, 'sent', 'sent');
  runBatch(ctx, batch);
  ctx.recorder = null;
  return { batch, i, hops: rec.hops, frames: rec.frames ?? [], decisions: log.slice(before), end: batch.verdict[i] };
}

// ---------------------------------------------------------------------------------------------
// Oracles, from kube-proxy's source (pkg/proxy/topology.go CategorizeEndpoints, iptables/proxier.go)

const kClusterCidr = parseCidr('10.244.0.0/16')!;

export interface EndpointSets {
  /** Rows usable cluster-wide: ready ones, else serving-and-terminating ones; empty when the port never uses Cluster policy. */
  readonly cluster: readonly number[];
  /** Rows on the node: ready ones there, else serving-and-terminating ones there; empty when the port never uses Local policy. */
  readonly local: readonly number[];
  /** Ready rows (what the userspace proxy's LoadBalancerRR gets from Endpoints). */
  readonly ready: readonly number[];
  /** A usable (ready or serving-and-terminating) endpoint exists anywhere in the cluster: hasAnyEndpoints. */
  readonly hasAny: boolean;
}

/** The endpoint row of spec endpoint k of service j for service port `sp`. */
function rowOf(cluster: Cluster, sp: number, ip: number): number {
  const port = cluster.ports[sp];
  for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) if (cluster.endpoints.ip[r] === ip) return r;
  return -1;
}

/** ServicePort.ExternallyAccessible (pkg/proxy/serviceport.go): a NodePort, LoadBalancer IPs or externalIPs. */
export function externallyAccessible(s: ServiceSpec): boolean {
  return s.kind === 'NodePort' || s.kind === 'LoadBalancer' || s.externalIP;
}

/** ServicePort.ExternalPolicyLocal: externalTrafficPolicy Local on an externally accessible port. */
export function externalPolicyLocal(s: ServiceSpec): boolean {
  return externallyAccessible(s) && s.externalLocal;
}

/**
 * kube-proxy's CategorizeEndpoints (pkg/proxy/topology.go), computed from the spec (not from
 * kdp's topology.ts). As there, the Cluster list is computed only when the port
 * UsesClusterEndpoints (iTP Cluster, or any external access: pod traffic short-circuits to it)
 * and the Local list only when it UsesLocalEndpoints (iTP Local, or eTP Local on an externally
 * accessible port) (pkg/proxy/serviceport.go); each is the ready endpoints, else (independently)
 * the serving-and-terminating ones. No topology hints are generated, so topology plays no part.
 */
export function endpointSets(cs: ClusterSpec, cluster: Cluster, sp: number, node: number): EndpointSets {
  const j = Number(cluster.services[cluster.ports[sp].service].name.slice('svc-'.length));
  const svc = effectiveService(cs.services[j]);
  const eps = svc.endpoints.map((e, k) => ({ state: e.state as EndpointState, node: e.node % cs.nodes, row: rowOf(cluster, sp, endpointIp(e.node % cs.nodes, j, k)) }));
  const ready = eps.filter((e) => e.state === 'ready');
  const servingTerminating = eps.filter((e) => e.state === 'serving-terminating');
  const usesCluster = !svc.internalLocal || externallyAccessible(svc);
  const usesLocal = svc.internalLocal || externalPolicyLocal(svc);
  const clusterSet = !usesCluster ? [] : ready.length > 0 ? ready : servingTerminating;
  const localReady = ready.filter((e) => e.node === node);
  const local = !usesLocal ? [] : localReady.length > 0 ? localReady : servingTerminating.filter((e) => e.node === node);
  const rows = (l: { row: number }[]): number[] => l.map((e) => e.row).sort((a, b) => a - b);
  // hasAnyEndpoints: the Cluster list finds a usable endpoint anywhere, and so does the Local
  // pre-scan; a port uses at least one of the two.
  return { cluster: rows(clusterSet), local: rows(local), ready: rows(ready), hasAny: ready.length + servingTerminating.length > 0 };
}

/** How the rules of the deciding node see a packet's source. */
export type SourceClass = 'pod' | 'host' | 'external';

export function sourceClass(cluster: Cluster, d: LoggedDecision): SourceClass {
  return detectedSource(cluster, d.node, d.pkt.srcIp, d.pkt.fromPodInterface, d.pkt.hook === HOOK_OUTPUT);
}

/**
 * How node `node`'s rules class a source: the node's own, a local pod by kube-proxy's
 * --detect-local-mode (pkg/proxy/util/localdetector.go: ClusterCIDR `-s <clusterCIDR>`, NodeCIDR
 * `-s <the node's podCIDR>`, BridgeInterface `-i <bridge>`, InterfaceNamePrefix `-i <prefix>+`:
 * entered from one of the node's pod interfaces), or anything else.
 */
export function detectedSource(cluster: Cluster, node: number, srcIp: number, fromPodInterface: boolean, hookOutput: boolean): SourceClass {
  if (hookOutput) return 'host';
  const n = cluster.nodes[node];
  if (n.internalIPs.includes(srcIp) || n.externalIPs.includes(srcIp)) return 'host';
  switch (cluster.proxy.detectLocalMode) {
    case 'NodeCIDR':
      return n.podCIDRs.some((c) => cidrContains(c, srcIp)) ? 'pod' : 'external';
    case 'BridgeInterface':
    case 'InterfaceNamePrefix':
      return fromPodInterface ? 'pod' : 'external';
    default:
      return cidrContains(kClusterCidr, srcIp) ? 'pod' : 'external';
  }
}

export type Via = 'cluster-ip' | 'node-port' | 'external-ip' | 'lb-ip';

/**
 * The endpoints `mode` may DNAT a packet to (kube-proxy's eligibility, with each mode's
 * documented differences: see test/properties/cross-mode.test.ts for the sources).
 */
export function eligibleRows(mode: ModeName, cs: ClusterSpec, cluster: Cluster, sp: number, node: number, via: Via, src: SourceClass): readonly number[] {
  const sets = endpointSets(cs, cluster, sp, node);
  if (mode === 'userspace') return sets.ready; // U2: no policies, no terminating fallback
  const port = cluster.ports[sp];
  const svc = cluster.services[port.service];
  // Cilium (C-D1): a local socket's traffic uses internalTrafficPolicy for every frontend; at the
  // node's device, external frontends use externalTrafficPolicy (ClusterIPs are not routable there).
  if (mode === 'cilium') {
    if (port.protocol === PROTO_SCTP) return []; // C-D8
    if (src !== 'external') return svc.internalTrafficPolicy === 'Local' ? sets.local : sets.cluster;
    return via === 'cluster-ip' ? [] : svc.externalTrafficPolicy === 'Local' ? sets.local : sets.cluster;
  }
  if (mode === 'ipvs') {
    // pkg/proxy/ipvs/proxier.go syncEndpoint(onlyNodeLocalEndpoints): the local endpoints, else
    // (kubernetes PR 97081) the cluster ones, which CategorizeEndpoints only computes when the
    // port uses Cluster policy somewhere (endpointSets' cluster list is empty otherwise): IPVS D1, D2, D4.
    const onlyLocal = via === 'cluster-ip' ? svc.internalTrafficPolicy === 'Local' : svc.externalTrafficPolicy === 'Local';
    return onlyLocal ? (sets.local.length > 0 ? sets.local : sets.cluster) : sets.cluster;
  }
  if (via === 'cluster-ip') return svc.internalTrafficPolicy === 'Local' ? sets.local : sets.cluster;
  if (svc.externalTrafficPolicy !== 'Local') return sets.cluster;
  // iptables/nftables: pod and node traffic short-circuits to the cluster endpoints.
  return src === 'external' ? sets.local : sets.cluster;
}

/** How a decided packet addressed its service port. */
export function viaOf(cluster: Cluster, d: LoggedDecision): Via | undefined {
  const sp = d.out.servicePort;
  if (sp < 0) return undefined;
  const port = cluster.ports[sp];
  const svc = cluster.services[port.service];
  const { dstIp, dstPort } = d.pkt;
  if (svc.clusterIPs.includes(dstIp) && dstPort === port.port) return 'cluster-ip';
  if (svc.externalIPs.includes(dstIp) && dstPort === port.port) return 'external-ip';
  if (svc.loadBalancerIPs.includes(dstIp) && dstPort === port.port) return 'lb-ip';
  if (port.nodePort !== 0 && dstPort === port.nodePort) return 'node-port';
  return undefined;
}

/**
 * Whether kube-proxy's iptables mode masquerades a DNATed packet (iptables/proxier.go):
 * masqueradeAll or an off-cluster source to a ClusterIP (`! -s clusterCIDR -j KUBE-MARK-MASQ`),
 * hairpin (KUBE-SEP `-s endpoint -j KUBE-MARK-MASQ`), external destinations under Cluster policy
 * (KUBE-EXT "masquerade traffic for ... external destinations"), and, under Local policy, only
 * the node's own traffic ("masquerade LOCAL traffic", `--src-type LOCAL`).
 */
export function expectedMasquerade(cluster: Cluster, d: LoggedDecision, via: Via, src: SourceClass): boolean {
  const hairpin = d.out.endpoint >= 0 && cluster.endpoints.ip[d.out.endpoint] === d.pkt.srcIp;
  if (hairpin) return true;
  const svc = cluster.services[cluster.ports[d.out.servicePort].service];
  if (via === 'cluster-ip') return cluster.proxy.masqueradeAll || src !== 'pod';
  if (svc.externalTrafficPolicy !== 'Local') return true;
  return src === 'host';
}

export function isDnat(d: LoggedDecision): boolean {
  return d.out.verdict === VERDICT_DNAT || d.out.verdict === VERDICT_REDIRECT;
}

// ---------------------------------------------------------------------------------------------
// Shared checks (each returns a description of the violation, or '' when it holds)

/** Every chosen backend belongs to the Service port, and DNAT uses the EndpointSlice's address and port. */
export function backendBelongs(cluster: Cluster, d: LoggedDecision): string {
  const sp = d.out.servicePort;
  const row = d.out.endpoint;
  if (sp < 0) return `DNAT without a service port`;
  const port = cluster.ports[sp];
  if (row < port.endpointStart || row >= port.endpointStart + port.endpointCount) return `endpoint row ${row} is not one of ${cluster.services[port.service].name}:${port.port}'s rows`;
  if (d.out.verdict === VERDICT_DNAT && (d.out.dnatIp !== cluster.endpoints.ip[row] || d.out.dnatPort !== cluster.endpoints.port[row])) {
    return `DNAT to ${ipPort(d.out.dnatIp, d.out.dnatPort)}, but the slice says ${ipPort(cluster.endpoints.ip[row], cluster.endpoints.port[row])}`;
  }
  return '';
}

/** A hop's inner tuple as "src>dst". */
const tupleOf = (h: TraceHop): string => `${h.src}>${h.dst}`;
const swapped = (t: string): string => t.split('>').reverse().join('>');

function distinctRun(hops: readonly TraceHop[]): string[] {
  const out: string[] = [];
  for (const h of hops) {
    const t = tupleOf(h);
    if (out[out.length - 1] !== t) out.push(t);
  }
  return out;
}

/**
 * revNAT∘NAT = id at every hop: the reply's successive inner tuples are the forward ones,
 * reversed and swapped (every NAT the forward path applied is undone, in reverse order, and
 * nothing else changes), and the reply reaches the client from the address it first asked for.
 */
export function replyRestores(forward: readonly TraceHop[], reply: readonly TraceHop[], probe: Probe): string {
  const f = distinctRun(forward);
  const r = distinctRun(reply);
  const want = [...f].reverse().map(swapped);
  const first = `${ipPort(probe.srcIp, probe.srcPort)}>${ipPort(probe.dstIp, probe.dstPort)}`;
  if (f[0] !== first) return `the first hop is ${f[0]}, not the packet sent ${first}`;
  if (r.join(' | ') !== want.join(' | ')) return `reply tuples\n      ${r.join(' | ')}\n    want the forward ones reversed\n      ${want.join(' | ')}`;
  return '';
}

/** Every checksum of every captured frame verifies (outer IPv4/UDP, inner IPv4, inner L4). */
export function framesChecksumsOk(frames: readonly CapturedFrame[]): string {
  const b = new PacketBatch({ capacity: 1 });
  for (const f of frames) {
    b.reset();
    const i = b.load(f.bytes, f.bytes.length, f.wireLen);
    if (i < 0) return `hop ${f.hop}: frame does not parse`;
    const bytes = b.bytes;
    const outer = b.pktOff(i) + 14;
    if (!ipv4ChecksumOk(bytes, outer)) return `hop ${f.hop}: outer IPv4 checksum invalid`;
    const l3 = b.l3Off[i];
    const end = b.pktOff(i) + b.hdrLen[i];
    if (l3 !== outer) {
      if (!ipv4ChecksumOk(bytes, l3)) return `hop ${f.hop}: inner IPv4 checksum invalid`;
      if (bytes[outer + 9] === 17 && !l4ChecksumOk(bytes, outer, outer + 20, 17, end - (outer + 20))) return `hop ${f.hop}: outer UDP checksum invalid`;
    }
    const l4 = b.l4Off[i];
    if (!l4ChecksumOk(bytes, l3, l4, b.proto[i], end - l4)) return `hop ${f.hop}: ${protocolName(b.proto[i] as 6)} checksum invalid`;
  }
  return '';
}

/** Throws (for fast-check) when a check returned a violation. */
export function holds(violation: string, context = ''): void {
  if (violation !== '') throw new Error(context ? `${context}: ${violation}` : violation);
}

export { newNatDecision };

/** The answer to a delivered packet: from where it arrived, back to where it came from. */
export function replyProbe(sent: SentPacket, probe: Probe): Probe | undefined {
  return replyProbeOf(probe, sent.batch, sent.i);
}

/**
 * A TCP connection's later packets as its socket sends them, given its SYN just sent: addressed to
 * the backend the socket was given at connect() where a socket program connected it (socket LB:
 * PacketMeta.peerIp, as the replay sends them), else as `probe`. Call it before the next packet.
 */
export function connectedProbe(lc: LoggedContext, syn: SentPacket, probe: Probe): Probe {
  const peer = lc.ctx.meta.peerIp[syn.i]!;
  return peer !== 0 ? { ...probe, dstIp: peer, dstPort: lc.ctx.meta.peerPort[syn.i]! } : probe;
}

/** The inner IPv4 packet's materialised bytes (IP header to end of L4 header) of a captured frame. */
export function innerIpBytes(f: CapturedFrame): string {
  const b = new PacketBatch({ capacity: 1 });
  const i = b.load(f.bytes, f.bytes.length, f.wireLen);
  if (i < 0) return 'unparsable';
  return Buffer.from(b.bytes.subarray(b.l3Off[i], b.pktOff(i) + b.hdrLen[i])).toString('hex');
}

/**
 * encap∘decap = id: wherever a hop puts outer headers on, the inner packet is the one before, and
 * where they come off, the packet is the inner one unchanged.
 */
export function encapDecapIdentity(hops: readonly TraceHop[], frames: readonly CapturedFrame[]): string {
  const byHop = new Map(frames.map((f) => [f.hop, f]));
  for (let h = 1; h < hops.length; h++) {
    const before = byHop.get(h - 1);
    const after = byHop.get(h);
    if (!before || !after) continue;
    const wasOuter = hops[h - 1].outer !== null;
    const isOuter = hops[h].outer !== null;
    if (wasOuter === isOuter) continue;
    const a = innerIpBytes(before);
    const b = innerIpBytes(after);
    if (a !== b) return `hop ${h} (${hops[h].at}: ${hops[h].action}) changed the inner packet:\n      ${a}\n      ${b}`;
    const overhead = (isOuter ? hops[h].outer! : hops[h - 1].outer!).bytesAdded;
    if (Math.abs(after.wireLen - before.wireLen) !== overhead) return `hop ${h}: wire length ${before.wireLen} -> ${after.wireLen}, not ±${overhead}`;
  }
  return '';
}

/**
 * The dataplane's view of a probe's first packet, as the pipeline fills it: at the socket (socket
 * LB, socket-lb.ts) for a local socket's packet when `socketLb`, else at the service stage (service-nat.ts).
 */
export function firstPacketOf(probe: Probe, rand = 0, now = 0, socketLb = false): FirstPacket {
  const hook = socketLb && probe.entry !== ENTRY_EXTERNAL ? HOOK_SOCKET : probe.entry === ENTRY_HOST ? HOOK_OUTPUT : HOOK_PREROUTING;
  return {
    srcIp: probe.srcIp, srcPort: probe.srcPort, dstIp: probe.dstIp, dstPort: probe.dstPort, proto: probe.proto,
    hook, fromPodInterface: probe.entry === ENTRY_POD, rand, now,
  };
}
