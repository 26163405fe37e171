/**
 * What `kdp verify` and the kernel baseline need from the machine, checked up front so that a
 * missing piece is named exactly (exit status 3) instead of failing half-way.
 */
import { spawnSync } from 'node:child_process';

export type KernelMode = 'iptables' | 'nftables';

/** Tools per mode: the rule loader, plus what every run needs. */
export function requiredTools(mode: KernelMode): string[] {
  return ['ip', 'sysctl', 'conntrack', mode === 'iptables' ? 'iptables-restore' : 'nft'];
}

/** Every missing requirement, in words; empty when everything is there. */
export function missingRequirements(mode: KernelMode): string[] {
  const missing: string[] = [];
  if (process.platform !== 'linux') return [`Linux (this is ${process.platform})`];
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) missing.push('root (network namespaces, iptables and conntrack need CAP_NET_ADMIN and CAP_SYS_ADMIN)');
  for (const tool of requiredTools(mode)) {
    const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
    if (r.status !== 0) missing.push(`${tool} (not on PATH; Debian/Ubuntu: apt-get install ${packageOf(tool)})`);
  }
  return missing;
}

function packageOf(tool: string): string {
  switch (tool) {
    case 'ip':
      return 'iproute2';
    case 'sysctl':
      return 'procps';
    case 'iptables-restore':
      return 'iptables';
    default:
      return tool;
  }
}
