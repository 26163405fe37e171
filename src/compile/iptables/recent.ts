/**
 * `-m recent` state (xt_recent): per list name, the source addresses seen and when, in the kit's
 * ExpiringTable (stamp = last seen, so liveness is each rule's own `--seconds`). kube-proxy's
 * iptables mode uses it for ClientIP session affinity (`--set` in the endpoint chain, `--rcheck
 * --seconds <timeout> --reap` in the service chain). Per dataplane instance, never shared.
 */
import { ExpiringTable } from '../tables/index.js';

/** Entries kept: xt_recent's ip_list_tot is 100 per list; kdp keeps one table for all lists. */
const kRecentCapacity = 1 << 16;
const kRecentWindow = 8;

export function newRecentTable(): ExpiringTable {
  // A full window forgets the least recently seen entry, as xt_recent evicts its oldest.
  return new ExpiringTable({ capacity: kRecentCapacity, window: kRecentWindow, hash: 'fibonacci-16' });
}

/** `--rcheck [--seconds s]`: `ip` is on list `name`, seen within the last `seconds` (0: ever) before the table's clock. */
export function recentCheck(t: ExpiringTable, name: number, ip: number, seconds: number): boolean {
  const s = t.find(name, ip);
  return s >= 0 && (seconds === 0 || t.clock[0] - t.stamp[s] <= seconds);
}

/** `--set`: puts `ip` on list `name`, seen at the table's clock. */
export function recentSet(t: ExpiringTable, name: number, ip: number): void {
  t.stamp[t.claim(name, ip)] = t.clock[0];
}
