/** kube-proxy's IPVS mode: compile, render (ipvsadm, ipset, iptables-save), sync, and its record. */
import { clientIpAffinity, type ProxyMode } from '../mode.js';
import { compileIpvs } from './build.js';
import type { IpvsDataplane } from './dataplane.js';
import { renderIpsetSave } from './ipsets.js';
import { renderIpvsadmSave, renderIpvsIptablesSave } from './render.js';
import { ipvsFromShared, ipvsShared, kIpvsSharedClasses, type IpvsShared } from './shared.js';
import { updateIpvsEndpoints } from './update.js';
import { ipvsOneEndpointSync } from './sync.js';

/** kube-proxy's IPVS mode as a record: a hash table of virtual servers, and the scheduler's state. */
export const ipvsMode: ProxyMode<IpvsDataplane> = {
  name: 'ipvs',
  summary: 'kube-proxy IPVS mode: virtual-server hash table, schedulers, ipsets',
  compile: (cluster, node) => compileIpvs(cluster, { node }),
  formats: {
    ipvsadm: (cluster, node) => renderIpvsadmSave(compileIpvs(cluster, { node })),
    ipset: (cluster, node) => renderIpsetSave(compileIpvs(cluster, { node })),
    'iptables-save': (cluster, node) => renderIpvsIptablesSave(compileIpvs(cluster, { node })),
  },
  sharedClasses: kIpvsSharedClasses,
  shared: ipvsShared,
  attach: (cluster, shared) => ipvsFromShared(cluster, shared as IpvsShared),
  syncOneEndpoint: (prev, _cluster, next, node, _changed, clock) => ipvsOneEndpointSync(prev, next, node, clock),
  updateEndpoints: updateIpvsEndpoints,
  // rr, wrr and lc pick by the scheduler's state, which every earlier flow moved.
  // Kubernetes v1.31: NewProxier builds async.NewBoundedFrequencyRunner("sync-runner",
  // proxier.syncProxyRules, minSyncPeriod, time.Hour, burstSyncs = 2); minSyncPeriod defaults to 1 s.
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
export { renderIpvsadmSave, renderIpvsIptablesSave, ipvsIptablesTables } from './render.js';
export { renderIpsetSave, ipvsIpsetEntries, kIpvsIpsets, createLine } from './ipsets.js';
export type { IpsetInfo, IpsetSaveOptions, IpsetType } from './ipsets.js';
export { ipvsSyncDelta } from './sync.js';
export type { IpvsSyncDelta, SyncDeltaOptions } from './sync.js';
export { shBucket, mhHash } from './schedulers.js';
export type { IpvsTables } from './tables.js';
