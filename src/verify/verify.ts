/**
 * `kdp verify`: the real Linux kernel as referee.
 *
 * 1. Build a closed sandbox of namespaces for one node (topology.ts) and load kdp's rendering of
 *    that node's rules into it with the real `iptables-restore` / `nft -f` (rules.ts).
 * 2. Send probe packets from client namespaces (probes.ts, agent.ts): each is the first packet of
 *    a new flow, from its own source port.
 * 3. Read what the kernel did from the node's conntrack table: an entry whose reply source is not
 *    the original destination was DNATed (to that endpoint); a reply destination that is not the
 *    original source was masqueraded. No entry means the packet died before conntrack confirmed
 *    it: REJECT when the client got ECONNREFUSED (ICMP port unreachable), DROP when it got nothing.
 * 4. Trace the same packet through kdp (dataplane/trace.ts) and compare: the kernel's endpoint is
 *    among kdp's candidates, masquerade agrees (for the endpoint the kernel picked), reject and
 *    drop agree. Over many flows to one service, both endpoint distributions are uniform.
 */
import { fileURLToPath } from 'node:url';
import { VERDICT_DNAT, newFirstPacket, newNatDecision, type ServiceDataplane } from '../compile/dataplane.js';
import { CompiledCluster } from '../dataplane/compiled-cluster.js';
import { PipelineContext } from '../dataplane/context.js';
import { ENTRY_POD } from '../dataplane/pipeline.js';
import { buildPodNetwork } from '../dataplane/pod-network.js';
import { tracePacket } from '../dataplane/trace.js';
import { EnvironmentError, InvalidArgumentError } from '../errors.js';
import { mix32 } from '../net/hash.js';
import { protocolName, servicePortName, type Cluster, type ModeName } from '../model/types.js';
import { formatIp } from '../net/ipv4.js';
import type { AgentOutcome, AgentProbe, AgentRequest } from './agent.js';
import { ctKey, indexConntrack, parseConntrack, type CtEntry } from './conntrack.js';
import { deriveProbes, hookOf, planAddresses, type VerifyProbe } from './probes.js';
import { kernelMode } from './requirements.js';
import { loadRules, type LoadResult } from './rules.js';
import { chiSquareUniform, type UniformityTest } from './stats.js';
import { sweepStaleOnce, type Sandbox } from './sandbox.js';
import { buildNodeTopology, type NodeTopology } from './topology.js';

export interface VerifyOptions {
  /** A mode whose rules the kernel can load (ProxyMode.kernel). */
  readonly mode: ModeName;
  /** Node index (default 0). */
  readonly node?: number;
  /** Random flows on top of the edge cases (default 200). */
  readonly probes?: number;
  readonly seed?: number;
  /** Flows to one service for the uniformity check (default: 40 per endpoint, 200 to 600). */
  readonly distribution?: number;
  /** How long a client waits for an answer (default 500 ms). */
  readonly probeTimeoutMs?: number;
  /** Overall bound on sending (default 240 s); the agents are killed after it. */
  readonly deadlineMs?: number;
  /** Rewrites the rendered rules before loading them (tests: a deliberately wrong ruleset). */
  readonly tamper?: (text: string) => string;
  readonly log?: (line: string) => void;
}

export type Decision = 'dnat' | 'reject' | 'drop' | 'none' | 'error';

export interface KernelView {
  readonly decision: Decision;
  readonly endpoint: string | null;
  readonly masquerade: boolean;
  /** The conntrack entry or the client's outcome, as evidence. */
  readonly evidence: string;
}

export interface KdpView {
  readonly decision: Decision;
  readonly endpoint: string | null;
  readonly candidates: readonly string[];
  /** Masquerade on the path to the kernel's endpoint (or kdp's own, when the kernel did not DNAT). */
  readonly masquerade: boolean;
  readonly service: string | null;
}

export interface ProbeComparison {
  readonly id: number;
  readonly category: string;
  readonly service: string;
  readonly packet: string;
  readonly client: string;
  readonly kernel: KernelView;
  readonly kdp: KdpView;
  readonly agree: boolean;
  readonly why: string | null;
}

export interface CategoryRow {
  readonly category: string;
  readonly probes: number;
  readonly agree: number;
  readonly disagree: number;
  readonly kernelDecisions: Readonly<Record<string, number>>;
}

export interface DistributionCheck {
  readonly service: string;
  readonly candidates: readonly string[];
  readonly kernel: UniformityTest;
  readonly kdp: UniformityTest;
  /** Both p-values at or above kUniformAlpha. */
  readonly uniform: boolean;
}

export interface VerifyReport {
  readonly mode: ModeName;
  readonly node: string;
  readonly cluster: { readonly services: number; readonly ports: number; readonly endpoints: number };
  readonly load: LoadResult;
  readonly namespaces: readonly string[];
  readonly probes: number;
  readonly agreed: number;
  readonly categories: readonly CategoryRow[];
  readonly disagreements: readonly ProbeComparison[];
  readonly distribution: DistributionCheck | null;
  readonly notProbed: readonly string[];
  readonly durationMs: number;
  readonly ok: boolean;
  /** Every comparison (for --json and tests). */
  readonly comparisons: readonly ProbeComparison[];
}

/** The uniformity test fails below this p-value (one false alarm in 1,000 honest runs). */
export const kUniformAlpha = 0.001;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const responderPath = fileURLToPath(new URL('./responder.js', import.meta.url));
const agentPath = fileURLToPath(new URL('./agent.js', import.meta.url));
const ipPort = (ip: string | number, port: number): string => `${typeof ip === 'number' ? formatIp(ip) : ip}:${port}`;

export async function runVerify(cluster: Cluster, options: VerifyOptions): Promise<VerifyReport> {
  const t0 = performance.now();
  const log = options.log ?? (() => undefined);
  const mode = kernelMode(options.mode);
  if (!mode) throw new InvalidArgumentError(`kdp verify checks a mode whose rules the kernel loads, not ${options.mode}`);
  const node = options.node ?? 0;
  const seed = options.seed ?? 1;
  const compile = (c: Cluster, n: number): ServiceDataplane => mode.kernel.compile(c, n);
  const podNet = buildPodNetwork(cluster);
  const plan = planAddresses(cluster, node, podNet.nodes[node].podBlocks);
  const maxEndpoints = Math.max(0, ...cluster.ports.map((p) => p.endpointCount));
  const distribution = options.distribution ?? Math.min(600, Math.max(200, 40 * maxEndpoints));
  const set = deriveProbes(cluster, plan, { random: options.probes ?? 200, seed, distribution });
  log(`${set.probes.length} probes (${set.probes.filter((p) => p.category === 'random').length} random, ${set.probes.filter((p) => p.category === 'distribution').length} to one service, the rest edge cases)`);

  let text = mode.kernel.render(cluster, node);
  if (options.tamper) text = options.tamper(text);

  const swept = sweepStaleOnce();
  if (swept.removed.length > 0) log(`removed ${swept.removed.length} namespace(s) of runs that died without cleaning up (${swept.removed.join(', ')}), killing ${swept.killed.length} process(es) left in them`);
  for (const f of swept.failed) log(`could not remove a dead run's namespace: ${f}`);

  let topo: NodeTopology | undefined;
  try {
    topo = await buildNodeTopology(cluster, plan);
    log(`sandbox: ${topo.sandbox.namespaces.join(', ')}`);
    const load = await loadRules(topo.sandbox, topo.node, mode, text);
    log(`loaded ${load.lines} lines with ${load.tool} in ${load.ms.toFixed(0)} ms${load.stripped.length ? `; ${load.stripped.length} line(s) refused and stripped` : ''}`);
    await topo.sandbox.exec(topo.node, 'conntrack', ['-F']);

    const deadline = options.deadlineMs ?? 240_000;
    // -b does not size the event socket in conntrack-tools 1.4.7 (kResendRound): lost events are made good by resendEventless.
    const events = topo.sandbox.start(topo.node, 'conntrack', ['-E', '-e', 'NEW', '-o', 'extended', '-b', '16777216'], deadline + 30_000);
    await untilEventsCaughtUp(topo, events);
    const ports = JSON.stringify(endpointPorts(cluster));
    const responders = [topo.pods, topo.remote].map((ns) => topo!.sandbox.start(ns, process.execPath, [responderPath, ports], deadline + 30_000));
    await sleep(500); // the listeners are up before the first probe leaves
    const outcomes = await sendProbes(topo, set.probes, options.probeTimeoutMs ?? 500, deadline);
    await untilEventsCaughtUp(topo, events); // netlink delivers in order: every probe's event is printed before this call's canary
    const resent = await resendEventless(topo, events, set.probes, outcomes, options.probeTimeoutMs ?? 500, deadline);
    if (resent.losses > 0) log(`conntrack -E lost events (ENOBUFS) ${resent.losses} time(s); ${resent.probes} refused probe(s) without an event sent again, ${kResendRound} at a time`);
    const ev = await events.stop();
    if (enobufs(ev.stderr) > resent.losses) throw new EnvironmentError(`conntrack -E lost events (ENOBUFS) after the probes' events were read: ${ev.stderr.trim().slice(0, 300)}`);
    for (const r of responders) await r.stop();
    const ct = await topo.sandbox.exec(topo.node, 'conntrack', ['-L', '-o', 'extended']);
    if (ct.status !== 0) throw new EnvironmentError(`conntrack -L failed: ${ct.stderr.trim()}`);
    const entries = indexConntrack([...parseConntrack(ct.stdout), ...parseConntrack(ev.stdout)]);
    log(`sent; ${entries.size} conntrack entries read back`);

    // kdp's side: the same packets through kdp's pipeline.
    const ctx = new PipelineContext(new CompiledCluster(cluster, mode.name, compile, podNet), { seed, conntrackMax: 'kube-proxy' });
    const scratch = compile(cluster, node);
    // Session affinity: the kernel's `recent` lists and kdp's own start empty but fill with each
    // side's own random first choice, so per probe kdp is asked without affinity state (every
    // endpoint a candidate), and stickiness is checked on its own below.
    const live = ctx.world.compiled.dataplane(node);
    const traced = set.probes.map((p) => {
      live.reset();
      return compare(cluster, ctx, scratch, node, p, entries, outcomes.get(p.id));
    });
    const comparisons = checkAffinity(cluster, traced);
    const distributionCheck = set.distributionPort >= 0 ? checkDistribution(comparisons.filter((c) => c.category === 'distribution')) : null;
    const categories = tabulate(comparisons);
    const disagreements = comparisons.filter((c) => !c.agree);
    const agreed = comparisons.length - disagreements.length;
    return {
      mode: mode.name,
      node: cluster.nodes[node].name,
      cluster: { services: cluster.services.length, ports: cluster.ports.length, endpoints: cluster.endpoints.count },
      load,
      namespaces: [...topo.sandbox.namespaces],
      probes: comparisons.length,
      agreed,
      categories,
      disagreements,
      distribution: distributionCheck,
      notProbed: set.notProbed,
      durationMs: performance.now() - t0,
      ok: disagreements.length === 0 && (distributionCheck?.uniform ?? true),
      comparisons,
    };
  } finally {
    topo?.sandbox.disposeSync();
  }
}

/** A flow no probe uses (RFC 6598 shared space, discard port), to see the listener report. */
const kCanary = { src: '100.64.255.254', dst: '100.64.255.253', dport: '9' };

/**
 * Returns once `conntrack -E` has reported everything that happened before the call. The events are the only evidence of a TCP probe
 * answered by a RST: the kernel deletes a connection whose only reply is a RST at once
 * (net/netfilter/nf_conntrack_proto_tcp.c nf_conntrack_tcp_packet, "If only reply is a RST, we can
 * consider ourselves not to have an established connection ... delete the conntrack
 * immediately"), so `conntrack -L` never lists it. A probe sent before the listener subscribed
 * then looked like a REJECT (the client's ECONNREFUSED) whatever the rules did, and so did one
 * whose event the listener had not printed when it was stopped; under CPU load, subscribing and
 * printing take longer than any fixed sleep. So insert a canary entry (ctnetlink reports it as
 * NEW, after every earlier event) until the listener prints it, then delete it.
 *
 * Only a canary printed after this call began counts. Each call starts again at sport 1000, and
 * the call before the probes has usually printed canary 1000 already: matching that old line, the
 * call after the probes returned at once, without waiting for anything, and a listener still
 * behind (a loaded machine) was stopped with the probes' NEW events unread, so a RST-answered
 * probe (e.g. TCP to the node's address on an unallocated NodePort) read as REJECT.
 */
export async function untilEventsCaughtUp(topo: Pick<NodeTopology, 'node'> & { readonly sandbox: Pick<Sandbox, 'exec'> }, events: { output(): string }, deadlineMs = 60_000): Promise<void> {
  const t0 = performance.now();
  const from = events.output().length; // what the listener had printed before this call
  for (let sport = 1000; ; sport++) {
    const tuple = ['-p', 'udp', '-s', kCanary.src, '-d', kCanary.dst, '--sport', String(sport), '--dport', kCanary.dport];
    const reply = ['--reply-src', kCanary.dst, '--reply-dst', kCanary.src, '--reply-port-src', kCanary.dport, '--reply-port-dst', String(sport), '-t', '30'];
    const ins = await topo.sandbox.exec(topo.node, 'conntrack', ['-I', ...tuple, ...reply]);
    if (ins.status !== 0) throw new EnvironmentError(`conntrack -I failed: ${ins.stderr.trim()}`);
    const seen = `src=${kCanary.src} dst=${kCanary.dst} sport=${sport} dport=${kCanary.dport}`;
    for (let i = 0; i < 20 && !events.output().includes(seen, from); i++) await sleep(25);
    await topo.sandbox.exec(topo.node, 'conntrack', ['-D', ...tuple]);
    if (events.output().includes(seen, from)) return;
    if (performance.now() - t0 > deadlineMs) throw new EnvironmentError(`conntrack -E reported nothing within ${deadlineMs / 1000} s`);
  }
}

/**
 * At most this many probes are re-sent at once after `conntrack -E` lost events: fewer NEW events
 * than its socket holds unread. conntrack-tools 1.4.7's `-b` does not reach that socket (conntrack.c,
 * case CT_EVENT: the SO_RCVBUFFORCE goes to the command socket `sock`, while events are read from
 * `event_sock`), so it keeps net.core.rmem_default (212,992 bytes by default, and read-only inside
 * a network namespace): 166 unread NEW events on Linux 6.18, measured with the listener stopped.
 */
export const kResendRound = 100;

/** How many times a `conntrack -E` said it lost events ("WARNING: We have hit ENOBUFS!"). */
function enobufs(stderr: string): number {
  return stderr.split('ENOBUFS').length - 1;
}

/** What sending probes needs of the sandbox (a NodeTopology; the tests pass a fake). */
export type ProbeTopology = Pick<NodeTopology, 'node' | 'clientNs'> & { readonly sandbox: Pick<Sandbox, 'exec'> };

/**
 * A listener that falls 166 events behind loses the next ones (the agents open 128 flows each at
 * once; a loaded machine may not schedule the listener for that long), and says so only on its
 * standard error. A probe whose only evidence is its NEW event, a SYN answered by a RST (the kernel
 * deletes that entry at once), then reads as REJECT. So after a loss, every refused probe the
 * listener printed no event for is sent again, kResendRound at a time with the listener caught up
 * before each round, so that none of these events can be lost. Its tuple is free again: a refused
 * connect leaves no socket behind, and the RST killed the entry (one that survived, a flow refused
 * by ICMP, is matched again and listed by `conntrack -L` anyway). Returns the losses it acted on
 * and how many probes it re-sent; `outcomes` gets the new outcomes.
 */
export async function resendEventless(
  topo: ProbeTopology,
  events: { output(): string; errors(): string },
  probes: readonly VerifyProbe[],
  outcomes: Map<number, AgentOutcome>,
  timeoutMs: number,
  deadlineMs: number,
): Promise<{ losses: number; probes: number }> {
  const losses = enobufs(events.errors());
  if (losses === 0) return { losses, probes: 0 };
  const printed = indexConntrack(parseConntrack(events.output()));
  const again = probes.filter((p) => outcomes.get(p.id)?.outcome === 'refused' && !printed.has(ctKey(p.proto === 17 ? 'udp' : 'tcp', formatIp(p.src), p.sport, formatIp(p.dst), p.dport)));
  for (let i = 0; i < again.length; i += kResendRound) {
    for (const [id, o] of await sendProbes(topo, again.slice(i, i + kResendRound), timeoutMs, deadlineMs)) outcomes.set(id, o);
    await untilEventsCaughtUp(topo, events);
  }
  if (enobufs(events.errors()) > losses) throw new EnvironmentError(`conntrack -E lost events (ENOBUFS) with at most ${kResendRound} of them unread`);
  return { losses, probes: again.length };
}

/** Every endpoint port, by protocol, for the responders. */
function endpointPorts(cluster: Cluster): { tcp: number[]; udp: number[] } {
  const tcp = new Set<number>();
  const udp = new Set<number>();
  for (const p of cluster.ports) {
    for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) {
      if (p.protocol === 6) tcp.add(cluster.endpoints.port[r]);
      else if (p.protocol === 17) udp.add(cluster.endpoints.port[r]);
    }
  }
  return { tcp: [...tcp], udp: [...udp] };
}

/** Runs one agent per client namespace, all at once; outcomes by probe id. */
async function sendProbes(topo: ProbeTopology, probes: readonly VerifyProbe[], timeoutMs: number, deadlineMs: number): Promise<Map<number, AgentOutcome>> {
  const byNs = new Map<string, AgentProbe[]>();
  for (const p of probes) {
    const ns = topo.clientNs[p.client];
    const list = byNs.get(ns) ?? [];
    list.push({ id: p.id, proto: p.proto === 17 ? 'udp' : 'tcp', src: formatIp(p.src), sport: p.sport, dst: formatIp(p.dst), dport: p.dport });
    byNs.set(ns, list);
  }
  const out = new Map<number, AgentOutcome>();
  await Promise.all(
    [...byNs].map(async ([ns, list]) => {
      const req: AgentRequest = { probes: list, timeoutMs, concurrency: 128 };
      const r = await topo.sandbox.exec(ns, process.execPath, [agentPath], { input: JSON.stringify(req), timeoutMs: deadlineMs });
      if (r.status !== 0) throw new Error(`probe agent in ${ns} failed (status ${r.status}): ${r.stderr.trim().slice(0, 500)}`);
      for (const o of JSON.parse(r.stdout) as AgentOutcome[]) out.set(o.id, o);
    }),
  );
  return out;
}

function kernelView(p: VerifyProbe, entry: CtEntry | undefined, outcome: AgentOutcome | undefined): KernelView {
  const src = formatIp(p.src);
  const dst = formatIp(p.dst);
  if (entry) {
    const dnat = entry.reply.src !== dst || entry.reply.sport !== p.dport;
    const masq = entry.reply.dst !== src || entry.reply.dport !== p.sport;
    return {
      decision: dnat ? 'dnat' : 'none',
      endpoint: dnat ? ipPort(entry.reply.src, entry.reply.sport) : null,
      masquerade: masq,
      evidence: `conntrack: reply ${ipPort(entry.reply.src, entry.reply.sport)} -> ${ipPort(entry.reply.dst, entry.reply.dport)}`,
    };
  }
  const o = outcome?.outcome ?? 'error';
  const decision: Decision = o === 'refused' ? 'reject' : o === 'timeout' ? 'drop' : 'error';
  return { decision, endpoint: null, masquerade: false, evidence: `no conntrack entry; client: ${o}${outcome?.code ? ` (${outcome.code})` : ''}` };
}

/** kdp's masquerade decision on the path that reaches `endpoint` (as the kernel chose it). */
function masqueradeFor(scratch: ServiceDataplane, p: VerifyProbe, endpoint: string, cluster: Cluster): boolean | null {
  const pkt = firstPacketOf(p);
  const out = newNatDecision();
  for (let t = 0; t < 512; t++) {
    scratch.reset();
    pkt.rand = mix32(t, 0x5eed);
    scratch.decide(pkt, out);
    if (out.verdict === VERDICT_DNAT && out.endpoint >= 0 && ipPort(cluster.endpoints.ip[out.endpoint], cluster.endpoints.port[out.endpoint]) === endpoint) return out.masquerade;
  }
  return null;
}

function hasAffinity(cluster: Cluster, service: string): boolean {
  return cluster.ports.some((p) => cluster.services[p.service].affinity.clientIP && servicePortName(cluster, p) === service);
}

function firstPacketOf(p: VerifyProbe) {
  const pkt = newFirstPacket();
  Object.assign(pkt, { srcIp: p.src, srcPort: p.sport, dstIp: p.dst, dstPort: p.dport, proto: p.proto, hook: hookOf(p.entry), fromPodInterface: p.entry === ENTRY_POD, now: 0 });
  return pkt;
}

function freshCandidates(scratch: ServiceDataplane, p: VerifyProbe, cluster: Cluster): string[] {
  scratch.reset();
  return scratch.explain(firstPacketOf(p)).candidates.map((r) => ipPort(cluster.endpoints.ip[r], cluster.endpoints.port[r]));
}

function compare(cluster: Cluster, ctx: PipelineContext, scratch: ServiceDataplane, node: number, p: VerifyProbe, entries: Map<string, CtEntry>, outcome: AgentOutcome | undefined): ProbeComparison {
  const proto = p.proto === 17 ? 'udp' : 'tcp';
  const kernel = kernelView(p, entries.get(ctKey(proto, formatIp(p.src), p.sport, formatIp(p.dst), p.dport)), outcome);
  const { result } = tracePacket(ctx, { proto: p.proto, srcIp: p.src, srcPort: p.sport, dstIp: p.dst, dstPort: p.dport, node, entry: p.entry });
  const kdpDecision: Decision = result.decision === 'accept' ? 'none' : result.decision;
  let candidates = result.candidates;
  if (p.service && result.candidates.length > 0 && hasAffinity(cluster, p.service)) {
    // kdp's nftables explain() runs after the trace's own decide(), which has just put the client
    // in the endpoint's affinity set, so it lists only kdp's own pick. Ask a fresh instance.
    candidates = freshCandidates(scratch, p, cluster);
  }
  let kdpMasq = result.masquerade;
  let why: string | null = null;
  if (kernel.decision === 'dnat' && kdpDecision === 'dnat' && kernel.endpoint) {
    if (!candidates.includes(kernel.endpoint)) why = `the kernel's endpoint ${kernel.endpoint} is not among kdp's candidates`;
    else {
      const m = masqueradeFor(scratch, p, kernel.endpoint, cluster);
      if (m !== null) kdpMasq = m;
      if (kdpMasq !== kernel.masquerade) why = `masquerade: kernel ${kernel.masquerade ? 'yes' : 'no'}, kdp ${kdpMasq ? 'yes' : 'no'}`;
    }
  } else if (kernel.decision === 'error') {
    why = `the probe could not be sent: ${kernel.evidence}`;
  } else if (kernel.decision !== kdpDecision) {
    why = `the kernel did ${kernel.decision}, kdp decided ${kdpDecision}`;
  } else if (kernel.decision === 'none' && kernel.masquerade !== kdpMasq) {
    why = `masquerade: kernel ${kernel.masquerade ? 'yes' : 'no'}, kdp ${kdpMasq ? 'yes' : 'no'}`;
  }
  return {
    id: p.id,
    category: p.category,
    service: p.service,
    packet: `${protocolName(p.proto)} ${ipPort(p.src, p.sport)} -> ${ipPort(p.dst, p.dport)}`,
    client: p.client,
    kernel,
    kdp: { decision: kdpDecision, endpoint: result.endpoint, candidates, masquerade: kdpMasq, service: result.service },
    agree: why === null,
    why,
  };
}

/**
 * With ClientIP affinity, every flow from one client to one service port goes to one endpoint
 * (kdp's rules say so in both modes); a kernel that spread them would disagree.
 */
function checkAffinity(cluster: Cluster, rows: readonly ProbeComparison[]): ProbeComparison[] {
  const sticky = new Set(cluster.ports.filter((p) => cluster.services[p.service].affinity.clientIP).map((p) => servicePortName(cluster, p)));
  const groups = new Map<string, Set<string>>();
  const keyOf = (r: ProbeComparison): string => `${r.service} ${r.packet.split(' ')[1].split(':')[0]}`;
  for (const r of rows) {
    if (!sticky.has(r.service) || r.kernel.decision !== 'dnat' || !r.kernel.endpoint) continue;
    const g = groups.get(keyOf(r)) ?? new Set<string>();
    g.add(r.kernel.endpoint);
    groups.set(keyOf(r), g);
  }
  return rows.map((r) => {
    const g = groups.get(keyOf(r));
    if (!r.agree || !g || g.size <= 1 || r.kernel.decision !== 'dnat') return r;
    return { ...r, agree: false, why: `session affinity: the kernel sent this client's flows to ${g.size} endpoints (${[...g].join(', ')}); kdp keeps them on one` };
  });
}

function checkDistribution(rows: readonly ProbeComparison[]): DistributionCheck | null {
  if (rows.length === 0) return null;
  const candidates = rows[0].kdp.candidates;
  const count = (pick: (c: ProbeComparison) => string | null): number[] => {
    const counts = candidates.map(() => 0);
    for (const r of rows) {
      const i = candidates.indexOf(pick(r) ?? '');
      if (i >= 0) counts[i]++;
    }
    return counts;
  };
  const kernel = chiSquareUniform(count((r) => r.kernel.endpoint));
  const kdp = chiSquareUniform(count((r) => r.kdp.endpoint));
  return { service: rows[0].service, candidates, kernel, kdp, uniform: kernel.pValue >= kUniformAlpha && kdp.pValue >= kUniformAlpha };
}

function tabulate(comparisons: readonly ProbeComparison[]): CategoryRow[] {
  const rows = new Map<string, { probes: number; agree: number; kernel: Record<string, number> }>();
  for (const c of comparisons) {
    const r = rows.get(c.category) ?? { probes: 0, agree: 0, kernel: {} };
    r.probes++;
    if (c.agree) r.agree++;
    r.kernel[c.kernel.decision] = (r.kernel[c.kernel.decision] ?? 0) + 1;
    rows.set(c.category, r);
  }
  return [...rows].map(([category, r]) => ({ category, probes: r.probes, agree: r.agree, disagree: r.probes - r.agree, kernelDecisions: r.kernel }));
}
