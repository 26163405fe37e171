/**
 * What `kdp verify` and the kernel baseline need from the machine, checked up front so that a
 * missing piece is named exactly (exit status 3) instead of failing half-way.
 */
import { spawnSync } from 'node:child_process';
import { allModes, findMode } from '../compile/index.js';
import type { KernelRules, ProxyMode } from '../compile/mode.js';
import type { ModeName } from '../model/types.js';

/** A mode the real kernel can load, with how it loads it. */
export type KernelMode = ProxyMode & { readonly kernel: KernelRules };

/** The mode named `name` when the kernel can load its rules (ProxyMode.kernel), else undefined. */
export function kernelMode(name: ModeName): KernelMode | undefined {
  const mode = findMode(name);
  return mode?.kernel ? (mode as KernelMode) : undefined;
}

/** The modes whose rules the kernel can load, in kModes' order. */
export function kernelModes(): readonly KernelMode[] {
  return allModes().filter((m): m is KernelMode => m.kernel !== undefined);
}

/** What every run needs, with each tool's Debian package. */
const kCommonTools: readonly (readonly [string, string])[] = [
  ['ip', 'iproute2'],
  ['sysctl', 'procps'],
  ['conntrack', 'conntrack'],
];

/** Every missing requirement of checking the mode named `name` against the kernel, in words; empty when everything is there. */
export function missingRequirements(name: ModeName): string[] {
  const mode = kernelMode(name);
  if (!mode) return [`a mode whose rules the kernel can load (${kernelModes().map((m) => m.name).join(', ')}), not ${name}`];
  const missing: string[] = [];
  if (process.platform !== 'linux') return [`Linux (this is ${process.platform})`];
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) missing.push('root (network namespaces, iptables and conntrack need CAP_NET_ADMIN and CAP_SYS_ADMIN)');
  for (const [tool, pkg] of [...kCommonTools, [mode.kernel.tool, mode.kernel.toolPackage] as const]) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (r.status !== 0) missing.push(`${tool} (not on PATH; Debian/Ubuntu: apt-get install ${pkg})`);
  }
  return missing;
}
