/**
 * Builds the normalised `Cluster` from Kubernetes objects, validating as it goes.
 *
 * Every problem is collected (the Reporter), none throws, and no model is returned when any is
 * an error: a half-built model would make every later number wrong.
 */
import { cidrContains, cidrsOverlap, formatCidr, formatIp, type Cidr } from '../net/ipv4.js';
import type { Diagnostic } from './diagnostics.js';
import { FieldReader, isRecord, type Json } from './fields.js';
import {
  readCiliumConfig,
  readClusterNetwork,
  readIpPool,
  readKubeletConfig,
  readProxyConfig,
  readServiceCIDRs,
  resolvePodNetwork,
  kDefaultProxyConfig,
  type ClusterNetworkSpec,
  type KubeletDnsConfig,
} from './read-config.js';
import { readEndpointSlice, readLegacyEndpoints, type RawSlice } from './read-endpoints.js';
import { readLabels, readNode, readPod, readService, type RawNode, type RawPod, type RawService } from './read-workloads.js';
import { kNamespaceNameLabel, readCalicoPolicy, readK8sNetworkPolicy } from './read-policy.js';
import type { Labels } from './calico-selector.js';
import { Reporter, type ObjectRef } from './reporter.js';
import type { SourceObject } from './source.js';
import {
  EP_READY,
  EP_SERVING,
  protocolName,
  type CiliumConfig,
  type Cluster,
  type ClusterDns,
  type ModeName,
  type NodeLocalDns,
  type DnsEndpointSlice,
  type EndpointTable,
  type IpPool,
  type Node,
  type Pod,
  type Policy,
  type ProxyConfig,
  type Service,
  type ServicePort,
} from './types.js';
import { PROTO_SCTP, PROTO_UDP } from '../net/proto.js';

export interface BuildResult {
  /** Present only when no diagnostic is an error. */
  readonly cluster?: Cluster;
  readonly diagnostics: Diagnostic[];
  /** Objects read, by kind (skipped kinds included), for summaries. */
  readonly kinds: Record<string, number>;
}

/** apiVersion/kind pairs kdp reads; anything else is skipped with a warning. */
const kKinds = new Set([
  'v1/Node',
  'v1/Namespace',
  'v1/Pod',
  'v1/Service',
  'v1/Endpoints',
  'discovery.k8s.io/v1/EndpointSlice',
  'kubeproxy.config.k8s.io/v1alpha1/KubeProxyConfiguration',
  'networking.k8s.io/v1/ServiceCIDR',
  'networking.k8s.io/v1beta1/ServiceCIDR',
  'crd.projectcalico.org/v1/IPPool',
  'projectcalico.org/v3/IPPool',
  'kdp.dev/v1alpha1/ClusterNetwork',
  'v1/ConfigMap',
  'kubelet.config.k8s.io/v1beta1/KubeletConfiguration',
  'networking.k8s.io/v1/NetworkPolicy',
  'projectcalico.org/v3/NetworkPolicy',
  'projectcalico.org/v3/GlobalNetworkPolicy',
  'crd.projectcalico.org/v1/NetworkPolicy',
  'crd.projectcalico.org/v1/GlobalNetworkPolicy',
]);

interface Inputs {
  proxy?: ProxyConfig;
  cilium?: CiliumConfig;
  kubelet?: KubeletDnsConfig;
  namespaces: string[];
  /** Labels of the Namespace objects, by name. */
  namespaceLabels: Map<string, Labels>;
  policies: Policy[];
  network?: ClusterNetworkSpec;
  serviceCIDRs: Cidr[];
  pools: IpPool[];
  nodes: RawNode[];
  pods: RawPod[];
  services: RawService[];
  slices: RawSlice[];
  kinds: Record<string, number>;
}

function classify(objects: readonly SourceObject[], report: Reporter, options: BuildOptions): Inputs {
  const inputs: Inputs = { namespaces: [], namespaceLabels: new Map(), policies: [], serviceCIDRs: [], pools: [], nodes: [], pods: [], services: [], slices: [], kinds: {} };
  let proxyRef: ObjectRef | undefined;
  let kubeletRef: ObjectRef | undefined;
  let networkRef: ObjectRef | undefined;
  let ciliumRef: ObjectRef | undefined;
  for (const source of objects) {
    const obj = source.value;
    if (!isRecord(obj)) {
      report.error({ source, kind: '(not an object)' }, [], 'every item of the file must be a Kubernetes object');
      continue;
    }
    const meta = isRecord(obj.metadata) ? obj.metadata : {};
    const name = typeof meta.name === 'string' ? meta.name : undefined;
    const namespace = typeof meta.namespace === 'string' ? meta.namespace : undefined;
    const kind = typeof obj.kind === 'string' ? obj.kind : '';
    const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
    const ref: ObjectRef = { source, kind: kind || '(no kind)', ...(namespace ? { namespace } : {}), ...(name ? { name } : {}) };
    if (kind) inputs.kinds[kind] = (inputs.kinds[kind] ?? 0) + 1;
    if (!apiVersion || !kind) {
      report.error(ref, [apiVersion ? 'kind' : 'apiVersion'], 'is required (every object needs apiVersion and kind)');
      continue;
    }
    if (!kKinds.has(`${apiVersion}/${kind}`)) {
      report.warn(ref, ['kind'], `${apiVersion} ${kind} is not a kind kdp reads; skipped`);
      continue;
    }
    const r = new FieldReader(ref, report);
    const needName = (): string | undefined => {
      if (name) return name;
      r.error(['metadata', 'name'], 'is required');
      return undefined;
    };
    const ns = namespace ?? 'default';
    switch (kind) {
      case 'Node': {
        const n = needName();
        if (n) inputs.nodes.push(readNode(r, obj, n));
        break;
      }
      case 'Pod': {
        const n = needName();
        const pod = n ? readPod(r, obj, ns, n) : undefined;
        if (pod) inputs.pods.push(pod);
        break;
      }
      case 'Service': {
        const n = needName();
        if (n) inputs.services.push(readService(r, obj, ns, n));
        break;
      }
      case 'EndpointSlice': {
        const slice = readEndpointSlice(r, obj, ns);
        if (slice) inputs.slices.push(slice);
        break;
      }
      case 'Endpoints': {
        const n = needName();
        if (n) inputs.slices.push(...readLegacyEndpoints(r, obj, ns, n));
        break;
      }
      case 'KubeProxyConfiguration':
        if (proxyRef) r.error([], 'a second KubeProxyConfiguration; a node runs one kube-proxy');
        else {
          proxyRef = ref;
          inputs.proxy = readProxyConfig(r, obj, options.modes);
        }
        break;
      case 'Namespace': {
        const n = needName();
        if (n) {
          if (inputs.namespaceLabels.has(n)) r.error(['metadata', 'name'], `a second Namespace named ${n}`);
          inputs.namespaces.push(n);
          inputs.namespaceLabels.set(n, readLabels(r, obj));
        }
        break;
      }
      case 'NetworkPolicy': {
        const n = needName();
        if (n) inputs.policies.push(apiVersion === 'networking.k8s.io/v1' ? readK8sNetworkPolicy(r, obj, ns, n) : readCalicoPolicy(r, obj, false, ns, n));
        break;
      }
      case 'GlobalNetworkPolicy': {
        const n = needName();
        if (n) inputs.policies.push(readCalicoPolicy(r, obj, true, '', n));
        break;
      }
      case 'KubeletConfiguration':
        // One kubelet configuration for the whole file: clusterDomain and clusterDNS are cluster-wide in practice.
        if (kubeletRef) r.error([], 'a second KubeletConfiguration; kdp reads one for every node');
        else {
          kubeletRef = ref;
          inputs.kubelet = readKubeletConfig(r, obj);
        }
        break;
      case 'ServiceCIDR':
        inputs.serviceCIDRs.push(...readServiceCIDRs(r, obj));
        break;
      case 'IPPool': {
        const pool = readIpPool(r, obj);
        if (pool) inputs.pools.push(pool);
        break;
      }
      case 'ConfigMap':
        // The one ConfigMap kdp reads: Cilium's agent configuration.
        if (namespace !== 'kube-system' || name !== 'cilium-config') {
          r.warn([], `ConfigMap ${ns}/${name ?? ''} is not one kdp reads (only kube-system/cilium-config); skipped`);
        } else if (ciliumRef) r.error([], 'a second kube-system/cilium-config');
        else {
          ciliumRef = ref;
          inputs.cilium = readCiliumConfig(r, obj);
        }
        break;
      case 'ClusterNetwork':
        if (networkRef) r.error([], 'a second ClusterNetwork; the file may hold one');
        else {
          networkRef = ref;
          inputs.network = readClusterNetwork(r, obj);
        }
        break;
    }
  }
  return inputs;
}

/** Interns node names: Node objects first, then names that only endpoints or pods mention. */
class NodeIndex {
  readonly nodes: Node[] = [];
  readonly #byName = new Map<string, number>();
  add(node: Omit<Node, 'index'>): number {
    const index = this.nodes.length;
    this.nodes.push({ ...node, index });
    this.#byName.set(node.name, index);
    return index;
  }
  has(name: string): boolean {
    return this.#byName.has(name);
  }
  of(name: string): number {
    if (!name) return -1;
    return this.#byName.get(name) ?? this.add({ name, known: false, podCIDRs: [], internalIPs: [], externalIPs: [], zone: '' });
  }
}

/** A sorted set of CIDRs with a binary-searched membership test, for per-endpoint checks. */
class CidrSet {
  readonly #starts: Float64Array;
  readonly #ends: Float64Array;
  constructor(cidrs: readonly Cidr[]) {
    const sorted = [...cidrs].sort((a, b) => a.base - b.base || a.prefix - b.prefix);
    this.#starts = new Float64Array(sorted.length);
    this.#ends = new Float64Array(sorted.length);
    let n = 0;
    for (const c of sorted) {
      const end = c.base + 2 ** (32 - c.prefix) - 1;
      if (n > 0 && c.base <= this.#ends[n - 1]) this.#ends[n - 1] = Math.max(this.#ends[n - 1], end);
      else {
        this.#starts[n] = c.base;
        this.#ends[n++] = end;
      }
    }
    this.#starts = this.#starts.subarray(0, n);
    this.#ends = this.#ends.subarray(0, n);
  }
  get size(): number {
    return this.#starts.length;
  }
  has(ip: number): boolean {
    let lo = 0;
    let hi = this.#starts.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.#starts[mid] > ip) hi = mid - 1;
      else if (this.#ends[mid] < ip) lo = mid + 1;
      else return true;
    }
    return false;
  }
}

function checkNodeCIDRs(nodes: readonly RawNode[]): void {
  const all = nodes.flatMap((n) => n.podCIDRs.map((cidr) => ({ cidr, node: n })));
  all.sort((a, b) => a.cidr.base - b.cidr.base);
  for (let i = 1; i < all.length; i++) {
    for (let j = i - 1; j >= 0 && all[j].cidr.base + 2 ** (32 - all[j].cidr.prefix) > all[i].cidr.base; j--) {
      const [a, b] = [all[j], all[i]];
      if (a.node !== b.node && cidrsOverlap(a.cidr, b.cidr)) {
        b.node.reader.error(['spec', 'podCIDR'], `pod CIDR ${formatCidr(b.cidr)} overlaps ${formatCidr(a.cidr)} of node ${a.node.name}`);
      }
    }
  }
}

const protoSlot = (p: number): number => (p === PROTO_UDP ? 1 : p === PROTO_SCTP ? 2 : 0);

/**
 * The NodePort range is kube-apiserver's: a nodePort outside a range the file declares is an
 * error; outside the assumed default it is a warning, since kube-proxy itself never checks it
 * (its own tests use nodePort 3001).
 */
function checkServices(services: readonly RawService[], serviceCIDRs: readonly Cidr[], nodePortRange: readonly [number, number], rangeDeclared: boolean): void {
  // ip * 2^18 + port * 4 + protocol stays below 2^53: an exact number key.
  const claimed = new Map<number, RawService>();
  const nodePorts = new Map<number, RawService>();
  const range = `${nodePortRange[0]}-${nodePortRange[1]}`;
  for (const svc of services) {
    const r = svc.reader;
    svc.clusterIPs.forEach((ip, i) => {
      if (serviceCIDRs.length > 0 && !serviceCIDRs.some((c) => cidrContains(c, ip))) {
        const path = svc.clusterIPPath.length === 3 ? ['spec', 'clusterIPs', i] : svc.clusterIPPath;
        r.error(path, `clusterIP ${formatIp(ip)} is outside the service CIDRs (${serviceCIDRs.map(formatCidr).join(', ')})`);
      }
    });
    const addresses = [...svc.clusterIPs, ...svc.externalIPs, ...svc.loadBalancerIPs];
    for (const port of svc.ports) {
      for (const ip of addresses) {
        const key = ip * 262144 + port.port * 4 + protoSlot(port.protocol);
        const other = claimed.get(key);
        if (other && other !== svc) {
          r.error([...port.path, 'port'], `${formatIp(ip)}:${port.port}/${protocolName(port.protocol)} is already claimed by service ${other.namespace}/${other.name}`);
        } else claimed.set(key, svc);
      }
      if (port.nodePort > 0) {
        if (port.nodePort < nodePortRange[0] || port.nodePort > nodePortRange[1]) {
          if (rangeDeclared) r.error([...port.path, 'nodePort'], `nodePort ${port.nodePort} is outside the NodePort range ${range}`);
          else {
            r.warn(
              [...port.path, 'nodePort'],
              `nodePort ${port.nodePort} is outside kube-apiserver's default NodePort range ${range}; declare the range in a kdp ClusterNetwork (spec.serviceNodePortRange) if yours differs`,
            );
          }
        }
        const key = port.nodePort * 4 + protoSlot(port.protocol);
        const other = nodePorts.get(key);
        if (other && other !== svc) {
          r.error([...port.path, 'nodePort'], `nodePort ${port.nodePort}/${protocolName(port.protocol)} is already used by service ${other.namespace}/${other.name}`);
        } else nodePorts.set(key, svc);
      }
    }
  }
}

interface EndpointRow {
  ip: number;
  port: number;
  node: number;
  conditions: number;
  zone: number;
}

/** kube-proxy keeps one entry per ip:port; when slices repeat one, the more usable copy wins. */
function usability(c: number): number {
  return (c & EP_READY ? 2 : 0) + (c & EP_SERVING ? 1 : 0);
}

/** Namespaces every cluster has, whether or not the file lists Namespace objects. */
const kBuiltinNamespaces = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/**
 * Cluster DNS settings and the EndpointSlices as CoreDNS reads them. The domain and server come
 * from the KubeletConfiguration when it sets them (kubelet writes them into every pod's
 * resolv.conf); else the server is kube-system/kube-dns's ClusterIP, the Service kubeadm creates
 * for CoreDNS and whose address kubeadm gives kubelet as clusterDNS.
 */
function clusterDns(inputs: Inputs, slicesOf: readonly RawSlice[][], mode: ModeName): ClusterDns {
  const kubelet = inputs.kubelet;
  const kubeDns = inputs.services.find((s) => s.namespace === 'kube-system' && s.name === 'kube-dns');
  const upstream = inputs.services.find((s) => s.namespace === 'kube-system' && s.name === 'kube-dns-upstream');
  const local = inputs.network?.nodeLocalDns;
  // nodelocaldns.yaml binds `__PILLAR__LOCAL__DNS__,__PILLAR__DNS__SERVER__`; in IPVS mode only the
  // local address, since kube-ipvs0 already holds the ClusterIP (the NodeLocal DNSCache task page).
  const nodeLocal: NodeLocalDns | undefined = local && {
    localIp: local.localIp,
    listenIps: [local.localIp, ...(mode !== 'ipvs' && kubeDns ? kubeDns.clusterIPs : [])],
    upstream: upstream?.clusterIPs[0] ?? 0,
  };
  const fromKubelet = (kubelet?.clusterDNS.length ?? 0) > 0;
  const servers = fromKubelet ? kubelet!.clusterDNS : kubeDns ? kubeDns.clusterIPs : [];
  const serversFrom = fromKubelet ? 'KubeletConfiguration clusterDNS' : servers.length > 0 ? 'Service kube-system/kube-dns' : 'none (no KubeletConfiguration clusterDNS, no kube-system/kube-dns Service)';
  const namespaces = new Set([...kBuiltinNamespaces, ...inputs.namespaces, ...inputs.services.map((s) => s.namespace), ...inputs.pods.map((p) => p.namespace)]);
  const slices = slicesOf.map((list): DnsEndpointSlice[] =>
    list.map((slice) => ({
      ports: slice.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port })),
      endpoints: slice.endpoints.map((e) => ({ ips: e.ips, hostname: e.hostname, ready: (e.conditions & EP_READY) !== 0 })),
    })),
  );
  return {
    domain: kubelet?.clusterDomain || 'cluster.local',
    domainFrom: kubelet?.clusterDomain ? 'KubeletConfiguration clusterDomain' : 'default',
    servers,
    serversFrom,
    ...(inputs.network?.nodeResolvConf ? { nodeResolvConf: inputs.network.nodeResolvConf } : {}),
    ...(nodeLocal ? { nodeLocal } : {}),
    namespaces: [...namespaces].sort(),
    slices,
  };
}

/**
 * Every namespace's labels: a Namespace object's own, and for a namespace only a pod, Service or
 * policy names, none; each carries `kubernetes.io/metadata.name`, which the API server sets
 * whatever the object says.
 */
function namespaceLabels(inputs: Inputs): Map<string, Labels> {
  const names = new Set([...kBuiltinNamespaces, ...inputs.namespaces, ...inputs.services.map((s) => s.namespace), ...inputs.pods.map((p) => p.namespace), ...inputs.policies.map((p) => p.namespace).filter((n) => n !== '')]);
  const out = new Map<string, Labels>();
  for (const name of [...names].sort()) out.set(name, { ...inputs.namespaceLabels.get(name), [kNamespaceNameLabel]: name });
  return out;
}

export interface BuildOptions {
  /**
   * The proxy modes a KubeProxyConfiguration may name (the model does not know them; the CLI
   * passes src/compile's). Without it any name is kept, and compiling reports an unknown one.
   */
  readonly modes?: readonly string[];
}

export function buildCluster(objects: readonly SourceObject[], file?: string, options: BuildOptions = {}): BuildResult {
  const report = new Reporter(file);
  const inputs = classify(objects, report, options);
  const kubeProxy = inputs.proxy ?? kDefaultProxyConfig;
  // What kube-proxy probes on the node (nfacct counters, --random-fully) is not in its configuration.
  const configured = {
    ...kubeProxy,
    nfacct: inputs.network?.nfacct ?? kubeProxy.nfacct,
    randomFully: inputs.network?.randomFully ?? kubeProxy.randomFully,
  };
  // Cilium replacing kube-proxy implements the Services: its mode is the default then.
  const proxy = inputs.cilium?.kubeProxyReplacement && configured.mode === '' ? { ...configured, mode: 'cilium' } : configured;
  const { network, conflict } = resolvePodNetwork(inputs.network, inputs.pools);
  if (conflict) report.error(undefined, [], conflict);

  // Nodes and pods.
  const nodeIndex = new NodeIndex();
  const seenNodes = new Set<string>();
  for (const n of inputs.nodes) {
    if (seenNodes.has(n.name)) {
      n.reader.error(['metadata', 'name'], `a second Node named ${n.name}`);
      continue;
    }
    seenNodes.add(n.name);
    nodeIndex.add({ name: n.name, known: true, podCIDRs: n.podCIDRs, internalIPs: n.internalIPs, externalIPs: n.externalIPs, zone: n.zone, ...(n.subnet ? { subnet: n.subnet } : {}), ...(n.cpus !== undefined ? { cpus: n.cpus } : {}), ...(n.memoryBytes !== undefined ? { memoryBytes: n.memoryBytes } : {}) });
  }
  checkNodeCIDRs(inputs.nodes);
  const pods: Pod[] = inputs.pods.map((p) => ({
    namespace: p.namespace,
    name: p.name,
    ip: p.ip,
    node: nodeIndex.of(p.nodeName),
    hostNetwork: p.hostNetwork,
    dnsPolicy: p.dnsPolicy,
    ...(p.dnsConfig ? { dnsConfig: p.dnsConfig } : {}),
    labels: p.labels,
    namedPorts: p.namedPorts,
  }));

  // Services.
  checkServices(inputs.services, inputs.serviceCIDRs, network.nodePortRange, inputs.network?.nodePortRangeDeclared ?? false);
  const serviceByKey = new Map<string, number>();
  inputs.services.forEach((s, i) => {
    const key = `${s.namespace}/${s.name}`;
    if (serviceByKey.has(key)) s.reader.error(['metadata', 'name'], `a second Service named ${key}`);
    else serviceByKey.set(key, i);
  });

  // Slices, grouped by service.
  const slicesOf: RawSlice[][] = inputs.services.map(() => []);
  for (const slice of inputs.slices) {
    const i = serviceByKey.get(slice.service);
    if (i === undefined) {
      slice.reader.warn(slice.legacy ? ['metadata', 'name'] : ['metadata', 'labels', 'kubernetes.io/service-name'], `names service ${slice.service}, which does not exist; ignored, as kube-proxy ignores it`);
    } else slicesOf[i].push(slice);
  }
  // Legacy Endpoints only matter for a service that has no EndpointSlice (the controller mirrors them).
  slicesOf.forEach((list, i) => {
    if (list.some((s) => !s.legacy) && list.some((s) => s.legacy)) slicesOf[i] = list.filter((s) => !s.legacy);
  });

  // Endpoints outside every pod CIDR are suspicious unless they are node addresses (host-network pods).
  const podSpace = new CidrSet([...inputs.nodes.flatMap((n) => n.podCIDRs), ...inputs.pools.map((p) => p.cidr)]);
  const nodeAddresses = new Set(inputs.nodes.flatMap((n) => [...n.internalIPs, ...n.externalIPs]));
  if (podSpace.size > 0) {
    for (const slice of inputs.slices) {
      let first = -1;
      let outside = 0;
      slice.endpoints.forEach((e, i) => {
        if (podSpace.has(e.ip) || nodeAddresses.has(e.ip)) return;
        if (outside++ === 0) first = i;
      });
      if (outside > 0) {
        const more = outside > 1 ? ` (and ${outside - 1} more in this object)` : '';
        slice.reader.warn(slice.addressPath(first), `endpoint ${formatIp(slice.endpoints[first].ip)} lies in no node's pod CIDR${more}`);
      }
    }
  }

  const zones: string[] = [];
  const zoneIndex = new Map<string, number>();
  const zoneOf = (z: string): number => {
    if (!z) return -1;
    let i = zoneIndex.get(z);
    if (i === undefined) {
      i = zones.length;
      zones.push(z);
      zoneIndex.set(z, i);
    }
    return i;
  };

  // Endpoint rows: an upper bound first, so the typed arrays are allocated once.
  let bound = 0;
  inputs.services.forEach((s, i) => {
    if (s.headless) return;
    for (const slice of slicesOf[i]) bound += slice.endpoints.length * s.ports.length;
  });
  const ep = {
    ip: new Uint32Array(bound),
    port: new Uint16Array(bound),
    node: new Int32Array(bound),
    conditions: new Uint8Array(bound),
    zone: new Int32Array(bound),
    servicePort: new Uint32Array(bound),
  };
  let rows = 0;
  const services: Service[] = [];
  const ports: ServicePort[] = [];
  const byAddress = new Map<string, EndpointRow>();
  inputs.services.forEach((s, i) => {
    const portIndexes: number[] = [];
    if (!s.headless) {
      for (const p of s.ports) {
        const start = rows;
        byAddress.clear();
        let matchedAny = false;
        let slicePorts = 0;
        for (const slice of slicesOf[i]) {
          for (const sp of slice.ports) {
            slicePorts++;
            if (sp.name !== p.name || sp.protocol !== p.protocol || sp.port === 0) continue;
            matchedAny = true;
            for (const e of slice.endpoints) {
              const key = `${formatIp(e.ip)}:${sp.port}`;
              const prev = byAddress.get(key);
              if (prev && usability(prev.conditions) >= usability(e.conditions)) continue;
              byAddress.set(key, { ip: e.ip, port: sp.port, node: nodeIndex.of(e.nodeName), conditions: e.conditions, zone: zoneOf(e.zone) });
            }
          }
        }
        if (!matchedAny && slicePorts > 0 && typeof p.targetPort === 'string') {
          s.reader.error(
            [...p.path, 'targetPort'],
            `targetPort "${p.targetPort}" is a name, and no EndpointSlice port of this service carries the service port's name "${p.name}" (kube-proxy matches slice ports to service ports by name)`,
          );
        }
        // kube-proxy orders a port's endpoints by their "ip:port" strings.
        const keys = [...byAddress.keys()].sort();
        for (const key of keys) {
          const e = byAddress.get(key)!;
          ep.ip[rows] = e.ip;
          ep.port[rows] = e.port;
          ep.node[rows] = e.node;
          ep.conditions[rows] = e.conditions;
          ep.zone[rows] = e.zone;
          ep.servicePort[rows] = ports.length;
          rows++;
        }
        portIndexes.push(ports.length);
        ports.push({
          index: ports.length,
          service: services.length,
          name: p.name,
          protocol: p.protocol,
          port: p.port,
          targetPort: p.targetPort,
          nodePort: s.type === 'ClusterIP' ? 0 : p.nodePort,
          endpointStart: start,
          endpointCount: rows - start,
        });
      }
    }
    services.push({
      index: services.length,
      namespace: s.namespace,
      name: s.name,
      type: s.type,
      clusterIPs: s.clusterIPs,
      headless: s.headless,
      externalIPs: s.externalIPs,
      loadBalancerIPs: s.type === 'LoadBalancer' ? s.loadBalancerIPs : [],
      loadBalancerSourceRanges: s.type === 'LoadBalancer' ? s.loadBalancerSourceRanges : [],
      // The external policy only applies to services reachable from outside.
      externalTrafficPolicy: s.type === 'NodePort' || s.type === 'LoadBalancer' || s.externalIPs.length > 0 ? s.externalTrafficPolicy : 'Cluster',
      internalTrafficPolicy: s.internalTrafficPolicy,
      affinity: s.affinity,
      // kube-proxy keeps the health-check node port only where the API server allocates one, for a
      // LoadBalancer Service with externalTrafficPolicy Local (pkg/proxy/serviceport.go
      // newBaseServiceInfo, apiservice.NeedsHealthCheck); the raw field elsewhere is ignored.
      healthCheckNodePort: s.type === 'LoadBalancer' && s.externalTrafficPolicy === 'Local' ? s.healthCheckNodePort : 0,
      externalName: s.externalName,
      publishNotReadyAddresses: s.publishNotReadyAddresses,
      ports: portIndexes,
    });
  });

  if (inputs.policies.length > 0 && !network.cni.startsWith('calico')) {
    // As on a real cluster: the API server stores NetworkPolicies whether or not the CNI enforces them.
    report.warn(undefined, [], `${inputs.policies.length} network polic${inputs.policies.length === 1 ? 'y is' : 'ies are'} not enforced: the pod network is ${network.cni}, which implements no NetworkPolicy (use a Calico IPPool or ClusterNetwork cni calico-*)`);
  }
  if (report.failed) return { diagnostics: report.diagnostics, kinds: inputs.kinds };
  const endpoints: EndpointTable = {
    count: rows,
    ip: ep.ip.subarray(0, rows),
    port: ep.port.subarray(0, rows),
    node: ep.node.subarray(0, rows),
    conditions: ep.conditions.subarray(0, rows),
    zone: ep.zone.subarray(0, rows),
    servicePort: ep.servicePort.subarray(0, rows),
  };
  const cluster: Cluster = {
    nodes: nodeIndex.nodes,
    pods,
    services,
    ports,
    endpoints,
    zones,
    serviceCIDRs: inputs.serviceCIDRs,
    proxy,
    network,
    ...(inputs.cilium ? { cilium: inputs.cilium } : {}),
    dns: clusterDns(inputs, slicesOf, proxy.mode),
    namespaceLabels: namespaceLabels(inputs),
    policies: inputs.policies,
  };
  return { cluster, diagnostics: report.diagnostics, kinds: inputs.kinds };
}

export type { Json };
