/**
 * The sandbox for one node: five namespaces, each joined to the node namespace by one veth pair
 * and to nothing else.
 *
 *            pods (this node's pods: a pod client, the local endpoints)
 *              |
 *   ext ---- node ---- remote (endpoints on other nodes)
 *   (clients   |
 *   outside)  sink (service addresses: packets kdp's rules do not rewrite end here, dropped)
 *
 * The node namespace holds the node's InternalIPs (on `lo`), runs kdp's rules, forwards, and
 * keeps the conntrack table that is read back. Each veth end carries a 169.254.K.1/.2 pair of
 * addresses (the node's side global, the address it masquerades to on that veth); the node routes the pod block, each client and each endpoint to the right
 * veth with `via 169.254.K.2 onlink`, and the other namespaces route back through it. Those
 * routes are the only ones, and every one of them points at a veth of this sandbox.
 */
import { cidrContains, formatCidr, formatIp } from '../net/ipv4.js';
import type { Cluster } from '../model/types.js';
import type { AddressPlan } from './probes.js';
import { Sandbox } from './sandbox.js';

export interface NodeTopology {
  readonly sandbox: Sandbox;
  readonly node: string;
  readonly pods: string;
  readonly ext: string;
  readonly remote: string;
  readonly sink: string;
  /** Namespace names by client role. */
  readonly clientNs: { readonly pods: string; readonly ext: string; readonly node: string };
}

const kForwardingSysctls = {
  'net.ipv4.ip_forward': 1,
  'net.ipv4.conf.all.rp_filter': 0,
  'net.ipv4.conf.default.rp_filter': 0,
  'net.ipv4.conf.all.send_redirects': 0,
  'net.ipv4.conf.default.send_redirects': 0,
  // REJECT answers with ICMP; the default per-destination rate limit would turn most rejects
  // towards one client into silence (read as a drop).
  'net.ipv4.icmp_ratelimit': 0,
  'net.ipv4.icmp_msgs_per_sec': 1_000_000,
  'net.ipv4.icmp_msgs_burst': 1_000_000,
};
/** Probes are read back from conntrack after all are sent: keep their entries that long. */
const kConntrackSysctls = {
  'net.netfilter.nf_conntrack_udp_timeout': 600,
  'net.netfilter.nf_conntrack_tcp_timeout_syn_sent': 600,
  'net.netfilter.nf_conntrack_tcp_timeout_close': 600,
  'net.netfilter.nf_conntrack_tcp_timeout_time_wait': 600,
};
const kQuietSysctls = { 'net.ipv4.conf.all.rp_filter': 0, 'net.ipv4.conf.default.rp_filter': 0, 'net.ipv4.icmp_ratelimit': 0 };

/** Name of the node's interface towards its pods, as the local detector expects it. */
function podInterfaceName(cluster: Cluster): string {
  const mode = cluster.proxy.detectLocalMode;
  // The names kdp's renderers match (`-i cbr0`, `-i veth+` / `iifname "veth*"`): the interface
  // exists only inside the sandbox's node namespace and dies with it.
  if (mode === 'BridgeInterface') return 'cbr0';
  if (mode === 'InterfaceNamePrefix') return 'vethkdpv';
  return 'kvpods';
}

export async function buildNodeTopology(cluster: Cluster, plan: AddressPlan, sandbox = new Sandbox()): Promise<NodeTopology> {
  try {
    const node = await sandbox.addNamespace('node');
    const pods = await sandbox.addNamespace('pods');
    const ext = await sandbox.addNamespace('ext');
    const remote = await sandbox.addNamespace('remote');
    const sink = await sandbox.addNamespace('sink');
    await sandbox.sysctl(node, kForwardingSysctls);
    for (const ns of [pods, ext, remote, sink]) await sandbox.sysctl(ns, kQuietSysctls);

    const peers: [string, number, string][] = [
      [pods, 1, podInterfaceName(cluster)],
      [ext, 2, 'kvext'],
      [remote, 3, 'kvremote'],
      [sink, 4, 'kvsink'],
    ];
    const nodeLines: string[] = [];
    for (const ip of plan.nodeIps) nodeLines.push(`address add ${formatIp(ip)}/32 dev lo`);
    for (const [ns, k, nodeSide] of peers) {
      const { b } = await sandbox.addVeth(node, ns, { a: nodeSide, b: 'eth0' });
      // Scope global, so that MASQUERADE (inet_select_addr on the outgoing device, which skips
      // link-scope addresses) picks this address rather than falling back to the first global
      // address of the namespace, the node's InternalIP on `lo`. A host client sends from that
      // InternalIP, and with `--random-fully` the kernel then rewrites only the port: the one
      // draw in 64,512 that keeps the client's own port left a masqueraded flow's conntrack
      // entry unchanged, indistinguishable from no masquerade at all.
      nodeLines.push(`address add 169.254.${k}.1/32 dev ${nodeSide}`);
      const peerLines = [`address add 169.254.${k}.2/32 scope link dev ${b}`, `route add 169.254.${k}.1/32 dev ${b} scope link`];
      // The sink has no route at all: it swallows what reaches it (forwarding is off).
      if (k !== 4) peerLines.push(`route add default via 169.254.${k}.1 dev ${b} onlink`);
      const addrs = k === 1 ? [plan.podClient, ...plan.localEndpoints] : k === 2 ? [plan.externalOut, ...plan.externalIn.values()] : k === 3 ? plan.remoteEndpoints : [];
      for (const ip of addrs) peerLines.push(`address add ${formatIp(ip)}/32 dev ${b}`);
      await sandbox.ipBatch(ns, peerLines);
    }
    const via = (k: number, dev: string): string => `via 169.254.${k}.2 dev ${dev} onlink`;
    const [podsDev, extDev, remoteDev, sinkDev] = peers.map((p) => p[2]);
    const routed = new Set<string>();
    const route = (dst: string, k: number, dev: string): void => {
      if (routed.has(dst)) return;
      routed.add(dst);
      nodeLines.push(`route add ${dst} ${via(k, dev)}`);
    };
    for (const b of plan.podBlocks) route(formatCidr(b), 1, podsDev);
    for (const ip of [plan.podClient, ...plan.localEndpoints]) if (!plan.podBlocks.some((b) => cidrContains(b, ip))) route(`${formatIp(ip)}/32`, 1, podsDev);
    for (const ip of [plan.externalOut, ...plan.externalIn.values()]) route(`${formatIp(ip)}/32`, 2, extDev);
    for (const ip of plan.remoteEndpoints) route(`${formatIp(ip)}/32`, 3, remoteDev);
    for (const c of cluster.serviceCIDRs) route(formatCidr(c), 4, sinkDev);
    for (const ip of plan.serviceAddresses) if (!plan.nodeIps.includes(ip)) route(`${formatIp(ip)}/32`, 4, sinkDev);
    await sandbox.ipBatch(node, nodeLines);
    // After the rules exist conntrack is active; its timeouts exist per namespace from the start.
    await sandbox.sysctl(node, kConntrackSysctls);
    return { sandbox, node, pods, ext, remote, sink, clientNs: { pods, ext, node } };
  } catch (e) {
    sandbox.disposeSync();
    throw e;
  }
}
