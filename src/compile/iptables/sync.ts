/**
 * Rule-sync cost: what kube-proxy hands to iptables-restore when the cluster changes.
 *
 * A full sync rewrites every chain kube-proxy owns. A partial sync (KEP-3453, default since
 * 1.27) rewrites the whole filter table (it is small), the nat table's shared chains
 * (KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING, KUBE-MARK-MASQ) in full, and only the
 * KUBE-SVC/SVL/EXT/FW/SEP chains of the services that changed; chains of services that
 * disappeared are flushed and deleted (`:CHAIN` + `-X CHAIN`).
 */
import type { Cluster } from '../../model/types.js';
import type { OneEndpointSync } from '../mode.js';
import { isServiceChainName } from './chain-names.js';
import { compileRuleset, type IptablesCompileOptions } from './build.js';
import type { IptablesDataplane } from './dataplane.js';
import { renderIptablesRestore, restoreSize } from './render.js';
import { TABLE_NAT, type Ruleset } from './ruleset.js';
import { iptablesCopy } from './shared.js';
import { updateIptablesEndpoints } from './update.js';

export interface IptablesSyncResult {
  readonly kind: 'full' | 'partial';
  /** `-A` rules in the restore input. */
  readonly rules: number;
  /** Chain lines (excluding deletions). */
  readonly chains: number;
  readonly deletedChains: number;
  /** Bytes of restore input (ASCII). */
  readonly bytes: number;
  readonly text: string;
  /** The same change as a full sync, for comparison. */
  readonly fullRules: number;
  readonly fullBytes: number;
}

export function fullRestore(rs: Ruleset): { text: string; rules: number; chains: number; bytes: number } {
  const r = renderIptablesRestore(rs);
  return { ...r, bytes: r.text.length };
}

/**
 * `changedServiceIndexes` index `next.services`; omit it for a full sync. Removed services
 * need no index: their chains are found missing from `next` and deleted.
 */
export function iptablesSync(prev: Cluster | Ruleset, next: Cluster, node: number, changedServiceIndexes?: readonly number[], options: Omit<IptablesCompileOptions, 'node'> = {}): IptablesSyncResult {
  const nextRs = compileRuleset(next, { ...options, node });
  const prevRs = 'chainCount' in prev ? prev : compileRuleset(prev, { ...options, node });
  return syncBetween(prevRs, nextRs, next, changedServiceIndexes);
}

/** The restore input that takes the node from `prevRs` to `nextRs`, the tables of `next` (iptablesSync). */
function syncBetween(prevRs: Ruleset, nextRs: Ruleset, next: Cluster, changedServiceIndexes: readonly number[] | undefined): IptablesSyncResult {
  // The full sync's size only: its lines are counted, not kept.
  const full = restoreSize(nextRs);
  const stale: string[] = [];
  for (let c = 0; c < prevRs.chainCount; c++) {
    const name = prevRs.chainName[c];
    if (prevRs.chainLive[c] === 0 || prevRs.chainTable[c] !== TABLE_NAT || !isServiceChainName(name)) continue;
    // Tables updated in place keep a chain's id (and a chain the change emptied, not live).
    const id = nextRs.chainName[c] === name && nextRs.chainTable[c] === TABLE_NAT ? c : nextRs.chainId(TABLE_NAT, name);
    if (id < 0 || nextRs.chainLive[id] === 0) stale.push(name);
  }
  if (changedServiceIndexes === undefined) {
    const text = renderIptablesRestore(nextRs, { deleteNat: stale }).text;
    return { kind: 'full', rules: full.rules, chains: full.chains, deletedChains: stale.length, bytes: text.length, text, fullRules: full.rules, fullBytes: full.bytes };
  }
  const changed = new Set(changedServiceIndexes);
  const part = renderIptablesRestore(nextRs, {
    chain: (c) => {
      if (nextRs.chainTable[c] !== TABLE_NAT) return true;
      const p = nextRs.chainPort[c];
      return p < 0 || changed.has(next.ports[p].service);
    },
    deleteNat: stale,
  });
  return {
    kind: 'partial', rules: part.rules, chains: part.chains, deletedChains: stale.length, bytes: part.text.length, text: part.text,
    fullRules: full.rules, fullBytes: full.bytes,
  };
}

/**
 * The one-endpoint sync as kube-proxy runs it: the partial restore (KEP-3453), from `prev`'s tables
 * to `next`'s. Those are `prev`'s copied and updated in place (update.ts) when the change fits its
 * room, which renders as a compile of `next` does (a law in update.test.ts); `prev` itself is only
 * read. Cost: ~1.9-2.7 s at 30k Services (the copy ~0.6 s, the full restore's size ~1 s, the
 * partial restore ~0.1 s), where compiling `next` and keeping the full restore's lines made it
 * 8.0-9.95 s (/work/notes/s33/swab.mjs, 2026-12-06).
 */
export function iptablesOneEndpointSync(prev: IptablesDataplane, next: Cluster, node: number, changed: readonly number[]): OneEndpointSync {
  const copy = prev.room ? iptablesCopy(prev) : undefined;
  const nextRs = copy && updateIptablesEndpoints(copy, next, changed) ? copy.rules : compileRuleset(next, { node });
  const r = syncBetween(prev.rules, nextRs, next, changed);
  return { fullBytes: r.fullBytes, fullRules: r.fullRules, oneEndpointRewrittenBytes: r.bytes, oneEndpointRewrittenRules: r.rules, oneEndpointRewrittenChains: r.chains };
}
