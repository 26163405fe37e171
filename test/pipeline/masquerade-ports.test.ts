/**
 * MASQUERADE's source ports, through the whole pipeline: every masqueraded flow leaves with a port
 * in the range the kernel picks from, and distinct flows get distinct ports.
 *
 * Oracle: net/netfilter/nf_nat_proto.c, nf_nat_l4proto_unique_tuple: with no range given (kube-
 * proxy's `-j MASQUERADE --random-fully`), a source port of 1024 or more is replaced from
 * [1024, 65535]; with --random-fully the offset is random per connection. The flows here all start
 * at 1024 or above. A port past 65535 would wrap in the 16-bit header field.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { PipelineContext } from '../../src/dataplane/context.js';
import { END_POD } from '../../src/dataplane/next.js';
import { ENTRY_EXTERNAL, inject, runBatch } from '../../src/dataplane/pipeline.js';
import { PacketBatch } from '../../src/net/batch.js';
import { parseIp } from '../../src/net/ipv4.js';
import { TCP_SYN } from '../../src/net/l4.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { twoNodes } from '../helpers/two-nodes.js';

const kFlows = 4096;

describe('MASQUERADE source ports', () => {
  it('NodePort from outside, endpoint on the other node: every port in [1024, 65535], one per flow', () => {
    const ctx = new PipelineContext(twoNodes('calico-vxlan'), { conntrackMax: 2 * kFlows });
    const client = parseIp('203.0.113.9');
    const nodePort = parseIp('192.168.0.11');
    const batch = new PacketBatch({ capacity: 256 });
    const ports = new Set<number>();
    for (let f0 = 0; f0 < kFlows; f0 += 256) {
      batch.reset();
      for (let f = f0; f < f0 + 256; f++) inject(ctx, batch, batch.push(PROTO_TCP, client, 1024 + f, nodePort, 30081, 64, TCP_SYN), 0, ENTRY_EXTERNAL);
      runBatch(ctx, batch);
      for (let i = 0; i < batch.count; i++) {
        assert.equal(batch.verdict[i], END_POD, `flow ${f0 + i}`);
        assert.notEqual(batch.srcIp[i], client, `flow ${f0 + i} was not masqueraded`);
        const port = batch.srcPort[i];
        assert.ok(port >= 1024 && port <= 65535, `flow ${f0 + i} masqueraded to port ${port}`);
        ports.add(port);
      }
    }
    // One address, one port a flow: a port taken twice would be a clash the port search must avoid.
    assert.equal(ports.size, kFlows);
  });
});
