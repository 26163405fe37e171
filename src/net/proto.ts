/**
 * IP protocol numbers (IANA "Assigned Internet Protocol Numbers", the kernel's IPPROTO_*) and their
 * names as iptables-save and nft print them: the one home of "which protocol", for the packet
 * code below the cluster model and the compilers above it.
 */

export const PROTO_ICMP = 1;
/** IPv4-in-IPv4 (RFC 2003), Calico's IPIP tunnel. */
export const PROTO_IPIP = 4;
export const PROTO_TCP = 6;
export const PROTO_UDP = 17;
export const PROTO_SCTP = 132;

/** The protocols a Service port may carry. */
export type Protocol = typeof PROTO_TCP | typeof PROTO_UDP | typeof PROTO_SCTP;

/** `tcp`, `udp` or `sctp` (iptables' `-p`, nft's `meta l4proto`, ipset's `proto:port`); the number otherwise. */
export function protoName(p: number): string {
  return p === PROTO_TCP ? 'tcp' : p === PROTO_UDP ? 'udp' : p === PROTO_SCTP ? 'sctp' : String(p);
}

/** The protocol `protoName` names (`tcp`, `udp`, `sctp`, lower case), or undefined. */
export function parseProto(name: string | undefined): Protocol | undefined {
  return name === 'tcp' ? PROTO_TCP : name === 'udp' ? PROTO_UDP : name === 'sctp' ? PROTO_SCTP : undefined;
}
