/**
 * A node's compiled dataplane as a shareable image: what the main thread compiles once and every
 * replay worker attaches to (zero copy), instead of each worker compiling its own. An image is
 * one SharedArrayBuffer and a layout of a few kilobytes (table-image.ts); attaching builds only
 * the per-instance state (affinity, scheduler cursors, the walker's stacks).
 */
import { InvalidArgumentError } from '../errors.js';
import type { Cluster, ProxyMode } from '../model/types.js';
import type { ServiceDataplane } from './dataplane.js';
import type { IptablesDataplane } from './iptables/dataplane.js';
import { iptablesFromShared, iptablesShared, type IptablesShared } from './iptables/shared.js';
import type { IpvsDataplane } from './ipvs/dataplane.js';
import { ipvsFromShared, ipvsShared, kIpvsSharedClasses, type IpvsShared } from './ipvs/shared.js';
import type { NftablesDataplane } from './nftables/dataplane.js';
import { kNftSharedClasses, nftablesFromShared, nftablesShared, type NftablesShared } from './nftables/shared.js';
import { packTables, unpackTables, type TableImage } from './table-image.js';
import type { UserspaceDataplane } from './userspace/dataplane.js';
import { kUserspaceSharedClasses, userspaceFromShared, userspaceShared, type UserspaceShared } from './userspace/shared.js';

export interface DataplaneImage {
  readonly mode: ProxyMode;
  readonly node: number;
  readonly tables: TableImage;
}

const kClasses = { ...kNftSharedClasses, ...kIpvsSharedClasses, ...kUserspaceSharedClasses };

/** Per mode: what of a dataplane is shared, and a dataplane over what was shared. */
interface ModeSharing {
  shared(dp: ServiceDataplane): unknown;
  attach(cluster: Cluster, shared: unknown): ServiceDataplane;
}

const kSharing: Readonly<Record<ProxyMode, ModeSharing>> = {
  iptables: { shared: (dp) => iptablesShared(dp as IptablesDataplane), attach: (_c, s) => iptablesFromShared(s as IptablesShared) },
  ipvs: { shared: (dp) => ipvsShared(dp as IpvsDataplane), attach: (c, s) => ipvsFromShared(c, s as IpvsShared) },
  nftables: { shared: (dp) => nftablesShared(dp as NftablesDataplane), attach: (_c, s) => nftablesFromShared(s as NftablesShared) },
  userspace: { shared: (dp) => userspaceShared(dp as UserspaceDataplane), attach: (c, s) => userspaceFromShared(c, s as UserspaceShared) },
};

/** Packs a compiled dataplane's tables into shared memory (one copy, on the compiling thread). */
export function dataplaneImage(dp: ServiceDataplane): DataplaneImage {
  return { mode: dp.mode, node: dp.node, tables: packTables(kSharing[dp.mode].shared(dp), kClasses) };
}

/** A dataplane over an image's shared tables, for `cluster` (the one the image was compiled from). */
export function dataplaneFromImage(cluster: Cluster, image: DataplaneImage): ServiceDataplane {
  if (!Number.isInteger(image.node) || image.node < 0 || image.node >= cluster.nodes.length) {
    throw new InvalidArgumentError(`the image is of node ${image.node}, which the cluster (${cluster.nodes.length} nodes) does not have`);
  }
  const sharing = kSharing[image.mode];
  if (!sharing) throw new InvalidArgumentError(`the image's mode ${String(image.mode)} is not one kdp compiles`);
  return sharing.attach(cluster, unpackTables(image.tables, kClasses));
}
