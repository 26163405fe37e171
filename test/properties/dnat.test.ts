/**
 * Laws of the destination NAT, in every proxy mode, through the real pipeline (pod network,
 * conntrack, the mode's compiled rules):
 *  - a packet to a Service address and port is DNATed only to an eligible endpoint of that port
 *    (ready, else serving-and-terminating; traffic policy; see eligibleRows for the per-mode
 *    differences), with the EndpointSlice's address and port, and arrives there;
 *  - a packet whose (address, port, protocol) is no Service's is never DNATed and arrives (if it
 *    arrives) with the destination it was sent to.
 *
 * Runs per property in `npm test`: 150 scenarios (cluster + up to 4 packets) per mode; multiply
 * with KDP_PROPERTY_RUNS.
 */
import { test } from 'node:test';
import { modeNames } from '../../src/compile/index.js';
import { formatIp } from '../../src/net/ipv4.js';
import { END_POD } from '../../src/dataplane/next.js';
import { resolveScenario, scenarioArb } from '../helpers/arbitraries.js';
import {
  backendBelongs,
  checkProperty,
  eligibleRows,
  holds,
  isDnat,
  loggedContext,
  runs,
  scenarioReport,
  sendPacket,
  sourceClass,
  viaOf,
} from '../helpers/nat-assertions.js';

const kRuns = runs(150);

for (const mode of modeNames()) {
  test(`[${mode}] a packet to a Service port is DNATed only to an eligible endpoint of that port, with the slice's port`, () => {
    checkProperty(
      `${mode}: DNAT only to eligible endpoints`,
      scenarioArb(),
      (sc) => {
        // Arrange: the cluster through the real loader, the packets resolved against it.
        const { cluster, packets } = resolveScenario(sc);
        const lc = loggedContext(cluster, mode);
        for (const p of packets) {
          // Act: the packet through the pipeline.
          const sent = sendPacket(lc, p.probe);
          // Assert: every DNAT names a row of an addressed port, eligible on the deciding node.
          for (const d of sent.decisions) {
            if (!isDnat(d)) continue;
            if (mode === 'userspace' && d.out.endpoint < 0) {
              const via = viaOf(cluster, d);
              holds(via ? '' : 'REDIRECT of a packet that addresses no service port');
              const eligible = eligibleRows(mode, sc.cluster, cluster, d.out.servicePort, d.node, via!, sourceClass(cluster, d));
              holds(eligible.length === 0 ? '' : `redirected without an endpoint although ${eligible.length} are eligible`);
              continue;
            }
            holds(backendBelongs(cluster, d));
            const via = viaOf(cluster, d);
            holds(via ? '' : `DNAT of ${formatIp(d.pkt.dstIp)}:${d.pkt.dstPort}, which is not an address of ${cluster.services[cluster.ports[d.out.servicePort].service].name}`);
            const eligible = eligibleRows(mode, sc.cluster, cluster, d.out.servicePort, d.node, via!, sourceClass(cluster, d));
            holds(
              eligible.includes(d.out.endpoint) ? '' : `chose ${formatIp(cluster.endpoints.ip[d.out.endpoint])} on node-${d.node + 1}; eligible: [${eligible.map((r) => formatIp(cluster.endpoints.ip[r])).join(', ')}] (via ${via}, source ${sourceClass(cluster, d)})`,
            );
            if (sent.end === END_POD) {
              const row = d.out.endpoint;
              const got = `${formatIp(sent.batch.dstIp[sent.i])}:${sent.batch.dstPort[sent.i]}`;
              const want = `${formatIp(cluster.endpoints.ip[row])}:${cluster.endpoints.port[row]}`;
              holds(got === want ? '' : `delivered to ${got}, but the decision was ${want}`);
            }
          }
        }
      },
      { numRuns: kRuns, ...scenarioReport(mode) },
    );
  });

  test(`[${mode}] traffic that addresses no Service is never DNATed`, () => {
    checkProperty(
      `${mode}: no service, no DNAT`,
      scenarioArb(),
      (sc) => {
        // Arrange
        const { cluster, packets: all } = resolveScenario(sc);
        const packets = all.filter((p) => p.target.noService);
        const lc = loggedContext(cluster, mode);
        for (const p of packets) {
          // Act
          const sent = sendPacket(lc, p.probe);
          // Assert: no decision rewrote it, and it arrives (if at all) as sent.
          for (const d of sent.decisions) holds(isDnat(d) ? `DNAT to ${formatIp(d.out.dnatIp)}:${d.out.dnatPort} (service port ${d.out.servicePort})` : '');
          if (sent.end === END_POD || sent.batch.dstIp[sent.i] !== p.probe.dstIp) {
            holds(sent.batch.dstIp[sent.i] === p.probe.dstIp && sent.batch.dstPort[sent.i] === p.probe.dstPort ? '' : `arrived at ${formatIp(sent.batch.dstIp[sent.i])}:${sent.batch.dstPort[sent.i]}`);
          }
        }
      },
      { numRuns: kRuns, ...scenarioReport(mode, (p) => p.target.noService) },
    );
  });
}
