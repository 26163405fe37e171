/**
 * Each mode's first-packet decision, `ServiceDataplane.decide()`, for pods calling random
 * ClusterIP Service ports (uniform), on node 0 of a 2-node synthetic cluster: at PREROUTING, or at
 * the socket for a mode that balances there (Cilium's socket LB, where PREROUTING decides nothing
 * for a pod's ClusterIP connection), over the mode's own cluster, as `kdp bench` makes a cell's
 * (Cilium's sizes its service map: synthetic.ts; the Services are the same in every mode's).
 * Run: SERVICES=10000 node dist/bench/compile/lookup.bench.js   (knobs: SERVICES, ENDPOINTS, MODES, SEED, TIME;
 * AFFINITY=only or none: the ports of ClientIP-affinity Services alone, or the others;
 * SEQLOCK=1: through decideConsistent, as the pipeline's stages call it, its two Atomics.load included)
 */
import { performance } from 'node:perf_hooks';
import { newFirstPacket, newNatDecision } from '../../src/compile/dataplane.js';
import { compileDataplane } from '../../src/compile/index.js';
import { decideConsistent } from '../../src/compile/table-generation.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { clusterIpTraffic, knobs, loadPacket, newBench, podDecisionHook, report, sink } from '../common.js';

const options = { services: knobs.services, endpoints: knobs.endpoints, nodes: 2, cni: 'calico-vxlan', seed: knobs.seed } as const;
const cluster = generateCluster(options);
const affinity = process.env.AFFINITY ?? '';
if (affinity !== '' && affinity !== 'only' && affinity !== 'none') throw new RangeError(`AFFINITY must be only or none, not "${affinity}"`);
const seqlock = process.env.SEQLOCK ?? '';
if (seqlock !== '' && seqlock !== '1') throw new RangeError(`SEQLOCK must be 1 or unset, not "${seqlock}"`);
const ports = cluster.ports.filter((p) => cluster.services[p.service].clusterIPs.length > 0 && (affinity === '' || cluster.services[p.service].affinity.clientIP === (affinity === 'only')));
const k = 4096;
const traffic = clusterIpTraffic(cluster, ports, k);
const pkt = newFirstPacket();
const out = newNatDecision();
const bench = newBench(`${seqlock === '1' ? 'decideConsistent()' : 'decide()'}, ${knobs.services.toLocaleString('en-US')} Services x ${knobs.endpoints} endpoints, ClusterIP first packets`);
const work: Record<string, number> = {};
for (const mode of knobs.modes) {
  const modeCluster = generateCluster({ ...options, mode });
  const t0 = performance.now();
  const dp = compileDataplane(modeCluster, mode, 0);
  const ms = performance.now() - t0;
  const hook = podDecisionHook(dp);
  let cursor = 0;
  let w = 0;
  let n = 0;
  const name = `${mode} (compiled in ${ms.toFixed(0)} ms)`;
  bench.add(name, () => {
    const i = cursor;
    cursor = (cursor + 1) & (k - 1);
    loadPacket(pkt, traffic, i);
    pkt.hook = hook;
    pkt.fromPodInterface = true;
    pkt.now = 0;
    if (seqlock === '1') decideConsistent(dp, pkt, out);
    else dp.decide(pkt, out);
    w += out.work;
    n++;
    sink.value ^= out.endpoint;
  });
  work[name] = 0;
  bench.addEventListener('cycle', () => {
    if (n > 0) work[name] = w / n;
  });
}
await bench.run();
report(bench);
console.log('rules or probes per decision:', Object.fromEntries(Object.entries(work).map(([m, v]) => [m, v.toFixed(1)])));
// iptables: ~1-3 ns per KUBE-SERVICES rule walked; ipvs/nftables: flat in SERVICES.
