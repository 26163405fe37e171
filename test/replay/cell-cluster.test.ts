/**
 * cellCluster (replay/cell-cluster.ts) hands the cells of one size the cluster it generated for the
 * first of them, its kube-proxy mode set to theirs. The law's oracle is a fresh generateCluster of
 * each cell's own options: every cluster it hands out must equal it, field for field.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cellCluster } from '../../src/replay/cell-cluster.js';
import { generateCluster, type SyntheticOptions } from '../../src/model/synthetic.js';
import type { ModeName } from '../../src/model/types.js';

const kSweepOrder: readonly ModeName[] = ['iptables', 'ipvs', 'nftables', 'userspace', 'cilium', 'iptables', 'nftables'];

test('the clusters cellCluster shares between modes are the clusters each mode generates', () => {
  const bases: SyntheticOptions[] = [
    { services: 40, endpoints: 3, nodes: 2, cni: 'calico-vxlan', seed: 1 },
    { services: 25, endpoints: 4, nodes: 3, cni: 'flannel-vxlan', seed: 7, policies: 5 },
    { services: 30, endpoints: 2, nodes: 2, cni: 'calico-vxlan', seed: 3, dns: { nodeLocal: false } },
    // With NodeLocal DNS, IPVS mode changes CoreDNS's listen addresses: its cluster is its own.
    { services: 30, endpoints: 2, nodes: 2, cni: 'calico-vxlan', seed: 3, dns: { nodeLocal: true } },
  ];
  let sharedCells = 0;
  for (const base of bases) {
    let previous: ReturnType<typeof cellCluster> | undefined;
    for (const mode of kSweepOrder) {
      const got = cellCluster({ ...base, mode });
      assert.deepStrictEqual(got, generateCluster({ ...base, mode }), `${mode} after ${JSON.stringify(base)}`);
      if (previous !== undefined && got.services === previous.services) sharedCells++;
      previous = got;
    }
  }
  // Shared: ipvs, nftables and userspace after iptables, and nftables after iptables again, for
  // the three option sets without NodeLocal DNS (cilium starts afresh, and so does iptables after
  // it); with it, userspace after nftables and nftables after iptables (ipvs starts afresh).
  assert.equal(sharedCells, 3 * 4 + 2);
});

test('a shared cluster keeps each cell\'s own kube-proxy mode', () => {
  const options: SyntheticOptions = { services: 20, endpoints: 3, nodes: 2, cni: 'calico-vxlan', seed: 5 };
  const first = cellCluster({ ...options, mode: 'iptables' });
  const again = cellCluster({ ...options, mode: 'ipvs' });
  assert.equal(again.endpoints, first.endpoints, 'shared');
  assert.equal(first.proxy.mode, 'iptables', 'the first cell keeps its own mode');
  assert.equal(again.proxy.mode, 'ipvs');
});
