/**
 * kube-proxy's iptables mode: compile, walk, render, parse, and sync cost.
 */
import type { Cluster } from '../../model/types.js';
import { clientIpAffinity, type ProxyMode } from '../mode.js';
import { annotateRuleset } from './annotate.js';
import { compileRuleset, compileRulesetWithRoom, type IptablesCompileOptions } from './build.js';
import { IptablesDataplane, localAddressesOf } from './dataplane.js';
import { parseIptablesSave } from './parse.js';
import { iptablesSaveChunks, renderIptablesRestore, renderIptablesSave } from './render.js';
import type { Ruleset } from './ruleset.js';
import type { IpsetSet } from '../ipvs/ipset-parse.js';
import { iptablesFromShared, iptablesShared, type IptablesShared } from './shared.js';
import { buildRoom } from './room.js';
import { fullRestore, iptablesOneEndpointSync, iptablesSync } from './sync.js';
import { updateIptablesEndpoints } from './update.js';
import { updateIptablesServices } from './update-services.js';

/**
 * Compiles the cluster for one node into a walkable iptables dataplane, with room for in-place
 * endpoint updates (update.ts) that none of its readers sees.
 */
export function compileIptables(cluster: Cluster, options: IptablesCompileOptions): IptablesDataplane {
  const { rules, plans, large } = compileRulesetWithRoom(cluster, options);
  return new IptablesDataplane(rules, { node: options.node, localAddresses: localAddressesOf(cluster, options.node), room: buildRoom(rules, cluster, plans, large, options) });
}

/**
 * kube-proxy's iptables mode as a record. Its lookup is linear in the number of Services: every
 * first packet scans KUBE-SERVICES (~0.0025 µs per Service in the sweep's estimate).
 */
export const iptablesMode: ProxyMode<IptablesDataplane> = {
  name: 'iptables',
  summary: 'kube-proxy iptables mode: linear chains (KUBE-SERVICES, KUBE-SVC-*, KUBE-SEP-*)',
  compile: (cluster, node) => compileIptables(cluster, { node }),
  formats: {
    'iptables-save': (cluster, node) => iptablesSaveChunks(compileRuleset(cluster, { node })),
    // What kube-proxy hands `iptables-restore --noflush` on a full sync (no stale chains to -X).
    'iptables-restore': (cluster, node) => renderIptablesRestore(compileRuleset(cluster, { node })).text,
  },
  parsers: { 'iptables-save': (text, cluster, node) => dataplaneFromIptablesSave(text, cluster ? { cluster, node: node ?? -1 } : {}) },
  sharedClasses: {},
  shared: iptablesShared,
  attach: (_cluster, shared) => iptablesFromShared(shared as IptablesShared),
  syncOneEndpoint: (prev, _cluster, next, node, changed) => iptablesOneEndpointSync(prev, next, node, changed),
  // In place within a port's KUBE-SVC-/SVL-/SEP- chains; a change of what else the port writes recompiles.
  updateEndpoints: updateIptablesEndpoints,
  // Kube-proxy's partial sync of a Service created or deleted (update-services.ts).
  updateServices: updateIptablesServices,
  // Kubernetes v1.33, pkg/proxy/iptables/proxier.go: NewProxier builds
  // async.NewBoundedFrequencyRunner("sync-runner", proxier.syncProxyRules, minSyncPeriod,
  // proxyutil.FullSyncPeriod, burstSyncs = 2) (maxInterval was time.Hour before PR 129329);
  // minSyncPeriod defaults to 1 s. syncProxyRules: doFullSync = needFullSync (first sync, a failed
  // restore, a node label change) || time.Since(lastFullSync) > FullSyncPeriod (1 h); every other
  // sync is partial (KEP-3453); largeClusterMode (over 1000 endpoints) changes what a sync writes,
  // not when it is full in v1.33 (only PR 138571, 2026, skips the hourly full sync there). v1.34
  // moved the runner to pkg/proxy/runner without the burst (PR 131615): not modelled.
  syncLoop: { trigger: 'runner', minSyncPeriodS: 1, burst: 2, kind: 'partial', fullSyncPeriodS: 3600 },
  orderDependent: clientIpAffinity,
  conntrackEntriesPerFlow: 2,
  cost: { firstPacketUsPerService: 0.0025, compileUsPerService: 600 },
  lookup: 'linear',
  ruleScan: true,
  kernel: {
    tool: 'iptables-restore',
    toolPackage: 'iptables',
    loadArgs: [],
    // nfacct counter objects do not exist in a fresh namespace and `-m nfacct` then fails to
    // load; kube-proxy itself omits those matches when it cannot create the counters, and kdp's
    // side of the comparison is compiled with the same option, so both sides see one ruleset.
    render: (cluster, node) => renderIptablesSave(compileRuleset(cluster, { node, nfacct: false })),
    compile: (cluster, node) => compileIptables(cluster, { node, nfacct: false }),
    // kube-proxy runs iptables-restore --noflush with the partial input of KEP-3453 (the shared nat
    // chains in full, the changed Service's chains). The legacy backend replaces the whole table
    // blob on every commit, so its cost grows with N; nf_tables sends only the listed chains.
    apply: {
      backends: [
        { name: 'iptables-legacy', tool: 'iptables-legacy-restore', args: ['--noflush'], toolPackage: 'iptables', version: /legacy/ },
        { name: 'iptables-nft', tool: 'iptables-nft-restore', args: ['--noflush'], toolPackage: 'iptables', version: /nf_tables/ },
      ],
      payloads: (cluster, next, changed) => {
        const options = { nfacct: false };
        const before = compileRuleset(cluster, { node: 0, ...options });
        const after = compileRuleset(next, { node: 0, ...options });
        return { full: fullRestore(before).text, forward: iptablesSync(before, next, 0, changed, options).text, back: iptablesSync(after, cluster, 0, changed, options).text };
      },
    },
    // "iptables-restore: line 37 failed" / "Error occurred at line: 37"
    failingLine: (stderr) => {
      const m = /line:? (\d+)/.exec(stderr);
      return m ? Number(m[1]) : undefined;
    },
    strippable: (line) => line.trim().startsWith('-A '),
  },
};

export interface FromRulesetOptions {
  /** Map DNAT targets to this cluster's endpoint rows and chains to its service ports. */
  readonly cluster?: Cluster;
  /** Node the dump was taken on (for its local addresses); -1 when unknown. */
  readonly node?: number;
  /** Addresses of the node, when no cluster is given (127.0.0.0/8 is always local). */
  readonly localAddresses?: readonly number[];
  /** The node's ipsets, for `-m set` rules (ipset-parse.ts). */
  readonly ipsets?: ReadonlyMap<string, IpsetSet>;
}

/** A dataplane over an imported ruleset (e.g. a real node's `iptables-save`). */
export function dataplaneFromRuleset(rs: Ruleset, options: FromRulesetOptions = {}): IptablesDataplane {
  const node = options.node ?? -1;
  if (options.cluster) annotateRuleset(rs, options.cluster);
  const local = options.localAddresses ?? localAddressesOf(options.cluster, node);
  return new IptablesDataplane(rs, { node, localAddresses: local, ...(options.ipsets ? { ipsets: options.ipsets } : {}) });
}

/** Parses `iptables-save` text and builds a dataplane from it. */
export function dataplaneFromIptablesSave(text: string, options: FromRulesetOptions = {}): IptablesDataplane {
  return dataplaneFromRuleset(parseIptablesSave(text, options.ipsets ? { ipsets: options.ipsets } : {}).ruleset, options);
}

export { IptablesDataplane } from './dataplane.js';
export { statisticDraw } from './hooks.js';
export { compileRuleset, kLargeClusterEndpointsThreshold } from './build.js';
export type { IptablesCompileOptions } from './build.js';
export { renderIptablesSave, renderIptablesRestore, saveRuleBody, restoreRuleBody, kDefaultSaveHeader } from './render.js';
export type { SaveOptions, RestoreText } from './render.js';
export { parseIptablesSave } from './parse.js';
export type { ParsedIptables, ParseIptablesOptions } from './parse.js';
export type { ForeignRule, ForeignMatch } from './foreign-rule.js';
export { iptablesSync, fullRestore } from './sync.js';
export type { IptablesSyncResult } from './sync.js';
export { serviceChainNames, endpointChainName, portProtoHash, isServiceChainName } from './chain-names.js';
export { annotateRuleset } from './annotate.js';
export { Ruleset, RulesetBuilder } from './ruleset.js';
