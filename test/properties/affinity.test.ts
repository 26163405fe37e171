/**
 * Session affinity (ClientIP, timeout 100 s), in every mode, through the real pipeline: new flows
 * (new source ports) of the same client reach the same endpoint while they come within the
 * timeout of the first; after a pause longer than the timeout the client may move, but only to an
 * eligible endpoint.
 *
 * And, at the dataplane, the window's two ends as kube-proxy's modes and the kernel define them:
 *  - it slides from the client's last connection, in every mode. iptables: the service chain's
 *    `-m recent --name KUBE-SEP-X --rcheck --seconds T --reap` jumps to KUBE-SEP-X, whose
 *    `-m recent --name KUBE-SEP-X --set` (pkg/proxy/iptables/proxier.go writeServiceToEndpointRules,
 *    writeEndpointChain) adds the packet's time to the entry (net/netfilter/xt_recent.c recent_mt ->
 *    recent_entry_update), and `--rcheck --seconds` matches any stamp within T: each new
 *    connection renews it. nftables: the endpoint chain's `update @affinity-X { ip saddr }`
 *    (pkg/proxy/nftables/proxier.go) re-arms the element's timeout (nft_dynset). IPVS: a
 *    connection scheduled by a persistence template puts the template back with its timer
 *    re-armed (net/netfilter/ipvs/ip_vs_core.c ip_vs_sched_persist -> ip_vs_conn_put). userspace:
 *    NextEndpoint sets `lastUsed = time.Now()` on every hit (pkg/proxy/userspace/roundrobin.go);
 *  - after more than T since the last connection, a new one is decided exactly as by a dataplane
 *    that never saw the client: the same answer as a twin dataplane that ran the same history
 *    from another client (so schedulers' cursors agree), and, where the mode's choices do not
 *    depend on the order of flows, the same as a fresh one (ServiceDataplane.reset()).
 * Times stay off the window's edge (gaps < T, pauses > T): at exactly T xt_recent still matches
 * and roundrobin.go's `time.Since(lastUsed) >= ttl` does not, a difference this law leaves alone.
 *
 * Runs in `npm test`: 60 (cluster, client, flow times) per mode and law.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { compileDataplane, modeNamed, modeNames } from '../../src/compile/index.js';
import { newNatDecision, type NatDecision } from '../../src/compile/dataplane.js';
import { formatIp } from '../../src/net/ipv4.js';
import { ENTRY_POD } from '../../src/dataplane/pipeline.js';
import { buildCluster, clientPodIp, clusterIp, servicePortNumber, type ClusterSpec } from '../helpers/arbitraries.js';
import { checkProperty, firstPacketOf, holds, isDnat, loggedContext, runs, sendPacket } from '../helpers/nat-assertions.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import type { Probe } from '../../src/dataplane/trace.js';

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


const windowArb = fc.record({
  cni: fc.constantFrom('kubenet' as const, 'calico-vxlan' as const),
  endpoints: fc.array(fc.nat({ max: 1 }), { minLength: 2, maxLength: 5 }),
  clientNode: fc.nat({ max: 1 }),
  timeout: fc.oneof(fc.integer({ min: 2, max: 300 }), fc.constant(10800)),
  /** Each gap as a percentage of the timeout less a second: most pass half of it, so the flows span more than one timeout. */
  gaps: fc.array(fc.integer({ min: 20, max: 99 }), { minLength: 2, maxLength: 6 }),
  /** Seconds past the timeout before the last flow. */
  pause: fc.integer({ min: 1, max: 20000 }),
  rands: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 8, maxLength: 8 }),
});

const answer = (d: NatDecision): string => `${d.verdict}/${d.servicePort}/${d.endpoint}/${d.masquerade}`;

for (const mode of modeNames()) {
  test(`[${mode}] ClientIP affinity's window slides from the last connection, and after it a flow is decided as by a dataplane that never saw the client`, () => {
    checkProperty(
      `${mode}: affinity window`,
      windowArb,
      (a) => {
        // Arrange: the dataplane under test and its twin, which sees the same flows from another client.
        const base = spec(a);
        const cs: ClusterSpec = { ...base, services: [{ ...base.services[0], affinitySeconds: a.timeout }] };
        const cluster = buildCluster(cs);
        const node = a.clientNode;
        const dp = compileDataplane(cluster, mode, node);
        const twin = compileDataplane(cluster, mode, node);
        const probe = (k: number, client: number): Probe => ({ proto: PROTO_TCP, srcIp: clientPodIp(node, client), srcPort: 20000 + k, dstIp: clusterIp(0), dstPort: servicePortNumber(0), node, entry: ENTRY_POD });
        const out = newNatDecision();
        const twinOut = newNatDecision();
        // Act and assert: flows closer together than the timeout, spanning more than it.
        let t = 0;
        let first = -1;
        for (let k = 0; k <= a.gaps.length; k++) {
          if (k > 0) t += Math.floor((a.gaps[k - 1] * (a.timeout - 1)) / 100);
          const rand = a.rands[k % a.rands.length];
          dp.decide(firstPacketOf(probe(k, 0), rand, t, dp.socketLb), out);
          twin.decide(firstPacketOf(probe(k, 1), rand, t, dp.socketLb), twinOut);
          holds(isDnat({ node, pkt: firstPacketOf(probe(k, 0)), out }) ? '' : `flow ${k} was not DNATed`);
          if (k === 0) first = out.endpoint;
          holds(out.endpoint === first ? '' : `at t=${t}s (last flow ${k === 0 ? 0 : Math.floor((a.gaps[k - 1] * (a.timeout - 1)) / 100)}s before, timeout ${a.timeout}s) flow ${k} reached ${formatIp(cluster.endpoints.ip[out.endpoint])}, the first reached ${formatIp(cluster.endpoints.ip[first])}: the window did not slide`);
          holds(answer(out) === answer(twinOut) ? '' : `flow ${k}: ${answer(out)}, its twin ${answer(twinOut)}`);
        }
        // After the timeout: the client is new again.
        t += a.timeout + a.pause;
        const rand = a.rands[7];
        dp.decide(firstPacketOf(probe(99, 0), rand, t, dp.socketLb), out);
        twin.decide(firstPacketOf(probe(99, 2), rand, t, dp.socketLb), twinOut);
        holds(answer(out) === answer(twinOut) ? '' : `${a.timeout + a.pause}s after the last flow: ${answer(out)} (endpoint ${formatIp(cluster.endpoints.ip[out.endpoint])}), but a client never seen gets ${answer(twinOut)}`);
        if (!modeNamed(mode).orderDependent(cluster, out.servicePort)) {
          twin.reset();
          twin.decide(firstPacketOf(probe(99, 0), rand, t, dp.socketLb), twinOut);
          holds(answer(out) === answer(twinOut) ? '' : `${a.timeout + a.pause}s after the last flow: ${answer(out)}, a fresh dataplane ${answer(twinOut)}`);
        }
      },
      { numRuns: kRuns, describe: (a) => JSON.stringify(a) },
    );
  });
}
