/**
 * The kernel's side of a one-endpoint sync: what applying kube-proxy's payload costs in a kernel
 * table that already holds the node's N Services (issue 17, item 3). In a fresh network namespace
 * per backend (sandbox.ts), the full payload is loaded first, then the one-endpoint change (one
 * endpoint of one Service turning unready, src/replay/sync-cost.ts) and its undo are applied in
 * turn, each one process run timed as kube-proxy pays it (the tool's wall time, spawn included):
 *
 * - iptables, legacy and nf_tables backends (`iptables-legacy-restore`, `iptables-nft-restore`),
 *   both with `--noflush` as kube-proxy runs them: the partial restore input of KEP-3453 (the
 *   shared nat chains in full, the changed Service's chains) that the iptables mode's sync.ts
 *   writes. The legacy backend replaces the whole table blob on every commit, so its cost grows
 *   with N; the nf_tables backend sends only the listed chains' rules as netlink messages.
 * - nftables (`nft -f -`): the transaction of the nftables mode's sync.ts (the changed Service's
 *   chains and map elements).
 *
 * The payloads are those kdp's sync code renders (nfacct matches left out, as a fresh namespace
 * has no nfacct objects and kube-proxy omits them then).
 */
import { compileRuleset } from '../compile/iptables/build.js';
import { iptablesSync, fullRestore } from '../compile/iptables/sync.js';
import { buildRuleset } from '../compile/nftables/build.js';
import { fullSync, planSync } from '../compile/nftables/sync.js';
import { generateCluster } from '../model/synthetic.js';
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

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const kLoadTimeoutMs = 10 * 60_000;

interface Payloads {
  readonly full: string;
  readonly forward: string;
  readonly back: string;
}

function iptablesPayloads(services: number, endpoints: number, seed: number): Payloads {
  const cluster = generateCluster({ services, endpoints, nodes: 3, seed, mode: 'iptables' });
  const { next, service } = oneEndpointChange(cluster);
  const options = { nfacct: false };
  const before = compileRuleset(cluster, { node: 0, ...options });
  const after = compileRuleset(next, { node: 0, ...options });
  return {
    full: fullRestore(before).text,
    forward: iptablesSync(before, next, 0, [service], options).text,
    back: iptablesSync(after, cluster, 0, [service], options).text,
  };
}

function nftablesPayloads(services: number, endpoints: number, seed: number): Payloads {
  const cluster = generateCluster({ services, endpoints, nodes: 3, seed, mode: 'nftables' });
  const { next } = oneEndpointChange(cluster);
  const before = buildRuleset(cluster, { node: 0 });
  const after = buildRuleset(next, { node: 0 });
  return { full: fullSync(before).text, forward: planSync(before, after).text, back: planSync(after, before).text };
}

/** Whether `tool` runs here (on PATH and executable). */
async function have(tool: string): Promise<boolean> {
  const r = await runProcess(tool, ['--version'], { timeoutMs: 10_000 }).catch(() => undefined);
  return r !== undefined && r.status === 0;
}

async function measure(backend: string, tool: string, args: readonly string[], p: Payloads, services: number, runs: number): Promise<KernelApply> {
  const sandbox = new Sandbox();
  try {
    const ns = await sandbox.addNamespace('apply');
    const apply = async (text: string): Promise<number> => {
      const r = await sandbox.exec(ns, tool, args, { input: text, timeoutMs: kLoadTimeoutMs });
      if (r.status !== 0) throw new Error(`${tool} ${args.join(' ')} refused the payload: ${r.stderr.trim().split('\n').slice(0, 2).join(' ')}`);
      return r.ms;
    };
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
 * The apply cost per backend at `services` Services; a backend whose tool is missing is skipped
 * with the reason. Needs root (network namespaces).
 */
export async function measureKernelApply(mode: 'iptables' | 'nftables', services: number, endpoints: number, seed: number, runs = 5): Promise<{ figures: KernelApply[]; skipped: string[] }> {
  const figures: KernelApply[] = [];
  const skipped: string[] = [];
  if (mode === 'iptables') {
    const ipt = iptablesPayloads(services, endpoints, seed);
    for (const [backend, tool] of [['iptables-legacy', 'iptables-legacy-restore'], ['iptables-nft', 'iptables-nft-restore']] as const) {
      if (!(await have(tool))) skipped.push(`${backend}: ${tool} not found (Debian package iptables)`);
      else figures.push(await measure(backend, tool, ['--noflush'], ipt, services, runs));
    }
  } else if (!(await have('nft'))) skipped.push('nftables: nft not found (Debian package nftables)');
  else figures.push(await measure('nftables', 'nft', ['-f', '-'], nftablesPayloads(services, endpoints, seed), services, runs));
  return { figures, skipped };
}
