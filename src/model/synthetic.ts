/**
 * Synthetic clusters of any size, deterministic for a seed, as the same Kubernetes objects a
 * user's dump would hold, so that everything downstream has one input format.
 *
 * The mix is meant to look like a real cluster, not a best case: mostly ClusterIP with some
 * NodePort and LoadBalancer services, TCP with some UDP, one or two ports, endpoints spread
 * over every node, and the awkward cases that kube-proxy must handle (session affinity,
 * externalTrafficPolicy: Local, source ranges, services without ready endpoints, terminating
 * endpoints).
 */
import { InvalidArgumentError } from '../errors.js';
import { formatCidr, formatIp, type Cidr } from '../net/ipv4.js';
import { clusterFromObjects } from './load.js';
import { Prng } from './prng.js';
import { kCnis, kDefaultCiliumConfig, kDefaultNodePortRange, kNodeLocalDnsIp } from './read-config.js';
import type { Cluster, Cni, ModeName } from './types.js';

export interface SyntheticOptions {
  readonly services: number;
  /** Endpoints per service. */
  readonly endpoints: number;
  readonly nodes: number;
  readonly cni?: Cni;
  readonly seed?: number;
  readonly mode?: ModeName;
  /**
   * Network policies (0: none, and no Pod or Namespace objects, as before). With N > 0 the
   * cluster also gets its Namespaces (labelled) and one labelled Pod per endpoint address, and
   * the policy mix of `policyObjects`.
   */
  readonly policies?: number;
  /**
   * Cluster DNS for `kdp bench --dns`: kube-system/kube-dns (CoreDNS, one replica per node, on
   * each node's pod block after the Services' endpoints) and, with `nodeLocal`, NodeLocal
   * DNSCache (ClusterNetwork `spec.nodeLocalDNS`, its kube-dns-upstream Service; in IPVS mode
   * kubelet's clusterDNS is the link-local address, as the addon's instructions ask).
   */
  readonly dns?: { readonly nodeLocal: boolean };
}

export const kDefaultSyntheticOptions = { cni: 'calico-vxlan', seed: 1, mode: '' } as const;

/** Address plan. The service CIDR and cluster CIDR are kubeadm-like; LB and external IPs come
 * from the benchmarking range 198.18.0.0/15 (RFC 2544), node addresses from 192.168.0.0/16. */
const kServiceCidr: Cidr = { base: 0x0a600000, prefix: 12 }; // 10.96.0.0/12
const kClusterCidr: Cidr = { base: 0x0a800000, prefix: 9 }; // 10.128.0.0/9
const kNodeBase = 0xc0a8000a; // 192.168.0.10
const kLbBase = 0xc6120000; // 198.18.0.0
const kExternalBase = 0xc6130000; // 198.19.0.0
const kClientRange = '198.51.100.0/24';

const kTcpPorts = [
  ['http', 80, 8080],
  ['https', 443, 8443],
  ['grpc', 9000, 9000],
  ['metrics', 9090, 9090],
  ['redis', 6379, 6379],
  ['postgres', 5432, 5432],
] as const;
const kUdpPorts = [
  ['dns', 53, 53],
  ['syslog', 514, 5514],
  ['statsd', 8125, 8125],
] as const;

function check(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(`options.${name} must be a whole number from ${min} to ${max}, not ${value}`);
  }
}

/** The objects of a synthetic cluster, in `kubectl get -o json` shape. */
export function generateObjects(options: SyntheticOptions): object[] {
  const { services: S, endpoints: E, nodes: K } = options;
  const cni = options.cni ?? kDefaultSyntheticOptions.cni;
  const seed = options.seed ?? kDefaultSyntheticOptions.seed;
  check('services', S, 0, 1_000_000);
  check('endpoints', E, 0, 1000);
  check('nodes', K, 1, 60_000);
  check('seed', seed, 0, 0xffffffff);
  const policies = options.policies ?? 0;
  check('policies', policies, 0, 1_000_000);
  if (!kCnis.includes(cni)) throw new InvalidArgumentError(`options.cni must be one of ${kCnis.join(', ')}, not ${cni}`);

  // Each node's pod block holds its share of endpoints: at least a /24 (kubenet's default),
  // larger when a big sweep puts more pods on a node than a /24 holds.
  const podsPerNode = Math.ceil((S * E) / K) + E + 1;
  const nodePrefix = Math.min(24, 32 - Math.ceil(Math.log2(podsPerNode + 2)));
  if (K * 2 ** (32 - nodePrefix) > 2 ** (32 - kClusterCidr.prefix)) {
    throw new InvalidArgumentError(`${S} services x ${E} endpoints over ${K} nodes do not fit the cluster CIDR ${formatCidr(kClusterCidr)}`);
  }
  const rng = new Prng(seed);
  const objects: object[] = [];
  const calico = cni.startsWith('calico');

  // NodePorts: kube-apiserver's default range, widened when the sweep needs more ports.
  const nodePortServicesGuess = Math.ceil(S * 0.3 * 1.2) + 16;
  const nodePortRange: readonly [number, number] = nodePortServicesGuess <= kDefaultNodePortRange[1] - kDefaultNodePortRange[0] + 1 ? kDefaultNodePortRange : [10000, 65535];
  let nextNodePort = nodePortRange[0];
  const takeNodePort = (): number => (nextNodePort <= nodePortRange[1] ? nextNodePort++ : 0);

  // Cilium replacing kube-proxy is configured by its own ConfigMap, and kube-proxy's then names no mode.
  const cilium = options.mode === 'cilium';
  objects.push({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: cilium ? '' : options.mode ?? kDefaultSyntheticOptions.mode,
    clusterCIDR: formatCidr(kClusterCidr),
  });
  const ciliumData: Record<string, string> = { 'kube-proxy-replacement': 'true' };
  if (cilium) objects.push({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'cilium-config' }, data: ciliumData });
  // Cilium's service map entries the Services need at most (a frontend per address, 1 + E entries
  // each, twice when two scopes), for sizing bpf-lb-map-max as an operator would (below).
  let lbMapBound = 0;
  objects.push({
    apiVersion: 'kdp.dev/v1alpha1',
    kind: 'ClusterNetwork',
    metadata: { name: 'cluster' },
    spec: { cni, mtu: 1500, serviceNodePortRange: `${nodePortRange[0]}-${nodePortRange[1]}`, ...(options.dns?.nodeLocal ? { nodeLocalDNS: {} } : {}) },
  });
  if (options.dns?.nodeLocal && options.mode === 'ipvs') {
    // NodeLocal DNSCache's docs: with kube-proxy in IPVS mode, kubelet's --cluster-dns is the local address.
    objects.push({ apiVersion: 'kubelet.config.k8s.io/v1beta1', kind: 'KubeletConfiguration', clusterDNS: [formatIp(kNodeLocalDnsIp)] });
  }
  objects.push({ apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec: { cidrs: [formatCidr(kServiceCidr)] } });
  if (calico) {
    objects.push({
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'IPPool',
      metadata: { name: 'default-ipv4-ippool' },
      spec: {
        cidr: formatCidr(kClusterCidr),
        blockSize: 26,
        ipipMode: cni === 'calico-ipip' ? 'Always' : 'Never',
        vxlanMode: cni === 'calico-vxlan' ? 'Always' : 'Never',
        natOutgoing: true,
      },
    });
  }

  const nodeNames: string[] = [];
  const podBase: number[] = [];
  const podNext: number[] = [];
  for (let n = 0; n < K; n++) {
    const name = `node-${String(n + 1).padStart(3, '0')}`;
    const block = kClusterCidr.base + n * 2 ** (32 - nodePrefix);
    nodeNames.push(name);
    podBase.push(block);
    podNext.push(1); // .0 is the network (kubenet gives .1 to cbr0; pods start at .2)
    const cidr = formatCidr({ base: block, prefix: nodePrefix });
    objects.push({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name, labels: { 'kubernetes.io/hostname': name, 'topology.kubernetes.io/zone': `zone-${String.fromCharCode(97 + (n % 3))}` } },
      spec: { podCIDR: cidr, podCIDRs: [cidr] },
      status: { addresses: [{ type: 'InternalIP', address: formatIp(kNodeBase + n) }, { type: 'Hostname', address: name }] },
    });
  }
  const allocatePod = (n: number): string => formatIp(podBase[n] + ++podNext[n]);
  const podObjects: object[] = [];
  // LB and external IPs are handed out in order, each from its own /16.
  let lbCount = 0;
  let externalCount = 0;

  for (let s = 0; s < S; s++) {
    const name = `svc-${String(s).padStart(6, '0')}`;
    const namespace = nsName(s % kNamespaces);
    const roll = rng.next();
    let type: 'ClusterIP' | 'NodePort' | 'LoadBalancer' = roll < 0.7 ? 'ClusterIP' : roll < 0.9 ? 'NodePort' : 'LoadBalancer';
    const udp = rng.next() < 0.2;
    const table = udp ? kUdpPorts : kTcpPorts;
    const first = rng.below(table.length);
    const portCount = !udp && rng.next() < 0.15 ? 2 : 1;
    const ports: { name: string; protocol: string; port: number; targetPort: string | number; nodePort?: number }[] = [];
    const wantNodePorts = type !== 'ClusterIP';
    const nodePorts: number[] = [];
    if (wantNodePorts) {
      for (let p = 0; p < portCount; p++) nodePorts.push(takeNodePort());
      // The range is exhausted: kube-apiserver would refuse the service; make it a ClusterIP.
      if (nodePorts.some((np) => np === 0)) type = 'ClusterIP';
    }
    for (let p = 0; p < portCount; p++) {
      const [portName, port, target] = table[(first + p) % table.length];
      ports.push({
        name: portName,
        protocol: udp ? 'UDP' : 'TCP',
        port,
        // Half the services name their target port, as Deployments with named containerPorts do.
        targetPort: s % 2 === 0 ? portName : target,
        ...(type !== 'ClusterIP' ? { nodePort: nodePorts[p] } : {}),
      });
    }
    const external = type !== 'ClusterIP';
    const local = external && rng.next() < 0.3;
    const affinity = rng.next() < 0.05;
    const internalLocal = rng.next() < 0.02;
    const externalIPs = type === 'ClusterIP' && rng.next() < 0.02 ? [formatIp(kExternalBase + externalCount++)] : [];
    const sourceRanges = type === 'LoadBalancer' && rng.next() < 0.3 ? [kClientRange] : [];
    const healthCheckNodePort = local && type === 'LoadBalancer' ? takeNodePort() : 0;
    objects.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace },
      spec: {
        type,
        clusterIP: formatIp(kServiceCidr.base + 1 + s),
        clusterIPs: [formatIp(kServiceCidr.base + 1 + s)],
        ipFamilies: ['IPv4'],
        ports,
        ...(external ? { externalTrafficPolicy: local ? 'Local' : 'Cluster' } : {}),
        ...(internalLocal ? { internalTrafficPolicy: 'Local' } : {}),
        ...(affinity ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } } } : {}),
        ...(externalIPs.length ? { externalIPs } : {}),
        ...(sourceRanges.length ? { loadBalancerSourceRanges: sourceRanges } : {}),
        ...(healthCheckNodePort ? { healthCheckNodePort } : {}),
      },
      status: type === 'LoadBalancer' ? { loadBalancer: { ingress: [{ ip: formatIp(kLbBase + lbCount++) }] } } : {},
    });

    // A NodePort: the 0.0.0.0 surrogate and the node's own InternalIP, on each node's map.
    const frontends = 1 + (external ? 2 : 0) + (type === 'LoadBalancer' ? 1 : 0) + externalIPs.length;
    lbMapBound += portCount * frontends * (1 + E) * (external && local !== internalLocal ? 2 : 1);

    // Endpoints: 2% of services have none ready, 3% of endpoints are terminating.
    const noneReady = rng.next() < 0.02;
    const endpoints = [];
    for (let j = 0; j < E; j++) {
      const n = (s + j) % K;
      const terminating = !noneReady && rng.next() < 0.03;
      endpoints.push({
        addresses: [allocatePod(n)],
        conditions: noneReady ? { ready: false, serving: false, terminating: false } : { ready: !terminating, serving: true, terminating },
        nodeName: nodeNames[n],
        zone: `zone-${String.fromCharCode(97 + (n % 3))}`,
      });
    }
    if (policies > 0) {
      // The pods behind the endpoints, labelled as a Deployment labels them, with their named ports.
      endpoints.forEach((e, j) =>
        podObjects.push({
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { namespace, name: `${name}-${j}`, labels: { app: name, tier: s % 3 === 0 ? 'frontend' : 'backend' } },
          spec: { nodeName: e.nodeName, containers: [{ name: 'app', ports: ports.map((p) => ({ name: p.name, protocol: p.protocol, containerPort: table.find((t) => t[0] === p.name)![2] })) }] },
          status: { podIP: e.addresses[0] },
        }),
      );
    }
    // The EndpointSlice controller puts at most 100 endpoints in a slice.
    for (let chunk = 0; chunk * 100 < Math.max(E, 1); chunk++) {
      objects.push({
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-${chunk}`, namespace, labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        ports: ports.map((p) => ({ name: p.name, protocol: p.protocol, port: table.find((t) => t[0] === p.name)![2] })),
        endpoints: endpoints.slice(chunk * 100, chunk * 100 + 100),
      });
    }
  }
  // A cluster past Cilium's default bpf-lb-map-max (65,536) would leave Services unprogrammed
  // (the agent's upserts fail); its operator raises the key, as Cilium's docs ask, and so does the
  // synthetic cluster, to a power of two. The report marks cells past the default (lbMapMax).
  if (cilium && lbMapBound > kDefaultCiliumConfig.lbMapMax) ciliumData['bpf-lb-map-max'] = String(2 ** Math.ceil(Math.log2(lbMapBound)));
  if (policies > 0) objects.push(...namespaceObjects(), ...podObjects, ...policyObjects(policies, S));
  if (options.dns) objects.push(...clusterDnsObjects(options.dns.nodeLocal, nodeNames, allocatePod));
  return objects;
}

/** kube-dns's and kube-dns-upstream's ClusterIPs: the top of the service CIDR, past any synthetic Service's. */
const kKubeDnsIp = kServiceCidr.base + 2 ** (32 - kServiceCidr.prefix) - 246; // 10.111.255.10
const kKubeDnsUpstreamIp = kKubeDnsIp + 1;

/**
 * kube-system/kube-dns as kubeadm's CoreDNS addon makes it (ports dns 53/UDP, dns-tcp 53/TCP,
 * metrics 9153/TCP), with one ready CoreDNS pod per node; with NodeLocal DNSCache also the addon's
 * kube-dns-upstream, the same pods behind another ClusterIP (nodelocaldns.yaml).
 */
function clusterDnsObjects(nodeLocal: boolean, nodeNames: readonly string[], allocatePod: (n: number) => string): object[] {
  const ports = [
    { name: 'dns', protocol: 'UDP', port: 53 },
    { name: 'dns-tcp', protocol: 'TCP', port: 53 },
    { name: 'metrics', protocol: 'TCP', port: 9153 },
  ];
  const endpoints = nodeNames.map((nodeName, n) => ({ addresses: [allocatePod(n)], conditions: { ready: true, serving: true, terminating: false }, nodeName }));
  const out: object[] = [];
  const service = (name: string, ip: number, svcPorts: typeof ports): void => {
    out.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: 'kube-system', name, labels: { 'k8s-app': 'kube-dns' } },
      spec: { type: 'ClusterIP', clusterIP: formatIp(ip), clusterIPs: [formatIp(ip)], ipFamilies: ['IPv4'], ports: svcPorts.map((p) => ({ ...p, targetPort: p.port })) },
    });
    out.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: `${name}-0`, namespace: 'kube-system', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: svcPorts,
      endpoints,
    });
  };
  service('kube-dns', kKubeDnsIp, ports);
  if (nodeLocal) service('kube-dns-upstream', kKubeDnsUpstreamIp, ports.slice(0, 2));
  return out;
}

/** Namespaces of the synthetic Services (ns-00..ns-49) and a monitoring namespace, labelled. */
const kNamespaces = 50;
const nsName = (i: number): string => `ns-${String(i).padStart(2, '0')}`;

function namespaceObjects(): object[] {
  const out: object[] = [];
  for (let i = 0; i < kNamespaces; i++) {
    out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: nsName(i), labels: { team: `team-${i % 7}`, 'kdp.dev/mesh': 'member' } } });
  }
  out.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'monitoring', labels: { purpose: 'monitoring' } } });
  return out;
}

/**
 * N policies, a mix platform teams write (and that leaves the replay's flows allowed, so the
 * sweep measures the policies' cost, not a cluster that drops its traffic):
 * - one Calico GlobalNetworkPolicy (order 10) denying telnet to every workload;
 * - per namespace, a Kubernetes default deny of ingress and the mesh allow that opens it to the
 *   cluster's namespaces (namespaceSelector `kdp.dev/mesh: member`), the nodes and the
 *   LoadBalancers' allowed clients (ipBlocks; other outside clients of externalTrafficPolicy
 *   Local Services keep their address and are denied, as they would be);
 * - then per application, in turn: allow the monitoring namespace on the metrics port (9090);
 *   allow another application of the namespace on the named port `http`; limit egress to an
 *   ipBlock with an except (the cluster and the Internet, not the metadata range) and DNS.
 * Kubernetes policies are evaluated in name order (order 1000, then name), so the per-application
 * `allow-*` policies come before the namespace's `mesh-ingress`, as real ones often do.
 */
function policyObjects(n: number, services: number): object[] {
  const out: object[] = [];
  const k8s = (namespace: string, name: string, spec: object): object => ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace, name }, spec });
  out.push({
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'deny-telnet' },
    spec: { order: 10, selector: 'all()', types: ['Ingress'], ingress: [{ action: 'Deny', protocol: 'TCP', destination: { ports: [23] } }] },
  });
  for (let i = 0; i < kNamespaces && out.length < n; i++) {
    const ns = nsName(i);
    // The mesh, the nodes (NodePort traffic kube-proxy masqueraded) and the LoadBalancers' clients.
    const from = [{ namespaceSelector: { matchLabels: { 'kdp.dev/mesh': 'member' } } }, { ipBlock: { cidr: '192.168.0.0/16' } }, { ipBlock: { cidr: kClientRange } }];
    out.push(k8s(ns, 'mesh-ingress', { podSelector: {}, ingress: [{ from }] }));
    if (out.length < n) out.push(k8s(ns, 'default-deny', { podSelector: {}, policyTypes: ['Ingress'] }));
  }
  for (let k = 0; out.length < n; k++) {
    const s = services > 0 ? k % services : 0;
    const app = `svc-${String(s).padStart(6, '0')}`;
    const ns = nsName(s % kNamespaces);
    const round = Math.floor(k / Math.max(1, services));
    const kind = k % 3;
    if (kind === 0) {
      out.push(k8s(ns, `allow-monitoring-${app}-${round}`, {
        podSelector: { matchLabels: { app } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { purpose: 'monitoring' } } }], ports: [{ protocol: 'TCP', port: 9090 }] }],
      }));
    } else if (kind === 1) {
      const peer = `svc-${String((s + kNamespaces) % Math.max(1, services)).padStart(6, '0')}`;
      out.push(k8s(ns, `allow-${peer}-to-${app}-${round}`, {
        podSelector: { matchLabels: { app } },
        ingress: [{ from: [{ podSelector: { matchLabels: { app: peer } } }], ports: [{ port: 'http' }] }],
      }));
    } else {
      out.push(k8s(ns, `allow-egress-${app}-${round}`, {
        podSelector: { matchLabels: { app } },
        policyTypes: ['Egress'],
        egress: [
          { to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.0.0/16'] } }] },
          { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } } }], ports: [{ protocol: 'UDP', port: 53 }] },
        ],
      }));
    }
  }
  return out;
}

/** The model of a synthetic cluster, built in memory through the same loader a file goes through. */
export function generateCluster(options: SyntheticOptions): Cluster {
  return clusterFromObjects(generateObjects(options));
}

/**
 * What of `options.mode` a generated cluster depends on besides its proxy.mode ('' for nothing):
 * clusters of options that differ only in modes of one footprint differ in proxy.mode alone
 * (test/replay/cell-cluster.test.ts). Cilium writes its own ConfigMap (generateObjects); IPVS mode
 * moves kubelet's clusterDNS and NodeLocal DNSCache's listen addresses (model/build.ts clusterDns).
 */
export function modeFootprint(options: SyntheticOptions): string {
  if (options.mode === 'cilium') return 'cilium';
  return options.mode === 'ipvs' && options.dns?.nodeLocal === true ? 'ipvs' : '';
}
