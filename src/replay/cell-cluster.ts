/**
 * The synthetic cluster of a cell, generated once for the cells that differ only in kube-proxy's
 * mode. The sweep runs every mode at one size in a row, and the iptables, ipvs, nftables and
 * userspace clusters of the same options differ in `proxy.mode` alone: the mode reaches the model
 * only through kube-proxy's configuration, CoreDNS's NodeLocal listen addresses (in IPVS mode) and
 * Cilium's own configuration (model/build.ts), so a cell with NodeLocal DNS or in cilium mode is
 * always generated afresh. test/replay/cell-cluster.test.ts holds each shared cluster against a
 * fresh generation. Nothing in the replay writes a cluster in place (a change makes a new one).
 * Cost saved: the generation, ~1-1.5 s a cell at 30k Services, on the main thread and each worker.
 */
import { generateCluster, type SyntheticOptions } from '../model/synthetic.js';
import type { Cluster } from '../model/types.js';

let last: { readonly key: string; readonly cluster: Cluster } | undefined;

export function cellCluster(options: SyntheticOptions): Cluster {
  const shared = options.mode !== undefined && options.mode !== 'cilium' && options.dns?.nodeLocal !== true;
  const key = JSON.stringify({ ...options, mode: shared ? '(any kube-proxy mode)' : options.mode });
  if (last?.key === key) {
    const c = last.cluster;
    return c.proxy.mode === options.mode ? c : { ...c, proxy: { ...c.proxy, mode: options.mode! } };
  }
  // The previous cell's cluster can be hundreds of MB: dropped before the next is generated.
  last = undefined;
  const cluster = generateCluster(options);
  last = { key, cluster };
  return cluster;
}
