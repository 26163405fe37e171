/**
 * The userspace proxier's compiled state for one node, as typed arrays: a proxy port per service
 * port, its ready endpoints, and the portal rules (KUBE-PORTALS-*, KUBE-NODEPORT-*) that send
 * service traffic to the proxy, in chain order. build.ts fills it, dataplane.ts walks it,
 * render.ts prints it.
 */
import type { Cluster } from '../../model/types.js';
import type { AddressSet, ExpiringTable } from '../tables/index.js';

/** Linux's default net.ipv4.ip_local_port_range: where the kernel picks a socket's port when
 * --proxy-port-range is empty (the default), and the proxy's outgoing source ports. */
export const kEphemeralPortRange: readonly [number, number] = [32768, 60999];

/** Portal rule kinds, each a line of one of the four chains. */
export const PORTAL_CONTAINER = 0; // KUBE-PORTALS-CONTAINER (PREROUTING)
export const PORTAL_HOST = 1; // KUBE-PORTALS-HOST (OUTPUT)
export const NODEPORT_CONTAINER = 2; // KUBE-NODEPORT-CONTAINER (PREROUTING, dst-type LOCAL)
export const NODEPORT_HOST = 3; // KUBE-NODEPORT-HOST (OUTPUT, dst-type LOCAL)

/** Extra matches of a portal rule (iptablesCommonPortalArgs). */
export const M_PHYSDEV_NOT_IN = 1; // -m physdev ! --physdev-is-in (not from a bridge)
export const M_DST_LOCAL = 2; // -m addrtype --dst-type LOCAL

export interface UserspaceTables {
  /** Per service port (index into Cluster.ports): allocated proxy port, 0 when not proxied. */
  readonly proxyPort: Uint16Array;
  /** Seqlock word of in-place endpoint updates (table-generation.ts). */
  readonly generation: Int32Array;
  /**
   * Ready endpoint rows per service port: `[epStart, epStart + epCount)` of `epRows`, in a range
   * with room for every row of the port (ready or not), so that an update never moves it.
   */
  readonly epStart: Uint32Array;
  readonly epCount: Uint32Array;
  readonly epRows: Int32Array;
  /** Round-robin cursor per service port (LoadBalancerRR state.index). */
  readonly rrIndex: Uint32Array;
  /** Portal rules in chain order: kind, address (0 = any), port, protocol, matches, service port. */
  readonly ruleCount: number;
  readonly ruleKind: Uint8Array;
  readonly ruleIp: Uint32Array;
  readonly rulePort: Uint16Array;
  readonly ruleProto: Uint8Array;
  readonly ruleMatch: Uint8Array;
  readonly ruleServicePort: Int32Array;
  /** Chain boundaries: rules of kind k are `[chainStart[k], chainStart[k + 1])`. */
  readonly chainStart: Uint32Array;
  readonly localAddrs: AddressSet;
  /** The node address the proxy listens on for host portals and dials endpoints from. */
  readonly nodeIp: number;
  /** --bind-address (0: 0.0.0.0): container portals REDIRECT when 0, else DNAT to it. */
  readonly listenIp: number;
  readonly affinity: ExpiringTable;
}

/** What the rules are rendered from: the tables and the cluster they index into. */
export interface UserspaceRules {
  readonly cluster: Cluster;
  readonly tables: UserspaceTables;
}
