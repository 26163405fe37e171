/**
 * The userspace proxier's compiled state for one node, as typed arrays: a proxy port per service
 * port, its ready endpoints, and the portal rules (KUBE-PORTALS-*, KUBE-NODEPORT-*) that send
 * service traffic to the proxy, in chain order. build.ts fills it, dataplane.ts walks it,
 * render.ts prints it.
 */
import type { Cluster } from '../../model/types.js';
import type { AddressSet, ExpiringTable } from '../tables/index.js';
import { PROTO_TCP, PROTO_UDP } from '../../net/proto.js';

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

/**
 * A portal rule of a Service removed in place (update-services.ts): protocol 0, which no Service
 * port carries, so the rule never matches; it keeps its slot until the next compile.
 */
export const kGoneProto = 0;

export interface UserspaceTables {
  /**
   * Per service port (index into Cluster.ports): allocated proxy port, 0 when not proxied (or its
   * Service was removed). Per-port arrays have room past the ports compiled (capacity.ts withRoom)
   * for Services added in place.
   */
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
  /** Per service port: its Service's ClientIP affinity timeout in seconds, 0 without affinity. */
  readonly affinitySeconds: Uint32Array;
  /** Round-robin cursor per service port (LoadBalancerRR state.index). */
  readonly rrIndex: Uint32Array;
  /**
   * Portal rules in chain order: kind, address (0 = any), port, protocol (kGoneProto: removed),
   * matches, service port. Chain k holds `[chainStart[k], chainEnd[k])` and has room up to
   * `chainStart[k + 1]` for rules appended in place (the proxier appends, iptables.Append).
   */
  readonly ruleKind: Uint8Array;
  readonly ruleIp: Uint32Array;
  readonly rulePort: Uint16Array;
  readonly ruleProto: Uint8Array;
  readonly ruleMatch: Uint8Array;
  readonly ruleServicePort: Int32Array;
  readonly chainStart: Uint32Array;
  readonly chainEnd: Uint32Array;
  /** Per chain, its rules removed in place (kGoneProto), not counted as rules. */
  readonly chainGone: Uint32Array;
  /** Per service port and chain (`sp * 4 + kind`): its first rule there (its rules are consecutive), -1 for none. */
  readonly spRule: Int32Array;
  /**
   * What an in-place update appends past, in typed arrays so that every copy of the shared image
   * sees them: [service ports the per-port arrays cover, epRows used].
   */
  readonly extent: Uint32Array;
  /** Per protocol number, the next proxy port to hand out (ports are handed out in order). */
  readonly nextProxyPort: Uint32Array;
  /** --proxy-port-range as compiled. */
  readonly proxyPortFirst: number;
  readonly proxyPortLast: number;
  /** Per port of the proxy range (`port - proxyPortFirst`): protocol bits (protoBit) of the NodePorts on it, which no proxy socket takes. */
  readonly nodePortBits: Uint8Array;
  readonly localAddrs: AddressSet;
  /** The node address the proxy listens on for host portals and dials endpoints from. */
  readonly nodeIp: number;
  /** --bind-address (0: 0.0.0.0): container portals REDIRECT when 0, else DNAT to it. */
  readonly listenIp: number;
  readonly affinity: ExpiringTable;
}

/** extent's words. */
export const X_PORTS = 0;
export const X_EP_ROWS = 1;

/** A protocol's bit in nodePortBits (TCP, UDP and SCTP ports are separate spaces). */
export function protoBit(proto: number): number {
  return proto === PROTO_TCP ? 1 : proto === PROTO_UDP ? 2 : 4;
}

/**
 * The first port from `from` on that no NodePort of `proto` holds (`alsoTaken`: NodePorts not yet
 * in nodePortBits, as `port * 256 + proto`), or 0 when the range is spent. Cost: O(ports skipped).
 */
export function freeProxyPort(t: Pick<UserspaceTables, 'nodePortBits' | 'proxyPortFirst' | 'proxyPortLast'>, proto: number, from: number, alsoTaken?: ReadonlySet<number>): number {
  const bit = protoBit(proto);
  for (let port = from; port <= t.proxyPortLast; port++) {
    if ((t.nodePortBits[port - t.proxyPortFirst] & bit) !== 0 || alsoTaken?.has(port * 256 + proto)) continue;
    return port;
  }
  return 0;
}

/** Live portal rules (those of chain `kind`, or of all four). */
export function liveRules(t: UserspaceTables, kind?: number): number {
  let n = 0;
  for (let k = kind ?? 0; k <= (kind ?? 3); k++) n += t.chainEnd[k] - t.chainStart[k] - t.chainGone[k];
  return n;
}

/** What the rules are rendered from: the tables and the cluster they index into. */
export interface UserspaceRules {
  readonly cluster: Cluster;
  readonly tables: UserspaceTables;
}
