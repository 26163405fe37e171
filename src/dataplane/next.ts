/**
 * Stage ids (a packet's `next`), ends and drop reasons, declared once as `as const` tuples that give
 * both the ids and their labels (VPP's `foreach_*_error` lists). Data-path failures are these
 * counters, never exceptions. The stages are listed in the order the driver runs them (stages.ts).
 */
export const kStageNames = [
  'done',
  'socket', // socket LB (Cilium): a local socket's connect()/sendmsg() translated before the packet exists
  'raw', // the raw table's NOTRACK (NodeLocal DNSCache's rules), before conntrack; only on nodes that have such rules
  'prerouting', // conntrack lookup at PREROUTING (arriving) or OUTPUT (host-originated)
  'service-nat', // slow path: the proxy mode decides a new flow
  'route', // longest-prefix match, TTL
  'policy', // Calico's filter FORWARD/INPUT: a new flow's egress and ingress policy at the workloads' interfaces
  'local-in', // delivery to the node itself (the kernel's LOCAL_IN): conntrack confirm, un-SNAT
  'proxy', // userspace mode: the proxy copies the payload into its own connection
  'postrouting', // masquerade / SNAT, conntrack confirm
  'encap', // VXLAN / IPIP outer headers
  'underlay', // the wire between nodes
  'decap',
] as const;
export type StageName = (typeof kStageNames)[number];
const stageId = (name: StageName): number => kStageNames.indexOf(name);
export const NEXT_DONE = stageId('done');
export const NEXT_SOCKET = stageId('socket');
export const NEXT_RAW = stageId('raw');
export const NEXT_PREROUTING = stageId('prerouting');
export const NEXT_SERVICE_NAT = stageId('service-nat');
export const NEXT_ROUTE = stageId('route');
export const NEXT_POLICY = stageId('policy');
export const NEXT_LOCAL_IN = stageId('local-in');
export const NEXT_PROXY = stageId('proxy');
export const NEXT_POSTROUTING = stageId('postrouting');
export const NEXT_ENCAP = stageId('encap');
export const NEXT_UNDERLAY = stageId('underlay');
export const NEXT_DECAP = stageId('decap');

/** Where a packet ended (batch.verdict once next is NEXT_DONE). */
export const kEndNames = ['in-flight', 'delivered-pod', 'delivered-host', 'left-cluster', 'dropped', 'rejected'] as const;
export type EndName = (typeof kEndNames)[number];
const endId = (name: EndName): number => kEndNames.indexOf(name);
export const END_NONE = endId('in-flight');
export const END_POD = endId('delivered-pod');
export const END_HOST = endId('delivered-host');
export const END_EXTERNAL = endId('left-cluster');
export const END_DROPPED = endId('dropped');
export const END_REJECTED = endId('rejected');

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
  'policy', // a network policy denied the new flow (Calico: a Deny rule or the end-of-tier drop)
] as const;
export type DropName = (typeof kDropNames)[number];
const dropId = (name: DropName): number => kDropNames.indexOf(name);
export const DROP_SERVICE_REJECT = dropId('service-reject');
export const DROP_SERVICE_DROP = dropId('service-drop');
export const DROP_CONNTRACK_FULL = dropId('conntrack-full');
export const DROP_CONNTRACK_INVALID = dropId('conntrack-invalid');
export const DROP_TTL = dropId('ttl-exceeded');
export const DROP_FRAG_NEEDED = dropId('frag-needed');
export const DROP_NO_ROUTE = dropId('no-route');
export const DROP_UNPARSABLE = dropId('unparsable');
export const DROP_LOOP = dropId('loop');
export const DROP_POLICY = dropId('policy');
