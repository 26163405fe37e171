/**
 * The normalised cluster model: what every compiler, the pipeline and the generator share.
 *
 * Addresses are u32, protocols are IP protocol numbers, and everything is indexed by small
 * integers. Services and their ports are objects (there are at most a few hundred thousand);
 * endpoints, the big dimension (a million for 100k services x 10), are struct-of-arrays in
 * `EndpointTable`, one row per (service port, endpoint address), which is exactly the unit
 * kube-proxy compiles into a KUBE-SEP chain or an IPVS real server.
 */
import type { Cidr } from '../net/ipv4.js';
import type { Labels, Selector } from './calico-selector.js';
import { PROTO_TCP, PROTO_UDP, type Protocol } from '../net/proto.js';

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalName';
export type TrafficPolicy = 'Cluster' | 'Local';

/**
 * A proxy mode's name, as `--mode` and KubeProxyConfiguration's `mode` spell it. The model does
 * not know the modes: src/compile/modes.ts lists them, and '' means kube-proxy's default.
 */
export type ModeName = string;
export type IpvsScheduler = 'rr' | 'wrr' | 'lc' | 'sh' | 'mh';
export type DetectLocalMode = 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';
export type Cni = 'kubenet' | 'calico-ipip' | 'calico-vxlan' | 'calico-bgp' | 'flannel-vxlan';
export type EncapMode = 'Never' | 'Always' | 'CrossSubnet';

/** Endpoint condition bits, as EndpointSlice `conditions` (nil ready means ready). */
export const EP_READY = 1;
export const EP_SERVING = 2;
export const EP_TERMINATING = 4;

export interface Node {
  readonly index: number;
  readonly name: string;
  /** False for a name that only endpoints mention (kube-proxy only compares node names). */
  readonly known: boolean;
  readonly podCIDRs: readonly Cidr[];
  readonly internalIPs: readonly number[];
  readonly externalIPs: readonly number[];
  readonly zone: string;
  /** The node's underlay subnet, from Calico's `projectcalico.org/IPv4Address` annotation. */
  readonly subnet?: Cidr;
  /** `status.capacity.cpu` (the machine's logical CPUs, which kube-proxy scales conntrack by); absent when not given. */
  readonly cpus?: number;
  /** `status.capacity.memory` in bytes (the kernel sizes its default conntrack table by it); absent when not given. */
  readonly memoryBytes?: number;
}

/** `spec.dnsPolicy`; the API server defaults it to ClusterFirst. */
export type DnsPolicy = 'ClusterFirst' | 'ClusterFirstWithHostNet' | 'Default' | 'None';

/** `spec.dnsConfig`, merged by kubelet into what the policy gives (src/dns/resolv-conf.ts). */
export interface PodDnsConfig {
  readonly nameservers: readonly number[];
  readonly searches: readonly string[];
  /** `{name, value}` pairs; a missing value is ''. */
  readonly options: readonly { readonly name: string; readonly value: string }[];
}

export interface Pod {
  readonly namespace: string;
  readonly name: string;
  readonly ip: number;
  /** Node index, or -1 when the pod names no node kdp knows. */
  readonly node: number;
  readonly hostNetwork: boolean;
  readonly dnsPolicy: DnsPolicy;
  readonly dnsConfig?: PodDnsConfig;
  /** `metadata.labels` ({} when the file gives none). */
  readonly labels: Labels;
  /** Named container ports (`spec.containers[].ports[]` with a name), for policies' named ports. */
  readonly namedPorts: readonly NamedPort[];
}

export interface NamedPort {
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
}

/** Calico rule actions (projectcalico.org/v3 Rule.action). */
export type PolicyAction = 'Allow' | 'Deny' | 'Log' | 'Pass';

/** A port match: a range `[min, max]` or a container port's name. */
export type PolicyPort = { readonly min: number; readonly max: number } | { readonly name: string };

/**
 * One side of a Calico rule (EntityRule). `selector` / `namespaceSelector` undefined: no selector
 * match (any address); a namespaced policy's selector without a namespaceSelector means its own
 * namespace (`namespace`).
 */
export interface PolicyEntity {
  readonly selector?: Selector;
  readonly namespaceSelector?: Selector;
  readonly notSelector?: Selector;
  readonly nets: readonly Cidr[];
  readonly notNets: readonly Cidr[];
  readonly ports: readonly PolicyPort[];
  readonly notPorts: readonly PolicyPort[];
}

export interface PolicyRule {
  readonly action: PolicyAction;
  /** IP protocol number, 0 for any. */
  readonly protocol: number;
  readonly notProtocol: number;
  readonly source: PolicyEntity;
  readonly destination: PolicyEntity;
}

/**
 * A policy as Calico's felix sees it: a Calico NetworkPolicy or GlobalNetworkPolicy, or a
 * Kubernetes NetworkPolicy converted the way libcalico-go converts it (`knp.default.<name>`,
 * order 1000, one Allow rule per peer and protocol).
 */
export interface Policy {
  /** As felix names it: `ns/knp.default.name`, `ns/name` or `name` (global). */
  readonly name: string;
  /** '' for a GlobalNetworkPolicy. */
  readonly namespace: string;
  /** The object the policy came from, as a trace names it: `ns/name` (`name` for a global one). */
  readonly source: string;
  readonly kind: 'NetworkPolicy' | 'GlobalNetworkPolicy' | 'KubernetesNetworkPolicy';
  /** Calico's order; undefined sorts last, as Calico treats a missing order as infinite. */
  readonly order: number | undefined;
  readonly selector: Selector;
  /** GlobalNetworkPolicy `namespaceSelector`: endpoints of the namespaces it matches only. */
  readonly namespaceSelector?: Selector;
  readonly ingress: boolean;
  readonly egress: boolean;
  readonly ingressRules: readonly PolicyRule[];
  readonly egressRules: readonly PolicyRule[];
}

export interface SessionAffinity {
  readonly clientIP: boolean;
  readonly timeoutSeconds: number;
}

export interface Service {
  readonly index: number;
  readonly namespace: string;
  readonly name: string;
  readonly type: ServiceType;
  /** Empty for headless (`None`) and ExternalName services. */
  readonly clusterIPs: readonly number[];
  readonly headless: boolean;
  readonly externalIPs: readonly number[];
  readonly loadBalancerIPs: readonly number[];
  readonly loadBalancerSourceRanges: readonly Cidr[];
  readonly externalTrafficPolicy: TrafficPolicy;
  readonly internalTrafficPolicy: TrafficPolicy;
  readonly affinity: SessionAffinity;
  /** `spec.healthCheckNodePort` as kube-proxy keeps it: only for a LoadBalancer with externalTrafficPolicy Local, else 0. */
  readonly healthCheckNodePort: number;
  /** `spec.externalName` of an ExternalName Service ('' otherwise): CoreDNS answers it as a CNAME. */
  readonly externalName: string;
  /** `spec.publishNotReadyAddresses`: the EndpointSlice controller then marks every endpoint ready. */
  readonly publishNotReadyAddresses: boolean;
  /** Indexes into `Cluster.ports`. */
  readonly ports: readonly number[];
}

export interface ServicePort {
  readonly index: number;
  readonly service: number;
  /** The port's name ('' for a single unnamed port); kube-proxy's key is `ns/svc:name`. */
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
  /** A number, or the name of a container port (resolved by the EndpointSlice controller). */
  readonly targetPort: number | string;
  /** 0 when the port has no NodePort. */
  readonly nodePort: number;
  /** Rows `[endpointStart, endpointStart + endpointCount)` of the endpoint table. */
  readonly endpointStart: number;
  readonly endpointCount: number;
}

/**
 * One row per (service port, endpoint address), grouped by service port and, inside a port, in
 * the order kube-proxy sorts them (by "ip:port" string), so compilers can emit rules in order.
 */
export interface EndpointTable {
  readonly count: number;
  readonly ip: Uint32Array;
  readonly port: Uint16Array;
  /** Node index, or -1 when the endpoint names no node. */
  readonly node: Int32Array;
  /** EP_READY | EP_SERVING | EP_TERMINATING */
  readonly conditions: Uint8Array;
  /** Index into `Cluster.zones`, or -1. */
  readonly zone: Int32Array;
  readonly servicePort: Uint32Array;
}

export interface ConntrackConfig {
  readonly maxPerCore: number;
  readonly min: number;
  readonly tcpEstablishedTimeoutSeconds: number;
  readonly tcpCloseWaitTimeoutSeconds: number;
  readonly udpTimeoutSeconds: number;
  readonly udpStreamTimeoutSeconds: number;
  /**
   * `conntrack.tcpBeLiberal` (kube-proxy v1.29+): kube-proxy sets nf_conntrack_tcp_be_liberal, and
   * its iptables mode then leaves out KUBE-FORWARD's INVALID drop (kubernetes PR 120412).
   */
  readonly tcpBeLiberal: boolean;
}

export interface ProxyConfig {
  readonly mode: ModeName;
  readonly clusterCIDRs: readonly Cidr[];
  readonly detectLocalMode: DetectLocalMode;
  readonly masqueradeAll: boolean;
  readonly masqueradeBit: number;
  readonly localhostNodePorts: boolean;
  readonly ipvsScheduler: IpvsScheduler;
  /** CIDRs whose node addresses serve NodePorts; empty means every address of the node. */
  readonly nodePortAddresses: readonly Cidr[];
  /** `nodePortAddresses: ["primary"]`: only the node's primary InternalIP. */
  readonly nodePortPrimaryOnly: boolean;
  readonly conntrack: ConntrackConfig;
  /**
   * The node has the nfacct counters kube-proxy's iptables mode matches (`-m nfacct`): kube-proxy
   * adds those matches only when it could create the counters. ClusterNetwork `spec.nfacct`, off
   * by default, so that `kdp compile` output loads as it is into a kernel that never had them.
   */
  readonly nfacct: boolean;
  /** The node's iptables supports `MASQUERADE --random-fully` (>= 1.6.2; iptables and IPVS modes). ClusterNetwork `spec.randomFully`, default true. */
  readonly randomFully: boolean;
}

/** Cilium's `bpf-lb-algorithm`, `bpf-lb-mode`, `bpf-lb-acceleration`, `bpf-lb-dsr-dispatch`. */
export type CiliumLbAlgorithm = 'random' | 'maglev';
export type CiliumLbMode = 'snat' | 'dsr' | 'hybrid';
export type CiliumAcceleration = 'disabled' | 'native' | 'best-effort';
export type CiliumDsrDispatch = 'opt' | 'ipip' | 'geneve';

/**
 * The keys of the `kube-system/cilium-config` ConfigMap Cilium's kube-proxy replacement depends
 * on, with Cilium's defaults where a key is absent (src/model/read-config.ts names each key).
 */
export interface CiliumConfig {
  readonly kubeProxyReplacement: boolean;
  /** Socket-level load balancing (`bpf-lb-sock`; kube-proxy-replacement turns it on). */
  readonly socketLb: boolean;
  /** `bpf-lb-sock-hostns-only`: sockets of the host namespace only; pods go per packet at tc. */
  readonly socketLbHostnsOnly: boolean;
  readonly lbAlgorithm: CiliumLbAlgorithm;
  readonly lbMode: CiliumLbMode;
  readonly lbAcceleration: CiliumAcceleration;
  readonly dsrDispatch: CiliumDsrDispatch;
  readonly maglevTableSize: number;
  /** Base64 of 12 bytes. */
  readonly maglevHashSeed: string;
  readonly ctGlobalTcpMax: number;
  readonly ctGlobalAnyMax: number;
  /** `bpf-lb-map-max`: entries of the service, backend, reverse-NAT and affinity maps. */
  readonly lbMapMax: number;
  /** `bpf-lb-external-clusterip`: ClusterIPs answer traffic from outside the cluster. */
  readonly externalClusterIp: boolean;
  /** `bpf-lb-source-range-all-types`: loadBalancerSourceRanges also on NodePort and ClusterIP. */
  readonly sourceRangeAllTypes: boolean;
  /** `service-no-backend-response`: what a Service without backends answers. */
  readonly noBackendResponse: 'reject' | 'drop';
  /** `enable-sctp`: SCTP Service ports are load-balanced (at tc only; sockets never translate SCTP). */
  readonly enableSctp: boolean;
}

export interface IpPool {
  readonly name: string;
  readonly cidr: Cidr;
  readonly blockSize: number;
  readonly ipipMode: EncapMode;
  readonly vxlanMode: EncapMode;
  readonly natOutgoing: boolean;
}

export interface PodNetwork {
  readonly cni: Cni;
  /** MTU of the underlay interface; pods get it minus the encapsulation overhead. */
  readonly mtu: number;
  readonly nodePortRange: readonly [number, number];
  readonly ipPools: readonly IpPool[];
}

/**
 * One endpoint as cluster DNS sees it: every address (kube-proxy uses only the first), the
 * `hostname` that names it under a headless Service, and the `ready` condition CoreDNS filters on.
 */
export interface DnsEndpoint {
  readonly ips: readonly number[];
  readonly hostname: string;
  readonly ready: boolean;
}

/** A named port of an EndpointSlice (`port` -1 when the slice gives no number). */
export interface DnsEndpointPort {
  readonly name: string;
  readonly protocol: Protocol;
  readonly port: number;
}

/** One EndpointSlice (or legacy Endpoints subset), which CoreDNS reads as one subset: ports x addresses. */
export interface DnsEndpointSlice {
  readonly ports: readonly DnsEndpointPort[];
  readonly endpoints: readonly DnsEndpoint[];
}

/** A node's resolv.conf (kubelet's `resolvConf`), which kdp cannot read from a node: ClusterNetwork `spec.nodeResolvConf`. */
export interface NodeResolvConf {
  readonly nameservers: readonly number[];
  readonly searches: readonly string[];
  /** As resolv.conf writes them: `ndots:2`, `edns0`. */
  readonly options: readonly string[];
}

/**
 * NodeLocal DNSCache (kubernetes/dns cmd/node-cache, the addon's nodelocaldns.yaml): a caching
 * CoreDNS on each node's `nodelocaldns` dummy interface, with raw-table NOTRACK rules for DNS to
 * and from its addresses, so pods' queries make no conntrack entry and skip service NAT.
 */
export interface NodeLocalDns {
  /** The link-local address it listens on (`-localip`; 169.254.20.10 in the Kubernetes docs). */
  readonly localIp: number;
  /**
   * Every address it binds: the link-local one, and kube-dns's ClusterIP unless kube-proxy runs in
   * IPVS mode (kube-ipvs0 holds that address there, and pods must be pointed at the local one).
   */
  readonly listenIps: readonly number[];
  /** kube-system/kube-dns-upstream's ClusterIP, where cluster-domain misses go over TCP; 0 when the file has none. */
  readonly upstream: number;
}

/**
 * What cluster DNS needs beyond kube-proxy's view. Kept apart because kube-proxy's endpoint table
 * skips headless Services and keeps one address per endpoint, while CoreDNS serves both.
 */
export interface ClusterDns {
  /** kubelet's `clusterDomain` (CoreDNS's zone), `cluster.local` unless a KubeletConfiguration says otherwise. */
  readonly domain: string;
  /** Where `domain` came from, for the reader: `KubeletConfiguration clusterDomain` or `default`. */
  readonly domainFrom: string;
  /** kubelet's `clusterDNS`: the nameservers of ClusterFirst pods (empty: kubelet falls back to Default). */
  readonly servers: readonly number[];
  readonly serversFrom: string;
  readonly nodeResolvConf?: NodeResolvConf;
  /** NodeLocal DNSCache on every node, when the ClusterNetwork enables it. */
  readonly nodeLocal?: NodeLocalDns;
  /** Namespaces that exist: Namespace objects, those of Services and Pods, and the four every cluster has. */
  readonly namespaces: readonly string[];
  /** EndpointSlices by Service index, in file order. */
  readonly slices: readonly (readonly DnsEndpointSlice[])[];
}

export interface Cluster {
  readonly nodes: readonly Node[];
  readonly pods: readonly Pod[];
  readonly services: readonly Service[];
  readonly ports: readonly ServicePort[];
  readonly endpoints: EndpointTable;
  readonly zones: readonly string[];
  /** From ServiceCIDR objects; empty when the file has none (kdp then does not guess one). */
  readonly serviceCIDRs: readonly Cidr[];
  readonly proxy: ProxyConfig;
  readonly network: PodNetwork;
  /** From the `kube-system/cilium-config` ConfigMap; absent when the file has none. */
  readonly cilium?: CiliumConfig;
  readonly dns: ClusterDns;
  /** Labels of every namespace (`kubernetes.io/metadata.name` included, as the API server sets it). */
  readonly namespaceLabels: ReadonlyMap<string, Labels>;
  /** NetworkPolicies of every kind, unsorted (the policy compiler orders them as felix does). */
  readonly policies: readonly Policy[];
}

export function protocolName(p: Protocol): 'TCP' | 'UDP' | 'SCTP' {
  return p === PROTO_TCP ? 'TCP' : p === PROTO_UDP ? 'UDP' : 'SCTP';
}

/**
 * kube-proxy's ShouldSkipService (pkg/proxy/util, v1.31): a Service without a ClusterIP (headless
 * `None`, or none allocated) or of type ExternalName gets no rules in any mode.
 */
export function shouldSkipService(svc: Service): boolean {
  return svc.headless || svc.clusterIPs.length === 0 || svc.type === 'ExternalName';
}

/** kube-proxy's service port name: `namespace/name:port` (`namespace/name` for an unnamed port). */
export function servicePortName(cluster: Cluster, port: ServicePort): string {
  const svc = cluster.services[port.service];
  return `${svc.namespace}/${svc.name}${port.name ? `:${port.name}` : ''}`;
}
