/**
 * kube-proxy's chain names (pkg/proxy/iptables/proxier.go, portProtoHash and
 * servicePortEndpointChainName): the first 16 characters of base32(sha256(...)) of the service
 * port name ("ns/svc:port", "ns/svc" when unnamed) followed by the lower-case protocol, and for
 * KUBE-SEP also the endpoint "ip:port". They must match a real node's, so users can diff dumps.
 */
import type { ServicePort } from '../../model/types.js';
import { formatIp } from '../../net/ipv4.js';
import { portNameMemo, type PortNameMemo } from '../port-name-memo.js';
import { nameHash, nameHashEach } from '../sha256.js';

export const kSvcPrefix = 'KUBE-SVC-';
export const kSvlPrefix = 'KUBE-SVL-';
export const kExtPrefix = 'KUBE-EXT-';
export const kFwPrefix = 'KUBE-FW-';
export const kSepPrefix = 'KUBE-SEP-';
const kServicePrefixes = [kSvcPrefix, kSvlPrefix, kExtPrefix, kFwPrefix] as const;

export function portProtoHash(servicePortName: string, protocol: string): string {
  return nameHash(servicePortName + protocol, 16);
}

export interface ServiceChainNames {
  readonly svc: string;
  readonly svl: string;
  readonly ext: string;
  readonly fw: string;
}

export function serviceChainNames(servicePortName: string, protocol: string): ServiceChainNames {
  return serviceNamesOf(servicePortName + protocol);
}

/** The four names of one hash of `text` (the service port name and protocol), each a flat string. */
function serviceNamesOf(text: string): ServiceChainNames {
  const [svc, svl, ext, fw] = nameHashEach(text, 16, kServicePrefixes);
  return { svc, svl, ext, fw };
}

/** `endpoint` is "ip:port" as kube-proxy's BaseEndpointInfo.String() prints it (hostPort). */
export function endpointChainName(servicePortName: string, protocol: string, endpoint: string): string {
  return nameHash(servicePortName + protocol + endpoint, 16, kSepPrefix);
}

/** "ip:port", as kube-proxy's BaseEndpointInfo.String() prints an IPv4 endpoint. */
export function hostPort(ip: number, port: number): string {
  return `${formatIp(ip >>> 0)}:${port}`;
}

const kPortNames = new WeakMap<ServicePort, PortNameMemo<ServiceChainNames>>();

/**
 * Port `port`'s chain names: its KUBE-SVC-/SVL-/EXT-/FW- names and (`endpoint(offset, ip, port)`)
 * each endpoint row's KUBE-SEP- name, hashed once for as long as the port and its rows are the
 * same (port-name-memo.ts), as kube-proxy keeps them in its service port and endpoint infos.
 */
export function portChainNames(port: ServicePort, servicePortName: string, protocol: string): PortNameMemo<ServiceChainNames> {
  return portNameMemo(kPortNames, port, servicePortName + protocol, serviceNamesOf, endpointNameOf);
}

/** A row's KUBE-SEP- name from the hash text of its port and its address and port. */
function endpointNameOf(text: string, ip: number, port: number): string {
  return nameHash(text + hostPort(ip, port), 16, kSepPrefix);
}

export function isServiceChainName(name: string): boolean {
  return name.startsWith(kSvcPrefix) || name.startsWith(kSvlPrefix) || name.startsWith(kExtPrefix) || name.startsWith(kFwPrefix) || name.startsWith(kSepPrefix);
}
