/** kube-proxy's IPVS mode: compile, render (ipvsadm, ipset, iptables-save), sync, and its record. */
import { InvalidArgumentError } from '../../errors.js';
import type { Cluster } from '../../model/types.js';
import { clientIpAffinity, type ProxyMode } from '../mode.js';
import { dataplaneFromRuleset } from '../iptables/index.js';
import { localAddressesOf } from '../iptables/dataplane.js';
import type { Ruleset } from '../iptables/ruleset.js';
import { compileIpvs } from './build.js';
import type { IpvsDataplane } from './dataplane.js';
import { ipvsFromNodeState } from './from-node.js';
import { renderIpsetSave } from './ipsets.js';
import { parseIpsetSave, type IpsetSet } from './ipset-parse.js';
import { IpvsNodeDataplane, virtualServiceAddresses } from './node-state.js';
import { parseIpvsadm } from './parse-ipvsadm.js';
import { renderIpvsadmList, renderIpvsadmSave, renderIpvsIptablesSave } from './render.js';
import { ipvsFromShared, ipvsShared, kIpvsSharedClasses, type IpvsShared } from './shared.js';
import { updateIpvsEndpoints } from './update.js';
import { updateIpvsServices } from './update-services.js';
import { ipvsOneEndpointSync } from './sync.js';

/**
 * An IPVS node's dump: `ipvsadm -S -n` or `-Ln`, `ipset save`, or both in one text (`ipvsadm -S -n;
 * ipset save`): `create`/`add` lines are ipset's, the others ipvsadm's. Either part absent comes
 * from the cluster's compilation for the node (see from-node.ts). Line numbers stay the file's.
 */
export function ipvsFromDump(text: string, cluster: Cluster | undefined, node = 0): IpvsDataplane {
  if (!cluster) throw new InvalidArgumentError('reading an IPVS dump needs the cluster it was taken from (its Services and endpoints)');
  const lines = text.split('\n');
  const isIpset = (l: string): boolean => /^\s*(create|add)\s/.test(l);
  const ipset = lines.map((l) => (isIpset(l) ? l : '')).join('\n');
  const ipvsadm = lines.map((l) => (isIpset(l) ? '' : l)).join('\n');
  const services = parseIpvsadm(ipvsadm);
  const sets = [...parseIpsetSave(ipset).values()];
  return ipvsFromNodeState(cluster, node, {
    ...(services.length > 0 || ipvsadm.trim() !== '' ? { services } : {}),
    ...(sets.length > 0 ? { sets } : {}),
  });
}

/**
 * An IPVS node read whole (node-state.ts): its ipvsadm listing and ipset save (`dump`) and its
 * iptables-save (`iptables`, read with `sets`). kube-ipvs0's addresses are local to the node
 * (kube-proxy binds every virtual service address there), so the iptables walk takes them as the
 * node's own.
 */
function readIpvsNode(dump: string, iptables: Ruleset, sets: ReadonlyMap<string, IpsetSet>, cluster: Cluster, node: number): IpvsNodeDataplane {
  const ipvs = ipvsFromDump(dump, cluster, node);
  const local = [...localAddressesOf(cluster, node), ...virtualServiceAddresses(ipvs)];
  return new IpvsNodeDataplane(dataplaneFromRuleset(iptables, { cluster, node, localAddresses: local, ipsets: sets }), ipvs);
}

/** kube-proxy's IPVS mode as a record: a hash table of virtual servers, and the scheduler's state. */
export const ipvsMode: ProxyMode<IpvsDataplane> = {
  name: 'ipvs',
  summary: 'kube-proxy IPVS mode: virtual-server hash table, schedulers, ipsets',
  compile: (cluster, node) => compileIpvs(cluster, { node }),
  formats: {
    ipvsadm: (cluster, node) => renderIpvsadmSave(compileIpvs(cluster, { node })),
    'ipvsadm-list': (cluster, node) => renderIpvsadmList(compileIpvs(cluster, { node })),
    ipset: (cluster, node) => renderIpsetSave(compileIpvs(cluster, { node })),
    'iptables-save': (cluster, node) => renderIpvsIptablesSave(compileIpvs(cluster, { node })),
  },
  parsers: {
    ipvsadm: (text, cluster, node) => ipvsFromDump(text, cluster, node),
    'ipvsadm-list': (text, cluster, node) => ipvsFromDump(text, cluster, node),
    ipset: (text, cluster, node) => ipvsFromDump(text, cluster, node),
  },
  // `ipvsadm -S -n` lines (`-A -t|-u|-f ...`), and `ipvsadm -Ln`'s banner.
  sniff: { ipvsadm: /^-[Aa] -[tuf] /, 'ipvsadm-list': /^IP Virtual Server version/ },
  readNode: readIpvsNode,
  sharedClasses: kIpvsSharedClasses,
  shared: ipvsShared,
  attach: (cluster, shared) => ipvsFromShared(cluster, shared as IpvsShared),
  syncOneEndpoint: (prev, _cluster, next, node, changed) => ipvsOneEndpointSync(prev, next, node, changed),
  updateEndpoints: updateIpvsEndpoints,
  updateServices: updateIpvsServices,
  // rr, wrr and lc pick by the scheduler's state, which every earlier flow moved.
  // Kubernetes v1.33, pkg/proxy/ipvs/proxier.go: NewProxier builds
  // async.NewBoundedFrequencyRunner("sync-runner", proxier.syncProxyRules, minSyncPeriod,
  // syncPeriod, burstSyncs = 2); minSyncPeriod defaults to 1 s (syncPeriod, 30 s, also forces a
  // sync when nothing changed: longer than a churn run, so not modelled).
  // syncProxyRules walks every Service on every sync and diffs it against the kernel's IPVS
  // table, then rewrites its whole (small) iptables-restore payload: no partial syncs.
  syncLoop: { trigger: 'runner', minSyncPeriodS: 1, burst: 2, kind: 'full-walk' },
  orderDependent: (cluster, servicePort) => {
    const s = cluster.proxy.ipvsScheduler;
    return s === 'rr' || s === 'wrr' || s === 'lc' || clientIpAffinity(cluster, servicePort);
  },
  conntrackEntriesPerFlow: 2,
  cost: { firstPacketUsPerService: 0, compileUsPerService: 40 },
  lookup: 'hash',
};

export { compileIpvs, nodePortAddressesOf } from './build.js';
export type { IpvsOptions } from './build.js';
export type { IpvsDataplane } from './dataplane.js';
export { renderIpvsadmSave, renderIpvsadmList, renderIpvsIptablesSave, ipvsIptablesTables } from './render.js';
export { parseIpvsadm } from './parse-ipvsadm.js';
export type { IpvsadmService, IpvsadmDest } from './parse-ipvsadm.js';
export { ipvsFromNodeState } from './from-node.js';
export type { IpvsNodeState } from './from-node.js';
export { renderIpsetSave, ipvsIpsetEntries, kIpvsIpsets, createLine } from './ipsets.js';
export type { IpsetInfo, IpsetSaveOptions, IpsetType } from './ipsets.js';
export { parseIpsetSave, ipsetContains } from './ipset-parse.js';
export type { IpsetSet, IpsetEntry, IpsetDimension } from './ipset-parse.js';
export { ipvsSyncDelta } from './sync.js';
export type { IpvsSyncDelta, SyncDeltaOptions } from './sync.js';
export { shBucket, mhHash } from './schedulers.js';
export type { IpvsTables } from './tables.js';
