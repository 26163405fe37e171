/**
 * The objects that configure the node rather than describe workloads: kube-proxy's
 * KubeProxyConfiguration, ServiceCIDRs, Calico IPPools, and kdp's own ClusterNetwork for what
 * Kubernetes has no object for (the CNI when it is not Calico, the MTU, the NodePort range).
 */
import type { Cidr } from '../net/ipv4.js';
import { FieldReader, isDnsSubdomain, parseGoDuration, type Json } from './fields.js';
import type {
  Cni,
  ConntrackConfig,
  DetectLocalMode,
  EncapMode,
  IpPool,
  IpvsScheduler,
  NodeResolvConf,
  PodNetwork,
  ProxyConfig,
} from './types.js';

/** kube-proxy's defaults (pkg/proxy/apis/config/v1alpha1/defaults.go) and the kernel's UDP timeouts. */
export const kDefaultConntrack: ConntrackConfig = {
  maxPerCore: 32768,
  min: 131072,
  tcpEstablishedTimeoutSeconds: 24 * 3600,
  tcpCloseWaitTimeoutSeconds: 3600,
  // kube-proxy leaves these to the kernel when unset (0); the kernel's defaults are 30 s / 120 s.
  udpTimeoutSeconds: 30,
  udpStreamTimeoutSeconds: 120,
};

export const kDefaultProxyConfig: ProxyConfig = {
  // Empty, as kube-proxy leaves it: the platform's default mode (src/compile/modes.ts).
  mode: '',
  clusterCIDRs: [],
  detectLocalMode: 'ClusterCIDR',
  masqueradeAll: false,
  masqueradeBit: 14,
  localhostNodePorts: true,
  ipvsScheduler: 'rr',
  nodePortAddresses: [],
  nodePortPrimaryOnly: false,
  conntrack: kDefaultConntrack,
};

/** kube-apiserver's `--service-node-port-range` default. */
export const kDefaultNodePortRange: readonly [number, number] = [30000, 32767];
export const kDefaultMtu = 1500;

const kSchedulers: readonly IpvsScheduler[] = ['rr', 'wrr', 'lc', 'sh', 'mh'];
const kLocalModes: readonly DetectLocalMode[] = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'];
export const kCnis: readonly Cni[] = ['kubenet', 'calico-ipip', 'calico-vxlan', 'calico-bgp', 'flannel-vxlan'];
const kEncapModes: readonly EncapMode[] = ['Never', 'Always', 'CrossSubnet'];

function seconds(r: FieldReader, value: unknown, path: (string | number)[], fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const s = typeof value === 'string' ? parseGoDuration(value) : undefined;
  if (s === undefined) {
    r.error(path, `must be a duration such as "24h0m0s" or "30s", not ${JSON.stringify(value)}`);
    return fallback;
  }
  return s === 0 ? fallback : s;
}

export function readProxyConfig(r: FieldReader, obj: Json, modes?: readonly string[]): ProxyConfig {
  const iptables = r.record(obj.iptables, ['iptables']);
  const ipvs = r.record(obj.ipvs, ['ipvs']);
  const ct = r.record(obj.conntrack, ['conntrack']);
  const d = kDefaultProxyConfig;
  const clusterCIDRs: Cidr[] = [];
  const clusterCIDRText = r.string(obj.clusterCIDR, ['clusterCIDR']);
  if (clusterCIDRText) {
    for (const part of clusterCIDRText.split(',')) {
      const c = r.cidr(part.trim(), ['clusterCIDR']);
      if (c) clusterCIDRs.push(c);
    }
  }
  const nodePortAddresses: Cidr[] = [];
  let nodePortPrimaryOnly = false;
  r.array(obj.nodePortAddresses, ['nodePortAddresses']).forEach((v, i) => {
    if (v === 'primary') nodePortPrimaryOnly = true;
    else {
      const c = r.cidr(v, ['nodePortAddresses', i]);
      if (c) nodePortAddresses.push(c);
    }
  });
  return {
    mode: modes ? r.oneOf(obj.mode, ['mode'], modes, d.mode) : r.string(obj.mode, ['mode'], d.mode),
    clusterCIDRs,
    detectLocalMode: r.oneOf(obj.detectLocalMode, ['detectLocalMode'], kLocalModes, d.detectLocalMode),
    masqueradeAll: r.bool(iptables.masqueradeAll, ['iptables', 'masqueradeAll'], d.masqueradeAll),
    masqueradeBit: r.integer(iptables.masqueradeBit, ['iptables', 'masqueradeBit'], d.masqueradeBit, 0, 31),
    localhostNodePorts: r.bool(iptables.localhostNodePorts, ['iptables', 'localhostNodePorts'], d.localhostNodePorts),
    ipvsScheduler: r.oneOf(ipvs.scheduler, ['ipvs', 'scheduler'], kSchedulers, d.ipvsScheduler),
    nodePortAddresses,
    nodePortPrimaryOnly,
    conntrack: {
      maxPerCore: r.integer(ct.maxPerCore, ['conntrack', 'maxPerCore'], kDefaultConntrack.maxPerCore, 0, 2 ** 31),
      min: r.integer(ct.min, ['conntrack', 'min'], kDefaultConntrack.min, 0, 2 ** 31),
      tcpEstablishedTimeoutSeconds: seconds(r, ct.tcpEstablishedTimeout, ['conntrack', 'tcpEstablishedTimeout'], kDefaultConntrack.tcpEstablishedTimeoutSeconds),
      tcpCloseWaitTimeoutSeconds: seconds(r, ct.tcpCloseWaitTimeout, ['conntrack', 'tcpCloseWaitTimeout'], kDefaultConntrack.tcpCloseWaitTimeoutSeconds),
      udpTimeoutSeconds: seconds(r, ct.udpTimeout, ['conntrack', 'udpTimeout'], kDefaultConntrack.udpTimeoutSeconds),
      udpStreamTimeoutSeconds: seconds(r, ct.udpStreamTimeout, ['conntrack', 'udpStreamTimeout'], kDefaultConntrack.udpStreamTimeoutSeconds),
    },
  };
}

export function readServiceCIDRs(r: FieldReader, obj: Json): Cidr[] {
  const spec = r.record(obj.spec, ['spec']);
  const out: Cidr[] = [];
  r.array(spec.cidrs, ['spec', 'cidrs']).forEach((v, i) => {
    const c = r.cidr(v, ['spec', 'cidrs', i]);
    if (c) out.push(c);
  });
  return out;
}

export function readIpPool(r: FieldReader, obj: Json): IpPool | undefined {
  const spec = r.record(obj.spec, ['spec']);
  if (spec.cidr === undefined) {
    r.error(['spec', 'cidr'], 'is required');
    return undefined;
  }
  const cidr = r.cidr(spec.cidr, ['spec', 'cidr']);
  const pool: IpPool | undefined = cidr && {
    name: r.ref.name ?? '',
    cidr,
    // Calico's default IPv4 block is a /26.
    blockSize: r.integer(spec.blockSize, ['spec', 'blockSize'], 26, cidr.prefix, 32),
    ipipMode: r.oneOf(spec.ipipMode, ['spec', 'ipipMode'], kEncapModes, 'Never'),
    vxlanMode: r.oneOf(spec.vxlanMode, ['spec', 'vxlanMode'], kEncapModes, 'Never'),
    natOutgoing: r.bool(spec.natOutgoing, ['spec', 'natOutgoing'], false),
  };
  if (pool && pool.ipipMode !== 'Never' && pool.vxlanMode !== 'Never') {
    r.error(['spec'], 'ipipMode and vxlanMode cannot both be enabled (Calico refuses this pool)');
  }
  return pool;
}

/** What kubelet's KubeletConfiguration (kubelet.config.k8s.io/v1beta1) says about cluster DNS. */
export interface KubeletDnsConfig {
  /** '' when the object does not set it. */
  readonly clusterDomain: string;
  readonly clusterDNS: number[];
}

export function readKubeletConfig(r: FieldReader, obj: Json): KubeletDnsConfig {
  const clusterDomain = r.string(obj.clusterDomain, ['clusterDomain']).replace(/\.$/, '');
  if (clusterDomain && !isDnsSubdomain(clusterDomain)) r.error(['clusterDomain'], `"${clusterDomain}" is not a DNS name such as cluster.local`);
  const clusterDNS: number[] = [];
  r.array(obj.clusterDNS, ['clusterDNS']).forEach((v, i) => {
    const ip = r.ip(v, ['clusterDNS', i]);
    if (ip >= 0) clusterDNS.push(ip);
  });
  return { clusterDomain: isDnsSubdomain(clusterDomain) ? clusterDomain : '', clusterDNS };
}

/** ClusterNetwork `spec.nodeResolvConf`: the node's /etc/resolv.conf, which Default pods get and ClusterFirst pods append to. */
function readNodeResolvConf(r: FieldReader, value: unknown): NodeResolvConf | undefined {
  if (value === undefined || value === null) return undefined;
  const path = ['spec', 'nodeResolvConf'];
  const c = r.record(value, path);
  const nameservers: number[] = [];
  r.array(c.nameservers, [...path, 'nameservers']).forEach((v, i) => {
    const ip = r.ip(v, [...path, 'nameservers', i]);
    if (ip >= 0) nameservers.push(ip);
  });
  const searches: string[] = [];
  r.array(c.searches, [...path, 'searches']).forEach((v, i) => {
    const s = r.string(v, [...path, 'searches', i]);
    // kubelet's parseResolvConf trims a trailing dot from each search domain.
    if (isDnsSubdomain(s)) searches.push(s.replace(/\.$/, ''));
    else r.error([...path, 'searches', i], `"${s}" is not a DNS name`);
  });
  const options: string[] = [];
  r.array(c.options, [...path, 'options']).forEach((v, i) => {
    const o = r.string(v, [...path, 'options', i]);
    if (/^[a-z0-9-]+(:\d+)?$/i.test(o)) options.push(o);
    else r.error([...path, 'options', i], `"${o}" is not a resolv.conf option such as ndots:2 or edns0`);
  });
  return { nameservers, searches, options };
}

/** kdp's own object: `apiVersion: kdp.dev/v1alpha1`, `kind: ClusterNetwork`. */
export interface ClusterNetworkSpec {
  readonly nodeResolvConf?: NodeResolvConf;
  readonly cni?: Cni;
  readonly mtu: number;
  readonly nodePortRange: readonly [number, number];
  /** Whether the file declared the range (else kube-apiserver's default is assumed). */
  readonly nodePortRangeDeclared: boolean;
}

export function readClusterNetwork(r: FieldReader, obj: Json): ClusterNetworkSpec {
  const spec = r.record(obj.spec, ['spec']);
  const cni = spec.cni === undefined ? undefined : r.oneOf(spec.cni, ['spec', 'cni'], kCnis, 'kubenet');
  const mtu = r.integer(spec.mtu, ['spec', 'mtu'], kDefaultMtu, 576, 65535);
  let nodePortRange = kDefaultNodePortRange;
  const rangeText = r.string(spec.serviceNodePortRange, ['spec', 'serviceNodePortRange']);
  if (rangeText) {
    const m = /^(\d+)-(\d+)$/.exec(rangeText);
    const lo = m ? Number(m[1]) : NaN;
    const hi = m ? Number(m[2]) : NaN;
    if (!m || lo < 1 || hi > 65535 || lo > hi) {
      r.error(['spec', 'serviceNodePortRange'], `"${rangeText}" is not a port range such as 30000-32767`);
    } else {
      nodePortRange = [lo, hi];
    }
  }
  const nodeResolvConf = readNodeResolvConf(r, spec.nodeResolvConf);
  return { ...(cni ? { cni } : {}), mtu, nodePortRange, nodePortRangeDeclared: rangeText !== '', ...(nodeResolvConf ? { nodeResolvConf } : {}) };
}

/**
 * The CNI follows the ClusterNetwork when it names one; otherwise Calico's IPPools decide
 * (VXLAN or IPIP when enabled on the first pool, plain BGP routing when neither is), and a
 * cluster with neither is kubenet, as a node with no CNI plugin installed would be.
 */
export function resolvePodNetwork(spec: ClusterNetworkSpec | undefined, pools: readonly IpPool[]): { network: PodNetwork; conflict?: string } {
  const fromPool = (p: IpPool | undefined): Cni | undefined =>
    !p ? undefined : p.vxlanMode !== 'Never' ? 'calico-vxlan' : p.ipipMode !== 'Never' ? 'calico-ipip' : 'calico-bgp';
  const poolCni = fromPool(pools[0]);
  const cni = spec?.cni ?? poolCni ?? 'kubenet';
  const network: PodNetwork = {
    cni,
    mtu: spec?.mtu ?? kDefaultMtu,
    nodePortRange: spec?.nodePortRange ?? kDefaultNodePortRange,
    ipPools: pools,
  };
  if (spec?.cni && poolCni && spec.cni.startsWith('calico') && spec.cni !== poolCni) {
    return { network, conflict: `ClusterNetwork says cni ${spec.cni} but IPPool ${pools[0].name} gives ${poolCni}` };
  }
  return { network };
}
