/**
 * The shared harness of the incremental-update laws (test/properties/incremental-*.test.ts): the
 * packets a node's updated tables are probed with, and the comparison of their decisions with a
 * fresh compile's, packet by packet, under the same random words and clocks.
 */
import { newNatDecision, type ServiceDataplane } from '../../src/compile/dataplane.js';
import type { Cluster } from '../../src/model/types.js';
import type { Probe } from '../../src/dataplane/trace.js';
import { ENTRY_EXTERNAL } from '../../src/dataplane/pipeline.js';
import type { resolveScenario } from './arbitraries.js';
import { firstPacketOf, holds } from './nat-assertions.js';

type Resolved = ReturnType<typeof resolveScenario>;

/**
 * The scenario's packets entering `node`, and from the first of them one to every Service port's
 * ClusterIP of `cluster`: an update must leave every other Service's choices alone too (iptables:
 * its draws). With `everyFrontend`, also one to each port's external addresses and NodePorts,
 * from the first pod-or-host packet and from the first external one.
 */
export function probesOf(sc: Resolved, cluster: Cluster, node: number, everyFrontend = false): Probe[] {
  const own = sc.packets.filter((p) => p.probe.node === node).map((p) => p.probe);
  if (own.length === 0) return own;
  const templates = everyFrontend ? [own.find((p) => p.entry !== ENTRY_EXTERNAL), own.find((p) => p.entry === ENTRY_EXTERNAL)].filter((p) => p !== undefined) : [own[0]];
  const out = [...own];
  for (const port of cluster.ports) {
    const svc = cluster.services[port.service];
    for (const from of templates) {
      const to = (ip: number, dstPort: number): void => { out.push({ ...from, dstIp: ip, dstPort, proto: port.protocol }); };
      if (svc.clusterIPs[0] !== undefined) to(svc.clusterIPs[0], port.port);
      if (!everyFrontend) continue;
      for (const ip of [...svc.externalIPs, ...svc.loadBalancerIPs]) to(ip, port.port);
      if (port.nodePort !== 0) for (const ip of cluster.nodes[node].internalIPs) to(ip, port.nodePort);
    }
  }
  return out;
}

/**
 * Every probe decided (and explained) by both dataplanes alike: verdict, service port, endpoint,
 * DNAT address and port, masquerade, and the work counted unless `ignoreWork` (a hash table's
 * probe runs depend on the order its keys came and went, as a kernel hash's chains do).
 */
export function sameDecisions(updated: ServiceDataplane, fresh: ServiceDataplane, probes: readonly Probe[], where: string, ignoreWork = false): void {
  const a = newNatDecision();
  const b = newNatDecision();
  for (const probe of probes) {
    for (const now of [0, 1000]) {
      for (const rand of [0, 0x55555555, 0xaaaaaaaa, 0xffffffff]) {
        const pkt = firstPacketOf(probe, rand, now, fresh.socketLb);
        fresh.decide(pkt, b);
        updated.decide(pkt, a);
        if (ignoreWork) a.work = b.work = 0;
        const at = `${where}, packet to ${probe.dstIp >>> 0}:${probe.dstPort}, rand ${rand}, t=${now}s`;
        holds(JSON.stringify(a) === JSON.stringify(b) ? '' : `updated decides ${JSON.stringify(a)}, fresh compile ${JSON.stringify(b)}`, at);
        const ea = updated.explain(pkt);
        const eb = fresh.explain(pkt);
        // The same endpoints, in any order: explain lists them in the tables' layout (iptables: the
        // order its DNAT rules are printed), which an update that appends chains changes.
        const ca = JSON.stringify([...ea.candidates].sort((x, y) => x - y));
        const cb = JSON.stringify([...eb.candidates].sort((x, y) => x - y));
        holds(ea.verdict === eb.verdict && ca === cb ? '' : `updated explains ${ea.verdict} ${ca}, fresh ${eb.verdict} ${cb}`, at);
      }
    }
  }
}
