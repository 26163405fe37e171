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
import { linesBytes, type OneEndpointSync } from '../mode.js';
import { isServiceChainName } from './chain-names.js';
import { compileRuleset, type IptablesCompileOptions } from './build.js';
import { renderIptablesRestore, restoreLines } from './render.js';
import { TABLE_NAT, type Ruleset } from './ruleset.js';

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
  // The full sync's size only: its lines are counted, not joined.
  const full = restoreLines(nextRs);
  const fullBytes = linesBytes(full.lines);
  const prevRs = 'chainCount' in prev ? prev : compileRuleset(prev, { ...options, node });
  const stale: string[] = [];
  for (let c = 0; c < prevRs.chainCount; c++) {
    const name = prevRs.chainName[c];
    if (prevRs.chainLive[c] !== 0 && prevRs.chainTable[c] === TABLE_NAT && isServiceChainName(name) && nextRs.chainId(TABLE_NAT, name) < 0) stale.push(name);
  }
  if (changedServiceIndexes === undefined) {
    const text = renderIptablesRestore(nextRs, { deleteNat: stale }).text;
    return { kind: 'full', rules: full.rules, chains: full.chains, deletedChains: stale.length, bytes: text.length, text, fullRules: full.rules, fullBytes };
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
    fullRules: full.rules, fullBytes,
  };
}

/** The one-endpoint sync as kube-proxy runs it: the partial restore (KEP-3453). */
export function iptablesOneEndpointSync(prev: Ruleset, next: Cluster, node: number, changed: readonly number[]): OneEndpointSync {
  const r = iptablesSync(prev, next, node, changed);
  return { fullBytes: r.fullBytes, fullRules: r.fullRules, oneEndpointRewrittenBytes: r.bytes, oneEndpointRewrittenRules: r.rules, oneEndpointRewrittenChains: r.chains };
}
