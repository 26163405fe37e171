/**
 * Nodes, Pods and Services, read field by field into plain records that the builder joins.
 * Only what kube-proxy and the pod network act on is kept.
 */
import { formatIp, prefixMask, type Cidr } from '../net/ipv4.js';
import { FieldReader, isDnsSubdomain, parseQuantity, type Json } from './fields.js';
import type { Labels } from './calico-selector.js';
import {
  type DnsPolicy,
  type NamedPort,
  type PodDnsConfig,
  type ServiceType,
  type SessionAffinity,
  type TrafficPolicy,
} from './types.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP, type Protocol } from '../net/proto.js';

export interface RawNode {
  readonly name: string;
  readonly podCIDRs: Cidr[];
  readonly internalIPs: number[];
  readonly externalIPs: number[];
  readonly zone: string;
  readonly subnet?: Cidr;
  readonly cpus?: number;
  readonly memoryBytes?: number;
  readonly reader: FieldReader;
}

/** Calico records each node's address with its subnet, which CrossSubnet encapsulation needs. */
const kCalicoAddressAnnotation = 'projectcalico.org/IPv4Address';

export function readNode(r: FieldReader, obj: Json, name: string): RawNode {
  const spec = r.record(obj.spec, ['spec']);
  const status = r.record(obj.status, ['status']);
  const meta = r.record(obj.metadata, ['metadata']);
  const labels = r.record(meta.labels, ['metadata', 'labels']);
  const podCIDRs: Cidr[] = [];
  const cidrTexts = new Set<string>();
  // spec.podCIDRs supersedes spec.podCIDR; both are usually present and equal.
  const list = r.array(spec.podCIDRs, ['spec', 'podCIDRs']);
  list.forEach((v, i) => {
    if (typeof v === 'string' && cidrTexts.has(v)) return;
    cidrTexts.add(String(v));
    const c = r.cidr(v, ['spec', 'podCIDRs', i]);
    if (c) podCIDRs.push(c);
  });
  if (spec.podCIDR !== undefined && !cidrTexts.has(String(spec.podCIDR))) {
    const c = r.cidr(spec.podCIDR, ['spec', 'podCIDR']);
    if (c) podCIDRs.push(c);
  }
  const internalIPs: number[] = [];
  const externalIPs: number[] = [];
  r.array(status.addresses, ['status', 'addresses']).forEach((a, i) => {
    const addr = r.record(a, ['status', 'addresses', i]);
    const type = r.string(addr.type, ['status', 'addresses', i, 'type']);
    if (type !== 'InternalIP' && type !== 'ExternalIP') return; // Hostname, InternalDNS, ...
    const ip = r.ip(addr.address, ['status', 'addresses', i, 'address']);
    if (ip >= 0) (type === 'InternalIP' ? internalIPs : externalIPs).push(ip);
  });
  const zone = r.string(labels['topology.kubernetes.io/zone'], ['metadata', 'labels', 'topology.kubernetes.io/zone']);
  const annotations = r.record(meta.annotations, ['metadata', 'annotations']);
  let subnet: Cidr | undefined;
  const calicoAddress = annotations[kCalicoAddressAnnotation];
  if (calicoAddress !== undefined) {
    const path = ['metadata', 'annotations', kCalicoAddressAnnotation];
    const text = r.string(calicoAddress, path);
    const [ipText, prefixText] = text.split('/');
    const ip = r.ip(ipText, path);
    const prefix = Number(prefixText);
    if (ip >= 0 && Number.isInteger(prefix) && prefix >= 0 && prefix <= 32) subnet = { base: (ip & prefixMask(prefix)) >>> 0, prefix };
    else if (ip >= 0) r.error(path, `"${text}" is not ADDRESS/PREFIX (Calico writes e.g. 192.168.0.11/24)`);
  }
  const capacity = r.record(status.capacity, ['status', 'capacity']);
  const cpus = capacityOf(r, capacity.cpu, 'cpu', 1, 4096, '"8" or "8000m"');
  const memoryBytes = capacityOf(r, capacity.memory, 'memory', 2 ** 20, 2 ** 50, '"16393216Ki" or "16Gi"');
  return {
    name,
    podCIDRs,
    internalIPs,
    externalIPs,
    zone,
    ...(subnet ? { subnet } : {}),
    ...(cpus !== undefined ? { cpus: Math.ceil(cpus) } : {}),
    ...(memoryBytes !== undefined ? { memoryBytes: Math.floor(memoryBytes) } : {}),
    reader: r,
  };
}

/** One `status.capacity` figure; undefined (with an error when present but unreadable or absurd). */
function capacityOf(r: FieldReader, value: unknown, field: string, min: number, max: number, example: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  const q = parseQuantity(value);
  if (q === undefined || !(q >= min && q <= max)) {
    r.error(['status', 'capacity', field], `must be a quantity from ${min} to ${max} such as ${example}, not ${JSON.stringify(value)?.slice(0, 40)}`);
    return undefined;
  }
  return q;
}

export interface RawPod {
  readonly namespace: string;
  readonly name: string;
  readonly ip: number;
  readonly nodeName: string;
  readonly hostNetwork: boolean;
  readonly dnsPolicy: DnsPolicy;
  readonly dnsConfig?: PodDnsConfig;
  readonly labels: Labels;
  readonly namedPorts: NamedPort[];
}

/** `metadata.labels` as a string map (each value a string, as the API server requires). */
export function readLabels(r: FieldReader, obj: Json): Record<string, string> {
  const meta = r.record(obj.metadata, ['metadata']);
  const labels = r.record(meta.labels, ['metadata', 'labels']);
  const out: Record<string, string> = {};
  for (const key of Object.keys(labels)) out[key] = r.string(labels[key], ['metadata', 'labels', key]);
  return out;
}

/** Container ports that carry a name: what a policy's named port resolves to on this pod. */
function readNamedPorts(r: FieldReader, spec: Json): NamedPort[] {
  const out: NamedPort[] = [];
  for (const field of ['initContainers', 'containers'] as const) {
    r.array(spec[field], ['spec', field]).forEach((c, i) => {
      const container = r.record(c, ['spec', field, i]);
      r.array(container.ports, ['spec', field, i, 'ports']).forEach((v, j) => {
        const path = ['spec', field, i, 'ports', j];
        const port = r.record(v, path);
        if (port.name === undefined || port.name === null || port.name === '') return;
        const name = r.string(port.name, [...path, 'name']);
        const number = r.port(port.containerPort, [...path, 'containerPort']);
        if (number > 0) out.push({ name, protocol: readProtocol(r, port.protocol, [...path, 'protocol']), port: number });
      });
    });
  }
  return out;
}

const kDnsPolicies: readonly DnsPolicy[] = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'];
/** `spec.dnsConfig` as the API server accepts it (pkg/apis/core/validation validatePodDNSConfig). */
function readDnsConfig(r: FieldReader, value: unknown): PodDnsConfig | undefined {
  if (value === undefined || value === null) return undefined;
  const path = ['spec', 'dnsConfig'];
  const c = r.record(value, path);
  const options = r.array(c.options, [...path, 'options']).map((v, i) => {
    const o = r.record(v, [...path, 'options', i]);
    const name = r.string(o.name, [...path, 'options', i, 'name']);
    if (!name) r.error([...path, 'options', i, 'name'], 'is required');
    return { name, value: r.string(o.value, [...path, 'options', i, 'value']) };
  });
  return { ...readResolverLists(r, c, path), options };
}

/** `nameservers` (addresses) and `searches` (DNS names) of a resolver setting at `path`: a pod's dnsConfig, the node's resolv.conf. */
export function readResolverLists(r: FieldReader, c: Json, path: (string | number)[]): { nameservers: number[]; searches: string[] } {
  const nameservers: number[] = [];
  r.array(c.nameservers, [...path, 'nameservers']).forEach((v, i) => {
    const ip = r.ip(v, [...path, 'nameservers', i]);
    if (ip >= 0) nameservers.push(ip);
  });
  const searches: string[] = [];
  r.array(c.searches, [...path, 'searches']).forEach((v, i) => {
    const s = r.string(v, [...path, 'searches', i]);
    if (isDnsSubdomain(s)) searches.push(s);
    else r.error([...path, 'searches', i], `"${s}" is not a DNS name (lower-case labels of letters, digits and '-', at most 253 characters)`);
  });
  return { nameservers, searches };
}

/** A pod without an IP yet (Pending) is left out: it cannot send or receive. */
export function readPod(r: FieldReader, obj: Json, namespace: string, name: string): RawPod | undefined {
  const spec = r.record(obj.spec, ['spec']);
  const status = r.record(obj.status, ['status']);
  const ips = r.array(status.podIPs, ['status', 'podIPs']);
  if (ips.length > 1) {
    r.error(['status', 'podIPs'], 'a dual-stack pod (more than one pod IP): IPv6 and dual-stack are not supported yet');
    return undefined;
  }
  const first = ips.length === 1 ? r.record(ips[0], ['status', 'podIPs', 0]).ip : status.podIP;
  if (first === undefined || first === '') return undefined;
  const ip = r.ip(first, ips.length === 1 ? ['status', 'podIPs', 0, 'ip'] : ['status', 'podIP']);
  if (ip < 0) return undefined;
  const dnsPolicy = r.oneOf(spec.dnsPolicy, ['spec', 'dnsPolicy'], kDnsPolicies, 'ClusterFirst');
  const dnsConfig = readDnsConfig(r, spec.dnsConfig);
  if (dnsPolicy === 'None' && (dnsConfig?.nameservers.length ?? 0) === 0) {
    r.error(['spec', 'dnsConfig', 'nameservers'], 'dnsPolicy None needs at least one nameserver in dnsConfig (the API server refuses the pod otherwise)');
  }
  return {
    namespace,
    name,
    ip,
    nodeName: r.string(spec.nodeName, ['spec', 'nodeName']),
    hostNetwork: r.bool(spec.hostNetwork, ['spec', 'hostNetwork'], false),
    dnsPolicy,
    ...(dnsConfig ? { dnsConfig } : {}),
    labels: readLabels(r, obj),
    namedPorts: readNamedPorts(r, spec),
  };
}

export interface RawServicePort {
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
  readonly targetPort: number | string;
  readonly nodePort: number;
  readonly path: (string | number)[];
}

export interface RawService {
  readonly namespace: string;
  readonly name: string;
  readonly type: ServiceType;
  readonly clusterIPs: number[];
  readonly clusterIPPath: (string | number)[];
  /** kube-proxy skips services without a ClusterIP (headless `None`, ExternalName, unallocated). */
  readonly headless: boolean;
  readonly externalIPs: number[];
  readonly loadBalancerIPs: number[];
  readonly loadBalancerSourceRanges: Cidr[];
  readonly externalTrafficPolicy: TrafficPolicy;
  readonly internalTrafficPolicy: TrafficPolicy;
  readonly affinity: SessionAffinity;
  readonly healthCheckNodePort: number;
  readonly externalName: string;
  readonly publishNotReadyAddresses: boolean;
  readonly ports: RawServicePort[];
  readonly reader: FieldReader;
}

const kServiceTypes: readonly ServiceType[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName'];
const kPolicies: readonly TrafficPolicy[] = ['Cluster', 'Local'];
/** Kubernetes' default ClientIP affinity timeout: 3 hours. */
export const kDefaultAffinityTimeoutSeconds = 10800;

export function readProtocol(r: FieldReader, value: unknown, path: (string | number)[]): Protocol {
  const p = r.oneOf(value, path, ['TCP', 'UDP', 'SCTP'] as const, 'TCP');
  return p === 'UDP' ? PROTO_UDP : p === 'SCTP' ? PROTO_SCTP : PROTO_TCP;
}

export function readService(r: FieldReader, obj: Json, namespace: string, name: string): RawService {
  const spec = r.record(obj.spec, ['spec']);
  const status = r.record(obj.status, ['status']);
  const type = r.oneOf(spec.type, ['spec', 'type'], kServiceTypes, 'ClusterIP');

  const families = r.array(spec.ipFamilies, ['spec', 'ipFamilies']);
  if (families.some((f) => f === 'IPv6')) {
    r.error(['spec', 'ipFamilies'], `uses IPv6 (${families.join(', ')}): IPv6 and dual-stack services are not supported yet`);
  }

  // spec.clusterIPs supersedes spec.clusterIP (its first element is the same address). The API
  // server fills in whichever one is missing and refuses a pair that differs
  // (pkg/apis/core/validation validateServiceClusterIPsRelatedFields: "first value must match
  // `clusterIP`"), so a file with both must agree: a garbage clusterIP is not ignored.
  const givenIPs = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
  if (spec.clusterIP !== undefined && spec.clusterIP !== null && spec.clusterIP !== '' && givenIPs.length > 0 && givenIPs[0] !== spec.clusterIP) {
    r.error(['spec', 'clusterIPs'], `first value must match \`clusterIP\`: clusterIPs[0] is ${JSON.stringify(givenIPs[0])?.slice(0, 60)}, clusterIP is ${JSON.stringify(spec.clusterIP)?.slice(0, 60)}`);
  }
  const ipsField = spec.clusterIPs !== undefined ? 'clusterIPs' : 'clusterIP';
  const ipTexts = spec.clusterIPs !== undefined ? r.array(spec.clusterIPs, ['spec', 'clusterIPs']) : spec.clusterIP !== undefined ? [spec.clusterIP] : [];
  const clusterIPPath = ipsField === 'clusterIPs' ? ['spec', 'clusterIPs', 0] : ['spec', 'clusterIP'];
  const clusterIPs: number[] = [];
  const none = ipTexts[0] === 'None';
  if (!none && type !== 'ExternalName') {
    ipTexts.forEach((v, i) => {
      if (v === '' || v === null) return; // Go decodes both to the string's zero value: not set
      const path = ipsField === 'clusterIPs' ? ['spec', 'clusterIPs', i] : ['spec', 'clusterIP'];
      const ip = r.ip(v, path);
      if (ip < 0) return;
      // The API holds at most one cluster IP per family (a dual-stack pair), and kdp reads IPv4 only.
      if (clusterIPs.length > 0) r.error(path, `"${String(v)}": a Service has at most one cluster IP per IP family, and ${formatIp(clusterIPs[0])} is its IPv4 one`);
      else clusterIPs.push(ip);
    });
  }

  const ips = (value: unknown, path: (string | number)[]): number[] => {
    const out: number[] = [];
    r.array(value, path).forEach((v, i) => {
      const ip = r.ip(v, [...path, i]);
      if (ip >= 0) out.push(ip);
    });
    return out;
  };
  const externalIPs = ips(spec.externalIPs, ['spec', 'externalIPs']);
  const loadBalancerIPs: number[] = [];
  const lb = r.record(status.loadBalancer, ['status', 'loadBalancer']);
  r.array(lb.ingress, ['status', 'loadBalancer', 'ingress']).forEach((v, i) => {
    const ing = r.record(v, ['status', 'loadBalancer', 'ingress', i]);
    // ipMode Proxy (KEP-1860): the load balancer proxies, so kube-proxy installs no rules for the IP.
    if (ing.ip === undefined || ing.ipMode === 'Proxy') return;
    const ip = r.ip(ing.ip, ['status', 'loadBalancer', 'ingress', i, 'ip']);
    if (ip >= 0) loadBalancerIPs.push(ip);
  });
  const loadBalancerSourceRanges: Cidr[] = [];
  r.array(spec.loadBalancerSourceRanges, ['spec', 'loadBalancerSourceRanges']).forEach((v, i) => {
    const c = r.cidr(typeof v === 'string' ? v.trim() : v, ['spec', 'loadBalancerSourceRanges', i]);
    if (c) loadBalancerSourceRanges.push(c);
  });

  const affinityKind = r.oneOf(spec.sessionAffinity, ['spec', 'sessionAffinity'], ['None', 'ClientIP'] as const, 'None');
  const affinityConfig = r.record(r.record(spec.sessionAffinityConfig, ['spec', 'sessionAffinityConfig']).clientIP, [
    'spec',
    'sessionAffinityConfig',
    'clientIP',
  ]);
  const affinity: SessionAffinity = {
    clientIP: affinityKind === 'ClientIP',
    timeoutSeconds: r.integer(
      affinityConfig.timeoutSeconds,
      ['spec', 'sessionAffinityConfig', 'clientIP', 'timeoutSeconds'],
      kDefaultAffinityTimeoutSeconds,
      1,
      86400,
    ),
  };

  const ports: RawServicePort[] = [];
  if (type !== 'ExternalName') {
    r.array(spec.ports, ['spec', 'ports']).forEach((v, i) => {
      const path = ['spec', 'ports', i];
      const p = r.record(v, path);
      const port = r.port(p.port, [...path, 'port']);
      let targetPort: number | string = port;
      if (typeof p.targetPort === 'string') {
        targetPort = /^\d+$/.test(p.targetPort) ? r.port(Number(p.targetPort), [...path, 'targetPort']) : p.targetPort;
      } else if (p.targetPort !== undefined) {
        targetPort = r.port(p.targetPort, [...path, 'targetPort']);
      }
      const nodePort = p.nodePort === undefined || p.nodePort === 0 ? 0 : r.port(p.nodePort, [...path, 'nodePort']);
      if (port > 0) {
        ports.push({
          name: r.string(p.name, [...path, 'name']),
          protocol: readProtocol(r, p.protocol, [...path, 'protocol']),
          port,
          targetPort,
          nodePort,
          path,
        });
      }
    });
  }

  let externalName = '';
  if (type === 'ExternalName') {
    externalName = r.string(spec.externalName, ['spec', 'externalName']);
    // The API server requires a DNS-1123 subdomain (an IP is accepted with a warning; CoreDNS then answers NXDOMAIN).
    const bare = externalName.endsWith('.') ? externalName.slice(0, -1) : externalName;
    if (!externalName) r.error(['spec', 'externalName'], 'is required for an ExternalName Service');
    else if (!isDnsSubdomain(bare.toLowerCase())) r.error(['spec', 'externalName'], `"${externalName}" is not a DNS name`);
  }

  return {
    namespace,
    name,
    type,
    clusterIPs,
    clusterIPPath,
    headless: clusterIPs.length === 0,
    externalIPs,
    loadBalancerIPs,
    loadBalancerSourceRanges,
    externalTrafficPolicy: r.oneOf(spec.externalTrafficPolicy, ['spec', 'externalTrafficPolicy'], kPolicies, 'Cluster'),
    internalTrafficPolicy: r.oneOf(spec.internalTrafficPolicy, ['spec', 'internalTrafficPolicy'], kPolicies, 'Cluster'),
    affinity,
    healthCheckNodePort: spec.healthCheckNodePort === undefined ? 0 : r.port(spec.healthCheckNodePort, ['spec', 'healthCheckNodePort']),
    externalName,
    publishNotReadyAddresses: r.bool(spec.publishNotReadyAddresses, ['spec', 'publishNotReadyAddresses'], false),
    ports,
    reader: r,
  };
}
