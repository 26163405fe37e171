/**
 * Stage ids (a packet's `next`) and drop reasons, declared once as `as const` tuples that give
 * both the ids and their labels (VPP's `foreach_*_error` lists). Data-path failures are these
 * counters, never exceptions.
 */
export const kStageNames = [
  'done',
  'prerouting', // conntrack lookup at PREROUTING (arriving) or OUTPUT (host-originated)
  'service-nat', // slow path: the proxy mode decides a new flow
  'route', // longest-prefix match, TTL
  'postrouting', // masquerade / SNAT, conntrack confirm
  'encap', // VXLAN / IPIP outer headers
  'underlay', // the wire between nodes
  'decap',
  'proxy', // userspace mode: the proxy copies the payload into its own connection
] as const;
export type StageName = (typeof kStageNames)[number];
export const NEXT_DONE = 0;
export const NEXT_PREROUTING = 1;
export const NEXT_SERVICE_NAT = 2;
export const NEXT_ROUTE = 3;
export const NEXT_POSTROUTING = 4;
export const NEXT_ENCAP = 5;
export const NEXT_UNDERLAY = 6;
export const NEXT_DECAP = 7;
export const NEXT_PROXY = 8;

/** Where a packet ended (batch.verdict once next is NEXT_DONE). */
export const kEndNames = ['in-flight', 'delivered-pod', 'delivered-host', 'left-cluster', 'dropped', 'rejected'] as const;
export const END_NONE = 0;
export const END_POD = 1;
export const END_HOST = 2;
export const END_EXTERNAL = 3;
export const END_DROPPED = 4;
export const END_REJECTED = 5;

export const kDropNames = [
  'none',
  'service-reject', // kube-proxy REJECT: no usable endpoint (ICMP port unreachable)
  'service-drop', // kube-proxy DROP: e.g. externalTrafficPolicy Local with no local endpoint
  'conntrack-full', // nf_conntrack: table full, dropping packet
  'conntrack-invalid', // e.g. a TCP packet that cannot start a connection
  'ttl-exceeded',
  'frag-needed', // the packet does not fit the underlay MTU after encapsulation (DF set)
  'no-route',
  'unparsable',
  'loop', // the pipeline's hop budget ran out: a routing loop
] as const;
export type DropName = (typeof kDropNames)[number];
export const DROP_SERVICE_REJECT = 1;
export const DROP_SERVICE_DROP = 2;
export const DROP_CONNTRACK_FULL = 3;
export const DROP_CONNTRACK_INVALID = 4;
export const DROP_TTL = 5;
export const DROP_FRAG_NEEDED = 6;
export const DROP_NO_ROUTE = 7;
export const DROP_UNPARSABLE = 8;
export const DROP_LOOP = 9;
