/**
 * An IPVS dataplane's compiled tables as plain data, for a worker thread to attach to: virtual
 * and real servers, the VS hash table, the address sets, Maglev tables. The scheduler state and
 * persistence templates (ipvsState) are per instance, never shared.
 */
import type { Cluster, IpvsScheduler } from '../../model/types.js';
import { ipvsDataplaneOver, ipvsState, type IpvsDataplane, type IpvsState } from './dataplane.js';
import type { IpvsTables } from './tables.js';
import { kTableClasses } from '../tables/index.js';

/** The hash-table classes shared IPVS tables hold (see packTables): the kit's PairTable and AddressSet. */
export const kIpvsSharedClasses = kTableClasses;

export interface IpvsShared {
  readonly node: number;
  readonly scheduler: IpvsScheduler;
  readonly tables: Omit<IpvsTables, keyof IpvsState>;
  readonly affinityCapacity: number;
  readonly nodePortAddresses: readonly number[];
  readonly nodeIp: number;
  readonly duplicateVirtualServices: number;
}

export function ipvsShared(dp: IpvsDataplane): IpvsShared {
  const { rrNext: _rr, wrrCl: _cl, wrrCw: _cw, rsConns: _conns, affinity, ...tables } = dp.tables;
  return {
    node: dp.node, scheduler: dp.scheduler, tables, affinityCapacity: affinity.capacity,
    nodePortAddresses: dp.nodePortAddresses, nodeIp: dp.nodeIp, duplicateVirtualServices: dp.duplicateVirtualServices,
  };
}

/** State sized for every VS slot, the room included: VSs an update adds later are the shared tables'. */
export function ipvsFromShared(cluster: Cluster, s: IpvsShared): IpvsDataplane {
  const tables: IpvsTables = { ...s.tables, ...ipvsState(s.tables.vsIp.length, s.tables.rsCount, s.affinityCapacity) };
  return ipvsDataplaneOver(cluster, s.node, s.scheduler, tables, s.nodePortAddresses, s.nodeIp, s.duplicateVirtualServices);
}
