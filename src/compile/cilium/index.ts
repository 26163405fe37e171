/**
 * Cilium's eBPF kube-proxy replacement (Cilium v1.17) as a proxy mode: the LB maps for one node,
 * its socket-level load balancing, NodePort/LoadBalancer/externalIPs at the node's device with
 * SNAT or DSR, random or Maglev backend selection, and the maps as `cilium-dbg` prints them.
 */
import { updateCiliumEndpoints } from './update.js';
import { updateCiliumServices } from './update-services.js';
import { InvalidArgumentError } from '../../errors.js';
import { clientIpAffinity, type ProxyMode } from '../mode.js';
import { ciliumConfigOf, compileCilium } from './build.js';
import { CiliumDataplane } from './dataplane.js';
import { parseLbList } from './parse.js';
import { parseMaglevList } from './parse-maglev.js';
import { parseServiceList } from './parse-service-list.js';
import type { CiliumTables } from './tables.js';
import type { CiliumConfig, Cluster } from '../../model/types.js';
import { renderLbList, renderMaglevList, renderServiceList } from './render.js';
import { ciliumFromShared, ciliumShared, kCiliumSharedClasses, type CiliumShared } from './shared.js';
import { ciliumOneEndpointSync } from './sync.js';
import { maglevFigures } from './figures.js';

/** A listing read against the cluster it was taken from (every listing leaves out what the agent knows from it). */
function readBack(
  command: string, parse: (text: string, cluster: Cluster, node: number, config: CiliumConfig) => CiliumTables, text: string, cluster?: Cluster, node?: number,
): CiliumDataplane {
  if (!cluster) throw new InvalidArgumentError(`reading \`${command}\` needs the cluster it was taken from (its Services and endpoints)`);
  const n = node ?? 0;
  const config = ciliumConfigOf(cluster);
  return new CiliumDataplane(cluster, n, config, parse(text, cluster, n, config));
}

export const ciliumMode: ProxyMode<CiliumDataplane> = {
  name: 'cilium',
  summary: "Cilium's eBPF kube-proxy replacement: socket LB, BPF service maps, Maglev",
  compile: compileCilium,
  formats: {
    'bpf-lb-list': (cluster, node) => renderLbList(compileCilium(cluster, node).tables),
    'bpf-lb-maglev-list': (cluster, node) => renderMaglevList(compileCilium(cluster, node).tables),
    'service-list': (cluster, node) => renderServiceList(compileCilium(cluster, node).tables),
  },
  parsers: {
    'bpf-lb-list': (text, cluster, node) => readBack('cilium-dbg bpf lb list', parseLbList, text, cluster, node),
    'bpf-lb-maglev-list': (text, cluster, node) => readBack('cilium-dbg bpf lb maglev list', parseMaglevList, text, cluster, node),
    'service-list': (text, cluster, node) => readBack('cilium-dbg service list', parseServiceList, text, cluster, node),
  },
  sharedClasses: kCiliumSharedClasses,
  shared: ciliumShared,
  attach: (cluster, shared) => ciliumFromShared(cluster, shared as CiliumShared),
  syncOneEndpoint: (prev, _cluster, next, node, changed) => ciliumOneEndpointSync(prev, next, node, changed),
  updateEndpoints: updateCiliumEndpoints,
  updateServices: updateCiliumServices,
  // Random slots derive from the flow's hash; only affinity remembers earlier flows.
  // The agent (v1.17) reconciles a changed Service into the BPF maps as the change arrives: no
  // minimum period between updates.
  syncLoop: { trigger: 'immediate', minSyncPeriodS: 0, burst: 1, kind: 'partial' },
  orderDependent: clientIpAffinity,
  // bpf/lib/conntrack_map.h: cilium_ct4_global (TCP) and cilium_ct_any4_global are BPF LRU maps;
  // pkg/option/config.go lifetimes: TCP 21600 s, TCP closing 10 s, non-TCP 60 s. bpf/lib/conntrack.h
  // __ct_lookup reads TCP flags for lifetimes and closing only: no packet is INVALID (a DSR entry
  // node sees no replies, and its flows' ACKs go on).
  conntrack: (cluster) => {
    const config = ciliumConfigOf(cluster);
    return {
      timeouts: { tcpEstablishedTimeoutSeconds: 21600, tcpCloseWaitTimeoutSeconds: 10, udpTimeoutSeconds: 60, udpStreamTimeoutSeconds: 60 },
      lru: true, tcpMax: config.ctGlobalTcpMax, anyMax: config.ctGlobalAnyMax, tcpStateChecks: false,
    };
  },
  figures: (dp, cluster, clock) => maglevFigures(dp, cluster, clock),
  conntrackEntriesPerFlow: 2,
  // Calibrated on the committed default run (results/results.jsonl, 30 cells, one machine), where
  // a cell's seconds are the gap between its finishedAt and the line before it, and the plan's
  // scale (sweep.ts calibrationOf, the median of seconds / model over the 29 timed cells) is 1.0165.
  // Each cell replays F = 1,000,000 + 65,536 warm-up flows. cilium's cells, divided by 1.0165:
  //   10 Services 14.25 s, 100 Services 14.33 s: setup is negligible, so flowUs = 14.25 s / F = 13.4 µs
  //   (the socket stage's per-packet lookup: established 1.2 µs against ipvs's 0.65 µs);
  //   30,000 Services 31.51 s - F x 13.4 µs (14.28 s) = 17.23 s = 574 µs per Service;
  //   10,000 Services 20.90 s - 14.28 s = 6.62 s = 662 µs per Service;
  //   a Service costs compileUsPerService x 2 nodes + 100 µs, so compileUsPerService = (574 - 100) / 2 = 237
  //   and (662 - 100) / 2 = 281: 260 (the full build, the one-endpoint rebuild-and-diff and the Maglev figures).
  // The model then over these cells: 10 Services 14.3 s (measured 14.5), 10,000 20.5 s (21.2),
  // 30,000 32.9 s (32.0), 1,000 on 2 workers 7.8 s (8.6); the old 12 µs / 160 µs gave 25.4 s at 30,000.
  // Recalibrated on the run of 2026-12-03 (c010aa4), which also measures sync.oneServiceMs (one more
  // compile of node 0) and where cilium's cells ran 1.13-1.47x the run above against 1.05-1.49x for
  // the other modes: 260 / 13.4 put cilium's median 14.8% above the shared scale (1.027);
  // 340 µs a Service and 15 µs a flow put it 0.1% from it (the grid searched: 13.4-16 µs x 260-420 µs,
  // test/compile/cilium/cost.test.ts the judge).
  // Again on the run of 2026-12-04 (77cf386), on a machine running every mode 1.1-1.8x slower and the
  // policy and DNS cells of iptables and nftables (most of the cells the shared scale is a median of)
  // the most: 15 µs a flow put cilium's median 11.7% below the scale (1.755); 13.5 µs puts it 4.6%
  // below (with userspace's model updated to its faster scan), 13 µs and 300 µs a Service 1.5%.
  // Again on the run of 2026-12-04 (0fcc163: the replay threads with V8's larger inlining budget,
  // which sped the other modes' stages more than cilium's socket stage, on a faster machine):
  // 13.5 µs put cilium's median 11.5% above the scale (0.628); 15 µs 2.1% (14.5 µs 4.1%, 15.5 µs 0.0%).
  // Again on the run of 2026-12-05 (6c54c71: a TCP connection's later packets no longer pass the
  // socket stage, established ~530-600 -> ~320-350 ns): 15 µs put cilium's median 20.6% below the
  // scale (0.489); 11.5 µs 0.6% below (11 µs 3.5% above, 12 µs 4.7% below; 300 or 340 µs a Service
  // alike).
  cost: { firstPacketUsPerService: 0, compileUsPerService: 340, flowUs: 11.5 },
  lookup: 'hash',
  // A service map past bpf-lb-map-max (CiliumDataplane.warnings).
  warns: true,
};

export { CiliumDataplane, ciliumFlowHash } from './dataplane.js';
export { ciliumMaglevTable, backendHashString, maglevSeeds, offsetAndSkip, kMaglevTableSizes, kDefaultMaglevHashSeed, kDefaultMaglevTableSize } from './maglev.js';
export { ciliumConfigOf, compileCilium, compileCiliumTables } from './build.js';
export { frontendText, renderLbList, renderMaglevList, renderServiceList } from './render.js';
export { parseLbList } from './parse.js';
export { parseMaglevList } from './parse-maglev.js';
export { parseServiceList } from './parse-service-list.js';
export type { CiliumTables } from './tables.js';
