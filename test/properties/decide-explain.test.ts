/**
 * decide() against explain(), in every registered mode: the fast path the benchmark runs and the
 * exhaustive path `kdp trace` and the cross-mode law read must tell the same story. explain()
 * explores every random branch of the mode's rules (every statistic match, numgen bucket and
 * scheduler choice), so whatever decide() does with one random word and its per-run state
 * (affinity, scheduler cursors) is one of those branches:
 *  - the verdict is the same (DNAT, REDIRECT, REJECT, DROP or none);
 *  - a DNAT or REDIRECT names the same service port and an endpoint among the candidates;
 *  - masquerade: explain() reports a mark set on any path. kube-proxy marks for masquerade per
 *    service path (KUBE-SVC/KUBE-EXT: off-cluster source, masqueradeAll, external destinations)
 *    and adds one mark per endpoint only for hairpin (iptables/proxier.go KUBE-SEP
 *    `-s <endpoint> -j KUBE-MARK-MASQ`; ipvs/proxier.go KUBE-LOOP-BACK; nftables' endpoint
 *    chains `ip saddr <endpoint> jump mark-for-masquerade`). So when no candidate is the client,
 *    every path marks alike and decide() must equal explain(); when decide() chose the client
 *    itself, the hairpin path marks at least as much as any other and must equal explain() too;
 *    otherwise decide() may only mark where explain() does. Cilium instead SNATs per backend
 *    (bpf/lib/nodeport.h: nodeport_lb4 sends to a backend on another node through
 *    nodeport_nat_ipv4_fwd, to a local one unchanged): decide() masquerades exactly when the
 *    packet came in at the node's device and its backend is on another node (SNAT mode, Cilium's
 *    default), and then explain() does too.
 *
 * Runs in `npm test`: 100 scenarios (cluster + up to 4 packets), every mode, every node the
 * packets enter, 4 random words and two clocks per packet, without resetting state between them.
 */
import { test } from 'node:test';
import { compileDataplane, modeNames } from '../../src/compile/index.js';
import { kVerdictNames, newNatDecision, type ServiceDataplane } from '../../src/compile/dataplane.js';
import type { Cluster } from '../../src/model/types.js';
import { formatIp } from '../../src/net/ipv4.js';
import { resolveScenario, scenarioArb } from '../helpers/arbitraries.js';
import { checkProperty, firstPacketOf, holds, runs, scenarioReport } from '../helpers/nat-assertions.js';
import { ENTRY_EXTERNAL } from '../../src/dataplane/pipeline.js';

const kRuns = runs(100);

const rows = (c: Cluster, list: readonly number[]): string => `[${list.map((r) => formatIp(c.endpoints.ip[r])).join(', ')}]`;

test('every mode: decide() picks one of explain()\'s candidates and agrees on verdict, service port and masquerade', () => {
  checkProperty(
    'decide() against explain()',
    scenarioArb(),
    (sc) => {
      // Arrange
      const { cluster, packets } = resolveScenario(sc);
      const dps = new Map<string, ServiceDataplane>();
      const out = newNatDecision();
      for (const mode of modeNames()) {
        for (const p of packets) {
          const key = `${mode}/${p.probe.node}`;
          if (!dps.has(key)) dps.set(key, compileDataplane(cluster, mode, p.probe.node));
          const dp = dps.get(key)!;
          for (const now of [0, 1000]) {
            for (const rand of [0, 0x55555555, 0xaaaaaaaa, 0xffffffff]) {
              // Act
              const pkt = firstPacketOf(p.probe, rand, now, dp.socketLb);
              const ex = dp.explain(pkt);
              dp.decide(pkt, out);
              // Assert
              const verdict = kVerdictNames[out.verdict];
              const where = `${mode}, rand ${rand}, t=${now}s`;
              holds(verdict === ex.verdict ? '' : `decide() says ${verdict}, explain() says ${ex.verdict}`, where);
              if (verdict !== 'dnat' && verdict !== 'redirect') continue;
              holds(out.servicePort === ex.servicePort ? '' : `decide() port#${out.servicePort}, explain() port#${ex.servicePort}`, where);
              if (verdict === 'dnat' || out.endpoint >= 0) {
                holds(ex.candidates.includes(out.endpoint) ? '' : `decide() chose row ${out.endpoint}, not among explain()'s candidates ${rows(cluster, ex.candidates)}`, where);
              }
              const clientIsCandidate = ex.candidates.some((r) => cluster.endpoints.ip[r] === pkt.srcIp);
              const choseClient = out.endpoint >= 0 && cluster.endpoints.ip[out.endpoint] === pkt.srcIp;
              const perBackend = mode === 'cilium'
                ? out.masquerade === (p.probe.entry === ENTRY_EXTERNAL && cluster.endpoints.node[out.endpoint] !== p.probe.node)
                : true;
              const ok = perBackend && (mode === 'cilium' || !clientIsCandidate || choseClient ? (mode === 'cilium' ? !out.masquerade || ex.masquerade : out.masquerade === ex.masquerade) : !out.masquerade || ex.masquerade);
              holds(ok ? '' : `decide() masquerade ${out.masquerade}, explain() ${ex.masquerade} (chose ${out.endpoint >= 0 ? formatIp(cluster.endpoints.ip[out.endpoint]) : 'none'} of ${rows(cluster, ex.candidates)}${choseClient ? ': hairpin' : ''})`, where);
            }
          }
        }
      }
    },
    { numRuns: kRuns, ...scenarioReport() },
  );
});
