/**
 * A node's compiled dataplane as a shareable image: what the main thread compiles once and every
 * replay worker attaches to (zero copy), instead of each worker compiling its own. An image is
 * one SharedArrayBuffer and a layout of a few kilobytes (table-image.ts); attaching builds only
 * the per-instance state (affinity, scheduler cursors, the walker's stacks). What is shared and
 * how a dataplane is rebuilt over it is each mode's own (ProxyMode.shared/attach).
 */
import { InvalidArgumentError } from '../errors.js';
import type { Cluster, ModeName } from '../model/types.js';
import type { ServiceDataplane } from './dataplane.js';
import { findMode, modeNamed } from './index.js';
import { packTables, unpackTables, type TableImage } from './table-image.js';

export interface DataplaneImage {
  readonly mode: ModeName;
  readonly node: number;
  readonly tables: TableImage;
}

/** Packs a compiled dataplane's tables into shared memory (one copy, on the compiling thread). */
export function dataplaneImage(dp: ServiceDataplane): DataplaneImage {
  const mode = modeNamed(dp.mode);
  return { mode: dp.mode, node: dp.node, tables: packTables(mode.shared(dp), mode.sharedClasses) };
}

/** A dataplane over an image's shared tables, for `cluster` (the one the image was compiled from). */
export function dataplaneFromImage(cluster: Cluster, image: DataplaneImage): ServiceDataplane {
  if (!Number.isInteger(image.node) || image.node < 0 || image.node >= cluster.nodes.length) {
    throw new InvalidArgumentError(`the image is of node ${image.node}, which the cluster (${cluster.nodes.length} nodes) does not have`);
  }
  const mode = findMode(image.mode);
  if (!mode) throw new InvalidArgumentError(`the image's mode ${String(image.mode)} is not one kdp compiles`);
  return mode.attach(cluster, unpackTables(image.tables, mode.sharedClasses));
}
