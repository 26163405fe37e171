/**
 * The load sweep: a list of cells (mode x Services x endpoints x CNI x workers x flows), each
 * replayed `repeats` times on the worker pool, measured (throughput, per-stage time, sync cost,
 * memory, the machine's limits), and appended to `DIR/results.jsonl` as one CellResult per line
 * the moment it finishes, so that an interrupted sweep loses at most the cell it was running.
 *
 * Stopping: the AbortSignal is checked between cells; a sweep asked to stop finishes the cell in
 * progress, writes it, and returns (`stopped: true`).
 */
import { appendFileSync, closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, renameSync } from 'node:fs';
import { cpus, release, totalmem, platform } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { kModes, modeNamed } from '../compile/index.js';
import { fileSystemError, ReportInputError } from '../errors.js';
import { makeDirectory } from '../make-directory.js';
import { generateCluster } from '../model/synthetic.js';
import type { Cni, ModeName } from '../model/types.js';
import { kPlanFile, shardOfKey, type PlanLine } from '../report/plan.js';
import { median, spreadOf } from '../report/spread.js';
import { cellKeyString, kKernelMissingFile, memoryGiB, runsOf, type CellKey, type CellResult, type KernelMissing, type MachineInfo, type ParallelScaling, type SweepRun } from '../report/result.js';
import { writeAtomic } from '../write-atomic.js';
import { hugePages, tablesOnHugePages } from './huge-pages.js';
import { measureLimits, type MachineLimits } from './limits.js';
import { type FlowsProgress, kWorkerV8Flags, ReplayPool, revisitFlowsOf, type PoolRun } from './pool.js';
import { lockResults } from './results-lock.js';
import { runChurn } from './churn.js';
import { churnCellOnKernel } from '../verify/churn-kernel.js';
import { kReplayNodes, type RunResult } from './replay.js';

export const kDefaultServices = [10, 100, 1000, 10000, 30000] as const;
export const kFullServices = [10, 100, 1000, 10000, 30000, 100000] as const;
export const kDefaultCni: Cni = 'calico-vxlan';
export const kOtherCnis: readonly Cni[] = ['kubenet', 'calico-ipip', 'calico-bgp', 'flannel-vxlan'];
export const kDefaultFlows = 1_000_000;
export const kFullFlows = 10_000_000;
/** The Services count of the workers sweep (and, with --full, of the CNI sweep). */
export const kWorkersSweepServices = 1000;
export const kDefaultRepeats = 1;
export const kFullRepeats = 3;

/** A cell to run: its key and how many times to repeat it. */
export interface SweepCell extends CellKey {
  readonly mode: ModeName;
  readonly cni: Cni;
  readonly repeats: number;
}

export interface PlanOptions {
  readonly services?: readonly number[];
  readonly endpoints?: number;
  readonly modes?: readonly ModeName[];
  readonly cnis?: readonly Cni[];
  readonly workers?: readonly number[];
  /** Flows per cell for every cell (no per-mode scaling). */
  readonly flows?: number;
  readonly seed?: number;
  readonly zipf?: number;
  /** Network policies per cluster (CellKey.policies): a grid dimension when given. */
  readonly policies?: readonly number[];
  /**
   * `kdp bench --dns`: only DNS cells, for each ndots and with NodeLocal DNSCache off and on
   * (CellKey.dns, ndots, dnsExternal), a grid dimension.
   */
  readonly dns?: { readonly ndots: readonly number[]; readonly external: number };
  /** How every cell sizes its conntrack tables (CellKey.conntrack); default 'fit'. */
  readonly conntrack?: 'fit' | 'kube-proxy';
  readonly full?: boolean;
  readonly repeats?: number;
  /** Cores of the machine (the default workers sweep goes 1..cores). */
  readonly cores: number;
  /** Told about each cell the plan leaves out, and why. */
  readonly onSkip?: (why: string) => void;
}

/**
 * The cells of a sweep, in run order (cheapest Services counts first, so results come early).
 * Default: Services x modes at one worker and calico-vxlan, with the workers sweep (2..cores) at
 * 1,000 Services beside each mode's 1-worker cell there; with --full also the other CNIs at 1,000
 * Services. Explicit --workers or --cni lists make a plain grid instead, its worker counts innermost.
 */
export function planSweep(o: PlanOptions): SweepCell[] {
  const full = o.full === true;
  const services = o.services ?? (full ? kFullServices : kDefaultServices);
  const modes = o.modes ?? kModes.map((m) => m.name);
  const endpoints = o.endpoints ?? 10;
  const seed = o.seed ?? 1;
  const zipf = o.zipf ?? 0;
  const repeats = o.repeats ?? (full ? kFullRepeats : kDefaultRepeats);
  const base = o.flows ?? (full ? kFullFlows : kDefaultFlows);
  const sizing = o.conntrack === 'kube-proxy' ? { conntrack: 'kube-proxy' as const } : {};
  const cell = (mode: ModeName, s: number, cni: Cni, workers: number, policies = 0, dns: Pick<CellKey, 'dns' | 'ndots' | 'dnsExternal'> = {}): SweepCell => ({
    mode, services: s, endpointsPerService: endpoints, cni, workers, flows: base, seed, zipf, repeats, ...sizing, ...(policies > 0 ? { policies } : {}), ...dns,
  });
  const out: SweepCell[] = [];
  const seen = new Set<string>();
  const add = (c: SweepCell): void => {
    // A mode that cannot serve this many Services on a node (ProxyMode.serviceLimit): the cell
    // cannot exist, so the plan leaves it out and says so.
    const limit = modeNamed(c.mode).serviceLimit;
    if (limit && c.services > limit.services) {
      o.onSkip?.(`${c.mode} at ${c.services} Services is left out: ${limit.why}`);
      return;
    }
    const k = cellKeyString(c);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(c);
    }
  };
  const sortedServices = [...services].sort((a, b) => a - b);
  if (o.workers !== undefined || o.cnis !== undefined || o.policies !== undefined || o.dns !== undefined) {
    const cnis = o.cnis ?? [kDefaultCni];
    const workers = o.workers ?? [1];
    const policies = [...(o.policies ?? [0])].sort((a, b) => a - b);
    const dnsCells: Pick<CellKey, 'dns' | 'ndots' | 'dnsExternal'>[] = o.dns
      ? o.dns.ndots.flatMap((ndots) => (['kube-dns', 'nodelocal'] as const).map((dns) => ({ dns, ndots, dnsExternal: o.dns!.external })))
      : [{}];
    // Workers innermost: a cell and its twins on other worker counts run back to back (see below).
    for (const s of sortedServices) for (const cni of cnis) for (const p of policies) for (const d of dnsCells) for (const m of modes) for (const w of workers) add(cell(m, s, cni, w, p, d));
    return out;
  }
  const ws = o.services?.length === 1 ? o.services[0]! : sortedServices.includes(kWorkersSweepServices) ? kWorkersSweepServices : sortedServices[Math.floor(sortedServices.length / 2)]!;
  // The workers sweep runs each mode's cells of 2..cores workers right after its 1-worker cell at
  // `ws`: target (d) reads a pair's ratio, and on a shared machine whose speed drifts over minutes
  // (the record's limits once measured a smaller array 1.5x slower late in a sweep) the two halves
  // of a ratio must be measured as close in time as they can be.
  for (const s of sortedServices) {
    for (const m of modes) {
      add(cell(m, s, kDefaultCni, 1));
      if (s === ws) for (let w = 2; w <= Math.max(1, o.cores); w++) add(cell(m, ws, kDefaultCni, w));
    }
  }
  if (full) for (const cni of kOtherCnis) for (const m of modes) add(cell(m, ws, cni, 1));
  return out;
}

/** µs of a flow's packets through the pipeline, Services aside, for a mode whose cost gives no `flowUs`. */
const kFlowUs = 12;

/** A flow's µs in the modes' cost model (src/compile/mode.ts `cost`): its packets and its first packet's rule walk. */
function modelFlowUs(c: SweepCell): number {
  const { cost } = modeNamed(c.mode);
  return (cost.flowUs ?? kFlowUs) + c.services * cost.firstPacketUsPerService;
}

/**
 * Flows of the untimed run that warms each cell's threads up before its first timed run, for each
 * of the cell's workers. A code path the warm-up never took (a ClientIP affinity hit, a hairpin,
 * a conntrack clash: rare, and more so in a worker's share of the flows) deoptimises the function
 * it is in when the timed run first takes it, and TurboFan compiles that function again on a
 * background thread while the shard runs the slower code. Beside one worker that thread has the
 * other core; beside W it takes one from the shards. nftables at 1k Services on two workers,
 * warmed up on 65,536 flows then on 262,144: the service-nat stage took 506 ns a first packet,
 * then 367 (one worker: 371 and 374), and two workers did 1.79x then 2.05x one worker's new flows
 * (ipvs: 1.87x, 1.99x) (`kdp bench --services 1000 --modes nftables,ipvs --workers 1,2 --flows
 * 1000000`, two runs of each build alternated, 2026-12-06; `--trace-deopt` names decide()'s
 * affinity-hit and hairpin rules). One worker on 65,536 flows met the hairpin of an affinity hit
 * first in the timed run at 100 Services (one deopt of each node's decide()); on 131,072 in the
 * warm-up.
 */
export const kWarmUpFlows = 131_072;
/**
 * A cell whose flows cost more than twice a hash mode's in the cost model (a linear mode's rule
 * walk at 10k Services and more: 15-47 µs a first packet) warms up on the flows that twice a hash
 * mode's warm-up costs there (kWarmUpFlows flows of kFlowUs), never fewer than kMinWarmUpFlows:
 * what such a cell's timed run can lose to a path first met there (a recompile of a few ms) is
 * nothing beside its 15-50 s, and 147k warm-up flows took ~5 s of iptables' cell at 30k Services
 * and ~7 s of userspace's in the default sweep (`kdp bench`, 2026-12-07). Every hash mode's cell,
 * and the linear modes' up to 1k Services, keep kWarmUpFlows.
 */
const kMinWarmUpFlows = 16_384;
export function warmUpFlowsOf(cell: SweepCell): number {
  const affordable = Math.max(kMinWarmUpFlows, Math.floor((2 * kWarmUpFlows * kFlowUs) / modelFlowUs(cell)));
  return Math.min(cell.flows, Math.min(kWarmUpFlows, affordable) * cell.workers);
}

/**
 * Flows of a 1-worker cell's replay again with tables small enough for the cache (CellResult's
 * established.inCache): 2,000 flows' conntrack tables take ~530 KiB on the two nodes, where a
 * core's L2 is a few MiB.
 */
export const kInCacheFlows = 2_000;
/** Runs of it; the result keeps the fastest. */
export const kInCacheRuns = 5;

/** A run's ns per established packet, for the machine: per-worker time / packets / workers. */
function nsPerEstablished(r: PoolRun): number {
  return r.run.establishedPhaseNs / Math.max(1, r.run.establishedPackets) / r.run.workers;
}

/**
 * Relative cost of a cell, for the ETA, in modelled µs: flows x (packets + first-packet rule walk),
 * plus setup, from the mode record's `cost` fields (src/compile/mode.ts). The ETA only uses its
 * ratios; the plan's estimate scales it to seconds (planLines, calibrationOf).
 */
export function cellWeight(c: SweepCell): number {
  const { cost } = modeNamed(c.mode);
  // A --dns cell's connections each bring their lookup's flows: about twice the packets and rule walks (100-Service runs).
  const perFlowUs = modelFlowUs(c) * (c.dns ? 2 : 1);
  const setupUs = c.services * cost.compileUsPerService * kReplayNodes + c.services * 100;
  const warmUp = warmUpFlowsOf(c);
  return ((c.flows * c.repeats + warmUp + revisitFlowsOf(warmUp, c.workers)) * perFlowUs) / c.workers + setupUs;
}

/** Earlier cells give a calibration only from at least this many timed cells. */
const kCalibrationCells = 3;

/**
 * Scale from the cost model (cellWeight, µs) to this machine's seconds, from an earlier sweep's
 * results.jsonl measured on the same hardware (CPU model, cores, memory, platform, Node.js):
 * each cell's time is the gap between its `finishedAt` and the line before it (cells run one
 * after another), divided by the model's; the median over cells is robust to the gap a
 * `--resume` leaves. Undefined without such results.
 */
export function calibrationOf(resultsText: string | undefined, measuredOn: MachineInfo | undefined, here: MachineInfo): { scale: number; cells: number } | undefined {
  if (resultsText === undefined || measuredOn === undefined || hardwareOf(measuredOn) !== hardwareOf(here)) return undefined;
  const ratios: number[] = [];
  let before: number | undefined;
  for (const line of resultsText.split('\n')) {
    let r: CellResult | null;
    try {
      r = JSON.parse(line) as CellResult | null;
    } catch {
      r = null;
    }
    if (typeof r !== 'object' || r === null) {
      before = undefined;
      continue;
    }
    const at = Date.parse(r.finishedAt);
    const known = kModes.some((m) => m.name === r.mode);
    if (known && before !== undefined && at > before) {
      const model = cellWeight({ ...(r as CellKey), mode: r.mode as ModeName, cni: r.cni as Cni, repeats: r.counters?.repeats ?? 1 }) / 1e6;
      ratios.push((at - before) / 1000 / model);
    }
    before = Number.isFinite(at) ? at : undefined;
  }
  return ratios.length >= kCalibrationCells ? { scale: median(ratios), cells: ratios.length } : undefined;
}

/** The machine's hardware and runtime, not its code (a calibration outlives a commit). */
function hardwareOf(m: MachineInfo): string {
  return JSON.stringify([m.cpuModel, m.cores, memoryGiB(m), m.platform, m.node]);
}

/**
 * The plan's lines: each cell's key, coordinates, repeats and estimated seconds (the cost model,
 * scaled by `calibration` when there is one), and with `shards` the shard that runs it.
 */
export function planLines(cells: readonly SweepCell[], calibration: { scale: number } | undefined, shards?: number): PlanLine[] {
  return cells.map((c) => {
    const key = cellKeyString(c);
    const seconds = (cellWeight(c) / 1e6) * (calibration?.scale ?? 1);
    return {
      key,
      mode: c.mode,
      services: c.services,
      endpointsPerService: c.endpointsPerService,
      cni: c.cni,
      workers: c.workers,
      flows: c.flows,
      seed: c.seed,
      zipf: c.zipf,
      ...(c.conntrack === 'kube-proxy' ? { conntrack: c.conntrack } : {}),
      ...(c.policies ? { policies: c.policies } : {}),
      ...(c.dns ? { dns: c.dns, ndots: c.ndots, dnsExternal: c.dnsExternal } : {}),
      repeats: c.repeats,
      estimateSeconds: Math.round(seconds * 10) / 10,
      estimateBasis: calibration ? 'calibrated' : 'model',
      ...(shards !== undefined ? { shard: shardOfKey(key, shards), shards } : {}),
    };
  });
}

/**
 * The commit of the code in `cwd`, or, where there is no checkout (the container image),
 * KDP_GIT_COMMIT (the Dockerfile's build argument); null and why when neither says.
 */
export function gitCommitOf(cwd: string, fromEnv: string | undefined = process.env.KDP_GIT_COMMIT): { gitCommit: string } | { gitCommit: null; gitCommitMissing: string } {
  const git = gitRevParse(cwd);
  if (git.gitCommit === null && fromEnv && /^[0-9a-f]{7,64}$/.test(fromEnv)) return { gitCommit: fromEnv };
  return git;
}

function gitRevParse(cwd: string): { gitCommit: string } | { gitCommit: null; gitCommitMissing: string } {
  try {
    const out = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    if (/^[0-9a-f]{40}([0-9a-f]{24})?$/.test(out)) return { gitCommit: out };
    return { gitCommit: null, gitCommitMissing: `git rev-parse HEAD printed ${JSON.stringify(out.slice(0, 60))}, not a commit id` };
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') return { gitCommit: null, gitCommitMissing: 'git is not installed' };
    const why = (e.stderr ?? '').trim().split('\n')[0] || e.message;
    return { gitCommit: null, gitCommitMissing: `${cwd} is not a git checkout with a commit (${why.slice(0, 120)})` };
  }
}

export function machineInfo(command: string, cwd: string = process.cwd()): MachineInfo {
  const commit = gitCommitOf(cwd);
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model?.trim() || 'unknown',
    cores: cpu.length,
    memoryBytes: totalmem(),
    node: process.version,
    platform: `${platform()} ${process.arch}`,
    kernel: release(),
    v8Flags: kWorkerV8Flags,
    execArgv: [...process.execArgv],
    hugePages: hugePages(),
    ...commit,
    date: new Date().toISOString(),
    command,
  };
}

/**
 * The cell keys already in results.jsonl, read line by line, and the number of a torn last line
 * (a write cut short by a crash: no newline and not JSON), which is dropped so its cell runs again.
 * With `churn`, a cell counts as finished only when its result holds the churn benchmark at that
 * rate (churn is an addition to a cell's result, not a coordinate of its key); with `churnKernel`
 * too, only when the kernel's apply was asked for in it (included, or said why not). `results`:
 * each key's last result, finished or not (a cell measured without churn keeps its figures when
 * --resume adds the churn benchmark to it: runSweep). runSweep also runs again a cell whose result
 * has fewer runs than the cell's repeats.
 */
export function finishedKeys(resultsFile: string, churn?: number, churnKernel = false): { keys: Set<string>; results: Map<string, CellResult>; tornLine?: number } {
  const keys = new Set<string>();
  const results = new Map<string, CellResult>();
  if (!existsSync(resultsFile)) return { keys, results };
  const lines = readFileSync(resultsFile, 'utf8').split('\n');
  let tornLine: number | undefined;
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (!t) continue;
    try {
      const v = JSON.parse(t) as CellResult;
      const k = v?.churn?.kernelApply;
      const hasChurn = churn === undefined || (v?.churn?.changesPerSecond === churn && (!churnKernel || (k !== undefined && k.notIncluded !== kChurnKernelNotAsked)));
      if (v && v.schema === 1 && typeof v.mode === 'string') {
        const key = cellKeyString(v);
        if (hasChurn) keys.add(key);
        results.set(key, v);
      }
    } catch {
      // a half-written line from an interrupted run: that cell is simply run again
      if (i === lines.length - 1) tornLine = i + 1;
    }
  }
  return tornLine === undefined ? { keys, results } : { keys, results, tornLine };
}

/**
 * Appends one result line. A file that does not end in a newline ends in a torn line, so the new
 * line starts with one: glued to the fragment it would be lost with it.
 */
function appendLine(file: string, line: string): void {
  try {
    appendFileSync(file, endsInNewline(file) ? `${line}\n` : `\n${line}\n`);
  } catch (err) {
    throw fileSystemError(err, 'append a result to', file);
  }
}

/** Whether `file` is missing, empty or ends in a newline: reads its last byte only. */
function endsInNewline(file: string): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return true;
    const last = Buffer.alloc(1);
    readSync(fd, last, 0, 1, size - 1);
    return last[0] === 0x0a;
  } finally {
    closeSync(fd);
  }
}

/** The CellResult of a cell's runs. */
export function cellResult(cell: SweepCell, runs: readonly PoolRun[], limits: MachineLimits, parallel?: ParallelScaling, inCache?: PoolRun): CellResult {
  const first = runs[0]!.run;
  // ns per new flow / established packet, for the machine: per-worker time / packets / workers.
  const newNs = runs.map((r) => r.run.newPhaseNs / r.run.firstPackets / r.run.workers);
  const estNs = runs.map(nsPerEstablished);
  const nsPerFlow = median(newNs);
  const nsPerPacket = median(estNs);
  const totalNs = median(runs.map((r) => (r.run.newPhaseNs + r.run.establishedPhaseNs) / r.run.workers));
  const sync = runs.find((r) => r.sync)?.sync;
  // A --dns cell's lookups are packets through the same stages and rules: counted in, as their own first packets.
  const packets = first.firstPackets + first.establishedPackets + first.lookupPackets;
  const firstPackets = first.firstPackets + first.lookupFlows;
  // Each stage's time is the median over the runs (which replay the same packets), as the cell's
  // figures are, so that a target's ratio of two cells' stages reads medians on both sides. It does
  // not remove what moves a cell as a whole: the runs of one cell agree within a few %, the same
  // cell measured minutes apart by far more (IPVS's service-nat stage at 30k Services: 303 ns a
  // first packet in one cell's runs, 408 in the same cell's ten minutes before; nftables' 478, 490).
  const stageMedians = (of: (r: RunResult) => Record<string, number>, per: number): Record<string, number> =>
    Object.fromEntries(Object.keys(of(first)).map((k) => [k, median(runs.map((r) => of(r.run)[k] ?? 0)) / per]));
  const stages = stageMedians((r) => r.stageNs, packets);
  const establishedStages = stageMedians((r) => r.establishedStageNs, first.establishedPackets);
  const serviceNatNs = (stages['service-nat'] ?? 0) * packets;
  const perEntry = first.conntrackCapacity > 0 ? first.conntrackBytes / first.conntrackCapacity : 0;
  const counters: Record<string, number> = {
    ...(sync ? { fullBuilds: sync.fullBuilds } : {}),
    firstPackets: first.firstPackets,
    establishedPackets: first.establishedPackets,
    failedFlows: first.failedFlows,
    newFlows: first.conntrack.new ?? 0,
    conntrackHits: first.conntrack.found ?? 0,
    conntrackInvalid: first.conntrack.invalid ?? 0,
    conntrackEntries: first.conntrackEntries,
    conntrackCapacity: first.conntrackCapacity,
    conntrackBytes: first.conntrackBytes,
    encapBytes: first.encapBytes,
    proxyCopiedBytes: first.proxyCopiedBytes,
    decisions: first.decisions,
    decisionWork: first.decisionWork,
    exactDecisions: first.exactDecisions,
    candidateDecisions: first.candidateDecisions,
    foreignEndpoints: first.foreignEndpoints,
    rxNsPerPacket: first.rxNs / packets,
    nodes: kReplayNodes,
    repeats: runs.length,
    threads: Math.min(...runs.map((r) => r.threads)),
    clusterMs: runs[0]!.clusterMs,
    packMs: runs[0]!.packMs,
    attachMs: runs[0]!.attachMs,
    workerCompiledNodes: Math.max(...runs.map((r) => r.workerCompiledNodes)),
    warmUpFlows: runs[0]!.warmUpFlows,
    warmUpRevisitFlows: runs[0]!.warmUpRevisitFlows,
    // Its cluster and node 0's first build were made for the cell before it (its twin on other workers).
    ...(runs[0]!.setupReused ? { setupReused: 1 } : {}),
    randomReadBytes: limits.randomReadBytes,
    ...(sync ? { fullSyncBytes: sync.fullBytes, fullSyncRules: sync.fullRules } : {}),
    // kdp's in-place table update (sync.oneEndpointMs): how many slots it wrote, or missing.
    ...(sync?.oneEndpointEntriesWritten !== undefined ? { oneEndpointEntriesWritten: sync.oneEndpointEntriesWritten } : {}),
    ...(sync?.oneEndpointRecompiled ? { oneEndpointRecompiled: 1 } : {}),
    // kdp's in-place update for one Service created (sync.oneServiceMs): slots written, or a recompile.
    ...(sync?.oneServiceEntriesWritten !== undefined ? { oneServiceEntriesWritten: sync.oneServiceEntriesWritten } : {}),
    ...(sync?.oneServiceRecompiled ? { oneServiceRecompiled: 1 } : {}),
    ...(sync && sync.oneEndpointMs === undefined ? { measuredOneEndpointUpdate: 0 } : {}),
  };
  for (const [k, v] of Object.entries(first.drops)) counters[`drop:${k}`] = v;
  for (const [k, v] of Object.entries(first.ends)) counters[`end:${k}`] = v;
  const checksums = new Set(runs.map((r) => r.run.decisionChecksum));
  if (checksums.size > 1) counters.checksumMismatches = checksums.size - 1;
  const result: CellResult = {
    schema: 1,
    mode: cell.mode,
    services: cell.services,
    endpointsPerService: cell.endpointsPerService,
    cni: cell.cni,
    workers: cell.workers,
    flows: cell.flows,
    seed: cell.seed,
    zipf: cell.zipf,
    conntrack: cell.conntrack ?? 'fit',
    ...(cell.policies ? { policies: cell.policies } : {}),
    ...(cell.dns ? { dns: cell.dns, ndots: cell.ndots ?? 5, dnsExternal: cell.dnsExternal ?? 0 } : {}),
    finishedAt: new Date().toISOString(),
    packets,
    wireBytes: first.wireBytes,
    gbitPerSecond: totalNs > 0 ? (first.wireBytes * 8) / totalNs : 0,
    newFlow: { nsPerFlow, perSecond: 1e9 / nsPerFlow, ...(runs.length > 1 ? { spread: spreadOf(newNs) } : {}) },
    established: {
      packetsPerSecond: 1e9 / nsPerPacket,
      nsPerPacket,
      ...(runs.length > 1 ? { spread: spreadOf(estNs) } : {}),
      ...(inCache && inCache.run.establishedPackets > 0
        ? { inCache: { flows: inCache.run.flows, nsPerPacket: nsPerEstablished(inCache), conntrackBytes: inCache.run.conntrackBytes } }
        : {}),
    },
    ...(modeNamed(cell.mode).ruleScan === true && first.decisionWork > 0
      ? { iptables: { rulesPerFirstPacket: first.decisionWork / firstPackets, nsPerRule: serviceNatNs / first.decisionWork } }
      : {}),
    sync: {
      fullMs: sync?.fullMs ?? runs[0]!.compileMs[0] ?? 0,
      // 0 with counters.measuredOneEndpointSync = 0 when the mode has no in-place update (shown as missing).
      oneEndpointMs: sync?.oneEndpointMs ?? 0,
      oneEndpointRewrittenBytes: sync?.oneEndpointRewrittenBytes ?? 0,
      ...(sync ? { oneEndpointRewrittenRules: sync.oneEndpointRewrittenRules } : {}),
      ...(sync?.oneServiceMs !== undefined ? { oneServiceMs: sync.oneServiceMs } : {}),
    },
    memory: { tableBytes: first.tableBytes, conntrackBytesPerEntry: perEntry, allNodesTableBytes: first.allNodesTableBytes },
    ...(sync?.figures ? { modeFigures: sync.figures } : {}),
    limits: { randomReadNs: limits.randomReadNs, independentReadNs: limits.independentReadNs, scanNsPerElement: limits.scanNsPerElement, ...(parallel ? { parallel } : {}) },
    ...(cell.dns ? { lookups: lookupsOf(runs) } : {}),
    stages,
    ...(Object.keys(establishedStages).length > 0 ? { establishedStages } : {}),
    counters,
    decisionChecksum: first.decisionChecksum,
  };
  return result;
}

/** CellResult.lookups of a --dns cell's runs: counts from the first, times the median over runs. */
function lookupsOf(runs: readonly PoolRun[]): NonNullable<CellResult['lookups']> {
  const first = runs[0]!.run;
  const lookupNs = median(runs.map((r) => r.run.lookupNs / Math.max(1, r.run.lookupConnections) / r.run.workers));
  const newNs = median(runs.map((r) => r.run.newPhaseNs / r.run.firstPackets / r.run.workers));
  const created = first.conntrack.new ?? 0;
  return {
    connections: first.flows,
    lookedUp: first.lookupConnections,
    names: first.lookupNames,
    queries: 2 * first.lookupNames,
    queriesPerConnection: first.lookupConnections > 0 ? (2 * first.lookupNames) / first.lookupConnections : 0,
    upstreamConnections: first.upstreamConnections,
    conntrackEntries: first.dnsConntrackEntries,
    conntrackShare: created > 0 ? first.dnsConntrackEntries / created : 0,
    lookupNsPerConnection: lookupNs,
    firstPacketNs: newNs + lookupNs,
    failedLookups: first.failedLookups,
  };
}

export interface SweepProgress {
  /**
   * Called when a cell starts, finishes or is skipped, and as it runs (`flows`: its workers'
   * heartbeats, once per chunk of flows a shard, with `flowsDone` of `flowsTotal` in the repeat
   * `repeat`, warm-up included); `fraction` of the sweep's weight done, the running cell's share
   * counted by its flows.
   */
  (event: { kind: 'start' | 'flows' | 'done' | 'skip' | 'fail'; cell: SweepCell; index: number; total: number; fraction: number; etaMs: number; elapsedMs: number; result?: CellResult; error?: string; flowsDone?: number; flowsTotal?: number; repeat?: number }): void;
}

export interface SweepOptions {
  readonly cells: readonly SweepCell[];
  readonly outDir: string;
  readonly resume?: boolean;
  readonly command: string;
  readonly signal?: AbortSignal;
  readonly progress?: SweepProgress;
  /** Replaces the pool (tests). */
  readonly runCell?: (cell: SweepCell, repeat: number, onFlows?: FlowsProgress) => Promise<PoolRun>;
  /** Replaces the limits measurement (tests). */
  readonly limits?: (bytes: number) => MachineLimits;
  /** Replaces the workers cells' scaling measurement (tests; without it, a sweep with `runCell` measures none). */
  readonly scaling?: (threads: number, bytes: number) => Promise<ParallelScaling>;
  /** Replaces the 1-worker cells' replay with kInCacheFlows flows (tests; without it, a sweep with `runCell` runs none). */
  readonly inCacheRun?: (cell: SweepCell) => Promise<PoolRun>;
  readonly log?: (line: string) => void;
  /**
   * The whole sweep's plan (every shard's cells, when `cells` is one shard's), written to
   * DIR/plan.jsonl before the first cell so that a report can list the cells that never finished.
   */
  readonly plan?: readonly PlanLine[];
  /** Added to the machine record: the shard this run is, the Kubernetes node it ran on. */
  readonly machine?: Pick<MachineInfo, 'shard' | 'kubernetesNode'>;
  /**
   * Told every line the sweep records, as JSON: `{"machine": …}`, then `{"plan": …}` per plan
   * line, then each result line as results.jsonl gets it (`kdp bench --stdout`, for `kubectl logs`).
   */
  readonly echo?: (line: string) => void;
  /**
   * `kdp bench --churn R`: after each cell's runs, the churn benchmark (src/replay/churn.ts) at R
   * endpoint changes per second on the cell's cluster, added as the result's `churn`.
   */
  readonly churn?: number;
  /**
   * `--churn-kernel`: each churn cell's syncs are also applied to a real kernel table, one run per
   * backend (src/verify/churn-kernel.ts; root), and its latency includes the kernel's apply.
   */
  readonly churnKernel?: boolean;
  /** The run is `kdp bench`'s default sweep (MachineInfo.sweep.defaultSweep): the CLI knows its flags. */
  readonly defaultSweep?: boolean;
}

/** Why a churn cell's latency leaves the kernel out when no one asked for it. */
export const kChurnKernelNotAsked = 'not asked for (kdp bench --churn R --churn-kernel, as root, includes it)';

/**
 * The churn benchmark of one cell, on the cluster its replay builds, as the result records it;
 * with `kernel`, its syncs applied to the real kernel too (the contract fields then from the
 * node's own backend's run, src/verify/churn-kernel.ts).
 */
export async function churnOfCell(cell: SweepCell, changesPerSecond: number, kernel = false): Promise<Pick<CellResult, 'churn'> & { counters: Record<string, number> }> {
  const cluster = generateCluster({ services: cell.services, endpoints: cell.endpointsPerService, nodes: kReplayNodes, cni: cell.cni, seed: cell.seed, mode: cell.mode });
  const mode = modeNamed(cell.mode);
  const clock = (): number => performance.now();
  const plain = runChurn(mode, cluster, changesPerSecond, cell.seed, clock);
  const { run, kernelApply } = kernel
    ? await churnCellOnKernel(mode, cluster, changesPerSecond, cell.seed, clock, plain)
    : { run: plain, kernelApply: { notIncluded: kChurnKernelNotAsked } };
  return {
    churn: { ...run.result, kernelApply },
    counters: {
      churnSeconds: run.seconds, churnChanges: run.changes, churnFlows: run.flows, churnPackets: run.packets, churnApplyMs: run.applyMs,
      churnRulesWrittenPerSecond: run.rulesWrittenPerSecond, churnRecompiles: run.recompiles,
      ...(run.chainsWrittenPerSecond !== undefined ? { churnChainsWrittenPerSecond: run.chainsWrittenPerSecond } : {}),
    },
  };
}

export interface SweepSummary {
  readonly ran: number;
  readonly skipped: number;
  readonly failed: number;
  readonly stopped: boolean;
  readonly resultsFile: string;
  readonly elapsedMs: number;
}

/** Runs the sweep holding DIR's lock (results-lock.ts), so a second sweep into DIR refuses. */
export async function runSweep(o: SweepOptions): Promise<SweepSummary> {
  makeDirectory(o.outDir);
  const release = lockResults(o.outDir, o.command, o.log ?? (() => {}));
  try {
    return await sweepLocked(o);
  } finally {
    release();
  }
}

async function sweepLocked(o: SweepOptions): Promise<SweepSummary> {
  const t0 = performance.now();
  const resultsFile = join(o.outDir, 'results.jsonl');
  const log = o.log ?? (() => {});
  // A new sweep starts a new results file, so one report never mixes two runs (machines,
  // commits); the previous one is kept beside it, never lost.
  if (!o.resume && existsSync(resultsFile)) {
    const kept = join(o.outDir, `results.${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`);
    try {
      renameSync(resultsFile, kept);
    } catch (err) {
      throw fileSystemError(err, 'move aside', resultsFile);
    }
    log(`kdp bench: the previous results were moved to ${kept} (--resume continues a sweep instead)`);
  }
  // A resumed sweep keeps the record of the run it continues, and notes itself in `resumes`.
  const machineFile = join(o.outDir, 'machine.json');
  const now: MachineInfo = { ...machineInfo(o.command), ...o.machine };
  const pages = now.hugePages;
  // Said only where the tunable, unset, would have given the tables huge pages (a user's own `hugetlb=0` is a choice).
  if (pages !== undefined && !pages.tables && pages.mallocHugetlb === null && tablesOnHugePages(pages.thp, pages.glibc, '1')) {
    log('kdp bench: note: the tables will sit on 4 KiB pages; start Node.js with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (as `npm run bench`, `npm run kdp` and the `kdp` command do) for 2 MiB pages, which take a few % off a first packet at 10k Services and more');
  }
  let machine: MachineInfo = now;
  const resumed = o.resume === true && existsSync(machineFile);
  if (resumed) {
    let before: MachineInfo;
    try {
      before = JSON.parse(readFileSync(machineFile, 'utf8')) as MachineInfo;
    } catch (err) {
      if (err instanceof SyntaxError) throw new ReportInputError(`cannot resume from ${machineFile}: it is not JSON (${err.message})`);
      throw fileSystemError(err, 'read', machineFile);
    }
    machine = { ...before, resumes: [...(before.resumes ?? []), { command: now.command, date: now.date, gitCommit: now.gitCommit, ...(now.hugePages ? { hugePages: now.hugePages } : {}) }] };
  }
  writeAtomic(machineFile, `${JSON.stringify(machine, null, 2)}\n`);
  if (o.plan) writeAtomic(join(o.outDir, kPlanFile), o.plan.map((l) => `${JSON.stringify(l)}\n`).join(''));
  o.echo?.(JSON.stringify({ machine }));
  for (const l of o.plan ?? []) o.echo?.(JSON.stringify({ plan: l }));
  const finished = o.resume ? finishedKeys(resultsFile, o.churn, o.churnKernel) : undefined;
  if (finished?.tornLine !== undefined) log(`kdp bench: ${resultsFile} line ${finished.tornLine} is torn (a write cut short); it is dropped and its cell runs again`);
  const done = finished?.keys ?? new Set<string>();
  const weights = o.cells.map(cellWeight);
  const total = weights.reduce((a, b) => a + b, 0);
  let doneWeight = 0;
  let ranWeight = 0;
  let ranMs = 0;
  let ran = 0;
  let skipped = 0;
  let failed = 0;
  let pool: ReplayPool | undefined;
  const run = o.runCell ?? ((cell: SweepCell, repeat: number, onFlows?: FlowsProgress) => {
    pool ??= new ReplayPool();
    return pool.run(cell, cell.workers, { measureSync: repeat === 0, warmUpFlows: repeat === 0 ? warmUpFlowsOf(cell) : 0, ...(onFlows ? { onFlows } : {}) });
  });
  const clock = (): number => performance.now();
  // The machine's figures are measured once per power-of-two size class of a worker's conntrack
  // tables per sweep: the fill costs ~1 s at 512 MB.
  const sizeClass = (bytes: number): number => 2 ** Math.ceil(Math.log2(Math.max(4096, bytes)));
  const limitsMemo = new Map<number, MachineLimits>();
  const limitsFor = (bytes: number): MachineLimits => {
    const size = sizeClass(bytes);
    let l = limitsMemo.get(size);
    if (!l) {
      l = o.limits ? o.limits(size) : measureLimits(size, clock);
      limitsMemo.set(size, l);
    }
    return l;
  };
  // What W threads of the machine do against one (scaling.ts), once per (W, size class) per sweep,
  // for the cells of more than one worker: the limit their speedup is read against.
  const scalingMemo = new Map<string, ParallelScaling | null>();
  const measureScaling = o.scaling ?? (o.runCell ? undefined : (threads: number, bytes: number) => (pool ??= new ReplayPool()).scaling(threads, bytes));
  const scalingFor = async (threads: number, bytes: number): Promise<ParallelScaling | undefined> => {
    if (threads < 2 || !measureScaling) return undefined;
    const size = sizeClass(bytes);
    const key = `${threads}|${size}`;
    if (!scalingMemo.has(key)) {
      try {
        scalingMemo.set(key, await measureScaling(threads, size));
      } catch (err) {
        log(`warning: the machine's scaling on ${threads} threads was not measured: ${(err as Error).message}`);
        scalingMemo.set(key, null);
      }
    }
    return scalingMemo.get(key) ?? undefined;
  };
  // A 1-worker cell once more with kInCacheFlows flows: the same path with every conntrack lookup a
  // cache hit, beside the cell's figures, so its established cost reads as the path's own work
  // plus what the tables' size adds.
  const inCacheRun = o.inCacheRun ?? (o.runCell ? undefined : (cell: SweepCell) => (pool ??= new ReplayPool()).run(cell, 1, { measureSync: false, warmUpFlows: cell.flows }));
  const inCacheFor = async (cell: SweepCell): Promise<PoolRun | undefined> => {
    if (cell.workers !== 1 || cell.dns || cell.flows <= kInCacheFlows || !inCacheRun) return undefined;
    try {
      // ~14k established packets a run, a few ms: the least of a few runs, as a neighbour on a shared
      // machine can slow one down, never speed it up.
      let best: PoolRun | undefined;
      for (let k = 0; k < kInCacheRuns; k++) {
        // Tables sized to the flows, whatever the cell's sizing (kube-proxy's would be 23 MB a node).
        const r = await inCacheRun({ ...cell, flows: kInCacheFlows, repeats: 1, conntrack: 'fit' });
        if (!best || nsPerEstablished(r) < nsPerEstablished(best)) best = r;
      }
      return best;
    } catch (err) {
      log(`warning: ${cellKeyString(cell)}: the replay with ${kInCacheFlows} flows failed, its figure is missing: ${(err as Error).message}`);
      return undefined;
    }
  };
  const eta = (partial = 0): number => {
    const remaining = total - doneWeight - partial;
    return ranWeight > 0 ? (ranMs / ranWeight) * remaining : Number.NaN;
  };
  // A cell's repeats on the pool, and its result with the machine's figures beside it.
  const measureCell = async (cell: SweepCell, i: number): Promise<CellResult> => {
    const base = { cell, index: i, total: o.cells.length };
    const runs: PoolRun[] = [];
    for (let r = 0; r < cell.repeats; r++) {
      // The bar moves within the cell: repeat r's share of the cell's weight, by flows replayed.
      const onFlows: FlowsProgress = (flowsDone, flowsTotal) => {
        const partial = (weights[i]! * (r + Math.min(1, flowsDone / flowsTotal))) / cell.repeats;
        o.progress?.({ ...base, kind: 'flows', fraction: (doneWeight + partial) / total, etaMs: eta(partial), elapsedMs: performance.now() - t0, flowsDone, flowsTotal, repeat: r });
      };
      runs.push(await run(cell, r, onFlows));
    }
    if (runs.some((r) => r.threads < cell.workers)) log(`warning: ${cellKeyString(cell)}: shards shared a thread; the workers did not all run in parallel`);
    const sums = new Set(runs.map((r) => r.run.decisionChecksum));
    if (sums.size > 1) log(`warning: ${cellKeyString(cell)}: repeats decided differently (checksums ${[...sums].join(', ')})`);
    const full = runs[0]!.run.drops['conntrack-full'] ?? 0;
    if (full > 0) log(`warning: ${cellKeyString(cell)}: ${full} packets dropped with conntrack full`);
    const bytesPerWorker = runs[0]!.run.conntrackBytes / cell.workers;
    return cellResult(cell, runs, limitsFor(bytesPerWorker), await scalingFor(cell.workers, bytesPerWorker), await inCacheFor(cell));
  };
  // How the run ended, into its machine record (the run's own entry of `resumes` when it resumed).
  const end = (stopped: boolean): SweepSummary => {
    const elapsedMs = performance.now() - t0;
    const sweep: SweepRun = { elapsedMs, cells: o.cells.length, ran, skipped, failed, stopped, defaultSweep: o.defaultSweep === true };
    const runs = machine.resumes ?? [];
    const ended: MachineInfo = resumed ? { ...machine, resumes: [...runs.slice(0, -1), { ...runs[runs.length - 1]!, sweep }] } : { ...machine, sweep };
    writeAtomic(machineFile, `${JSON.stringify(ended, null, 2)}\n`);
    return { ran, skipped, failed, stopped, resultsFile, elapsedMs };
  };
  try {
    for (let i = 0; i < o.cells.length; i++) {
      if (o.signal?.aborted) return end(true);
      const cell = o.cells[i]!;
      const base = { cell, index: i, total: o.cells.length };
      const key = cellKeyString(cell);
      // A result of fewer runs than the cell asks (--resume --repeats N after a run of fewer) is
      // measured again, whole: its line then supersedes the earlier one (the report's last line wins).
      const found = finished?.results.get(key);
      const earlier = found !== undefined && runsOf(found) >= cell.repeats ? found : undefined;
      if (found !== undefined && earlier === undefined) log(`kdp bench: ${key}: measured again, with ${cell.repeats} runs (its result in ${resultsFile} has ${runsOf(found)})`);
      if (done.has(key) && earlier !== undefined) {
        skipped++;
        doneWeight += weights[i]!;
        o.progress?.({ ...base, kind: 'skip', fraction: doneWeight / total, etaMs: eta(), elapsedMs: performance.now() - t0 });
        continue;
      }
      o.progress?.({ ...base, kind: 'start', fraction: doneWeight / total, etaMs: eta(), elapsedMs: performance.now() - t0 });
      const c0 = performance.now();
      // A cell with a result that is not finished (--resume --churn R, its result without churn at
      // R): its figures stay and the churn benchmark is added (an addition to the result, not a new
      // measurement of the cell), so the cells of one sweep stay one run's and compare as such.
      let result: CellResult;
      try {
        if (earlier !== undefined) {
          result = earlier;
          log(`kdp bench: ${key}: its figures kept from ${earlier.finishedAt}; the churn benchmark added`);
        } else {
          result = await measureCell(cell, i);
        }
        if (o.churn !== undefined) {
          const c = await churnOfCell(cell, o.churn, o.churnKernel);
          const k = c.churn?.kernelApply;
          if (o.churnKernel && k?.notIncluded !== undefined) log(`kdp bench: ${key}: the churn latency does not include the kernel's apply: ${k.notIncluded}`);
          if (o.churnKernel) for (const m of k?.missing ?? []) log(`kdp bench: ${key}: churn on the kernel not measured for ${m}`);
          result = { ...result, churn: c.churn, counters: { ...result.counters, ...c.counters } };
        }
      } catch (err) {
        failed++;
        doneWeight += weights[i]!;
        const message = (err as Error).message ?? String(err);
        o.progress?.({ ...base, kind: 'fail', fraction: doneWeight / total, etaMs: eta(), elapsedMs: performance.now() - t0, error: message });
        continue;
      }
      const line = JSON.stringify(result);
      appendLine(resultsFile, line);
      o.echo?.(line);
      ran++;
      doneWeight += weights[i]!;
      if (earlier === undefined) {
        ranWeight += weights[i]!;
        ranMs += performance.now() - c0;
      }
      o.progress?.({ ...base, kind: 'done', fraction: doneWeight / total, etaMs: eta(), elapsedMs: performance.now() - t0, result });
    }
  } finally {
    await (pool as ReplayPool | undefined)?.close();
  }
  return end(false);
}

/** Records why a kernel baseline point was not measured (results.ts KernelMissing). */
export function appendKernelMissing(outDir: string, missing: KernelMissing): void {
  makeDirectory(outDir);
  appendLine(join(outDir, kKernelMissingFile), JSON.stringify(missing));
}

/** Appends a result line (used for kernel baselines, which are not replayed by the pool). */
export function appendResult(outDir: string, result: CellResult): void {
  makeDirectory(outDir);
  appendLine(join(outDir, 'results.jsonl'), JSON.stringify(result));
}

export type { RunResult };
