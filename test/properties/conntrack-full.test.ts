/**
 * Conntrack full: when a node's table holds nf_conntrack_max assured connections, a new flow is
 * dropped and counted (conntrack dropFull, pipeline drop `conntrack-full`), and every established
 * flow is unaffected: its packets still pass, with the same NAT binding. In every mode, through
 * the real pipeline. A mode with its own LRU connection tracking (Cilium's BPF CT maps) admits the
 * new flow by evicting one entry (lruEvicted) instead; its established flows still reach the same
 * backend (their sockets hold it and send to it: connectedProbe; an evicted entry is made again).
 *
 * Runs in `npm test`: 30 (cluster, table size) per mode.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { modeNamed, modeNames } from '../../src/compile/index.js';
import { TCP_ACK, TCP_SYN } from '../../src/net/l4.js';
import { ENTRY_POD } from '../../src/dataplane/pipeline.js';
import { DROP_CONNTRACK_FULL, END_DROPPED, END_POD, kDropNames } from '../../src/dataplane/next.js';
import { formatIp } from '../../src/net/ipv4.js';
import { buildCluster, clientPodIp, clusterIp, servicePortNumber, type ClusterSpec } from '../helpers/arbitraries.js';
import { checkProperty, connectedProbe, holds, loggedContext, replyProbe, runs, sendPacket } from '../helpers/nat-assertions.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import type { Probe } from '../../src/dataplane/trace.js';

const kRuns = runs(30);

const arb = fc.record({
  cni: fc.constantFrom('kubenet' as const, 'calico-ipip' as const, 'flannel-vxlan' as const),
  endpoints: fc.array(fc.nat({ max: 1 }), { minLength: 1, maxLength: 3 }),
  max: fc.integer({ min: 2, max: 6 }),
});

for (const mode of modeNames()) {
  test(`[${mode}] conntrack full: new flows are dropped and counted, established flows are unaffected`, () => {
    checkProperty(
      `${mode}: conntrack full`,
      arb,
      (a) => {
        // Arrange: a table of `max` entries per node, filled with assured connections from node-1's pods.
        const cs: ClusterSpec = {
          cni: a.cni, nodes: 2, nodeExternalIPs: false, masqueradeAll: false,
          services: [{ kind: 'ClusterIP', externalIP: false, sourceRanges: false, externalLocal: false, internalLocal: false, affinity: false, ports: [{ udp: false, namedTarget: false }], endpoints: a.endpoints.map((node) => ({ node, state: 'ready' as const })) }],
        };
        const cluster = buildCluster(cs);
        // Userspace flows take two entries on the client's node (client and proxy connections).
        const perFlow = mode === 'userspace' ? 2 : 1;
        const flows = Math.floor(a.max / perFlow);
        fc.pre(flows >= 1);
        const lc = loggedContext(cluster, mode, { conntrackMax: flows * perFlow });
        // Cilium's CT is a BPF LRU map (bpf/lib/conntrack_map.h): full, it evicts instead of dropping.
        const lru = modeNamed(mode).conntrack?.(cluster).lru === true;
        const probe = (k: number) => ({ proto: PROTO_TCP as 6, srcIp: clientPodIp(0, k), srcPort: 40000 + k, dstIp: clusterIp(0), dstPort: servicePortNumber(0), node: 0, entry: ENTRY_POD });
        const established: { where: string }[] = [];
        const later: Probe[] = [];
        for (let k = 0; k < flows; k++) {
          const syn = sendPacket(lc, probe(k), TCP_SYN);
          holds(syn.end === END_POD ? '' : `filling: flow ${k} SYN ended ${syn.end} (${kDropNames[syn.batch.drop[syn.i]]})`);
          later.push(connectedProbe(lc, syn, probe(k)));
          const back = replyProbe(syn, probe(k))!;
          sendPacket(lc, back, TCP_SYN | TCP_ACK);
          const ack = sendPacket(lc, later[k]!, TCP_ACK);
          holds(ack.end === END_POD ? '' : `filling: flow ${k} ACK ended ${ack.end}`);
          established.push({ where: `${formatIp(ack.batch.dstIp[ack.i])}:${ack.batch.dstPort[ack.i]}` });
        }
        const ct = lc.ctx.world.conntrack(0);
        const fullBefore = ct.counter('dropFull');
        const dropsBefore = lc.ctx.counters.drops[DROP_CONNTRACK_FULL];
        // Act: one more new flow, then data on every established one.
        const fresh = sendPacket(lc, probe(flows), TCP_SYN);
        // Assert
        if (lru) {
          // A BPF LRU map makes room: the new flow passes, one entry is evicted, nothing is dropped.
          holds(fresh.end === END_POD ? '' : `the new flow ended ${fresh.end} (${kDropNames[fresh.batch.drop[fresh.i]]}), though the LRU map evicts`);
          holds(ct.counter('lruEvicted') === 1 && ct.counter('dropFull') === fullBefore ? '' : `lruEvicted ${ct.counter('lruEvicted')}, dropFull ${fullBefore} -> ${ct.counter('dropFull')}`);
        } else {
          holds(fresh.end === END_DROPPED && fresh.batch.drop[fresh.i] === DROP_CONNTRACK_FULL ? '' : `the new flow ended ${fresh.end} (${kDropNames[fresh.batch.drop[fresh.i]]}), not dropped as conntrack-full`);
          holds(ct.counter('dropFull') === fullBefore + 1 ? '' : `dropFull ${fullBefore} -> ${ct.counter('dropFull')}`);
          holds(lc.ctx.counters.drops[DROP_CONNTRACK_FULL] === dropsBefore + 1 ? '' : 'the pipeline did not count the drop');
        }
        for (let k = 0; k < flows; k++) {
          const data = sendPacket(lc, later[k]!, TCP_ACK, 512);
          holds(data.end === END_POD ? '' : `established flow ${k} ended ${data.end} (${kDropNames[data.batch.drop[data.i]]})`);
          const where = `${formatIp(data.batch.dstIp[data.i])}:${data.batch.dstPort[data.i]}`;
          holds(where === established[k].where ? '' : `established flow ${k} now reaches ${where}, before ${established[k].where}`);
        }
      },
      { numRuns: kRuns, describe: (a) => JSON.stringify(a) },
    );
  });
}
