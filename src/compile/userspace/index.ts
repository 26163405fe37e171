/** The userspace proxy (kube-proxy's mode until 1.26): compile, render, sync, and its record. */
import type { ProxyMode } from '../mode.js';
import { compileUserspace } from './build.js';
import type { UserspaceDataplane } from './dataplane.js';
import { renderUserspaceIptablesSave } from './render.js';
import { kUserspaceSharedClasses, userspaceFromShared, userspaceShared, type UserspaceShared } from './shared.js';
import { userspaceOneEndpointSync } from './sync.js';
import { updateUserspaceEndpoints } from './update.js';
import { updateUserspaceServices } from './update-services.js';

/** The userspace proxy as a record: a linear scan of portal rules, and a proxy that copies bytes. */
export const userspaceMode: ProxyMode<UserspaceDataplane> = {
  name: 'userspace',
  summary: 'kube-proxy userspace mode: portal rules redirect to a proxy process that copies the bytes',
  compile: (cluster, node) => compileUserspace(cluster, { node }),
  formats: { 'iptables-save': (cluster, node) => renderUserspaceIptablesSave(compileUserspace(cluster, { node })) },
  sharedClasses: kUserspaceSharedClasses,
  shared: userspaceShared,
  attach: (cluster, shared) => userspaceFromShared(cluster, shared as UserspaceShared),
  syncOneEndpoint: (prev, _cluster, next, node) => userspaceOneEndpointSync(prev, next, node),
  updateEndpoints: updateUserspaceEndpoints,
  updateServices: updateUserspaceServices,
  // The proxy's round-robin cursor moves with every connection.
  // The userspace proxier hands endpoint changes to LoadBalancerRR.OnEndpointsUpdate as they
  // arrive (pkg/proxy/userspace/roundrobin.go, until v1.25): no sync loop for endpoints.
  syncLoop: { trigger: 'immediate', minSyncPeriodS: 0, burst: 1, kind: 'partial' },
  orderDependent: () => true,
  // Two connections a flow (client to proxy, proxy to endpoint): more entries than a NATed flow.
  conntrackEntriesPerFlow: 3,
  // A flow's first packets scan the portal chains about three times (the client's, the proxy's own
  // connection from the host, the endpoint's node): ~1.6 ns a Service with the eight-rule step,
  // from the run of 2026-12-04 (77cf386: the 10k and 30k cells, 53 and 113 s, over the plan's
  // shared scale of 1.755, less 12 µs a flow; it was 0.006 rule by rule).
  cost: { firstPacketUsPerService: 0.0016, compileUsPerService: 40 },
  lookup: 'linear',
  // One proxy socket per service port, and one address has about 64,000 ports per protocol.
  serviceLimit: { services: 50_000, why: 'a node has one proxy socket per service port and about 64,000 ports per protocol' },
};

export { compileUserspace } from './build.js';
export type { UserspaceOptions } from './build.js';
export { newProxyConnection, kUserspaceCopiesPerPayload, kUserspaceTcpCopyBufferBytes, kUserspaceUdpBufferBytes } from './dataplane.js';
export type { ProxyConnection, UserspaceDataplane } from './dataplane.js';
export { kEphemeralPortRange } from './tables.js';
export type { UserspaceRules, UserspaceTables } from './tables.js';
export { renderUserspaceIptablesSave, userspaceIptablesTables, portalRuleText } from './render.js';
