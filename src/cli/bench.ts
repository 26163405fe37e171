/**
 * `kdp bench` (= `npm run bench`): the load sweep. Replays synthetic flows through every proxy
 * mode's compiled rules on worker threads, one cell at a time, and appends each finished cell
 * to DIR/results.jsonl; then writes the report.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { kCnis } from '../model/read-config.js';
import type { Cni, ModeName } from '../model/types.js';
import type { CellResult } from '../report/result.js';
import { formatCount } from '../report/format.js';
import { isKernel, measured } from '../report/select.js';
import { kModes } from '../compile/index.js';

const modeList = kModes.map((m) => m.name).join(', ');
/** One line per mode the sweep leaves out above some size, for the help. */
const limits = kModes
  .flatMap((m) => (m.serviceLimit ? [`  ${m.name} is left out above ${m.serviceLimit.services.toLocaleString('en-US')} Services: ${m.serviceLimit.why}.`] : []))
  .join('\n');
import {
  appendKernelMissing,
  appendResult,
  kDefaultFlows,
  kDefaultRepeats,
  kDefaultServices,
  kFullFlows,
  kFullRepeats,
  kFullServices,
  kOtherCnis,
  kWorkersSweepServices,
  calibrationOf,
  machineInfo,
  planLines,
  planSweep,
  runSweep,
  type SweepCell,
  type SweepProgress,
} from '../replay/sweep.js';
import { runKernelBaseline } from '../verify/kernel-bench.js';
import { choiceOption, EXIT_FAILED, EXIT_OK, intOption, parse, type Command } from './command.js';
import { ReportInputError, UsageError } from '../errors.js';
import { parseMachineJson } from '../report/parse-machine.js';
import { parseShard, shardDirName, type PlanLine } from '../report/plan.js';
import { writeReportAndSay } from './report.js';

const cores = (): number => (typeof availableParallelism === 'function' ? availableParallelism() : cpus().length);

const help = `Usage: kdp bench [options]

The load sweep: how each proxy mode's throughput and costs change with the number of Services.
Every cell builds a synthetic cluster (2 nodes, --endpoints per Service), compiles each node's
rules once and shares them with the worker threads (SharedArrayBuffer), and replays synthetic
flows (pods to ClusterIPs, pod to pod on the same and another node, external clients to
NodePorts and LoadBalancer IPs, pods to the outside) through the whole pipeline on the workers,
flows sharded to workers by their RSS hash, after an untimed warm-up run. It measures the
first packet of every flow (ns per new flow), the rest of each flow (established packets per
second), per-stage time, rule-sync cost (full build; one endpoint turning unready), table and
conntrack memory, the machine's limits (a random read as large as the conntrack tables, a
bare array scan), and, for a cell of one worker, its established packets again with 2,000 flows
(tables that stay in cache). Each finished cell is appended to DIR/results.jsonl at once.

Default sweep (about seven minutes on this project's 2-core machine, where BENCHMARKS.md times it as target (h);
--plan estimates it for this one; --kernel adds about thirty more):
  Services ${kDefaultServices.join(', ')} x modes ${modeList} x 10 endpoints x calico-vxlan,
  1 worker; and the workers sweep at ${kWorkersSweepServices.toLocaleString('en-US')} Services: each mode's cells of 2..cores workers
  right after its 1-worker cell, so that a pair's ratio (target (d)) is measured back to back.
  ${kDefaultFlows.toLocaleString('en-US')} flows in every cell. Most of the time goes to the linear modes at 10,000 and 30,000
  Services: their first packets walk every Service's rule on both nodes of the path, which is
  what the sweep measures. Each cell runs once by default (${kDefaultRepeats} repeat: no spread is
  recorded); --repeats N gives medians over N runs with their min-max spread.
  --full: Services ${kFullServices.join(', ')}, ${kFullFlows.toLocaleString('en-US')} flows per cell, ${kFullRepeats} repeats, and the
  other CNIs (${kOtherCnis.join(', ')}) at ${kWorkersSweepServices.toLocaleString('en-US')} Services. It takes hours.
${limits}

Options:
  --services LIST   Services counts, e.g. 100,10000
  --endpoints N     endpoints per Service                       [default: 10]
  --modes LIST      proxy modes (${modeList})
  --cni LIST        CNIs (${kCnis.join(', ')})                  [default: calico-vxlan]
  --workers LIST    worker counts, e.g. 1,2 (a grid with every cell; default: 1, plus the
                    workers sweep 2..cores at one Services count)
  --flows N         flows per cell, for every cell (no scaling of the linear modes)
  --seed S          seed of the clusters and flows                [default: 1]
  --zipf S          Service popularity: Zipf exponent, 0 uniform  [default: 0]
  --conntrack HOW   how each node's conntrack table is sized: fit (holds every flow of the
                    worker's shard, nothing dropped for want of room) or kube-proxy
                    (nf_conntrack_max as kube-proxy leaves it on the node: max(maxPerCore x
                    CPUs, min), never below the kernel's default, 262144 on the synthetic
                    nodes; divided by the workers, each owning a shard of the flows as RSS
                    gives a core its share). A full table drops new flows, counted as
                    drop:conntrack-full                           [default: fit]
  --policies LIST   network policies per cluster, e.g. 0,100,1000,10000 (the mix of kdp
                    generate --policies; enforced on Calico CNIs): a grid dimension, so the
                    sweep measures first-packet cost and established throughput against it
  --dns             DNS cells only: each connection a pod opens to a ClusterIP first resolves
                    the Service's name (\`svc\` in its namespace, \`svc.ns\` across) as its
                    resolver would (kubelet's resolv.conf, glibc's search order, A and AAAA on
                    one socket per name: real query and answer sizes), each name a UDP flow
                    to the nameserver through the mode's rules and conntrack; the cluster gets
                    kube-system/kube-dns (CoreDNS on every node). Cells with NodeLocal DNSCache
                    off and on (its NOTRACK rules, a per-node cache with CoreDNS's 5 s TTLs, a
                    TCP connection to kube-dns-upstream per miss) for each --ndots. Reports DNS
                    queries per connection, the conntrack entries DNS makes and its share, and
                    the first-packet cost with the lookup
  --ndots LIST      the pods' ndots with --dns, e.g. 5,1 (5 is kubelet's; 1 as a pod's
                    dnsConfig sets it)                            [default: 5,1]
  --dns-external S  with --dns, the share of looked-up connections that call an external
                    name (api-K.example.com, one of 256) instead of a Service   [default: 0.1]
  --repeats N       runs per cell (medians and min-max spread)    [default: ${kDefaultRepeats}; --full ${kFullRepeats}]
  --out DIR         results directory                             [default: results]
  --resume          skip cells already in DIR/results.jsonl (same key: mode, Services,
                    endpoints, CNI, workers, flows, seed, zipf, conntrack, policies, dns)
                    with at least --repeats runs; a cell of fewer runs is measured again
                    and its new line supersedes the old
  --full            the long sweep (see above)
  --cores N         cores the default workers sweep goes up to (2..N)  [default: this machine's]
  --kernel          also run the real kernel's baseline (src/verify/kernel-bench.ts) for
                    iptables and nftables at each Services count, when it is available
                    (with --churn, --churn-kernel too)
  --churn R         also run the churn benchmark in every cell: R endpoint changes per
                    second shaped like rolling updates (a new pod ready, an old one
                    terminating, then gone), 10 simulated seconds, each mode's sync loop
                    (kube-proxy's minSyncPeriod runner, or immediate), flows from a pod to
                    ClusterIPs; adds programming latency p50/p90/p99, syncs by kind, bytes
                    written per second and packets sent to gone endpoints as the result's
                    \`churn\` (rules and chains written per second in counters). It plans
                    every sync with the mode's own sync code, which takes
                    seconds per sync at tens of thousands of Services: keep cells small
  --churn-kernel    with --churn, as root: every sync of the churn run is also applied to a
                    real kernel table (what kube-proxy writes for it, into a network namespace
                    of its own first loaded with the cell's rules; one run per backend:
                    iptables-legacy and iptables-nft, or nft), and the latency includes that
                    apply, of the backend the node's iptables-restore is (the others beside
                    it; src/verify/churn-kernel.ts). Without the kernel baseline of --kernel,
                    which implies it when --churn is given. Modes kdp cannot apply to the
                    kernel (ipvs, userspace, cilium) say so in the result
  --no-report       do not write the report at the end
  -h, --help        this text

Plans and shards (a sweep over many machines: kdp job prints it as a Kubernetes Indexed Job):
  --plan            print the cells the sweep would run and exit: one JSON object a line with
                    the cell's key (mode|Services|endpoints|CNI|workers|flows|seed|Zipf, the key
                    --resume uses), its coordinates, repeats, and estimateSeconds, its time on
                    this machine: the modes' cost model (each mode record's cost fields x flows x
                    repeats, plus compile time; src/replay/sweep.ts cellWeight), scaled to this
                    machine by DIR/results.jsonl when that sweep ran on the same hardware (the
                    median of each cell's measured time over the model's; estimateBasis says
                    "calibrated" then, "model" otherwise). With --shards N or --shard I/N, each
                    line names its shard; a summary goes to stderr
  --shard I/N       run only shard I of N (0 <= I < N): the cells whose key hashes to I
                    (FNV-1a, then MurmurHash3's finaliser, mod N), so a cell's shard depends on
                    its key alone, never on the order of flags or cells. Results go to
                    DIR/shard-I-of-N/ with their own machine.json and the whole sweep's
                    plan.jsonl; no report is written (kdp report --results DIR merges the shards)
  --shards N        the same, with I from JOB_COMPLETION_INDEX (set in each pod of an Indexed Job)
  --stdout          also print the machine record, the plan and each result as JSON lines on
                    stdout, for kubectl logs (kdp report reads such a log as it reads a directory)

Ctrl-C stops after the cell in progress (kept in results.jsonl); a second Ctrl-C quits at once.
A cell whose worker makes no progress for 10 minutes (no heartbeat: a worker that hangs) is
stopped and failed with the reason, and the sweep goes on with the next cell.
The report (BENCHMARKS.md and bench/charts/ for the default --out; DIR/BENCHMARKS.md and
DIR/charts/ otherwise) is written at the end.

A cell's seed is --seed itself: its cluster and flows depend on its own coordinates only, so a
shard's cells decide exactly as they do in the whole sweep (same decision checksums).

Exit status: 0 every cell ran; 1 some cell failed or the sweep was stopped; 2 bad usage, or --out
names a file, or a shard index outside 0..N-1; 3 DIR cannot be created or written (procfs, permissions, a read-only or full disk),
or another sweep holds DIR (DIR/results.lock names it).
`;

function listOption(value: string | undefined, name: string): string[] | undefined {
  if (value === undefined) return undefined;
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (items.length === 0) throw new UsageError(`--${name} needs at least one value, e.g. --${name} ${name === 'modes' ? 'iptables,nftables' : '1,2'}`);
  return items;
}

function intList(value: string | undefined, name: string, min: number, max: number): number[] | undefined {
  return listOption(value, name)?.map((v) => intOption(v, name, 0, min, max));
}

function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return '--:--';
  const s = Math.round(ms / 1000);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

function cellName(c: SweepCell): string {
  return `${c.mode} ${c.services.toLocaleString('en-US')} svc x${c.endpointsPerService} ${c.cni} ${c.workers}w ${c.flows.toLocaleString('en-US')} flows`;
}

/** One finished cell in one line, as the sweep prints it. */
export function summaryLine(r: CellResult): string {
  const n = (x: number, d = 0) => x.toLocaleString('en-US', { maximumFractionDigits: d });
  const ipt = r.iptables ? `, ${n(r.iptables.rulesPerFirstPacket)} rules/first packet at ${n(r.iptables.nsPerRule, 2)} ns/rule` : '';
  // A figure the cell did not measure is said to be missing, never printed as 0 (report/select.ts measured()).
  const established = measured(r, 'Established') ? `${n(r.established.packetsPerSecond / 1e6, 2)} Mpps established (${n(r.established.nsPerPacket)} ns/pkt)` : 'established not measured';
  const synced = measured(r, 'OneEndpointSync');
  const oneEndpoint = isKernel(r.mode) ? (synced ? `${n(r.sync.oneEndpointMs, 1)} ms kernel apply` : 'kernel apply not measured') : !measured(r, 'OneEndpointUpdate') ? 'no in-place update'
    : r.counters?.oneEndpointRecompiled ? `${n(r.sync.oneEndpointMs, 1)} ms recompile (not in place)` : `${n(r.sync.oneEndpointMs * 1000, 1)} µs table update`;
  return `${n(r.newFlow.nsPerFlow)} ns/new flow, ${established}${ipt}; sync ${n(r.sync.fullMs)} ms full, one endpoint: ${oneEndpoint}${synced ? `, kube-proxy writes ${n(r.sync.oneEndpointRewrittenBytes)} B` : ''}; checksum ${r.decisionChecksum}`;
}

/** A progress bar with ETA on stderr (one line per event when stderr is not a terminal). */
export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): SweepProgress {
  const tty = stream.isTTY === true;
  let lastFlows = 0;
  return (e) => {
    const width = 24;
    const filled = Math.min(width, Math.round(e.fraction * width));
    const bar = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(e.fraction * 100)).padStart(3)}%`;
    const head = `${bar} cell ${e.index + 1}/${e.total} elapsed ${formatMs(e.elapsedMs)} ETA ${formatMs(e.etaMs)}`;
    if (e.kind === 'start') {
      if (tty) stream.write(`\r\x1b[K${head}  ${cellName(e.cell)}`);
      else stream.write(`${head}  ${cellName(e.cell)}: running\n`);
    } else if (e.kind === 'flows') {
      // Within a cell the bar moves on a terminal only (a log would get a line per heartbeat),
      // and at most a few times a second.
      const now = Date.now();
      if (!tty || now - lastFlows < 200) return;
      lastFlows = now;
      const repeat = e.cell.repeats > 1 ? `, repeat ${e.repeat! + 1}/${e.cell.repeats}` : '';
      stream.write(`\r\x1b[K${head}  ${cellName(e.cell)} (${formatCount(e.flowsDone!)}/${formatCount(e.flowsTotal!)} flows${repeat})`);
    } else {
      if (tty) stream.write('\r\x1b[K');
      const what = e.kind === 'done' ? summaryLine(e.result!) : e.kind === 'skip' ? 'already in results (--resume), skipped' : `FAILED: ${e.error}`;
      stream.write(`${e.kind === 'fail' ? 'x' : e.kind === 'skip' ? '-' : '+'} ${cellName(e.cell)}: ${what}\n`);
    }
  };
}

/** The kernel baselines (src/verify/kernel-bench.ts); each skip says why. */
export async function runKernelBaselines(services: readonly number[], endpoints: number, seed: number, modes: readonly ModeName[], outDir: string, log: (l: string) => void): Promise<number> {
  let added = 0;
  for (const s of services) {
    for (const { name: mode } of kModes.filter((m) => m.kernel !== undefined)) {
      if (!modes.includes(mode)) continue;
      try {
        const r = await runKernelBaseline({ services: s, endpointsPerService: endpoints, seed, mode, log: (l) => log(`kdp bench: --kernel ${mode} at ${s} Services: ${l}`) });
        if ('skipped' in r) {
          log(`kdp bench: --kernel ${mode} at ${s} Services skipped: ${r.skipped}`);
          appendKernelMissing(outDir, { mode: `kernel-${mode}`, services: s, endpointsPerService: endpoints, seed, why: r.skipped, at: new Date().toISOString() });
          continue;
        }
        appendResult(outDir, r);
        added++;
        log(`+ kernel-${mode} ${s} svc: ${summaryLine(r)}`);
      } catch (err) {
        log(`kdp bench: --kernel ${mode} at ${s} Services failed: ${(err as Error).message}`);
        appendKernelMissing(outDir, { mode: `kernel-${mode}`, services: s, endpointsPerService: endpoints, seed, why: `failed: ${(err as Error).message}`, at: new Date().toISOString() });
      }
    }
  }
  return added;
}

/** Writes the report of DIR's results: BENCHMARKS.md and bench/charts/ for the default --out,
 * DIR/BENCHMARKS.md and DIR/charts/ otherwise. Unreadable results are logged, not thrown. */
export function runReport(outDir: string, defaultOut: boolean, log: (l: string) => void): void {
  try {
    writeReportAndSay(defaultOut ? { resultsDir: outDir } : { resultsDir: outDir, outFile: join(outDir, 'BENCHMARKS.md'), chartsDir: join(outDir, 'charts') });
  } catch (err) {
    if (!(err instanceof ReportInputError)) throw err;
    log(`kdp bench: no report written: ${err.message}`);
  }
}

/** The flags that shape a sweep's cells: `kdp bench` and `kdp job` take the same ones. */
export const kSweepFlags = {
  services: { type: 'string' },
  endpoints: { type: 'string' },
  modes: { type: 'string' },
  cni: { type: 'string' },
  workers: { type: 'string' },
  flows: { type: 'string' },
  seed: { type: 'string' },
  zipf: { type: 'string' },
  conntrack: { type: 'string' },
  repeats: { type: 'string' },
  policies: { type: 'string' },
  dns: { type: 'boolean' },
  ndots: { type: 'string' },
  'dns-external': { type: 'string' },
  full: { type: 'boolean' },
} as const;

type SweepFlagValues = { [K in keyof typeof kSweepFlags]?: (typeof kSweepFlags)[K]['type'] extends 'boolean' ? boolean : string };

/** Whether `cells` are the default sweep's on this machine's `cores` (`kdp bench` with no grid flag): what issue 14 times. */
export function isDefaultGrid(cells: readonly SweepCell[], cores: number): boolean {
  const grid = planFromFlags({}, cores, () => {});
  return cells.length === grid.length && cells.every((c, i) => JSON.stringify(c) === JSON.stringify(grid[i]));
}

/** The sweep's cells from its flags (usage errors name the flag), with the default workers sweep up to `cores`. */
export function planFromFlags(values: SweepFlagValues, cores: number, onSkip: (why: string) => void): SweepCell[] {
  const modes = listOption(values.modes, 'modes');
  for (const m of modes ?? []) if (!kModes.some((k) => k.name === m)) throw new UsageError(`--modes takes ${modeList}, not "${m}"`);
  for (const flag of ['ndots', 'dns-external'] as const) if (values[flag] !== undefined && !values.dns) throw new UsageError(`--${flag} shapes the DNS cells: give it with --dns`);
  const cnis = listOption(values.cni, 'cni');
  for (const c of cnis ?? []) if (!(kCnis as readonly string[]).includes(c)) throw new UsageError(`--cni takes ${kCnis.join(', ')}, not "${c}"`);
  let zipf: number | undefined;
  if (values.zipf !== undefined) {
    zipf = Number(values.zipf);
    if (!Number.isFinite(zipf) || zipf < 0 || zipf > 10) throw new UsageError(`--zipf takes a number from 0 (uniform) to 10, not "${values.zipf}"`);
  }
  return planSweep({
    services: intList(values.services, 'services', 1, 1_000_000),
    endpoints: intOption(values.endpoints, 'endpoints', 10, 1, 1000),
    modes: modes as ModeName[] | undefined,
    cnis: cnis as Cni[] | undefined,
    workers: intList(values.workers, 'workers', 1, 256),
    flows: values.flows === undefined ? undefined : intOption(values.flows, 'flows', 0, 1, 1_000_000_000),
    seed: intOption(values.seed, 'seed', 1, 0, 0xffffffff),
    zipf,
    conntrack: choiceOption(values.conntrack, 'conntrack', ['fit', 'kube-proxy'] as const, 'fit'),
    policies: intList(values.policies, 'policies', 0, 1_000_000),
    ...(values.dns ? { dns: dnsFromFlags(values) } : {}),
    full: values.full === true,
    repeats: values.repeats === undefined ? undefined : intOption(values.repeats, 'repeats', 1, 1, 100),
    cores,
    onSkip,
  });
}

/** --dns's grid: --ndots (default 5,1) and --dns-external (default 0.1); either without --dns is a usage error. */
function dnsFromFlags(values: SweepFlagValues): { ndots: number[]; external: number } {
  const ndots = intList(values.ndots, 'ndots', 0, 15) ?? [5, 1];
  const text = values['dns-external'];
  const external = text === undefined ? 0.1 : Number(text);
  if (text !== undefined && (text.trim() === '' || !Number.isFinite(external) || external < 0 || external > 1)) {
    throw new UsageError(`--dns-external takes the share of looked-up connections that call an external name, from 0 to 1 (e.g. 0.1), not "${text}"`);
  }
  return { ndots, external };
}

/**
 * The shard this run is: --shard I/N, or --shards N with I from JOB_COMPLETION_INDEX (the
 * Indexed Job controller sets it in each pod). Undefined for a whole sweep, or for --plan
 * --shards N (the plan of every shard).
 */
function shardOf(shardFlag: string | undefined, shardsFlag: string | undefined, planOnly: boolean): { index: number; count: number } | undefined {
  const count = shardsFlag === undefined ? undefined : intOption(shardsFlag, 'shards', 1, 1, 100_000);
  if (shardFlag !== undefined) {
    const s = parseShard(shardFlag);
    if (!s) throw new UsageError(`--shard takes I/N with 0 <= I < N, e.g. --shard 0/4, not "${shardFlag}"`);
    if (count !== undefined && count !== s.count) throw new UsageError(`--shard ${shardFlag} and --shards ${count} disagree on the number of shards`);
    return s;
  }
  if (count === undefined) return undefined;
  const env = process.env.JOB_COMPLETION_INDEX;
  if (env === undefined || env === '') {
    if (planOnly) return undefined;
    throw new UsageError(`--shards ${count} takes the shard from JOB_COMPLETION_INDEX, which is not set (outside an Indexed Job, give --shard I/${count})`);
  }
  const index = Number(env);
  if (!/^\d+$/.test(env) || index >= count) throw new UsageError(`JOB_COMPLETION_INDEX=${env} is not a shard of --shards ${count} (0 to ${count - 1}): the Job's completions and --shards must be equal`);
  return { index, count };
}

/** This machine's calibration of the cost model, from DIR's earlier results when they were measured here. */
function calibrationFrom(dir: string): { scale: number; cells: number } | undefined {
  const read = (f: string): string | undefined => (existsSync(f) ? readFileSync(f, 'utf8') : undefined);
  const results = read(join(dir, 'results.jsonl'));
  const machineText = results === undefined ? undefined : read(join(dir, 'machine.json'));
  const m = machineText === undefined ? undefined : parseMachineJson(machineText);
  if (m === undefined || !('machine' in m)) return undefined;
  return calibrationOf(results, m.machine, machineInfo('kdp bench --plan'));
}

/** `--plan`: the lines on stdout (one shard's with --shard), the totals on stderr. */
function printPlan(plan: readonly PlanLine[], shard: number | undefined): void {
  const lines = shard === undefined ? plan : plan.filter((l) => l.shard === shard);
  process.stdout.write(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
  const total = lines.reduce((a, l) => a + l.estimateSeconds, 0);
  const basis = plan[0]?.estimateBasis === 'calibrated' ? 'the cost model calibrated by this machine\'s earlier results' : 'the modes\' cost model, uncalibrated (no earlier results from this machine in --out)';
  process.stderr.write(`kdp bench --plan: ${lines.length} cells, about ${formatMs(total * 1000)} on this machine (${basis})\n`);
  const shards = plan[0]?.shards;
  if (shards !== undefined && shard === undefined) {
    const per = Array.from({ length: shards }, (_, i) => plan.filter((l) => l.shard === i));
    process.stderr.write(`kdp bench --plan: per shard: ${per.map((c, i) => `${i}: ${c.length} cells ${formatMs(c.reduce((a, l) => a + l.estimateSeconds, 0) * 1000)}`).join('; ')}\n`);
  }
}

export const benchCommand: Command = {
  name: 'bench',
  summary: 'the load sweep: throughput and costs of each proxy mode against the number of Services',
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      ...kSweepFlags,
      out: { type: 'string' },
      resume: { type: 'boolean' },
      kernel: { type: 'boolean' },
      'no-report': { type: 'boolean' },
      cores: { type: 'string' },
      plan: { type: 'boolean' },
      shard: { type: 'string' },
      shards: { type: 'string' },
      stdout: { type: 'boolean' },
      churn: { type: 'string' },
      'churn-kernel': { type: 'boolean' },
    });
    if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`);
    const sweepDir = values.out ?? 'results';
    const machineCores = intOption(values.cores, 'cores', cores(), 1, 256);
    const shard = shardOf(values.shard, values.shards, values.plan === true);
    if (shard && values.kernel) throw new UsageError('--kernel is not sharded (it needs root and the real kernel of one machine): run `kdp bench --kernel` without --shard');
    let churn: number | undefined;
    if (values.churn !== undefined) {
      churn = Number(values.churn);
      if (!Number.isFinite(churn) || churn <= 0 || churn > 10_000) throw new UsageError(`--churn takes endpoint changes per second, a number above 0 and at most 10000, not "${values.churn}"`);
    }
    if (values['churn-kernel'] && churn === undefined) throw new UsageError('--churn-kernel applies the churn benchmark\'s syncs to the kernel: give --churn R too');
    if (shard && values['churn-kernel']) throw new UsageError('--churn-kernel is not sharded (it needs root and the real kernel of one machine): run it without --shard');
    const churnKernel = churn !== undefined && (values['churn-kernel'] === true || values.kernel === true);
    const allCells = planFromFlags(values, machineCores, (why) => process.stderr.write(`kdp bench: ${why}\n`));
    const count = shard?.count ?? (values.shards !== undefined ? intOption(values.shards, 'shards', 1, 1, 100_000) : undefined);
    const plan = planLines(allCells, calibrationFrom(sweepDir), count);
    if (values.plan) {
      printPlan(plan, shard?.index);
      return EXIT_OK;
    }
    const cells = shard ? allCells.filter((_, i) => plan[i]!.shard === shard.index) : allCells;
    const outDir = shard ? join(sweepDir, shardDirName(shard.index, shard.count)) : sweepDir;
    const controller = new AbortController();
    let interrupts = 0;
    const onSigint = (): void => {
      interrupts++;
      if (interrupts === 1) {
        controller.abort();
        process.stderr.write('\nkdp bench: stopping after the cell in progress (finished cells are kept in results.jsonl; Ctrl-C again to quit now)\n');
      } else {
        process.stderr.write('\nkdp bench: quitting now; the cell in progress is lost (run again with --resume)\n');
        process.exit(130);
      }
    };
    process.on('SIGINT', onSigint);
    const log = (l: string): void => void process.stderr.write(`${l}\n`);
    const totalFlows = cells.reduce((a, c) => a + c.flows * c.repeats, 0);
    log(`kdp bench: ${shard ? `shard ${shard.index}/${shard.count}: ${cells.length} of the sweep's ${allCells.length}` : `${cells.length}`} cells (${totalFlows.toLocaleString('en-US')} flows in all) on ${machineCores} cores; results in ${resolve(outDir, 'results.jsonl')}`);
    const mostWorkers = Math.max(0, ...cells.map((c) => c.workers));
    if (mostWorkers > machineCores) {
      // More threads than cores take turns on them: the cell measures time-sharing, and its
      // throughput over one worker's is not a parallel speed-up (issue 21: "3.5x" on 2 cores).
      log(`kdp bench: warning: --workers ${mostWorkers} is more than this machine's ${machineCores} cores; those cells share cores, so their throughput is not a parallel speed-up`);
    }
    try {
      const summary = await runSweep({
        cells,
        outDir,
        resume: values.resume === true,
        command: ['kdp', 'bench', ...argv].join(' '),
        signal: controller.signal,
        progress: progressPrinter(),
        log,
        plan,
        ...(churn !== undefined ? { churn } : {}),
        ...(churnKernel ? { churnKernel } : {}),
        ...(!shard && churn === undefined && isDefaultGrid(allCells, cores()) ? { defaultSweep: true } : {}),
        ...(shard || process.env.KDP_NODE_NAME ? { machine: { ...(shard ? { shard } : {}), ...(process.env.KDP_NODE_NAME ? { kubernetesNode: process.env.KDP_NODE_NAME } : {}) } } : {}),
        ...(values.stdout ? { echo: (line: string) => void process.stdout.write(`${line}\n`) } : {}),
      });
      log(`kdp bench: ${summary.ran} cells run, ${summary.skipped} skipped, ${summary.failed} failed in ${formatMs(summary.elapsedMs)}${summary.stopped ? ' (stopped early: run again with --resume to finish)' : ''}`);
      if (values.kernel && !summary.stopped) {
        const services = [...new Set(cells.map((c) => c.services))].sort((a, b) => a - b);
        const endpoints = cells[0]?.endpointsPerService ?? 10;
        await runKernelBaselines(services, endpoints, cells[0]?.seed ?? 1, [...new Set(cells.map((c) => c.mode))], outDir, log);
      }
      if (shard) log(`kdp bench: shard ${shard.index}/${shard.count} done; \`kdp report --results ${sweepDir}\` merges the shards`);
      else if (!values['no-report']) runReport(outDir, values.out === undefined, log);
      return summary.failed > 0 || summary.stopped ? EXIT_FAILED : EXIT_OK;
    } finally {
      process.off('SIGINT', onSigint);
    }
  },
};
