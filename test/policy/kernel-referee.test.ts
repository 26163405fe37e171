/**
 * The kernel as referee of Calico's policy: felix's chains and sets as kdp renders them, loaded
 * into a sandbox of network namespaces (one per workload of the node, Calico's veths), and TCP
 * probes between pod addresses (and an outside one) that must meet the kernel's verdict where
 * `kdp trace` says. Needs root, ip, ipset and iptables-restore; skipped otherwise.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { verifyPolicy } from '../../src/verify/policy.js';
import { loadFixture } from '../helpers/cluster.js';

function unavailable(): string | undefined {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'needs root (network namespaces)';
  const which = spawnSync('sh', ['-c', 'command -v ip && command -v ipset && command -v iptables-restore'], { encoding: 'utf8' });
  if (which.status !== 0) return 'ip, ipset or iptables-restore not installed';
  return undefined;
}

describe('kdp verify --policy: the kernel agrees with kdp trace', () => {
  const cluster = loadFixture('policy-cluster.yaml');
  for (const node of [0, 1]) {
    it(`on ${cluster.nodes[node].name}`, { timeout: 180_000 }, async (t) => {
      const why = unavailable();
      if (why) return t.skip(why);
      const report = await verifyPolicy(cluster, { node });
      const lines = report.disagreements.map((d) => `${d.src} -> ${d.dst}: kernel ${d.kernel}, kdp ${d.kdp} (${d.policy})`);
      assert.deepEqual(lines, []);
      assert.ok(report.ok);
      // Both verdicts are exercised, so agreement is not a kernel that allows (or drops) everything.
      assert.ok(report.probes.some((p) => p.kernel === 'allowed'), 'no probe was allowed');
      assert.ok(report.probes.some((p) => p.kernel === 'dropped'), 'no probe was dropped');
    });
  }
});
