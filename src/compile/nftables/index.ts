/** kube-proxy's nftables mode: build, render, parse, compile, sync. */
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
