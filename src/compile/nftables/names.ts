/**
 * kube-proxy's nftables object names (pkg/proxy/nftables/proxier.go: hashAndTruncate,
 * servicePortChainNameBase, servicePortEndpointChainNameBase): "HASH-ns/svc/proto/port" where
 * HASH is the first 8 characters of base32(SHA-256(name)), so a chain name is unique and still
 * readable. The same base names are parsed back to find which service port a chain belongs to.
 */
import { formatIp } from '../../net/ipv4.js';
import type { Cluster, ServicePort } from '../../model/types.js';
import { nameHash } from '../sha256.js';
import { protoName } from '../../net/proto.js';

/** knftables.NameLengthMax (256) minus kube-proxy's chainNamePrefixLengthMax (16). */
const kChainNameBaseLengthMax = 240;

export const kPrefixService = 'service-';
export const kPrefixLocal = 'local-';
export const kPrefixExternal = 'external-';
export const kPrefixEndpoint = 'endpoint-';
export const kPrefixAffinity = 'affinity-';
export const kPrefixFirewall = 'firewall-';

export function hashAndTruncate(name: string): string {
  const full = `${nameHash(name, 8)}-${name}`;
  return full.length > kChainNameBaseLengthMax ? `${full.slice(0, kChainNameBaseLengthMax - 3)}...` : full;
}

/** "ns/svc/tcp/portname" (the part after the hash), also the key used to resolve parsed names. */
export function servicePortKey(cluster: Cluster, port: ServicePort): string {
  const svc = cluster.services[port.service];
  return `${svc.namespace}/${svc.name}/${protoName(port.protocol)}/${port.name}`;
}

export function servicePortChainBase(cluster: Cluster, port: ServicePort): string {
  return hashAndTruncate(servicePortKey(cluster, port));
}

export function endpointChainBase(cluster: Cluster, port: ServicePort, row: number): string {
  const ep = cluster.endpoints;
  return hashAndTruncate(`${servicePortKey(cluster, port)}__${formatIp(ep.ip[row])}/${ep.port[row]}`);
}

/**
 * A Service port's name bases, as build.ts's writeServicePort asks for them: its chains' base and
 * each endpoint row's. A row's base is asked for by each of its chain's rules, its numgen target
 * and its affinity set, and each is a SHA-256.
 */
export interface PortNames {
  readonly base: string;
  endpointBase(row: number): string;
}

/** Names hashed as kube-proxy hashes them, each row's once. Cost: one SHA-256 per row asked for. */
export function hashedPortNames(cluster: Cluster, port: ServicePort): PortNames {
  const rows = new Map<number, string>();
  return {
    base: servicePortChainBase(cluster, port),
    endpointBase: (row) => {
      let name = rows.get(row);
      if (name === undefined) rows.set(row, (name = endpointChainBase(cluster, port, row)));
      return name;
    },
  };
}

/**
 * The service-port key of a kube-proxy service/endpoint chain or affinity set name, or '' for
 * the fixed chains (none of which contains "/", as kube-proxy's isServiceChainName relies on).
 */
export function servicePortKeyOfName(name: string): string {
  if (!name.includes('/')) return '';
  const dash = name.indexOf('-');
  if (dash < 0) return '';
  const rest = name.slice(dash + 1); // "HASH-ns/svc/proto/port[__ip/port]"
  const base = rest.slice(rest.indexOf('-') + 1);
  const sep = base.indexOf('__');
  return sep >= 0 ? base.slice(0, sep) : base;
}
