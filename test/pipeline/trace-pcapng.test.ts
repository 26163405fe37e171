/**
 * `kdp trace --pcap` as pcapng (src/dataplane/trace-pcapng.ts, src/net/pcapng.ts): the real
 * tshark reads it with one interface description per interface a hop was seen on (the pod's eth0,
 * its veth/cali, cbr0, the overlay device, the nodes' eth0), every packet on its hop's interface
 * with the hop as its comment, and no expert warnings (Wireshark's Warning and Error severities:
 * malformed frames, bad lengths). The same packet seen at several hops still draws TCP
 * "(suspected) retransmission" Notes from Wireshark 4.0, which keys conversations by addresses
 * and ports, not by interface; filtering on one interface (`frame.interface_id == N`) shows that
 * hop's view. Skipped, with the reason, without tshark.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PipelineContext } from '../../src/dataplane/context.js';
import { resolveProbe } from '../../src/dataplane/resolve.js';
import { tracePacket } from '../../src/dataplane/trace.js';
import { tracePcapng } from '../../src/dataplane/trace-pcapng.js';
import type { Cni } from '../../src/model/types.js';
import { twoNodes } from '../helpers/two-nodes.js';

const reason = spawnSync('sh', ['-c', 'command -v tshark']).status === 0 ? undefined : 'tshark is not installed (.ci/run installs it)';

function tshark(file: string, ...args: string[]): string {
  const r = spawnSync('tshark', ['-r', file, ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

const kCases: readonly [Cni, string, string, readonly string[]][] = [
  // pod on node-1 -> a pod on node-2 through a ClusterIP, and the answer: the overlay device on both nodes.
  ['calico-vxlan', '10.244.1.5:40000', '10.244.2.7:8080', ['eth0 of pod 10.244.1.5 on node node-1', 'vxlan.calico of node node-1', 'eth0 of node node-1', 'vxlan.calico of node node-2']],
  ['calico-ipip', '10.244.1.5:40000', '10.244.2.7:8080', ['tunl0 of node node-1', 'tunl0 of node node-2']],
  ['kubenet', '10.244.1.5:40000', '10.244.1.6:8080', ['eth0 of pod 10.244.1.5 on node node-1', 'cbr0 of node node-1']],
];

for (const [cni, src, dst, expected] of kCases) {
  test(`${cni}: ${src} -> ${dst} and back, as pcapng tshark reads, one interface per hop's interface, no expert warnings`, { skip: reason }, () => {
    // Arrange
    const compiled = twoNodes(cni, 'iptables');
    const probe = resolveProbe(compiled.cluster, compiled.plan, { src, dst });
    const { result, frames } = tracePacket(new PipelineContext(compiled), probe, { reply: true, capture: true });
    const hops = [...result.hops, ...(result.reply?.hops ?? [])];
    const dir = mkdtempSync(join(tmpdir(), 'kdp-pcapng-'));
    const file = join(dir, 'trace.pcapng');
    try {
      // Act
      writeFileSync(file, tracePcapng(hops, frames));
      // Assert: the interfaces, each described once.
      const described = tshark(file, '-T', 'fields', '-e', 'frame.interface_id', '-e', 'frame.interface_description', '-e', 'frame.comment').trim().split('\n').map((l) => l.split('\t'));
      assert.equal(described.length, frames.length, 'every frame is in the file');
      const byId = new Map<string, string>();
      for (const [id, desc] of described) {
        assert.ok(!byId.has(id) || byId.get(id) === desc, `interface ${id} has one description`);
        byId.set(id, desc);
      }
      const descriptions = new Set(byId.values());
      assert.equal(descriptions.size, byId.size, 'no interface is described twice');
      for (const d of expected) assert.ok(descriptions.has(d), `an interface "${d}" among ${[...descriptions].join('; ')}`);
      // Each packet's comment names its hop.
      described.forEach(([, , comment], k) => {
        const hop = hops[frames[k].hop];
        assert.equal(comment, `${hop.node} ${hop.at}: ${hop.action}`);
      });
      // No expert warnings (retransmissions, bad checksums, malformed packets).
      const expert = tshark(file, '-q', '-z', 'expert,warn');
      assert.doesNotMatch(expert, /Warns \(\d+\)|Errors \(\d+\)/, expert);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
