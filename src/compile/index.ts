/**
 * The proxy modes, one compiler each, behind one entry point: everything that takes a `--mode`
 * (the pipeline, `kdp trace`, `kdp compile`, the benchmark) compiles through here.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Cluster, ProxyMode } from '../model/types.js';
import type { ServiceDataplane } from './dataplane.js';
import { compileIptables } from './iptables/index.js';
import { compileIpvs } from './ipvs/index.js';
import { compileNftables } from './nftables/index.js';
import { compileUserspace } from './userspace/index.js';

export const kModes: readonly ProxyMode[] = ['iptables', 'ipvs', 'nftables', 'userspace'];

export function isMode(value: string): value is ProxyMode {
  return (kModes as readonly string[]).includes(value);
}

/** Compiles `cluster`'s Services for `node` in `mode`. */
export function compileDataplane(cluster: Cluster, mode: ProxyMode, node: number): ServiceDataplane {
  if (!Number.isInteger(node) || node < 0 || node >= cluster.nodes.length) {
    throw new InvalidArgumentError(`node must be an index of the cluster's nodes (0-${cluster.nodes.length - 1}), not ${node}`);
  }
  switch (mode) {
    case 'iptables':
      return compileIptables(cluster, { node });
    case 'ipvs':
      return compileIpvs(cluster, { node });
    case 'nftables':
      return compileNftables(cluster, { node });
    case 'userspace':
      return compileUserspace(cluster, { node });
    default:
      throw new InvalidArgumentError(`mode must be one of ${kModes.join(', ')}, not ${String(mode)}`);
  }
}
