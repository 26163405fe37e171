/**
 * Session affinity (ClientIP, timeout 100 s), in every mode, through the real pipeline: new flows
 * (new source ports) of the same client reach the same endpoint while they come within the
 * timeout of the first; after a pause longer than the timeout the client may move, but only to an
 * eligible endpoint.
 *
 * Runs in `npm test`: 60 (cluster, client, flow times) per mode.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { modeNames } from '../../src/compile/index.js';
import { formatIp } from '../../src/net/ipv4.js';
import { ENTRY_POD } from '../../src/dataplane/pipeline.js';
import { buildCluster, clientPodIp, clusterIp, servicePortNumber, type ClusterSpec } from '../helpers/arbitraries.js';
import { checkProperty, holds, isDnat, loggedContext, runs, sendPacket } from '../helpers/nat-assertions.js';
import { PROTO_TCP } from '../../src/net/proto.js';

const kRuns = runs(60);

const affinityArb = fc.record({
  cni: fc.constantFrom('kubenet' as const, 'calico-vxlan' as const),
  endpoints: fc.array(fc.nat({ max: 1 }), { minLength: 2, maxLength: 5 }),
  clientNode: fc.nat({ max: 1 }),
  /** Seconds between flows, each within the timeout window of the first flow (sum < 100). */
  gaps: fc.array(fc.integer({ min: 0, max: 19 }), { minLength: 2, maxLength: 5 }),
  pause: fc.integer({ min: 101, max: 400 }),
});

function spec(a: { cni: 'kubenet' | 'calico-vxlan'; endpoints: number[] }): ClusterSpec {
  return {
    cni: a.cni,
    nodes: 2,
    nodeExternalIPs: false,
    masqueradeAll: false,
    services: [
      {
        kind: 'NodePort', externalIP: false, sourceRanges: false, externalLocal: false, internalLocal: false, affinity: true,
        ports: [{ udp: false, namedTarget: true }],
        endpoints: a.endpoints.map((node) => ({ node, state: 'ready' as const })),
      },
    ],
  };
}

for (const mode of modeNames()) {
  test(`[${mode}] ClientIP affinity: the same client reaches the same endpoint until the timeout`, () => {
    checkProperty(
      `${mode}: session affinity`,
      affinityArb,
      (a) => {
        // Arrange
        const cs = spec(a);
        const cluster = buildCluster(cs);
        const lc = loggedContext(cluster, mode);
        const client = clientPodIp(a.clientNode, 0);
        const send = (k: number): number => {
          const before = lc.log.length;
          // A new connection (new source port) from the client to the ClusterIP.
          sendPacket(lc, { proto: PROTO_TCP, srcIp: client, srcPort: 20000 + k, dstIp: clusterIp(0), dstPort: servicePortNumber(0), node: a.clientNode, entry: ENTRY_POD });
          const d = lc.log.slice(before).find(isDnat);
          holds(d ? '' : `flow ${k} was not DNATed`);
          return d!.out.endpoint;
        };
        // Act: flows within the window, then one after a long pause.
        let t = 0;
        lc.ctx.now = t;
        const first = send(0);
        a.gaps.forEach((g, k) => {
          t += g;
          lc.ctx.now = t;
          // Assert: within the timeout, the same endpoint.
          const got = send(k + 1);
          holds(got === first ? '' : `at t=${t}s flow ${k + 1} reached ${formatIp(cluster.endpoints.ip[got])}, the first reached ${formatIp(cluster.endpoints.ip[first])}`);
        });
        lc.ctx.now = t + a.pause;
        const after = send(99);
        const port = cluster.ports[0];
        holds(after >= port.endpointStart && after < port.endpointStart + port.endpointCount ? '' : 'after the timeout: not an endpoint of the service');
      },
      { numRuns: kRuns, describe: (a) => JSON.stringify(a) },
    );
  });
}

