/** kube-proxy's nftables mode: build, render, parse, compile, sync, and its record. */
import { clientIpAffinity, type ProxyMode } from '../mode.js';
import { buildRuleset } from './build.js';
import { compileNftables } from './compile.js';
import type { NftablesDataplane } from './dataplane.js';
import { renderRuleset } from './render.js';
import { kNftSharedClasses, nftablesFromShared, nftablesShared, type NftablesShared } from './shared.js';
import { nftablesOneEndpointSync } from './sync.js';

/** kube-proxy's nftables mode as a record: verdict maps, so its lookup does not grow with Services. */
export const nftablesMode: ProxyMode<NftablesDataplane> = {
  name: 'nftables',
  summary: 'kube-proxy nftables mode: verdict maps (service-ips, service-nodeports)',
  compile: (cluster, node) => compileNftables(cluster, { node }),
  formats: { nft: (cluster, node) => renderRuleset(buildRuleset(cluster, { node })) },
  sharedClasses: kNftSharedClasses,
  shared: nftablesShared,
  attach: (_cluster, shared) => nftablesFromShared(shared as NftablesShared),
  syncOneEndpoint: (_prev, cluster, next, node, _changed, clock) => nftablesOneEndpointSync(cluster, next, node, clock),
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

export { compileNftables, dataplaneFromNftText, dataplaneFromRuleset } from './compile.js';
export type { NftablesOptions } from './compile.js';
export { buildRuleset, nodePortAddresses } from './build.js';
export type { NodePortAddresses } from './build.js';
export { renderRuleset } from './render.js';
export { parseRuleset } from './parse.js';
export { compileProgram } from './program.js';
export type { NftProgram } from './program.js';
export { NftablesDataplane } from './dataplane.js';
export { fullSync, planSync } from './sync.js';
export type { SyncReport } from './sync.js';
export { hashAndTruncate } from './names.js';
export { base32, sha256 } from '../sha256.js';
export type { Ruleset, Chain, Rule, Match, Action, Verdict, NftSet, NftMap, MapElement, BaseChainSpec } from './ruleset.js';
