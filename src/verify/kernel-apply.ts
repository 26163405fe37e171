/**
 * The kernel's side of a one-endpoint sync: what applying kube-proxy's payload costs in a kernel
 * table that already holds the node's N Services (issue 17, item 3). In a fresh network namespace
 * per backend (sandbox.ts), the full payload is loaded first, then the one-endpoint change (one
 * endpoint of one Service turning unready, src/replay/sync-cost.ts) and its undo are applied in
 * turn, each one process run timed as kube-proxy pays it (the tool's wall time, spawn included):
 *
 * The backends and payloads are the mode's (ProxyMode.kernel.apply): for iptables the legacy
 * and nf_tables backends of `iptables-restore --noflush`, for nftables `nft -f -`.
 *
 * The payloads are those kdp's sync code renders (nfacct matches left out, as a fresh namespace
 * has no nfacct objects and kube-proxy omits them then).
 */
import type { ApplyPayloads, ProxyMode } from '../compile/mode.js';
import { generateCluster } from '../model/synthetic.js';
import { median } from '../report/spread.js';
import { oneEndpointChange } from '../replay/sync-cost.js';
import { run as runProcess } from './sandbox.js';
import { Sandbox } from './sandbox.js';

export interface KernelApply {
  /** `iptables-legacy`, `iptables-nft` or `nftables`. */
  readonly backend: string;
  readonly services: number;
  readonly fullBytes: number;
  /** Load of the full payload into the empty namespace, ms. */
  readonly fullMs: number;
  readonly partialBytes: number;
  /** Apply of the one-endpoint payload into the loaded table: median over the runs, ms. */
  readonly partialMs: number;
  readonly partialMsMin: number;
  readonly partialMsMax: number;
  readonly runs: number;
}

/**
 * A load or apply that takes this long is reported as not finishing, not waited for: at 10,000
 * Services iptables-nft-restore --noflush of the full payload ran past ten minutes here (the
 * flushing load of the same text took 19 to 35 s), and the cell's other figures must not wait
 * for it or be lost to it.
 */
export const kApplyTimeoutMs = 3 * 60_000;

/** What `tool --version` prints, or undefined when it does not run here (not on PATH, not executable). */
export async function toolVersion(tool: string): Promise<string | undefined> {
  const r = await runProcess(tool, ['--version'], { timeoutMs: 10_000 }).catch(() => undefined);
  return r !== undefined && r.status === 0 ? r.stdout : undefined;
}

/**
 * One apply of `text` by `tool args` inside `ns`, as kube-proxy pays it (the tool's wall time,
 * spawn included), ms; `what` names it in the error when the tool refuses the text or does not
 * finish within kApplyTimeoutMs (it is killed then).
 */
export async function applyIn(sandbox: Sandbox, ns: string, tool: string, args: readonly string[], text: string, what: string): Promise<number> {
  const r = await sandbox.exec(ns, tool, args, { input: text, timeoutMs: kApplyTimeoutMs });
  const cmd = `${tool} ${args.join(' ')}`;
  if (r.status !== 0 && r.stderr.includes('killed by SIGKILL')) throw new Error(`${cmd} did not finish ${what} within ${kApplyTimeoutMs / 1000} s (stopped)`);
  if (r.status !== 0) throw new Error(`${cmd} refused the payload: ${r.stderr.trim().split('\n').slice(0, 2).join(' ')}`);
  return r.ms;
}

async function measure(backend: string, tool: string, args: readonly string[], p: ApplyPayloads, services: number, runs: number): Promise<KernelApply> {
  const sandbox = new Sandbox();
  try {
    const ns = await sandbox.addNamespace('apply');
    const apply = (text: string): Promise<number> => applyIn(sandbox, ns, tool, args, text, `${text === p.full ? 'the full load' : 'a one-endpoint apply'} of ${services} Services`);
    const fullMs = await apply(p.full);
    await apply(p.forward); // warm-up: the first change and its undo
    await apply(p.back);
    const times: number[] = [];
    for (let i = 0; i < runs; i++) {
      times.push(await apply(p.forward));
      await apply(p.back);
    }
    return {
      backend, services, fullBytes: p.full.length, fullMs, partialBytes: p.forward.length,
      partialMs: median(times), partialMsMin: Math.min(...times), partialMsMax: Math.max(...times), runs,
    };
  } finally {
    sandbox.disposeSync();
  }
}

/**
 * The apply cost per backend of `mode` at `services` Services; a backend whose tool is missing,
 * refuses the payload or does not finish is skipped with the reason (the other backends are still
 * measured), a mode with no apply rules measures nothing. Needs root (network namespaces).
 */
export async function measureKernelApply(mode: ProxyMode, services: number, endpoints: number, seed: number, runs = 5): Promise<{ figures: KernelApply[]; skipped: string[] }> {
  const figures: KernelApply[] = [];
  const skipped: string[] = [];
  const rules = mode.kernel?.apply;
  if (!rules) return { figures, skipped };
  const cluster = generateCluster({ services, endpoints, nodes: 3, seed, mode: mode.name });
  const { next, service } = oneEndpointChange(cluster);
  const payloads = rules.payloads(cluster, next, [service]);
  for (const b of rules.backends) {
    if ((await toolVersion(b.tool)) === undefined) skipped.push(`${b.name}: ${b.tool} not found (Debian package ${b.toolPackage})`);
    else {
      try {
        figures.push(await measure(b.name, b.tool, b.args, payloads, services, runs));
      } catch (err) {
        skipped.push(`${b.name}: ${(err as Error).message}`);
      }
    }
  }
  return { figures, skipped };
}
