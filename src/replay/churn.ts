/**
 * The churn benchmark (`kdp bench --churn R`): endpoints change at R changes per second, shaped
 * like rolling updates, while pods open flows to ClusterIPs; the mode's control plane turns the
 * changes into syncs as its own sync loop does (ProxyMode.syncLoop, in simulated time), each sync
 * is written into node 0's compiled tables, and flows are decided by those tables as they are at
 * the moment.
 *
 * The timeline (simulated seconds, from the seed):
 *  - every Service with two or more pods starts with its last pod gone (no condition set), a slot
 *    for the next pod; rolling-update steps go round the Services: at t a gone pod becomes ready
 *    (the new replica), at t + 1/R the oldest ready pod starts terminating (serving, terminating,
 *    not ready), at t + kGraceS it is gone. Three changes a step, so steps come every 3/R seconds.
 *  - syncs: 'runner' modes run kube-proxy's BoundedFrequencyRunner as Kubernetes v1.33 has it (a
 *    token bucket of `burst` tokens, one per minSyncPeriod; a throttled sync waits minSyncPeriod
 *    from the end of the last one; a sync takes every change that arrived before it); a sync is
 *    partial, or full when the mode walks everything each time (IPVS) or the hourly full sync is
 *    due. 'immediate' modes apply each change as it comes.
 *  - each sync: what kube-proxy would write is planned by the mode's sync code on the programmed
 *    and the current cluster (its bytes, rules and chains are counted; the planning's own time is not, it is kdp's),
 *    then kdp applies it to its tables (ProxyMode.updateEndpoints in place, or a recompile of the
 *    node where the mode has none or cannot write that change in place: counted), timed.
 *  - with a kernel (runChurnOnKernel; src/verify/churn-kernel.ts gives it a network namespace of
 *    its own per backend): before the first sync the kernel table is loaded with the starting
 *    cluster's full payload, and each sync then applies what kube-proxy writes for it (the mode's
 *    ProxyMode.kernel.apply payloads' `forward`, from the programmed to the current cluster) into
 *    that table, timed as kube-proxy pays it (the tool's wall time). The sync lasts kdp's apply
 *    plus the kernel's in the runner's clock, so a slow kernel apply delays the syncs after it.
 *  - programming latency of a change = the wait for its sync + kdp's measured apply + the
 *    kernel's measured apply when there is a kernel (runChurn has none: its latency leaves the
 *    kernel out).
 *  - flows: kFlowsPerSecond new flows from a pod on node 0 to a random Service port's ClusterIP,
 *    decided when they start; each sends kPacketsPerFlow packets kPacketGapS apart to the endpoint
 *    it got. A packet sent while that endpoint's pod is gone is lost, as a real node loses it (the
 *    conntrack entry still points at an address nobody answers).
 *
 * The tables change at a sync's start; decisions in the (measured, sub-millisecond to seconds)
 * apply time see the new rules, which slightly favours slow applies.
 */
import type { ServiceDataplane } from '../compile/dataplane.js';
import { HOOK_PREROUTING, HOOK_SOCKET, newFirstPacket, newNatDecision, VERDICT_DNAT, VERDICT_REDIRECT } from '../compile/dataplane.js';
import type { ProxyMode } from '../compile/mode.js';
import { EP_READY, EP_SERVING, EP_TERMINATING, shouldSkipService, type Cluster } from '../model/types.js';
import { mix32 } from '../net/hash.js';
import { InvalidArgumentError } from '../errors.js';

/** What a churn cell reports (CellResult.churn; documented in src/report/result.ts). */
export interface ChurnResult {
  readonly changesPerSecond: number;
  readonly programmingLatencyMs: { readonly p50: number; readonly p90: number; readonly p99: number };
  readonly syncs: { readonly full: number; readonly partial: number };
  readonly bytesWrittenPerSecond: number;
  readonly packetsToGoneEndpoints: number;
}

/** The run behind it, for counters: how much happened. */
export interface ChurnRun {
  readonly result: ChurnResult;
  readonly seconds: number;
  readonly changes: number;
  readonly flows: number;
  readonly packets: number;
  /** Median ms kdp took to apply one sync to its tables. */
  readonly applyMs: number;
  /** Syncs applied by recompiling node 0: the mode has no in-place update, or its update could not write that change (gave undefined). */
  readonly recompiles: number;
  /**
   * Rules (nft elements, ipvsadm and ipset commands) and chains those writes hold, per simulated
   * second; chains only for modes whose syncs write chains (iptables, nftables). Beside `result`,
   * whose fields are the contract.
   */
  readonly rulesWrittenPerSecond: number;
  readonly chainsWrittenPerSecond?: number;
  /** With a kernel (runChurnOnKernel): its load of the starting table, and its applies, one per sync. */
  readonly kernel?: {
    readonly loadMs: number;
    /** Median ms of one apply. */
    readonly applyMs: number;
    readonly applies: number;
  };
}

/**
 * What the run asks of the kernel, in order: load the starting table (once, before the first
 * sync), then apply each sync's payload. Answered with the ms it took.
 */
export interface KernelStep {
  readonly kind: 'load' | 'apply';
  readonly text: string;
}

/** One sync as the run timed it, in simulated seconds (told to an observer: tests, timelines). */
export interface SyncRecord {
  readonly start: number;
  /** start + (kdpMs + kernelMs) / 1000: when the runner counts the sync as done. */
  readonly end: number;
  /** When each change the sync carried arrived. */
  readonly changedAt: readonly number[];
  readonly kdpMs: number;
  /** 0 without a kernel. */
  readonly kernelMs: number;
}

/** A kernel table for one churn run (src/verify/churn-kernel.ts: a network namespace of its own). */
export interface ChurnKernel {
  /** Loads the starting cluster's full payload into the empty table: its ms. */
  load(text: string): Promise<number>;
  /**
   * Applies one sync's payload to the table: its ms (the tool's wall time, as kube-proxy pays it).
   * Rejects when the kernel refuses it or does not finish in time: the run then has no figure.
   */
  apply(text: string): Promise<number>;
}

/**
 * When a run kube-proxy's BoundedFrequencyRunner is asked for at `t` starts (Kubernetes v1.33,
 * pkg/util/async/bounded_frequency_runner.go, tryRun), given the bucket's `tokens` at t and the
 * end of the last run: at once if a token is there; else its timer fires minSyncPeriod after that
 * end (bfr.lastRun is taken when fn returns) and tries again, at once again until the token comes.
 * A later request that finds a token starts sooner (the caller keeps the earliest).
 */
export function runnerNextRun(tokens: number, t: number, lastEnd: number, minSyncPeriodS: number): number {
  if (tokens >= 1) return t;
  return Math.max(lastEnd + minSyncPeriodS, t + (1 - tokens) * minSyncPeriodS);
}

export const kChurnSeconds = 10;
export const kFlowsPerSecond = 2000;
export const kPacketsPerFlow = 20;
export const kPacketGapS = 0.1;
/** Seconds from SIGTERM to a terminating pod's exit. */
export const kGraceS = 2;

const kReadyPod = EP_READY | EP_SERVING;
const kTerminatingPod = EP_SERVING | EP_TERMINATING;

interface Change {
  readonly t: number;
  readonly service: number;
  readonly ip: number;
  readonly conditions: number;
}

function percentile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/** Sets every row of pod `ip` of Service `s` to `conditions` (in place). */
function setPod(cluster: Cluster, conditions: Uint8Array | number[], s: number, ip: number, value: number): void {
  for (const sp of cluster.services[s].ports) {
    const p = cluster.ports[sp];
    for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if (cluster.endpoints.ip[r] === ip) conditions[r] = value;
  }
}

/** The pods (distinct addresses) of a Service, in row order. */
function podsOf(cluster: Cluster, s: number): number[] {
  const out: number[] = [];
  for (const sp of cluster.services[s].ports) {
    const p = cluster.ports[sp];
    for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if (!out.includes(cluster.endpoints.ip[r])) out.push(cluster.endpoints.ip[r]);
  }
  return out;
}

function withConditions(cluster: Cluster, conditions: Cluster['endpoints']['conditions']): Cluster {
  return { ...cluster, endpoints: { ...cluster.endpoints, conditions } };
}

/** The rolling-update timeline: the starting cluster (a spare, gone pod per Service) and its changes in time order. */
export function churnTimeline(cluster: Cluster, changesPerSecond: number, seconds: number, seed: number): { start: Cluster; changes: Change[] } {
  const conditions = cluster.endpoints.conditions.slice();
  const ready = new Map<number, number[]>();
  const spare = new Map<number, number[]>();
  const rolling: number[] = [];
  for (let s = 0; s < cluster.services.length; s++) {
    const svc = cluster.services[s];
    if (shouldSkipService(svc)) continue;
    const pods = podsOf(cluster, s);
    if (pods.length < 2) continue;
    const last = pods[pods.length - 1];
    setPod(cluster, conditions, s, last, 0);
    ready.set(s, pods.slice(0, -1));
    spare.set(s, [last]);
    rolling.push(s);
  }
  const start = withConditions(cluster, conditions);
  const changes: Change[] = [];
  if (rolling.length === 0 || changesPerSecond <= 0) return { start, changes };
  const gap = 1 / changesPerSecond;
  const offset = mix32(seed, 0x5eed) % rolling.length;
  for (let k = 0, t = 0; t < seconds; k++, t += 3 * gap) {
    const s = rolling[(offset + k) % rolling.length];
    const fresh = spare.get(s)!.shift();
    const old = ready.get(s)!.shift();
    if (fresh === undefined || old === undefined) continue;
    changes.push({ t, service: s, ip: fresh, conditions: kReadyPod });
    changes.push({ t: t + gap, service: s, ip: old, conditions: kTerminatingPod });
    changes.push({ t: t + kGraceS, service: s, ip: old, conditions: 0 });
    ready.get(s)!.push(fresh);
    spare.get(s)!.push(old); // the next step of this Service reuses the slot (a new pod, same address)
  }
  changes.sort((a, b) => a.t - b.t);
  return { start, changes: changes.filter((c) => c.t < seconds) };
}

/** Whether pod `ip` of Service `s` is gone at time `t`, given the changes (time-ordered) and its start state. */
function goneAt(history: Map<string, { t: number; c: number }[]>, startGone: Set<string>, s: number, ip: number, t: number): boolean {
  const key = `${s}/${ip}`;
  const h = history.get(key);
  let gone = startGone.has(key);
  if (h) for (const e of h) { if (e.t > t) break; gone = e.c === 0; }
  return gone;
}

/** The churn run without a kernel: the latency is the wait for the sync plus kdp's apply. */
export function runChurn(mode: ProxyMode, cluster: Cluster, changesPerSecond: number, seed: number, clock: () => number, seconds = kChurnSeconds, observe?: (s: SyncRecord) => void): ChurnRun {
  const r = churnSteps(mode, cluster, changesPerSecond, seed, clock, seconds, false, observe).next();
  if (!r.done) throw new Error('runChurn: a run without a kernel asked for one'); // churnSteps yields only with withKernel
  return r.value;
}

/**
 * The churn run with `kernel` applying each sync (the mode must have ProxyMode.kernel.apply):
 * the latency adds the kernel's apply, and the runner's clock moves with it.
 */
export async function runChurnOnKernel(mode: ProxyMode, cluster: Cluster, changesPerSecond: number, seed: number, clock: () => number, kernel: ChurnKernel, seconds = kChurnSeconds, observe?: (s: SyncRecord) => void): Promise<ChurnRun> {
  if (!mode.kernel?.apply) throw new InvalidArgumentError(`runChurnOnKernel: ${mode.name} mode has no kernel apply rules (ProxyMode.kernel.apply)`);
  const steps = churnSteps(mode, cluster, changesPerSecond, seed, clock, seconds, true, observe);
  for (let r = steps.next(); ; ) {
    if (r.done) return r.value;
    r = steps.next(r.value.kind === 'load' ? await kernel.load(r.value.text) : await kernel.apply(r.value.text));
  }
}

/**
 * The run itself, one generator for both: it yields a KernelStep where a kernel applies (only
 * with `withKernel`) and takes the ms it took, so the simulated clock waits for the kernel
 * without this loop knowing how the kernel is reached.
 */
function* churnSteps(mode: ProxyMode, cluster: Cluster, changesPerSecond: number, seed: number, clock: () => number, seconds: number, withKernel: boolean, observe?: (s: SyncRecord) => void): Generator<KernelStep, ChurnRun, number> {
  const node = 0;
  const kernelRules = withKernel ? mode.kernel?.apply : undefined;
  const { start, changes } = churnTimeline(cluster, changesPerSecond, seconds, seed);
  const loop = mode.syncLoop;
  let programmed = start;
  let dp: ServiceDataplane = mode.compile(start, node);
  const truth = start.endpoints.conditions.slice();

  // Pod histories for the loss count (changes are already time-ordered).
  const history = new Map<string, { t: number; c: number }[]>();
  for (const c of changes) {
    const key = `${c.service}/${c.ip}`;
    if (!history.has(key)) history.set(key, []);
    history.get(key)!.push({ t: c.t, c: c.conditions });
  }
  const startGone = new Set<string>();
  for (let s = 0; s < start.services.length; s++) {
    for (const ip of podsOf(start, s)) {
      const sp = start.services[s].ports[0];
      if (sp === undefined) continue;
      const p = start.ports[sp];
      for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if (start.endpoints.ip[r] === ip && start.endpoints.conditions[r] === 0) startGone.add(`${s}/${ip}`);
    }
  }

  // Untimed warm-up: the first change applied and undone, so that the first timed apply does not
  // pay for compiling the update code.
  if (changes.length > 0 && mode.updateEndpoints) {
    const c = changes[0];
    const warm = start.endpoints.conditions.slice();
    setPod(start, warm, c.service, c.ip, c.conditions);
    // A change the mode cannot write in place writes nothing, and neither does its undo then.
    if (mode.updateEndpoints(dp as never, withConditions(start, warm), [c.service])) mode.updateEndpoints(dp as never, start, [c.service]);
  }
  let recompiles = 0;
  const latencies: number[] = [];
  const applyTimes: number[] = [];
  const kernelTimes: number[] = [];
  let loadMs: number | undefined;
  let full = 0;
  let partial = 0;
  let bytes = 0;
  let rules = 0;
  let chains: number | undefined;
  let lastFull = 0;
  // One sync at time `t` over the changes `batch`: plan what kube-proxy writes, apply to kdp's
  // tables; its ms, and the kernel's payload for it when there is a kernel (applied by the caller,
  // which can yield).
  const sync = (t: number, batch: readonly Change[]): { ms: number; payload?: { full: string; forward: string } } => {
    const next = withConditions(start, truth.slice());
    const services = [...new Set(batch.map((c) => c.service))];
    const isFull = loop.kind === 'full-walk' || (loop.fullSyncPeriodS !== undefined && t - lastFull >= loop.fullSyncPeriodS);
    if (isFull) { full++; lastFull = t; } else partial++;
    const written = mode.syncOneEndpoint(dp as never, programmed, next, node, services);
    bytes += written.oneEndpointRewrittenBytes;
    rules += written.oneEndpointRewrittenRules;
    if (written.oneEndpointRewrittenChains !== undefined) chains = (chains ?? 0) + written.oneEndpointRewrittenChains;
    const t0 = clock();
    if (!mode.updateEndpoints?.(dp as never, next, services)) {
      dp = mode.compile(next, node);
      recompiles++;
    }
    const ms = clock() - t0;
    applyTimes.push(ms);
    // What kube-proxy writes for this sync, from the rules the kernel holds (the programmed
    // cluster's) to the current ones; rendering it is kdp's planning, not timed.
    const payload = kernelRules?.payloads(programmed, next, services);
    programmed = next;
    return { ms, ...(payload ? { payload } : {}) };
  };
  /**
   * The kernel's apply of one sync's payload, ms (0 without a kernel); before the first, the table
   * is loaded with the starting cluster's full payload (its load is not a sync's: not in a latency).
   */
  function* kernelApply(payload?: { full: string; forward: string }): Generator<KernelStep, number, number> {
    if (!payload) return 0;
    loadMs ??= yield { kind: 'load', text: payload.full };
    const ms = yield { kind: 'apply', text: payload.forward };
    kernelTimes.push(ms);
    return ms;
  }
  /** The changes of a sync at `t` are in effect: kdp's apply, then the kernel's (0 without a kernel). */
  const programmedAt = (t: number, batch: readonly Change[], ms: number, kernelMs: number): void => {
    for (const c of batch) latencies.push((t - c.t) * 1000 + ms + kernelMs);
    observe?.({ start: t, end: t + (ms + kernelMs) / 1000, changedAt: batch.map((c) => c.t), kdpMs: ms, kernelMs });
  };

  // Flows, in time order, interleaved with the changes and syncs below.
  const flowCount = Math.floor(kFlowsPerSecond * seconds);
  const ports = start.ports.filter((p) => start.services[p.service].clusterIPs.length > 0 && !start.services[p.service].headless);
  const pkt = newFirstPacket();
  const out = newNatDecision();
  const client = (start.nodes[node].podCIDRs[0]?.base ?? 0) + 200;
  let packets = 0;
  let lost = 0;
  let flowIndex = 0;
  const flowsUntil = (t: number): void => {
    for (; flowIndex < flowCount && flowIndex / kFlowsPerSecond < t; flowIndex++) {
      const tf = flowIndex / kFlowsPerSecond;
      if (ports.length === 0) break;
      const h = mix32(flowIndex, seed);
      const p = ports[h % ports.length];
      pkt.srcIp = (client + (h & 0x3f)) >>> 0;
      pkt.srcPort = 32768 + (mix32(h, 1) % 28000);
      pkt.dstIp = start.services[p.service].clusterIPs[0];
      pkt.dstPort = p.port;
      pkt.proto = p.protocol;
      pkt.hook = dp.socketLb ? HOOK_SOCKET : HOOK_PREROUTING;
      pkt.fromPodInterface = true;
      pkt.rand = mix32(h, 2);
      pkt.now = tf;
      dp.decide(pkt, out);
      // DNAT, or the userspace proxy's REDIRECT with the endpoint it dials.
      if ((out.verdict !== VERDICT_DNAT && out.verdict !== VERDICT_REDIRECT) || out.endpoint < 0) continue;
      const ip = start.endpoints.ip[out.endpoint];
      for (let k = 0; k < kPacketsPerFlow; k++) {
        const tp = tf + k * kPacketGapS;
        if (tp >= seconds) break;
        packets++;
        if (goneAt(history, startGone, p.service, ip, tp)) lost++;
      }
    }
  };

  // The sync loop over the change timeline: Kubernetes v1.33's BoundedFrequencyRunner
  // (pkg/util/async/bounded_frequency_runner.go, tryRun): a run takes a token of the bucket
  // (`burst` tokens, one more per minSyncPeriod); a run that finds none is retried minSyncPeriod
  // after the last run *ended* (lastRun is set when fn returns), and again until a token is there.
  let tokens = loop.burst;
  let refilled = 0;
  let busyUntil = 0;
  let lastEnd = Number.NEGATIVE_INFINITY;
  let pending: Change[] = [];
  let scheduled = Number.POSITIVE_INFINITY;
  const refill = (t: number): void => {
    if (loop.minSyncPeriodS > 0) tokens = Math.min(loop.burst, tokens + (t - refilled) / loop.minSyncPeriodS);
    refilled = t;
  };
  /** The runner asked to run at `t` (a change arrived, or a sync ended with changes waiting). */
  const ask = (t: number): void => {
    if (t < busyUntil) return; // coalesced: looked at again when the running sync ends
    refill(t);
    scheduled = Math.min(scheduled, runnerNextRun(tokens, t, lastEnd, loop.minSyncPeriodS));
  };
  let ci = 0;
  for (;;) {
    const nextChange = ci < changes.length ? changes[ci].t : Number.POSITIVE_INFINITY;
    const nextSync = pending.length > 0 ? Math.max(scheduled, busyUntil) : Number.POSITIVE_INFINITY;
    const t = Math.min(nextChange, nextSync);
    // Changes stop at `seconds`; the syncs they asked for still run, so every change is measured.
    if (!Number.isFinite(t)) break;
    flowsUntil(t);
    if (nextChange <= nextSync) {
      const c = changes[ci++];
      setPod(start, truth, c.service, c.ip, c.conditions);
      if (loop.trigger === 'immediate') {
        const s = sync(c.t, [c]);
        programmedAt(c.t, [c], s.ms, yield* kernelApply(s.payload));
        continue;
      }
      pending.push(c);
      ask(c.t);
    } else {
      if (t < busyUntil) continue;
      refill(t);
      tokens -= 1;
      const batch = pending;
      pending = [];
      scheduled = Number.POSITIVE_INFINITY;
      const s = sync(t, batch);
      const kernelMs = yield* kernelApply(s.payload);
      programmedAt(t, batch, s.ms, kernelMs);
      // The sync ends when the kernel has the rules (kube-proxy's syncProxyRules returns after
      // iptables-restore / nft exits), so a slow apply pushes the next sync back.
      busyUntil = t + (s.ms + kernelMs) / 1000;
      lastEnd = busyUntil;
      if (pending.length > 0) ask(busyUntil);
    }
  }
  flowsUntil(seconds);
  latencies.sort((a, b) => a - b);
  applyTimes.sort((a, b) => a - b);
  kernelTimes.sort((a, b) => a - b);
  return {
    result: {
      changesPerSecond,
      programmingLatencyMs: { p50: percentile(latencies, 0.5), p90: percentile(latencies, 0.9), p99: percentile(latencies, 0.99) },
      syncs: { full, partial },
      bytesWrittenPerSecond: bytes / seconds,
      packetsToGoneEndpoints: lost,
    },
    seconds,
    changes: latencies.length,
    flows: flowIndex,
    packets,
    applyMs: percentile(applyTimes, 0.5),
    recompiles,
    rulesWrittenPerSecond: rules / seconds,
    ...(chains !== undefined ? { chainsWrittenPerSecond: chains / seconds } : {}),
    ...(loadMs !== undefined ? { kernel: { loadMs, applyMs: percentile(kernelTimes, 0.5), applies: kernelTimes.length } } : {}),
  };
}
