/**
 * The churn benchmark with the kernel's apply (`kdp bench --churn R --churn-kernel`, issue 17
 * item 4): one churn run per backend of the mode (ProxyMode.kernel.apply: iptables-legacy and
 * iptables-nft for iptables, nft for nftables), each in a fresh network namespace of its own
 * (sandbox.ts) whose table is loaded with the starting cluster's full payload and then gets each
 * sync's partial payload, timed as kube-proxy pays it (kernel-apply.ts applyIn: the tool's wall
 * time, spawn included, killed after kApplyTimeoutMs). The namespace is deleted after the run,
 * also when it fails. Needs root.
 *
 * Which backend the cell's contract latency includes: the one the node's own load tool is
 * (`iptables-restore --version` says legacy or nf_tables), as the kernel baseline picks the cell's
 * own figure (kernel-bench.ts) and as kube-proxy's image follows the host's iptables
 * (iptables-wrapper); the other backends' runs are reported beside it.
 */
import type { ProxyMode } from '../compile/mode.js';
import type { Cluster } from '../model/types.js';
import type { ChurnKernelApply } from '../report/result.js';
import { runChurnOnKernel, type ChurnRun, type SyncRecord } from '../replay/churn.js';
import { applyIn, toolVersion } from './kernel-apply.js';
import { Sandbox } from './sandbox.js';

/** One backend's churn run with its kernel apply in every sync. */
export interface BackendChurn {
  readonly backend: string;
  readonly run: ChurnRun;
}

export interface ChurnOnKernel {
  /** Every backend measured, in the mode's order. */
  readonly runs: readonly BackendChurn[];
  /** The backends not measured, each `name: why`. */
  readonly missing: readonly string[];
  /** Why nothing was tried (kernelChurnUnavailable). */
  readonly unavailable?: string;
  /** The backend of the node's own load tool (the one the cell's latency includes when measured). */
  readonly own?: string;
}

/** Why kdp cannot include the kernel's apply for `mode` here, or undefined when it can try. */
export function kernelChurnUnavailable(mode: ProxyMode): string | undefined {
  if (!mode.kernel?.apply) return `${mode.name} mode has no kernel apply rules in kdp (ProxyMode.kernel.apply; only iptables and nftables load into this kernel)`;
  if (process.getuid?.() !== 0) return 'needs root (a network namespace per backend)';
  return undefined;
}

/** One run of `backend` in a namespace of its own, deleted afterwards whatever happens. */
async function runOnBackend(mode: ProxyMode, b: { name: string; tool: string; args: readonly string[] }, cluster: Cluster, changesPerSecond: number, seed: number, clock: () => number, seconds?: number, observe?: (backend: string, s: SyncRecord) => void): Promise<ChurnRun> {
  const sandbox = new Sandbox();
  try {
    const ns = await sandbox.addNamespace('churn');
    const services = cluster.services.length;
    return await runChurnOnKernel(mode, cluster, changesPerSecond, seed, clock, {
      load: (text) => applyIn(sandbox, ns, b.tool, b.args, text, `the full load of ${services} Services`),
      apply: (text) => applyIn(sandbox, ns, b.tool, b.args, text, `a churn sync's apply at ${services} Services`),
    }, seconds, observe && ((s) => observe(b.name, s)));
  } finally {
    sandbox.disposeSync();
  }
}

/**
 * The churn run of `mode` on every backend of its kernel apply rules. A backend whose tool is
 * missing, refuses a payload or does not finish in time is left out with the reason (never a
 * figure); the others are still run.
 */
export async function churnOnKernel(mode: ProxyMode, cluster: Cluster, changesPerSecond: number, seed: number, clock: () => number, seconds?: number, observe?: (backend: string, s: SyncRecord) => void): Promise<ChurnOnKernel> {
  const why = kernelChurnUnavailable(mode);
  if (why !== undefined) return { runs: [], missing: [], unavailable: why };
  const runs: BackendChurn[] = [];
  const missing: string[] = [];
  const ownVersion = await toolVersion(mode.kernel!.tool);
  const own = ownVersion === undefined ? undefined : mode.kernel!.apply!.backends.find((b) => b.version.test(ownVersion))?.name;
  for (const b of mode.kernel!.apply!.backends) {
    if ((await toolVersion(b.tool)) === undefined) {
      missing.push(`${b.name}: ${b.tool} not found (Debian package ${b.toolPackage})`);
      continue;
    }
    try {
      runs.push({ backend: b.name, run: await runOnBackend(mode, b, cluster, changesPerSecond, seed, clock, seconds, observe) });
    } catch (err) {
      missing.push(`${b.name}: ${(err as Error).message}`);
    }
  }
  return { runs, missing, ...(own !== undefined ? { own } : {}) };
}

/**
 * A churn cell's result with the kernel (`plain`: the same cell's run without it): the contract
 * fields from the node's own backend's run when it was measured, else `plain`'s; `kernelApply`
 * says which, with every backend's run and why any is missing.
 */
export async function churnCellOnKernel(mode: ProxyMode, cluster: Cluster, changesPerSecond: number, seed: number, clock: () => number, plain: ChurnRun): Promise<{ run: ChurnRun; kernelApply: ChurnKernelApply }> {
  const k = await churnOnKernel(mode, cluster, changesPerSecond, seed, clock);
  const missing = [...k.missing];
  const backends: NonNullable<ChurnKernelApply['backends']>[number][] = [];
  for (const { backend, run } of k.runs) {
    if (run.kernel === undefined) missing.push(`${backend}: no sync ran (no endpoint changed)`);
    else backends.push({ backend, programmingLatencyMs: run.result.programmingLatencyMs, syncs: run.result.syncs, applyMs: run.kernel.applyMs, applies: run.kernel.applies, loadMs: run.kernel.loadMs });
  }
  const own = k.own === undefined ? undefined : k.runs.find((r) => r.backend === k.own && r.run.kernel !== undefined);
  const rest = { ...(backends.length > 0 ? { backends } : {}), ...(missing.length > 0 ? { missing } : {}) };
  if (own) return { run: own.run, kernelApply: { included: own.backend, withoutKernelMs: plain.result.programmingLatencyMs, ...rest } };
  const notIncluded = k.unavailable ?? (k.own === undefined
      ? `${mode.kernel?.tool ?? 'the load tool'} --version names none of the backends, so the node's own is not known`
      : `the node's own backend ${k.own} was not measured (see missing)`);
  return { run: plain, kernelApply: { notIncluded, ...rest } };
}
