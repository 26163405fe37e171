/**
 * kube-proxy's chain names (pkg/proxy/iptables/proxier.go, portProtoHash and
 * servicePortEndpointChainName): the first 16 characters of base32(sha256(...)) of the service
 * port name ("ns/svc:port", "ns/svc" when unnamed) followed by the lower-case protocol, and for
 * KUBE-SEP also the endpoint "ip:port". They must match a real node's, so users can diff dumps.
 */
import { nameHash } from '../sha256.js';

export const kSvcPrefix = 'KUBE-SVC-';
export const kSvlPrefix = 'KUBE-SVL-';
export const kExtPrefix = 'KUBE-EXT-';
export const kFwPrefix = 'KUBE-FW-';
export const kSepPrefix = 'KUBE-SEP-';

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
  const h = portProtoHash(servicePortName, protocol);
  return { svc: kSvcPrefix + h, svl: kSvlPrefix + h, ext: kExtPrefix + h, fw: kFwPrefix + h };
}

/** `endpoint` is "ip:port" as kube-proxy's BaseEndpointInfo.String() prints it. */
export function endpointChainName(servicePortName: string, protocol: string, endpoint: string): string {
  return kSepPrefix + nameHash(servicePortName + protocol + endpoint, 16);
}

export function isServiceChainName(name: string): boolean {
  return name.startsWith(kSvcPrefix) || name.startsWith(kSvlPrefix) || name.startsWith(kExtPrefix) || name.startsWith(kFwPrefix) || name.startsWith(kSepPrefix);
}
