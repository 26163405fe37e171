/**
 * kube-proxy's nftables mode for one node: Cluster -> `ip kube-proxy` ruleset -> typed arrays
 * -> ServiceDataplane. A dataplane can also be built from `nft list` text (a rendered or a real
 * node's ruleset), through the same compiler. Its record, and what the mode exports.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { Cluster } from '../../model/types.js';
import { clientIpAffinity, type ProxyMode } from '../mode.js';
import { nodeAddresses } from '../node-addresses.js';
import { buildRuleset } from './build.js';
import { NftablesDataplane } from './dataplane.js';
import { parseRuleset } from './parse.js';
import { parseRulesetJson, renderRulesetJson } from './json.js';
import { compileProgram } from './program.js';
import type { Ruleset } from './ruleset.js';
import { renderRuleset, rulesetChunks } from './render.js';
import { kNftSharedClasses, nftablesFromShared, nftablesShared, type NftablesShared } from './shared.js';
import { fullSync, nftablesOneEndpointSync, planSync } from './sync.js';
import { updateNftablesEndpoints } from './update.js';
import { updateNftablesServices } from './update-services.js';

export interface NftablesOptions {
  /** Index into `Cluster.nodes` of the node the rules are for. */
  readonly node: number;
  /** Affinity entries held per dataplane (default 65536). */
  readonly affinityCapacity?: number;
}

function checkNode(cluster: Cluster, options: NftablesOptions): void {
  if (!Number.isInteger(options.node) || options.node < 0 || options.node >= cluster.nodes.length) {
    throw new InvalidArgumentError(`options.node must be an index into cluster.nodes (0..${cluster.nodes.length - 1})`);
  }
}

/** `room`: give each Service port room for in-place endpoint updates (kdp's own compile; see update.ts). */
export function dataplaneFromRuleset(ruleset: Ruleset, cluster: Cluster, options: NftablesOptions, room = false): NftablesDataplane {
  checkNode(cluster, options);
  return new NftablesDataplane(compileProgram(ruleset, cluster, room ? { node: options.node } : undefined), {
    node: options.node,
    localAddresses: nodeAddresses(cluster, options.node),
    ...(options.affinityCapacity !== undefined ? { affinityCapacity: options.affinityCapacity } : {}),
  });
}

export function compileNftables(cluster: Cluster, options: NftablesOptions): NftablesDataplane {
  checkNode(cluster, options);
  const dp = dataplaneFromRuleset(buildRuleset(cluster, { node: options.node }), cluster, options, true);
  dp.cluster = cluster;
  return dp;
}

/** A dataplane from `nft list table ip kube-proxy` text, resolved against the cluster it came from. */
export function dataplaneFromNftText(text: string, cluster: Cluster, options: NftablesOptions): NftablesDataplane {
  return dataplaneFromRuleset(parseRuleset(text), cluster, options);
}

/** kube-proxy's nftables mode as a record: verdict maps, so its lookup does not grow with Services. */
export const nftablesMode: ProxyMode<NftablesDataplane> = {
  name: 'nftables',
  summary: 'kube-proxy nftables mode: verdict maps (service-ips, service-nodeports)',
  compile: (cluster, node) => compileNftables(cluster, { node }),
  formats: {
    nft: (cluster, node) => rulesetChunks(buildRuleset(cluster, { node })),
    // The `nft -f` transaction of kube-proxy's full sync into an empty table, one statement a line.
    'nft-transaction': (cluster, node) => fullSync(buildRuleset(cluster, { node })).text,
    // `nft -j list table ip kube-proxy`, as nft 1.0.6 prints it (less handles).
    'nft-json': (cluster, node) => renderRulesetJson(buildRuleset(cluster, { node })),
  },
  // `nft list ruleset` / `nft -f` text, and `nft -j`'s one JSON object.
  sniff: { 'nft-json': /^\{.*"nftables"/, nft: /^(table|flush ruleset|add table)\b/ },
  parsers: {
    nft: (text, cluster, node) => {
      if (!cluster) throw new InvalidArgumentError('reading nft text needs the cluster it was taken from (its Services and endpoints)');
      return dataplaneFromNftText(text, cluster, { node: node ?? 0 });
    },
    'nft-json': (text, cluster, node) => {
      if (!cluster) throw new InvalidArgumentError('reading nft -j output needs the cluster it was taken from (its Services and endpoints)');
      return dataplaneFromRuleset(parseRulesetJson(text), cluster, { node: node ?? 0 });
    },
  },
  sharedClasses: kNftSharedClasses,
  shared: nftablesShared,
  attach: (cluster, shared) => {
    const dp = nftablesFromShared(shared as NftablesShared);
    if (dp.program.room) dp.cluster = cluster;
    return dp;
  },
  syncOneEndpoint: (_prev, cluster, next, node, changed) => nftablesOneEndpointSync(cluster, next, node, changed),
  updateEndpoints: updateNftablesEndpoints,
  updateServices: updateNftablesServices,
  // Kubernetes v1.33, pkg/proxy/nftables/proxier.go: NewProxier builds
  // async.NewBoundedFrequencyRunner("sync-runner", proxier.syncProxyRules, minSyncPeriod,
  // time.Hour, burstSyncs = 2); minSyncPeriod defaults to 1 s.
  // Always an incremental transaction (KEP-3866), a full one only first, after a failure, and
  // every proxyutil.FullSyncPeriod (1 h).
  syncLoop: { trigger: 'runner', minSyncPeriodS: 1, burst: 2, kind: 'partial', fullSyncPeriodS: 3600 },
  orderDependent: clientIpAffinity,
  conntrackEntriesPerFlow: 2,
  cost: { firstPacketUsPerService: 0, compileUsPerService: 600 },
  lookup: 'hash',
  kernel: {
    tool: 'nft',
    toolPackage: 'nftables',
    loadArgs: ['-f', '-'],
    // A clean slate: the table from an earlier load would otherwise be merged into.
    flushArgs: ['flush', 'ruleset'],
    render: (cluster, node) => renderRuleset(buildRuleset(cluster, { node })),
    compile: (cluster, node) => compileNftables(cluster, { node }),
    // `nft -f -` of the transaction the mode's sync.ts plans: the changed Service's chains and map elements.
    apply: {
      backends: [{ name: 'nftables', tool: 'nft', args: ['-f', '-'], toolPackage: 'nftables', version: /nftables/ }],
      // The change and its undo from builds of the changed Services alone (sync.ts
      // nftablesOneEndpointSync says why that is the same transaction); the full load, which a
      // churn run reads once of many syncs, is built when first read.
      payloads: (cluster, next, changed) => {
        const services = new Set(changed);
        const before = buildRuleset(cluster, { node: 0, services });
        const after = buildRuleset(next, { node: 0, services });
        let full: string | undefined;
        return {
          get full() {
            return (full ??= fullSync(buildRuleset(cluster, { node: 0 })).text);
          },
          forward: planSync(before, after).text,
          back: planSync(after, before).text,
        };
      },
    },
    // "/dev/stdin:12:5-20: Error: ..."
    failingLine: (stderr) => {
      const m = /^[^:\n]*:(\d+):\d+(?:-\d+)?: Error/m.exec(stderr);
      return m ? Number(m[1]) : undefined;
    },
    strippable: (line) => {
      const t = line.trim();
      return t !== '' && t !== '}' && !/^(table|chain|set|map|type|flags|timeout|size|comment|elements|policy)\b/.test(t) && !t.endsWith('{');
    },
  },
};

export { buildRuleset, nodePortAddresses } from './build.js';
export type { NodePortAddresses } from './build.js';
export { renderRuleset } from './render.js';
export { parseRuleset } from './parse.js';
export { parseRulesetJson, renderRulesetJson, rulesetJsonObjects } from './json.js';
export { compileProgram } from './program.js';
export type { NftProgram } from './program.js';
export { NftablesDataplane };
export { fullSync, planSync } from './sync.js';
export type { SyncReport } from './sync.js';
export { hashAndTruncate } from './names.js';
export { base32, sha256 } from '../sha256.js';
export type { Ruleset, Chain, Rule, Match, Action, Verdict, NftSet, NftMap, MapElement, BaseChainSpec } from './ruleset.js';
