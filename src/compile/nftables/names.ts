/**
 * kube-proxy's nftables object names (pkg/proxy/nftables/proxier.go: hashAndTruncate,
 * servicePortChainNameBase, servicePortEndpointChainNameBase): "HASH-ns/svc/proto/port" where
 * HASH is the first 8 characters of base32(SHA-256(name)), so a chain name is unique and still
 * readable. The same base names are parsed back to find which service port a chain belongs to.
 */
import { formatIp } from '../../net/ipv4.js';
import type { Cluster, ServicePort } from '../../model/types.js';
import { nameHash } from '../sha256.js';
import { portNameMemo, type PortNameMemo } from '../port-name-memo.js';
import { protoName } from '../../net/proto.js';

/** knftables.NameLengthMax (256) minus kube-proxy's chainNamePrefixLengthMax (16). */
const kChainNameBaseLengthMax = 240;

export const kPrefixService = 'service-';
export const kPrefixLocal = 'local-';
export const kPrefixExternal = 'external-';
export const kPrefixEndpoint = 'endpoint-';
export const kPrefixAffinity = 'affinity-';
export const kPrefixFirewall = 'firewall-';

/**
 * A port's object name, `prefix` then its name `base`, as one flat string: `prefix + base` would
 * be a pair of strings, which every name-keyed map the name goes into (the builder's chain index
 * holds 364,000 at 30,000 Services) hashes and compares by walking both.
 */
export function objectName(prefix: string, base: string): string {
  return [prefix, base].join('');
}

export function hashAndTruncate(name: string): string {
  const full = `${nameHash(name, 8)}-${name}`;
  return full.length > kChainNameBaseLengthMax ? `${full.slice(0, kChainNameBaseLengthMax - 3)}...` : full;
}

/** "ns/svc/tcp/portname" (the part after the hash), also the key used to resolve parsed names. */
export function servicePortKey(cluster: Cluster, port: ServicePort): string {
  const svc = cluster.services[port.service];
  return `${svc.namespace}/${svc.name}/${protoName(port.protocol)}/${port.name}`;
}

/** A Service port's own chains, named as kube-proxy's servicePortInfo holds them (newServiceInfo). */
export interface PortChains {
  /** clusterPolicyChainName: `service-` and the port's name base. */
  readonly service: string;
  /** localPolicyChainName */
  readonly local: string;
  /** externalChainName */
  readonly external: string;
  /** firewallChainName */
  readonly firewall: string;
}

/**
 * A Service port's object names, as build.ts's writeServicePort asks for them: its own chains and
 * each endpoint row's chain (endpointInfo.chainName). A row's is asked for by each of its chain's
 * rules, its numgen target and its affinity set (affinitySetOf).
 */
export interface PortNames extends PortChains {
  endpointChain(row: number): string;
}

/**
 * A port's own chains: each one's name prefix and its field of PortChains, in the order a compile's
 * room for the port holds them (program.ts roomNames).
 */
export const kPortChainRoles: readonly (readonly [string, keyof PortChains])[] = [
  [kPrefixService, 'service'],
  [kPrefixLocal, 'local'],
  [kPrefixExternal, 'external'],
  [kPrefixFirewall, 'firewall'],
];

const kPortNames = new WeakMap<ServicePort, PortNameMemo<PortChains>>();

/** A port's own chains from its key (servicePortChainNameBase, then each chain's prefix). */
function portChainsOf(key: string): PortChains {
  const base = hashAndTruncate(key);
  const chains = { service: '', local: '', external: '', firewall: '' };
  for (const [prefix, role] of kPortChainRoles) chains[role] = objectName(prefix, base);
  return chains;
}

/** A row's endpoint chain from its port's key and its address and port (servicePortEndpointChainNameBase). */
function endpointChainOf(key: string, ip: number, port: number): string {
  return objectName(kPrefixEndpoint, hashAndTruncate(`${key}__${formatIp(ip)}/${port}`));
}

/** Names hashed as kube-proxy hashes them, each port's and row's once for as long as the port and its rows are the same (port-name-memo.ts). */
export function hashedPortNames(cluster: Cluster, port: ServicePort): PortNames {
  const names = portNameMemo(kPortNames, port, servicePortKey(cluster, port), portChainsOf, endpointChainOf);
  const ep = cluster.endpoints;
  return { ...names.service, endpointChain: (row) => names.endpoint(row - port.endpointStart, ep.ip[row], ep.port[row]) };
}

/** An endpoint's affinity set: its chain's name base with the affinity prefix (endpointInfo.affinitySetName). */
export function affinitySetOf(endpointChain: string): string {
  return objectName(kPrefixAffinity, endpointChain.slice(kPrefixEndpoint.length));
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
