/**
 * Whether a run's tables sit on 2 MiB pages. A first packet at 30k Services reads ~7-10 lines
 * spread over tens of MB of tables and conntrack, a TLB miss each on 4 KiB pages (the second-level
 * TLB reaches ~6 MB), so packet engines map their tables on huge pages (DPDK and VPP ask for them).
 * Node.js cannot madvise() an ArrayBuffer, but its backing store comes from glibc's malloc, which
 * with the tunable `glibc.malloc.hugetlb=1` (glibc 2.35 and later) marks its mmap'd chunks
 * MADV_HUGEPAGE: the kernel's transparent huge pages in `madvise` mode (Debian's default) then back
 * them with 2 MiB pages. Tunables are read when the process starts, so `npm run bench`, `npm run
 * kdp` and the `kdp` command's shebang set GLIBC_TUNABLES before Node.js starts. Measured:
 * a new flow at 30k Services took 1,083 ns against 1,115 in nftables mode and 867 against 895 in
 * ipvs mode, at 100 Services the same (`kdp bench --services 100,30000 --modes nftables,ipvs
 * --workers 1 --flows 1000000`, with and without, runs alternated, 2026-12-07).
 */
import { readFileSync } from 'node:fs';
import type { HugePages } from '../report/result.js';

/**
 * The value GLIBC_TUNABLES gives `glibc.malloc.hugetlb`: glibc reads its colon-separated
 * name=value pairs in order, and a later one sets the tunable again, so the last wins.
 */
export function mallocHugetlbOf(tunables: string | undefined): string | null {
  let value: string | null = null;
  for (const pair of (tunables ?? '').split(':')) {
    const eq = pair.indexOf('=');
    if (eq > 0 && pair.slice(0, eq) === 'glibc.malloc.hugetlb') value = pair.slice(eq + 1);
  }
  return value;
}

/** The bracketed word of /sys/kernel/mm/transparent_hugepage/enabled ("always [madvise] never"). */
export function thpModeOf(text: string): string | null {
  return /\[(\w+)\]/.exec(text)?.[1] ?? null;
}

/** Whether glibc `version` ("2.36") has the malloc hugetlb tunable (2.35 added it). */
function hasHugetlbTunable(version: string): boolean {
  const [major, minor] = version.split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 35);
}

/** Whether malloc'd memory gets huge pages, from the three facts (HugePages.tables). */
export function tablesOnHugePages(thp: string | null, glibc: string | null, mallocHugetlb: string | null): boolean {
  if (thp === 'always') return true;
  return thp === 'madvise' && glibc !== null && hasHugetlbTunable(glibc) && mallocHugetlb === '1';
}

/** This process's facts. */
export function hugePages(): HugePages {
  let thp: string | null = null;
  try {
    thp = thpModeOf(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'));
  } catch {
    // Not Linux, or a kernel without transparent huge pages: null says it was not read.
  }
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  const glibc = header?.glibcVersionRuntime ?? null;
  const mallocHugetlb = mallocHugetlbOf(process.env.GLIBC_TUNABLES);
  return { thp, glibc, mallocHugetlb, tables: tablesOnHugePages(thp, glibc, mallocHugetlb) };
}

/**
 * `env` without `glibc.malloc.hugetlb` in GLIBC_TUNABLES (other tunables kept; the variable
 * dropped when nothing is left): the environment of the kernel's own tools (iptables-restore,
 * nft, ip) that kdp times, which kube-proxy runs without it, so that a tool's wall time is its own
 * and never pays a huge page's zeroing for a small heap.
 */
export function withoutHugetlb(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.GLIBC_TUNABLES === undefined) return env;
  const kept = env.GLIBC_TUNABLES.split(':').filter((pair) => pair !== '' && !pair.startsWith('glibc.malloc.hugetlb='));
  const out = { ...env };
  if (kept.length > 0) out.GLIBC_TUNABLES = kept.join(':');
  else delete out.GLIBC_TUNABLES;
  return out;
}
