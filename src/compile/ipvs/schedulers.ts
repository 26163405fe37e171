/**
 * The Linux IPVS schedulers kube-proxy can configure, over the typed-array tables. Each returns a
 * real-server slot of virtual service `v`, or -1 when none is available (the kernel's
 * "no destination available", after which ip_vs_leave() answers ICMP port unreachable).
 *
 * A dest with weight 0 is "quiesced" (kube-proxy's graceful termination sets it) and is never
 * chosen for a new connection by rr, wrr or lc; sh and mh return nothing for it (no fallback flag).
 */
import { hash32, mixPair } from '../../net/hash.js';
import { SCHED_LC, SCHED_MH, SCHED_RR, SCHED_SH, SCHED_WRR, rsWeight, vsRsCount, vsRsStart, type IpvsTables } from './tables.js';

export type SchedulerPick = (t: IpvsTables, v: number, srcIp: number, srcPort: number) => number;

/** ip_vs_rr.c: the next dest after the last one used, skipping weight 0. */
export const pickRr: SchedulerPick = (t, v) => {
  const start = vsRsStart(t, v);
  const n = vsRsCount(t, v);
  let pos = t.rrNext[v];
  for (let k = 0; k < n; k++) {
    if (pos >= n) pos = 0;
    if (rsWeight(t, start + pos) > 0) {
      t.rrNext[v] = pos + 1;
      return start + pos;
    }
    pos++;
  }
  return -1;
};

/**
 * ip_vs_wrr.c: the classic interleaved weighted round robin. The current weight `cw` starts at the
 * maximum and drops by the gcd each time the list wraps; a dest is chosen when its weight >= cw.
 */
export const pickWrr: SchedulerPick = (t, v) => {
  const start = vsRsStart(t, v);
  const n = vsRsCount(t, v);
  const mw = t.vsWrrMw[v];
  const di = t.vsWrrDi[v];
  if (n === 0 || mw === 0) return -1;
  let cl = t.wrrCl[v];
  let cw = t.wrrCw[v];
  if (cw <= 0 || cw > mw) cw = mw;
  // Bounded: each wrap lowers cw by di, so (mw/di + 1) wraps reach every weight >= 1.
  const limit = (n + 1) * (((mw / di) | 0) + 2);
  for (let step = 0; step < limit; step++) {
    cl++;
    if (cl >= n) {
      cl = -1;
      cw -= di;
      if (cw <= 0) cw = mw;
      continue;
    }
    const w = rsWeight(t, start + cl);
    if (w >= cw && w > 0) {
      t.wrrCl[v] = cl;
      t.wrrCw[v] = cw;
      return start + cl;
    }
  }
  return -1;
};

/** ip_vs_lc.c: least (activeconns << 8) + inactconns; the first of equals wins. */
export const pickLc: SchedulerPick = (t, v) => {
  const start = vsRsStart(t, v);
  const end = start + vsRsCount(t, v);
  const conns = t.rsConns;
  let best = -1;
  let bestOverhead = 0;
  for (let s = start; s < end; s++) {
    if (rsWeight(t, s) === 0) continue;
    const overhead = conns[s] * 256;
    if (best < 0 || overhead < bestOverhead) {
      best = s;
      bestOverhead = overhead;
    }
  }
  return best;
};

/** ip_vs_sh.c's bucket: hash_32(port + addr, 8) with the golden-ratio multiplier; port is 0 unless
 * the sh-port flag is set, which kube-proxy never sets for sh. */
export function shBucket(srcIp: number, srcPort: number): number {
  return hash32(srcPort + srcIp, 8);
}

/**
 * ip_vs_sh.c: 256 buckets filled by walking the dests, each taking `weight` consecutive buckets
 * (at least one), so bucket b belongs to the dest at position b mod sum(max(w,1)).
 */
export const pickSh: SchedulerPick = (t, v, srcIp) => {
  const start = vsRsStart(t, v);
  const n = vsRsCount(t, v);
  if (n === 0) return -1;
  let total = 0;
  for (let i = 0; i < n; i++) total += Math.max(1, rsWeight(t, start + i));
  let r = shBucket(srcIp, 0) % total;
  for (let i = 0; i < n; i++) {
    const w = rsWeight(t, start + i);
    const run = Math.max(1, w);
    if (r < run) return w > 0 ? start + i : -1;
    r -= run;
  }
  return -1;
};

/** The source hash mh uses; kube-proxy sets the mh-port flag (FlagSourceHash = 0x10 =
 * IP_VS_SVC_F_SCHED_MH_PORT), so the source port is hashed with the address. */
export function mhHash(srcIp: number, srcPort: number): number {
  return mixPair(srcIp, srcPort + 1);
}

/** ip_vs_mh.c: Maglev lookup of the source hash in the VS's prime-sized table. */
export const pickMh: SchedulerPick = (t, v, srcIp, srcPort) => {
  const lut = t.vsMh[v];
  if (lut < 0) return -1;
  const m = t.mhSize;
  const idx = t.mhLuts[lut * m + (mhHash(srcIp, srcPort) % m)];
  if (idx === 0xffffffff) return -1;
  const s = vsRsStart(t, v) + idx;
  return rsWeight(t, s) > 0 ? s : -1;
};

export function schedulerPick(id: number): SchedulerPick {
  switch (id) {
    case SCHED_RR:
      return pickRr;
    case SCHED_WRR:
      return pickWrr;
    case SCHED_LC:
      return pickLc;
    case SCHED_SH:
      return pickSh;
    case SCHED_MH:
      return pickMh;
    default:
      throw new RangeError(`unknown scheduler id ${id}`);
  }
}
