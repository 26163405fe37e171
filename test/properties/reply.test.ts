/**
 * Laws of the way back and of the bytes on the way, in every mode, through the real pipeline:
 *  - revNAT∘NAT = id at every hop: the reply, through conntrack, restores the original tuple
 *    exactly (the reply's successive tuples are the forward ones reversed and swapped), also when
 *    the forward packet was masqueraded, and reaches the client from the address it asked for;
 *  - encap∘decap is the identity on the inner packet, and every checksum (outer IPv4/UDP,
 *    inner IPv4, TCP/UDP) of every captured frame, forward and reply, is valid.
 *
 * Excluded, with kube-proxy's reason: IPVS D1 (eTP Local without a local endpoint DNATs an
 * external client to a remote endpoint without masquerade; pkg/proxy/ipvs/proxier.go
 * syncEndpoint: "Traffic from an external source will be routed but the reply will have the POD
 * address and will be discarded"): the reply leaves the endpoint's node directly, so it cannot
 * pass the conntrack entry that would restore it. The same holds in every mode for a pod calling
 * another node's NodePort/external address of an eTP Local service: the "pod traffic for ...
 * external destinations" short-circuit (iptables/proxier.go, KUBE-EXT) jumps to KUBE-SVC without
 * KUBE-MARK-MASQ, so the deciding node is not on the reply's path. Generally: an unmasqueraded
 * DNAT on a node that is neither the client's nor the endpoint's (fc.pre).
 *
 * Runs in `npm test`: 60 scenarios (cluster + up to 4 packets) per mode and law.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { modeNames } from '../../src/compile/index.js';
import { TCP_ACK, TCP_SYN } from '../../src/net/l4.js';
import { resolveScenario, scenarioArb } from '../helpers/arbitraries.js';
import {
  checkProperty, encapDecapIdentity, framesChecksumsOk, holds, isDnat, loggedContext, replyProbe, replyRestores, runs, scenarioReport, sendPacket, sourceClass,
} from '../helpers/nat-assertions.js';

const kRuns = runs(60);


for (const mode of modeNames()) {
  test(`[${mode}] the reply through conntrack restores the original tuple at every hop, also when masqueraded`, () => {
    checkProperty(
      `${mode}: revNAT∘NAT = id`,
      scenarioArb(),
      (sc) => {
        // Arrange
        const { cluster, packets } = resolveScenario(sc);
        const lc = loggedContext(cluster, mode);
        for (const p of packets) {
          // Act: the packet, then its answer from where it arrived.
          const fwd = sendPacket(lc, p.probe, TCP_SYN);
          const back = replyProbe(fwd, p.probe);
          if (!back) continue;
          // Asymmetric paths (see the header): an unmasqueraded DNAT on a node that is neither the
          // client's nor the endpoint's; the reply never meets that node's conntrack entry.
          const asymmetric = fwd.decisions.some(
            (d) => isDnat(d) && d.out.endpoint >= 0 && !d.out.masquerade && cluster.endpoints.node[d.out.endpoint] !== d.node && (sourceClass(cluster, d) === 'external' || p.probe.node !== d.node),
          );
          fc.pre(!asymmetric);
          const rep = sendPacket(lc, back, TCP_SYN | TCP_ACK);
          // Assert
          holds(replyRestores(fwd.hops, rep.hops, p.probe));
        }
      },
      { numRuns: kRuns, ...scenarioReport(mode) },
    );
  });

  test(`[${mode}] encapsulation then decapsulation is the identity on the inner packet, and every checksum is valid at every hop`, () => {
    checkProperty(
      `${mode}: encap∘decap = id, checksums valid`,
      scenarioArb(),
      (sc) => {
        // Arrange
        const { cluster, packets } = resolveScenario(sc);
        const lc = loggedContext(cluster, mode);
        for (const p of packets) {
          // Act
          const fwd = sendPacket(lc, p.probe, TCP_SYN);
          const back = replyProbe(fwd, p.probe);
          const rep = back ? sendPacket(lc, back, TCP_SYN | TCP_ACK) : undefined;
          // Assert
          for (const s of rep ? [fwd, rep] : [fwd]) {
            holds(framesChecksumsOk(s.frames));
            holds(encapDecapIdentity(s.hops, s.frames));
          }
        }
      },
      { numRuns: kRuns, ...scenarioReport(mode) },
    );
  });
}
