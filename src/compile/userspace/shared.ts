/**
 * A userspace dataplane's compiled tables as plain data, for a worker thread to attach to: the
 * portal rules, proxy ports and endpoint lists. The round-robin cursors and affinity entries
 * are per instance, never shared.
 */
import type { Cluster } from '../../model/types.js';
import { kTableClasses } from '../tables/index.js';
import { userspaceDataplaneOver, type UserspaceDataplane } from './dataplane.js';
import type { UserspaceTables } from './tables.js';

/** The hash-table classes shared userspace tables hold (see packTables): the kit's AddressSet. */
export const kUserspaceSharedClasses = kTableClasses;

export interface UserspaceShared {
  readonly node: number;
  readonly tables: Omit<UserspaceTables, 'rrIndex' | 'affinity'>;
  readonly affinityCapacity: number;
}

export function userspaceShared(dp: UserspaceDataplane): UserspaceShared {
  const { rrIndex: _rr, affinity, ...tables } = dp.tables;
  return { node: dp.node, tables, affinityCapacity: affinity.capacity };
}

export function userspaceFromShared(cluster: Cluster, s: UserspaceShared): UserspaceDataplane {
  return userspaceDataplaneOver(cluster, s.node, s.tables, s.affinityCapacity);
}
