/**
 * A Cilium dataplane's maps as plain data for a worker thread to attach to; the affinity map is
 * per instance, never shared.
 */
import type { CiliumConfig, Cluster } from '../../model/types.js';
import { kTableClasses } from '../tables/index.js';
import { CiliumDataplane } from './dataplane.js';
import type { CiliumTables } from './tables.js';

export const kCiliumSharedClasses = kTableClasses;

export interface CiliumShared {
  readonly node: number;
  readonly config: CiliumConfig;
  readonly tables: CiliumTables;
}

export function ciliumShared(dp: CiliumDataplane): CiliumShared {
  return { node: dp.node, config: dp.config, tables: dp.tables };
}

export function ciliumFromShared(cluster: Cluster, s: CiliumShared): CiliumDataplane {
  return new CiliumDataplane(cluster, s.node, s.config, s.tables);
}
