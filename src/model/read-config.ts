/**
 * The objects that configure the node rather than describe workloads: kube-proxy's
 * KubeProxyConfiguration, ServiceCIDRs, Calico IPPools, and kdp's own ClusterNetwork for what
 * Kubernetes has no object for (the CNI when it is not Calico, the MTU, the NodePort range).
 */
import type { Cidr } from '../net/ipv4.js';
import { FieldReader, isDnsSubdomain, parseGoDuration, type Json } from './fields.js';
import { readResolverLists } from './read-workloads.js';
import type {
  CiliumConfig,
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
  tcpBeLiberal: false,
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
  nfacct: false,
  randomFully: true,
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
  const npa = r.array(obj.nodePortAddresses, ['nodePortAddresses']);
  npa.forEach((v, i) => {
    if (v === 'primary') {
      nodePortPrimaryOnly = true;
      // kube-proxy's validateKubeProxyNodePortAddress: "can't use both 'primary' and CIDRs".
      if (npa.length !== 1) r.error(['nodePortAddresses', i], "can't use both 'primary' and CIDRs");
    } else {
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
      tcpBeLiberal: r.bool(ct.tcpBeLiberal, ['conntrack', 'tcpBeLiberal'], kDefaultConntrack.tcpBeLiberal),
    },
    nfacct: d.nfacct,
    randomFully: d.randomFully,
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

/** `bpf-lb-maglev-table-size`: the primes Cilium accepts (pkg/maglev maglevSupportedTableSizes). */
export const kMaglevTableSizes: readonly number[] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];

/**
 * Cilium v1.17's defaults for the keys kdp reads (pkg/option/config.go, pkg/maglev, the agent's
 * flags): kube-proxy replacement off, socket LB off, random selection, SNAT, no XDP, Maglev
 * M = 16381 with seed JLfvgnHc2kaSUFaI, CT maps of 524288 TCP and 262144 other entries, LB maps of
 * 65536 entries, ClusterIPs not reachable from outside, source ranges on LoadBalancer only, an
 * ICMP reject for a Service without backends, and no SCTP.
 */
export const kDefaultCiliumConfig: CiliumConfig = {
  kubeProxyReplacement: false,
  socketLb: false,
  socketLbHostnsOnly: false,
  lbAlgorithm: 'random',
  lbMode: 'snat',
  lbAcceleration: 'disabled',
  dsrDispatch: 'opt',
  maglevTableSize: 16381,
  maglevHashSeed: 'JLfvgnHc2kaSUFaI',
  ctGlobalTcpMax: 524288,
  ctGlobalAnyMax: 262144,
  lbMapMax: 65536,
  externalClusterIp: false,
  sourceRangeAllTypes: false,
  noBackendResponse: 'reject',
  enableSctp: false,
};

/** A ConfigMap's string value as a boolean (`strconv.ParseBool`'s spellings), or the fallback after an error. */
function configBool(r: FieldReader, data: Json, key: string, fallback: boolean): boolean {
  const v = data[key];
  if (v === undefined || v === null || v === '') return fallback;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(v)) return true;
  if (typeof v === 'string' && ['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(v)) return false;
  r.error(['data', key], `must be "true" or "false", not ${JSON.stringify(v)}`);
  return fallback;
}

function configInt(r: FieldReader, data: Json, key: string, fallback: number, min: number, max: number): number {
  const v = data[key];
  if (v === undefined || v === null || v === '') return fallback;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) {
    r.error(['data', key], `must be a whole number in ${min}-${max}, not ${JSON.stringify(v)}`);
    return fallback;
  }
  return n;
}

/**
 * `kube-system/cilium-config` (the ConfigMap the agent reads its flags from, as Helm writes it).
 * `kube-proxy-replacement: "true"` turns on socket LB (bpf-lb-sock) with NodePort, externalIPs
 * and affinity, as the agent's initKubeProxyReplacementOptions does; the legacy "strict" means
 * the same, "partial"/"disabled" mean false.
 */
export function readCiliumConfig(r: FieldReader, obj: Json): CiliumConfig {
  const data = r.record(obj.data, ['data']);
  const d = kDefaultCiliumConfig;
  const kprText = data['kube-proxy-replacement'];
  let kpr = d.kubeProxyReplacement;
  if (kprText === 'strict') kpr = true;
  else if (kprText === 'partial' || kprText === 'disabled') kpr = false;
  else kpr = configBool(r, data, 'kube-proxy-replacement', d.kubeProxyReplacement);
  const tableSize = configInt(r, data, 'bpf-lb-maglev-table-size', d.maglevTableSize, 1, 2 ** 31);
  const seed = r.string(data['bpf-lb-maglev-hash-seed'], ['data', 'bpf-lb-maglev-hash-seed'], d.maglevHashSeed) || d.maglevHashSeed;
  if (!kMaglevTableSizes.includes(tableSize)) r.error(['data', 'bpf-lb-maglev-table-size'], `${tableSize} is not a size Cilium supports (${kMaglevTableSizes.join(', ')})`);
  // 12 bytes in standard base64 are 16 characters without padding (pkg/maglev refuses any other length).
  if (!/^[A-Za-z0-9+/]{16}$/.test(seed)) r.error(['data', 'bpf-lb-maglev-hash-seed'], `"${seed}" is not 12 bytes of base64 (16 characters), as Cilium requires`);
  return {
    kubeProxyReplacement: kpr,
    socketLb: kpr || configBool(r, data, 'bpf-lb-sock', d.socketLb),
    socketLbHostnsOnly: configBool(r, data, 'bpf-lb-sock-hostns-only', d.socketLbHostnsOnly),
    lbAlgorithm: r.oneOf(data['bpf-lb-algorithm'], ['data', 'bpf-lb-algorithm'], ['random', 'maglev'] as const, d.lbAlgorithm),
    lbMode: r.oneOf(data['bpf-lb-mode'], ['data', 'bpf-lb-mode'], ['snat', 'dsr', 'hybrid'] as const, d.lbMode),
    lbAcceleration: r.oneOf(data['bpf-lb-acceleration'], ['data', 'bpf-lb-acceleration'], ['disabled', 'native', 'best-effort'] as const, d.lbAcceleration),
    dsrDispatch: r.oneOf(data['bpf-lb-dsr-dispatch'], ['data', 'bpf-lb-dsr-dispatch'], ['opt', 'ipip', 'geneve'] as const, d.dsrDispatch),
    maglevTableSize: kMaglevTableSizes.includes(tableSize) ? tableSize : d.maglevTableSize,
    maglevHashSeed: /^[A-Za-z0-9+/]{16}$/.test(seed) ? seed : d.maglevHashSeed,
    ctGlobalTcpMax: configInt(r, data, 'bpf-ct-global-tcp-max', d.ctGlobalTcpMax, 1 << 15, 2 ** 31),
    ctGlobalAnyMax: configInt(r, data, 'bpf-ct-global-any-max', d.ctGlobalAnyMax, 1 << 15, 2 ** 31),
    lbMapMax: configInt(r, data, 'bpf-lb-map-max', d.lbMapMax, 1 << 12, 2 ** 31),
    externalClusterIp: configBool(r, data, 'bpf-lb-external-clusterip', d.externalClusterIp),
    sourceRangeAllTypes: configBool(r, data, 'bpf-lb-source-range-all-types', d.sourceRangeAllTypes),
    noBackendResponse: r.oneOf(data['service-no-backend-response'], ['data', 'service-no-backend-response'], ['reject', 'drop'] as const, d.noBackendResponse),
    enableSctp: configBool(r, data, 'enable-sctp', d.enableSctp),
  };
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
  const { nameservers, searches } = readResolverLists(r, c, path);
  const options: string[] = [];
  r.array(c.options, [...path, 'options']).forEach((v, i) => {
    const o = r.string(v, [...path, 'options', i]);
    if (/^[a-z0-9-]+(:\d+)?$/i.test(o)) options.push(o);
    else r.error([...path, 'options', i], `"${o}" is not a resolv.conf option such as ndots:2 or edns0`);
  });
  // kubelet's parseResolvConf trims a trailing dot from each search domain.
  return { nameservers, searches: searches.map((s) => s.replace(/\.$/, '')), options };
}

/** The link-local address the Kubernetes docs give node-local-dns (`__PILLAR__LOCAL__DNS__`). */
export const kNodeLocalDnsIp = 0xa9fe140a; // 169.254.20.10

/** ClusterNetwork `spec.nodeLocalDNS` (`{}` for the defaults): its link-local listener address. */
function readNodeLocalDns(r: FieldReader, value: unknown): { localIp: number } | undefined {
  if (value === undefined || value === null) return undefined;
  const c = r.record(value, ['spec', 'nodeLocalDNS']);
  if (c.localIP === undefined) return { localIp: kNodeLocalDnsIp };
  const ip = r.ip(c.localIP, ['spec', 'nodeLocalDNS', 'localIP']);
  return ip >= 0 ? { localIp: ip } : undefined;
}

/** kdp's own object: `apiVersion: kdp.dev/v1alpha1`, `kind: ClusterNetwork`. */
export interface ClusterNetworkSpec {
  readonly nodeResolvConf?: NodeResolvConf;
  readonly nodeLocalDns?: { readonly localIp: number };
  readonly cni?: Cni;
  readonly mtu: number;
  readonly nodePortRange: readonly [number, number];
  /** Whether the file declared the range (else kube-apiserver's default is assumed). */
  readonly nodePortRangeDeclared: boolean;
  /** The node settings kube-proxy probes for (see ProxyConfig): nfacct counters, `--random-fully`. */
  readonly nfacct?: boolean;
  readonly randomFully?: boolean;
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
  const nodeLocalDns = readNodeLocalDns(r, spec.nodeLocalDNS);
  const nodeSettings = {
    ...(spec.nfacct !== undefined ? { nfacct: r.bool(spec.nfacct, ['spec', 'nfacct'], false) } : {}),
    ...(spec.randomFully !== undefined ? { randomFully: r.bool(spec.randomFully, ['spec', 'randomFully'], true) } : {}),
  };
  return {
    ...(cni ? { cni } : {}),
    mtu,
    nodePortRange,
    nodePortRangeDeclared: rangeText !== '',
    ...(nodeResolvConf ? { nodeResolvConf } : {}),
    ...(nodeLocalDns ? { nodeLocalDns } : {}),
    ...nodeSettings,
  };
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
