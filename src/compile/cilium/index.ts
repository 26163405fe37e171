/**
 * Cilium's eBPF kube-proxy replacement (Cilium v1.17) as a proxy mode: the LB maps for one node,
 * its socket-level load balancing, NodePort/LoadBalancer/externalIPs at the node's device with
 * SNAT or DSR, random or Maglev backend selection, and the maps as `cilium-dbg` prints them.
 */
import { updateCiliumEndpoints } from './update.js';
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
  syncOneEndpoint: (prev, _cluster, next, node, _changed, clock) => ciliumOneEndpointSync(prev, next, node, clock),
  updateEndpoints: updateCiliumEndpoints,
  // Random slots derive from the flow's hash; only affinity remembers earlier flows.
  // The agent (v1.17) reconciles a changed Service into the BPF maps as the change arrives: no
  // minimum period between updates.
  syncLoop: { trigger: 'immediate', minSyncPeriodS: 0, burst: 1, kind: 'partial' },
  orderDependent: clientIpAffinity,
  // bpf/lib/conntrack_map.h: cilium_ct4_global (TCP) and cilium_ct_any4_global are BPF LRU maps;
  // pkg/option/config.go lifetimes: TCP 21600 s, TCP closing 10 s, non-TCP 60 s.
  conntrack: (cluster) => {
    const config = ciliumConfigOf(cluster);
    return { timeouts: { tcpEstablishedTimeoutSeconds: 21600, tcpCloseWaitTimeoutSeconds: 10, udpTimeoutSeconds: 60, udpStreamTimeoutSeconds: 60 }, lru: true, tcpMax: config.ctGlobalTcpMax, anyMax: config.ctGlobalAnyMax };
  },
  figures: (dp, cluster, clock) => maglevFigures(dp, cluster, clock),
  conntrackEntriesPerFlow: 2,
  cost: { firstPacketUsPerService: 0, compileUsPerService: 160 },
  lookup: 'hash',
};

export { CiliumDataplane, ciliumFlowHash } from './dataplane.js';
export { ciliumMaglevTable, backendHashString, maglevSeeds, offsetAndSkip, kMaglevTableSizes, kDefaultMaglevHashSeed, kDefaultMaglevTableSize } from './maglev.js';
export { ciliumConfigOf, compileCilium, compileCiliumTables } from './build.js';
export { frontendText, renderLbList, renderMaglevList, renderServiceList } from './render.js';
export { parseLbList } from './parse.js';
export { parseMaglevList } from './parse-maglev.js';
export { parseServiceList } from './parse-service-list.js';
export type { CiliumTables } from './tables.js';
