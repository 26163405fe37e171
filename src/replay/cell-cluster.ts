/**
 * The synthetic cluster of a cell, generated once for the cells that differ only in kube-proxy's
 * mode. The sweep runs every mode at one size in a row, and the clusters of options that differ
 * only in modes of one footprint (model/synthetic.ts modeFootprint: the iptables, ipvs, nftables
 * and userspace modes but for IPVS with NodeLocal DNS, and apart from them Cilium) differ in
 * `proxy.mode` alone; test/replay/cell-cluster.test.ts holds each shared cluster against a fresh
 * generation. Nothing in the replay writes a cluster in place (a change makes a new one).
 * Cost saved: the generation, ~1-1.5 s a cell at 30k Services, on the main thread and each worker.
 */
import { generateCluster, modeFootprint, type SyntheticOptions } from '../model/synthetic.js';
import type { Cluster } from '../model/types.js';

let last: { readonly key: string; readonly mode: SyntheticOptions['mode']; readonly cluster: Cluster } | undefined;

export function cellCluster(options: SyntheticOptions): Cluster {
  // Without a mode the model's default applies, which is no other cell's.
  const key = JSON.stringify({ ...options, mode: options.mode === undefined ? '(none)' : `(footprint ${modeFootprint(options)})` });
  if (last?.key === key) {
    const c = last.cluster;
    return last.mode === options.mode ? c : { ...c, proxy: { ...c.proxy, mode: options.mode! } };
  }
  // The previous cell's cluster can be hundreds of MB: dropped before the next is generated.
  last = undefined;
  const cluster = generateCluster(options);
  last = { key, mode: options.mode, cluster };
  return cluster;
}
