/**
 * An nftables dataplane's compiled program as plain data, for a worker thread to attach to:
 * chains, rules and matches, the verdict maps and static sets (hash tables over typed arrays),
 * names and the rules' comments for explain. The affinity sets' entries are per instance, never shared.
 */
import { NftablesDataplane } from './dataplane.js';
import type { NftProgram } from './program.js';
import { kTableClasses } from '../tables/index.js';

/** The hash-table classes a shared program holds (see packTables): the kit's PairTable and AddressSet. */
export const kNftSharedClasses = kTableClasses;

export interface NftablesShared {
  readonly node: number;
  readonly program: NftProgram;
  readonly local: Uint32Array;
  readonly affinityCapacity: number;
}

export function nftablesShared(dp: NftablesDataplane): NftablesShared {
  return { node: dp.node, program: dp.program, local: dp.local, affinityCapacity: dp.affinityCapacity };
}

export function nftablesFromShared(s: NftablesShared): NftablesDataplane {
  return new NftablesDataplane(s.program, { node: s.node, localAddresses: Array.from(s.local), affinityCapacity: s.affinityCapacity });
}
