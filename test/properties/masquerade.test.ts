/**
 * Masquerade happens exactly where kube-proxy masquerades, through the real pipeline:
 * masqueradeAll or an off-cluster source to a ClusterIP, hairpin, external destinations under
 * Cluster policy, the node's own traffic to external destinations (see expectedMasquerade in
 * test/helpers/nat-assertions.ts for the iptables/proxier.go rules); and never under
 * `externalTrafficPolicy: Local` for external clients: the endpoint sees the client's address.
 *
 * Mode differences (sources in test/properties/cross-mode.test.ts): IPVS I-D1/D4 (a Local policy's
 * external path returns before KUBE-MARK-MASQ for every source, the node's own included); userspace U-D1 (no
 * masquerade mark: the proxy connects from the node's address, so its "endpoint sees the client"
 * check does not apply, U-D2: it ignores traffic policies); Cilium C-SNAT (a socket's connection
 * carries the pod's or node's own address, and at the node's device only a backend on another
 * node is SNATed: bpf/lib/nodeport.h nodeport_lb4 -> nodeport_nat_ipv4_fwd).
 *
 * Runs in `npm test`: 80 scenarios (cluster + up to 4 packets) per mode and law.
 */
import { test } from 'node:test';
import { modeNames } from '../../src/compile/index.js';
import { HOOK_SOCKET } from '../../src/compile/dataplane.js';
import { END_POD } from '../../src/dataplane/next.js';
import { formatIp } from '../../src/net/ipv4.js';
import { resolveScenario, scenarioArb } from '../helpers/arbitraries.js';
import { checkProperty, expectedMasquerade, holds, isDnat, loggedContext, runs, scenarioReport, sendPacket, sourceClass, viaOf } from '../helpers/nat-assertions.js';

const kRuns = runs(80);

for (const mode of modeNames()) {
  test(`[${mode}] masquerade happens exactly where kube-proxy masquerades`, () => {
    checkProperty(
      `${mode}: masquerade exactly where kube-proxy does`,
      scenarioArb(),
      (sc) => {
        // Arrange
        const { cluster, packets } = resolveScenario(sc);
        const lc = loggedContext(cluster, mode);
        for (const p of packets) {
          // Act
          const sent = sendPacket(lc, p.probe);
          // Assert
          for (const d of sent.decisions) {
            if (!isDnat(d) || d.out.endpoint < 0) continue;
            const via = viaOf(cluster, d)!;
            const src = sourceClass(cluster, d);
            const svc = cluster.services[cluster.ports[d.out.servicePort].service];
            let want = expectedMasquerade(cluster, d, via, src);
            if (mode === 'userspace') want = false; // U-D1
            const hairpin = cluster.endpoints.ip[d.out.endpoint] === d.pkt.srcIp;
            // I-D1/D4: KUBE-NODE-PORT-LOCAL / KUBE-LOAD-BALANCER-LOCAL / KUBE-EXTERNAL-IP-LOCAL return
            // before KUBE-MARK-MASQ for every source, the node's own included; only KUBE-LOOP-BACK
            // (hairpin) masquerades.
            if (mode === 'ipvs' && !hairpin && via !== 'cluster-ip' && svc.externalTrafficPolicy === 'Local') want = false;
            // IPVS: hairpin masquerade is KUBE-LOOP-BACK, an ipset of the node's *local* endpoints
            // (ipvs/proxier.go syncProxyRules: loopback entries only for ep.IsLocal()); iptables
            // mode's KUBE-SEP `-s endpoint -j KUBE-MARK-MASQ` applies to every endpoint.
            if (mode === 'ipvs' && hairpin && cluster.endpoints.node[d.out.endpoint] !== d.node) {
              want = via === 'cluster-ip' ? cluster.proxy.masqueradeAll || src !== 'pod' : svc.externalTrafficPolicy !== 'Local' || src === 'host';
              if (via !== 'cluster-ip' && svc.externalTrafficPolicy === 'Local') want = false;
            }
            // C-SNAT: no NAT at the socket; SNAT at the device only toward another node's backend.
            if (mode === 'cilium') want = d.pkt.hook !== HOOK_SOCKET && cluster.endpoints.node[d.out.endpoint] !== d.node;
            holds(d.out.masquerade === want ? '' : `masquerade ${d.out.masquerade}, kube-proxy: ${want} (via ${via}, source ${src}${hairpin ? ', hairpin' : ''})`);
            if (sent.end === END_POD && mode !== 'userspace') {
              // Unmasqueraded, the endpoint sees the client; masqueraded, an address of the deciding node.
              const seen = sent.batch.srcIp[sent.i];
              const ok = want ? lc.ctx.world.plan.nodes[d.node].addresses.includes(seen) : seen === p.probe.srcIp;
              holds(ok ? '' : `the endpoint sees ${formatIp(seen)} (client ${formatIp(p.probe.srcIp)}), masquerade should be ${want}`);
            }
          }
        }
      },
      { numRuns: kRuns, ...scenarioReport(mode) },
    );
  });

  test(`[${mode}] external clients are never masqueraded under externalTrafficPolicy: Local`, () => {
    checkProperty(
      `${mode}: no masquerade under eTP Local`,
      scenarioArb(),
      (sc) => {
        // Arrange
        const { cluster, packets } = resolveScenario(sc);
        const lc = loggedContext(cluster, mode);
        for (const p of packets) {
          // Act
          const sent = sendPacket(lc, p.probe);
          // Assert
          for (const d of sent.decisions) {
            if (!isDnat(d) || d.out.endpoint < 0 || sourceClass(cluster, d) !== 'external') continue;
            const via = viaOf(cluster, d);
            if (via === 'cluster-ip' || cluster.services[cluster.ports[d.out.servicePort].service].externalTrafficPolicy !== 'Local') continue;
            holds(d.out.masquerade ? 'marked for masquerade' : '');
            if (sent.end === END_POD && mode !== 'userspace') holds(sent.batch.srcIp[sent.i] === p.probe.srcIp ? '' : `the endpoint sees ${formatIp(sent.batch.srcIp[sent.i])}, not the client ${formatIp(p.probe.srcIp)}`);
          }
        }
      },
      { numRuns: kRuns, ...scenarioReport(mode) },
    );
  });
}
