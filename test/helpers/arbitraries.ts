/**
 * fast-check arbitraries for kdp's property tests: valid random clusters and packets, in one place.
 *
 * Everything is generated as small integer and boolean choices (a `ClusterSpec`, a `PacketSpec`)
 * and only then mapped to Kubernetes objects and addresses, so fast-check shrinks toward small
 * numbers, i.e. toward the first node, the first service, one port, few endpoints, and the
 * counterexample it prints reads like a cluster description. `buildCluster` turns a spec into
 * the objects a user would write and loads them through the real loader (`clusterOf`), so every
 * property also exercises the model's validation.
 *
 * Address plan (fixed, so a counterexample can be read without a legend):
 *   node i            InternalIP 192.168.0.(11+i), podCIDR 10.244.(i+1).0/24 (clusterCIDR 10.244.0.0/16),
 *                     optional ExternalIP 198.18.0.(11+i)
 *   service j         ClusterIP 10.96.0.(10+j) in ServiceCIDR 10.96.0.0/24; externalIP 198.51.100.(10+j);
 *                     LoadBalancer IP 192.0.2.(10+j); source ranges 203.0.113.0/25
 *   port p of svc j   port 80+p, targetPort 8080+p (or the name "tp-p"), NodePort 30000+10j+p
 *   svc j's health-check node port 32000+j on NodePort and LoadBalancer Services: kube-proxy keeps
 *                     it for a LoadBalancer with externalTrafficPolicy Local only; elsewhere it is a
 *                     stray field (the API server refuses one, a hand-written file may hold one)
 *   endpoint k of j   10.244.(node+1).(10+10j+k)
 *   client pod        10.244.(n+1).(200+k) on node n (never an endpoint)
 *   external client   203.0.113.(5+k) (inside the source ranges) or 8.8.(8+k).8 (outside them)
 */
import fc from 'fast-check';
import { clusterNetwork, clusterOf, node as nodeObject, proxyConfig, service as serviceObject, slice } from './cluster.js';
import type { Cluster, Cni, DetectLocalMode, IpvsScheduler } from '../../src/model/types.js';
import { formatIp, parseIp } from '../../src/net/ipv4.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD } from '../../src/dataplane/pipeline.js';
import type { Probe } from '../../src/dataplane/trace.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP, type Protocol } from '../../src/net/proto.js';

export const kCniChoices: readonly Cni[] = ['kubenet', 'calico-vxlan', 'calico-ipip', 'calico-bgp', 'flannel-vxlan'];
export type ServiceKind = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'Headless' | 'ExternalName';
export const kServiceKinds: readonly ServiceKind[] = ['ClusterIP', 'NodePort', 'LoadBalancer', 'Headless', 'ExternalName'];
/** IPVS schedulers kube-proxy accepts and kdp models (rr is kube-proxy's default). */
export const kIpvsSchedulers: readonly IpvsScheduler[] = ['rr', 'wrr', 'lc', 'sh', 'mh'];
/** kube-proxy's --detect-local-mode values (ClusterCIDR is the default). */
export const kLocalDetectors: readonly DetectLocalMode[] = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'];
/** Endpoint conditions as EndpointSlice writes them. */
export type EndpointState = 'ready' | 'serving-terminating' | 'terminating' | 'not-ready';
export const kEndpointStates: readonly EndpointState[] = ['ready', 'serving-terminating', 'terminating', 'not-ready'];

export interface PortSpec {
  readonly udp: boolean;
  /** SCTP (overrides udp). */
  readonly sctp?: boolean;
  /** targetPort by name ("tp-p") rather than by number. */
  readonly namedTarget: boolean;
}

export interface EndpointSpec {
  /** Node index (taken modulo the node count). */
  readonly node: number;
  readonly state: EndpointState;
}

export interface ServiceSpec {
  readonly kind: ServiceKind;
  readonly externalIP: boolean;
  readonly sourceRanges: boolean;
  readonly externalLocal: boolean;
  readonly internalLocal: boolean;
  readonly affinity: boolean;
  /** ClientIP affinity's timeoutSeconds (100 when absent). */
  readonly affinitySeconds?: number;
  readonly ports: readonly PortSpec[];
  /** Empty: a service with no endpoints (no EndpointSlice at all). */
  readonly endpoints: readonly EndpointSpec[];
}

export interface ClusterSpec {
  readonly cni: Cni;
  readonly nodes: number;
  /** Nodes also carry an ExternalIP (exercises nodePortAddresses differences). */
  readonly nodeExternalIPs: boolean;
  readonly masqueradeAll: boolean;
  /** IPVS mode's scheduler (rr when absent). */
  readonly ipvsScheduler?: IpvsScheduler;
  /** kube-proxy's local-traffic detector (ClusterCIDR when absent). */
  readonly detectLocal?: DetectLocalMode;
  /** KubeProxyConfiguration nodePortAddresses: CIDRs, or ["primary"] (absent: the mode's default). */
  readonly nodePortAddresses?: readonly string[];
  readonly services: readonly ServiceSpec[];
}

export const kClusterCidr = '10.244.0.0/16';
export const kServiceCidr = '10.96.0.0/24';
export const nodeName = (i: number): string => `node-${i + 1}`;
export const nodeIp = (i: number): number => parseIp(`192.168.0.${11 + i}`) >>> 0;
export const nodeExternalIp = (i: number): number => parseIp(`198.18.0.${11 + i}`) >>> 0;
export const clusterIp = (j: number): number => parseIp(`10.96.0.${10 + j}`) >>> 0;
export const externalIp = (j: number): number => parseIp(`198.51.100.${10 + j}`) >>> 0;
export const lbIp = (j: number): number => parseIp(`192.0.2.${10 + j}`) >>> 0;
export const servicePortNumber = (p: number): number => 80 + p;
export const targetPortNumber = (p: number): number => 8080 + p;
export const nodePortNumber = (j: number, p: number): number => 30000 + 10 * j + p;
export const healthCheckNodePortNumber = (j: number): number => 32000 + j;
export const endpointIp = (node: number, j: number, k: number): number => parseIp(`10.244.${node + 1}.${10 + 10 * j + k}`) >>> 0;
export const clientPodIp = (node: number, k: number): number => parseIp(`10.244.${node + 1}.${200 + k}`) >>> 0;
export const allowedClientIp = (k: number): number => parseIp(`203.0.113.${5 + k}`) >>> 0;
export const blockedClientIp = (k: number): number => parseIp(`8.8.${8 + k}.8`) >>> 0;
/** An address no Service, pod or node uses (the Internet). */
export const outsideIp = (k: number): number => parseIp(`93.184.${216 + k}.34`) >>> 0;
/** Inside the ServiceCIDR but allocated to no Service. */
export const unallocatedIp = (): number => parseIp('10.96.0.200') >>> 0;

const portArb: fc.Arbitrary<PortSpec> = fc.record({ udp: fc.boolean(), sctp: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, fc.constant(true)), namedTarget: fc.boolean() });
/** The port's protocol as a Service and an EndpointSlice write it. */
const protocolOf = (p: PortSpec): 'TCP' | 'UDP' | 'SCTP' => (p.sctp ? 'SCTP' : p.udp ? 'UDP' : 'TCP');
const endpointArb: fc.Arbitrary<EndpointSpec> = fc.record({
  node: fc.nat({ max: 2 }),
  // Mostly ready endpoints; the others exercise the terminating fallback.
  state: fc.oneof({ weight: 4, arbitrary: fc.constant<EndpointState>('ready') }, fc.constantFrom<EndpointState>('serving-terminating', 'terminating', 'not-ready')),
});

export const serviceSpecArb: fc.Arbitrary<ServiceSpec> = fc.record({
  kind: fc.constantFrom(...kServiceKinds),
  externalIP: fc.boolean(),
  sourceRanges: fc.boolean(),
  externalLocal: fc.boolean(),
  internalLocal: fc.boolean(),
  affinity: fc.boolean(),
  ports: fc.array(portArb, { minLength: 1, maxLength: 2 }),
  endpoints: fc.array(endpointArb, { minLength: 0, maxLength: 4 }),
});

export interface ClusterArbOptions {
  readonly maxServices?: number;
  readonly cnis?: readonly Cni[];
  /** Force masqueradeAll (undefined: random). */
  readonly masqueradeAll?: boolean;
}

/**
 * nodePortAddresses choices against the address plan: every InternalIP, every ExternalIP (none
 * when the nodes have none), one node's InternalIP (the other nodes match nothing), the whole
 * space (kube-proxy's match-all, NodePortAddresses.MatchAll), an unused range (nothing matches
 * anywhere), and "primary" (the node's primary IP, cmd/kube-proxy/app/server.go). "primary"
 * never mixes with CIDRs: validateKubeProxyNodePortAddress refuses it.
 */
export const kNodePortAddressChoices: readonly (readonly string[])[] = [
  ['192.168.0.0/24'], ['198.18.0.0/24'], ['192.168.0.12/32'], ['0.0.0.0/0'], ['10.99.0.0/16'], ['primary'], ['192.168.0.11/32', '198.18.0.0/24'],
];

export function clusterSpecArb(options: ClusterArbOptions = {}): fc.Arbitrary<ClusterSpec> {
  return fc.record({
    cni: fc.constantFrom(...(options.cnis ?? kCniChoices)),
    nodes: fc.integer({ min: 2, max: 3 }),
    nodeExternalIPs: fc.boolean(),
    masqueradeAll: options.masqueradeAll === undefined ? fc.boolean() : fc.constant(options.masqueradeAll),
    ipvsScheduler: fc.oneof({ weight: 2, arbitrary: fc.constant<IpvsScheduler>('rr') }, fc.constantFrom(...kIpvsSchedulers)),
    detectLocal: fc.oneof({ weight: 2, arbitrary: fc.constant<DetectLocalMode>('ClusterCIDR') }, fc.constantFrom(...kLocalDetectors)),
    nodePortAddresses: fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, fc.constantFrom(...kNodePortAddressChoices)),
    services: fc.array(serviceSpecArb, { minLength: 1, maxLength: options.maxServices ?? 3 }),
  });
}

/**
 * Normalises a spec: headless and ExternalName services have no external access and no
 * affinity, an ExternalName service no endpoints (it is a DNS name, kube-proxy writes no rule
 * for it: pkg/proxy/servicechangetracker.go skips services without a ClusterIP), only LBs have
 * source ranges.
 */
export function effectiveService(s: ServiceSpec): ServiceSpec {
  const headless = s.kind === 'Headless' || s.kind === 'ExternalName';
  return {
    ...s,
    endpoints: s.kind === 'ExternalName' ? [] : s.endpoints,
    externalIP: s.externalIP && !headless,
    sourceRanges: s.sourceRanges && s.kind === 'LoadBalancer',
    affinity: s.affinity && !headless,
  };
}

/** The Kubernetes objects of a spec (what `kdp trace FILE` reads back). */
export function clusterObjects(spec: ClusterSpec): object[] {
  const objects: object[] = [];
  objects.push(
    proxyConfig({
      mode: 'iptables', clusterCIDR: kClusterCidr, iptables: { masqueradeAll: spec.masqueradeAll }, ipvs: { scheduler: spec.ipvsScheduler ?? 'rr' }, detectLocalMode: spec.detectLocal ?? 'ClusterCIDR',
      ...(spec.nodePortAddresses ? { nodePortAddresses: spec.nodePortAddresses } : {}),
    }),
  );
  objects.push(clusterNetwork({ cni: spec.cni, mtu: 1500, serviceNodePortRange: '30000-32767' }));
  objects.push({ apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name: 'kubernetes' }, spec: { cidrs: [kServiceCidr] } });
  if (spec.cni.startsWith('calico')) {
    objects.push({
      apiVersion: 'crd.projectcalico.org/v1',
      kind: 'IPPool',
      metadata: { name: 'default-ipv4-ippool' },
      spec: {
        cidr: kClusterCidr,
        blockSize: 24,
        ipipMode: spec.cni === 'calico-ipip' ? 'Always' : 'Never',
        vxlanMode: spec.cni === 'calico-vxlan' ? 'Always' : 'Never',
        natOutgoing: true,
      },
    });
  }
  for (let i = 0; i < spec.nodes; i++) {
    const n = nodeObject(nodeName(i), `10.244.${i + 1}.0/24`, formatIp(nodeIp(i))) as { status: { addresses: { type: string; address: string }[] } };
    if (spec.nodeExternalIPs) n.status.addresses.push({ type: 'ExternalIP', address: formatIp(nodeExternalIp(i)) });
    objects.push(n);
  }
  spec.services.forEach((raw, j) => {
    const s = effectiveService(raw);
    const name = `svc-${j}`;
    const multi = s.ports.length > 1;
    const ports = s.ports.map((p, k) => ({
      ...(multi ? { name: `p${k}` } : {}),
      protocol: protocolOf(p),
      port: servicePortNumber(k),
      targetPort: p.namedTarget ? `tp-${k}` : targetPortNumber(k),
      ...(s.kind === 'NodePort' || s.kind === 'LoadBalancer' ? { nodePort: nodePortNumber(j, k) } : {}),
    }));
    const svcSpec: Record<string, unknown> =
      s.kind === 'ExternalName'
        ? { type: 'ExternalName', externalName: `db-${j}.example.com`, ports }
        : { type: s.kind === 'Headless' ? 'ClusterIP' : s.kind, clusterIP: s.kind === 'Headless' ? 'None' : formatIp(clusterIp(j)), ports };
    if (s.externalIP) svcSpec.externalIPs = [formatIp(externalIp(j))];
    if (s.sourceRanges) svcSpec.loadBalancerSourceRanges = ['203.0.113.0/25'];
    const external = s.kind === 'NodePort' || s.kind === 'LoadBalancer' || s.externalIP;
    if (external) svcSpec.externalTrafficPolicy = s.externalLocal ? 'Local' : 'Cluster';
    // Kept by kube-proxy only for a LoadBalancer with Local policy; a stray field elsewhere, which
    // kube-proxy ignores (pkg/proxy/serviceport.go newBaseServiceInfo, apiservice.NeedsHealthCheck).
    if (s.kind === 'NodePort' || s.kind === 'LoadBalancer') svcSpec.healthCheckNodePort = healthCheckNodePortNumber(j);
    svcSpec.internalTrafficPolicy = s.internalLocal ? 'Local' : 'Cluster';
    if (s.affinity) {
      svcSpec.sessionAffinity = 'ClientIP';
      svcSpec.sessionAffinityConfig = { clientIP: { timeoutSeconds: s.affinitySeconds ?? 100 } };
    }
    const status = s.kind === 'LoadBalancer' ? { loadBalancer: { ingress: [{ ip: formatIp(lbIp(j)) }] } } : {};
    objects.push(serviceObject('default', name, svcSpec, status));
    if (s.endpoints.length > 0) {
      objects.push(
        slice(
          'default',
          name,
          s.ports.map((p, k) => ({ ...(multi ? { name: `p${k}` } : {}), port: targetPortNumber(k), protocol: protocolOf(p) })),
          s.endpoints.map((e, k) => {
            const n = e.node % spec.nodes;
            const c = conditionsOf(e.state);
            return { ip: formatIp(endpointIp(n, j, k)), node: nodeName(n), ...c };
          }),
          `${name}-abcde`,
        ),
      );
    }
  });
  return objects;
}

export function conditionsOf(state: EndpointState): { ready: boolean; serving: boolean; terminating: boolean } {
  switch (state) {
    case 'ready':
      return { ready: true, serving: true, terminating: false };
    case 'serving-terminating':
      return { ready: false, serving: true, terminating: true };
    case 'terminating':
      return { ready: false, serving: false, terminating: true };
    default:
      return { ready: false, serving: false, terminating: false };
  }
}

/** Loads a spec through the real loader. */
export function buildCluster(spec: ClusterSpec): Cluster {
  return clusterOf(...clusterObjects(spec));
}

/** A short, readable description of a spec for failure messages. */
export function describeCluster(spec: ClusterSpec): string {
  const lines = [
    `cni ${spec.cni}, ${spec.nodes} nodes${spec.nodeExternalIPs ? ' (with ExternalIPs)' : ''}${spec.masqueradeAll ? ', masqueradeAll' : ''}, detectLocalMode ${spec.detectLocal ?? 'ClusterCIDR'}, IPVS scheduler ${spec.ipvsScheduler ?? 'rr'}${spec.nodePortAddresses ? `, nodePortAddresses [${spec.nodePortAddresses.join(', ')}]` : ''}`,
  ];
  spec.services.forEach((raw, j) => {
    const s = effectiveService(raw);
    const flags = [
      s.kind,
      s.externalIP ? `externalIP ${formatIp(externalIp(j))}` : '',
      s.sourceRanges ? 'sourceRanges 203.0.113.0/25' : '',
      s.kind !== 'ClusterIP' || s.externalIP ? `eTP ${s.externalLocal ? 'Local' : 'Cluster'}` : '',
      s.internalLocal ? 'iTP Local' : '',
      s.affinity ? `ClientIP affinity ${s.affinitySeconds ?? 100}s` : '',
      s.kind === 'NodePort' || s.kind === 'LoadBalancer' ? `healthCheckNodePort ${healthCheckNodePortNumber(j)}${s.kind === 'LoadBalancer' && s.externalLocal ? '' : ' (stray)'}` : '',
    ].filter(Boolean);
    const ports = s.ports.map((p, k) => `${servicePortNumber(k)}/${protocolOf(p).toLowerCase()}->${p.namedTarget ? `tp-${k}(${targetPortNumber(k)})` : targetPortNumber(k)}`).join(',');
    const eps = s.endpoints.length === 0 ? 'no endpoints' : s.endpoints.map((e, k) => `${formatIp(endpointIp(e.node % spec.nodes, j, k))}@${nodeName(e.node % spec.nodes)}:${e.state}`).join(' ');
    lines.push(`  svc-${j} ${s.kind === 'Headless' ? 'None' : s.kind === 'ExternalName' ? `db-${j}.example.com` : formatIp(clusterIp(j))} [${flags.join(', ')}] ports ${ports}; ${eps}`);
  });
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// Packets

export type SourceKind = 'pod' | 'endpoint' | 'host' | 'external-allowed' | 'external-blocked';
export type DestKind = 'cluster-ip' | 'wrong-port' | 'node-port' | 'external-ip' | 'lb-ip' | 'pod' | 'outside' | 'unallocated' | 'node-other-port' | 'health-check';

export interface PacketSpec {
  readonly src: SourceKind;
  /** Node the source sits on (modulo the node count). */
  readonly srcNode: number;
  readonly srcIndex: number;
  readonly dst: DestKind;
  readonly service: number;
  readonly port: number;
  readonly dstNode: number;
  /** Send with the other protocol than the port's (TCP <-> UDP). */
  readonly flipProto: boolean;
  readonly srcPort: number;
}

export function packetSpecArb(): fc.Arbitrary<PacketSpec> {
  return fc.record({
    src: fc.constantFrom<SourceKind>('pod', 'endpoint', 'host', 'external-allowed', 'external-blocked'),
    srcNode: fc.nat({ max: 2 }),
    srcIndex: fc.nat({ max: 3 }),
    dst: fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom<DestKind>('cluster-ip', 'node-port', 'external-ip', 'lb-ip') },
      { weight: 1, arbitrary: fc.constantFrom<DestKind>('wrong-port', 'pod', 'outside', 'unallocated', 'node-other-port') },
      // Its own weight, so that a run meets kept health-check node ports (one Service in ten keeps one).
      { weight: 1, arbitrary: fc.constant<DestKind>('health-check') },
    ),
    service: fc.nat({ max: 3 }),
    port: fc.nat({ max: 1 }),
    dstNode: fc.nat({ max: 2 }),
    flipProto: fc.oneof({ weight: 5, arbitrary: fc.constant(false) }, fc.constant(true)),
    srcPort: fc.integer({ min: 1024, max: 65535 }),
  });
}

/** What the packet was aimed at, as the test (not the code under test) knows it. */
export interface PacketTarget {
  /** Service index addressed, -1 for none. */
  readonly service: number;
  /** Index into `Cluster.ports` of the port addressed (address, port and protocol all match), or -1. */
  readonly servicePort: number;
  /** How the service is addressed: its ClusterIP, or one of the external ways in. */
  readonly via: 'cluster-ip' | 'node-port' | 'external-ip' | 'lb-ip' | 'none';
  /** (destination, port, protocol) is no Service's: nothing may DNAT it. */
  readonly noService: boolean;
}

export interface ResolvedPacket {
  readonly probe: Probe;
  readonly target: PacketTarget;
  readonly spec: PacketSpec;
}

/** Maps a packet spec onto a cluster built from `cs`. */
export function resolvePacket(cs: ClusterSpec, cluster: Cluster, ps: PacketSpec): ResolvedPacket {
  const j = ps.service % cs.services.length;
  const svc = effectiveService(cs.services[j]);
  const p = ps.port % svc.ports.length;
  const portProto: Protocol = svc.ports[p].sctp ? PROTO_SCTP : svc.ports[p].udp ? PROTO_UDP : PROTO_TCP;
  let proto: Protocol = ps.flipProto ? (portProto === PROTO_TCP ? PROTO_UDP : PROTO_TCP) : portProto;
  const srcNode = ps.srcNode % cs.nodes;
  const dstNode = ps.dstNode % cs.nodes;

  let srcIp: number;
  let node = srcNode;
  let entry = ENTRY_POD;
  switch (ps.src) {
    case 'pod':
      srcIp = clientPodIp(srcNode, ps.srcIndex);
      break;
    case 'endpoint': {
      // An endpoint of the addressed service (hairpin), when it has one; else a client pod.
      const eps = svc.endpoints;
      if (eps.length > 0) {
        const k = ps.srcIndex % eps.length;
        node = eps[k].node % cs.nodes;
        srcIp = endpointIp(node, j, k);
      } else {
        srcIp = clientPodIp(srcNode, ps.srcIndex);
      }
      break;
    }
    case 'host':
      srcIp = nodeIp(srcNode);
      entry = ENTRY_HOST;
      break;
    case 'external-allowed':
      srcIp = allowedClientIp(ps.srcIndex);
      entry = ENTRY_EXTERNAL;
      break;
    default:
      srcIp = blockedClientIp(ps.srcIndex);
      entry = ENTRY_EXTERNAL;
  }

  let dstIp = 0;
  let dstPort = servicePortNumber(p);
  let via: PacketTarget['via'] = 'none';
  const headless = svc.kind === 'Headless' || svc.kind === 'ExternalName';
  switch (ps.dst) {
    case 'cluster-ip':
      if (!headless) {
        dstIp = clusterIp(j);
        via = 'cluster-ip';
      }
      break;
    case 'wrong-port':
      if (!headless) dstIp = clusterIp(j);
      dstPort = 90 + p; // no service uses ports 90-91
      break;
    case 'node-port':
      dstIp = ps.srcIndex % 2 === 1 && cs.nodeExternalIPs ? nodeExternalIp(dstNode) : nodeIp(dstNode);
      if (svc.kind === 'NodePort' || svc.kind === 'LoadBalancer') {
        dstPort = nodePortNumber(j, p);
        via = 'node-port';
      } else {
        dstPort = 29000 + p; // not a NodePort
      }
      break;
    case 'external-ip':
      if (svc.externalIP) {
        dstIp = externalIp(j);
        via = 'external-ip';
      }
      break;
    case 'lb-ip':
      if (svc.kind === 'LoadBalancer') {
        dstIp = lbIp(j);
        via = 'lb-ip';
      }
      break;
    case 'pod':
      if (svc.endpoints.length > 0) {
        const k = ps.port % svc.endpoints.length;
        dstIp = endpointIp(svc.endpoints[k].node % cs.nodes, j, k);
        dstPort = targetPortNumber(p);
      } else {
        dstIp = clientPodIp(dstNode, 3 - (ps.srcIndex % 4));
      }
      break;
    case 'unallocated':
      dstIp = unallocatedIp();
      break;
    case 'node-other-port':
      dstIp = nodeIp(dstNode);
      dstPort = 29500 + p;
      break;
    case 'health-check': {
      // A health-check node port on a node address (a load balancer's probe is HTTP: TCP;
      // flipProto sends UDP): the addressed service's, or, when it keeps none, the next one's that
      // does (one Service in ten does); with none in the cluster, the addressed service's number,
      // which is a stray field or nobody's. No Service port either way: where kube-proxy keeps
      // the port (LoadBalancer, Local policy) a filter rule ACCEPTs it, elsewhere no rule speaks.
      // The oracle decides which.
      const n = cs.services.length;
      let h = j;
      for (let k = 0; k < n; k++) {
        const s = effectiveService(cs.services[(j + k) % n]);
        if (s.kind === 'LoadBalancer' && s.externalLocal) {
          h = (j + k) % n;
          break;
        }
      }
      dstIp = ps.srcIndex % 2 === 1 && cs.nodeExternalIPs ? nodeExternalIp(dstNode) : nodeIp(dstNode);
      dstPort = healthCheckNodePortNumber(h);
      proto = ps.flipProto ? PROTO_UDP : PROTO_TCP;
      break;
    }
    default:
      dstIp = outsideIp(ps.srcIndex);
  }
  if (dstIp === 0) {
    // The addressed kind does not exist for this service: aim outside instead.
    dstIp = outsideIp(ps.srcIndex);
    dstPort = servicePortNumber(p);
    via = 'none';
  }
  // An external client sends to a node address at that node, and to other addresses at the
  // node its router picked (the destination node choice).
  if (entry === ENTRY_EXTERNAL) node = dstNode;
  if (srcIp === dstIp) dstIp = outsideIp(ps.srcIndex); // a host talking to itself is not a flow

  let servicePort = -1;
  if (via !== 'none' && !ps.flipProto) {
    const s = cluster.services.find((x) => x.name === `svc-${j}`)!;
    servicePort = s.ports.find((x) => cluster.ports[x].port === servicePortNumber(p) && cluster.ports[x].protocol === proto) ?? -1;
  }
  const noService = servicePort < 0;
  return {
    probe: { proto, srcIp, srcPort: ps.srcPort, dstIp, dstPort, node, entry },
    target: { service: servicePort >= 0 ? j : -1, servicePort, via: servicePort >= 0 ? via : 'none', noService },
    spec: ps,
  };
}

/** A cluster spec with packets aimed into it. */
export interface Scenario {
  readonly cluster: ClusterSpec;
  readonly packets: readonly PacketSpec[];
}

export function scenarioArb(options: ClusterArbOptions & { packets?: number } = {}): fc.Arbitrary<Scenario> {
  return fc.record({
    cluster: clusterSpecArb(options),
    packets: fc.array(packetSpecArb(), { minLength: 1, maxLength: options.packets ?? 4 }),
  });
}

/** The packets of a scenario resolved against its cluster (deterministic: for failure reports too). */
export function resolveScenario(sc: Scenario): { cluster: Cluster; packets: ResolvedPacket[] } {
  const cluster = buildCluster(sc.cluster);
  return { cluster, packets: sc.packets.map((p) => resolvePacket(sc.cluster, cluster, p)) };
}
