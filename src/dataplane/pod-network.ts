/**
 * The pod network of every node, compiled from the cluster: each node's routing table, its
 * addresses, and its tunnel, as the CNI would program them.
 *
 * - kubenet: the node's pod CIDR sits on the `cbr0` bridge (the node owns its .1); other nodes'
 *   pod CIDRs are reached through the underlay (the cloud routes them to the owning node); no
 *   encapsulation.
 * - Calico: no bridge; each local pod has a /32 route to its own `cali*` veth. kdp keeps one
 *   route per local block instead of one per pod: the hop it gives is the same (the pod's own
 *   veth), and a million pods would otherwise cost a million routes per node. Remote blocks go
 *   through `vxlan.calico` (VXLAN), `tunl0` (IP-in-IP) or straight over the underlay (BGP).
 * - flannel (VXLAN backend): the node's subnet on the `cni0` bridge (gateway .1), remote nodes'
 *   subnets through `flannel.1`.
 * Every node also has its own addresses (the local table) and a default route out of the
 * cluster through its underlay NIC.
 *
 * Tunnel devices carry an address of the node's pod range (Calico and flannel give the tunnel
 * the first address of the node's block); MASQUERADE picks the outgoing device's address, so
 * that choice matters for where a masqueraded reply comes back.
 */
import { cidrContains, prefixMask, type Cidr } from '../net/ipv4.js';
import type { Cluster, Cni } from '../model/types.js';
import {
  RK_BRIDGE,
  RK_FLANNEL,
  RK_IPIP,
  RK_LOCAL,
  RK_UNDERLAY,
  RK_VETH,
  RK_VXLAN,
  RouteTable,
  type RouteSpec,
} from './route-table.js';

/** Bytes an encapsulation adds (Calico's documented overheads). */
export const kEncapOverhead: Readonly<Record<Cni, number>> = {
  kubenet: 0,
  'calico-bgp': 0,
  'calico-ipip': 20,
  'calico-vxlan': 50,
  'flannel-vxlan': 50,
};

/** VXLAN network identifiers: Calico uses 4096, flannel 1. */
export const kCalicoVni = 4096;
export const kFlannelVni = 1;

export interface NodeNetwork {
  readonly index: number;
  readonly name: string;
  readonly routes: RouteTable;
  /** The node's primary InternalIP (0 when the cluster gives none). */
  readonly primaryIp: number;
  /** Every address of the node (InternalIP, ExternalIP, tunnel, bridge). */
  readonly addresses: readonly number[];
  /** The tunnel device's address (vxlan.calico / tunl0 / flannel.1), 0 without a tunnel. */
  readonly tunnelIp: number;
  /** The pods' bridge's address (kubenet's cbr0, flannel's cni0), 0 otherwise. */
  readonly bridgeIp: number;
  /** Pod address blocks this node owns. */
  readonly podBlocks: readonly Cidr[];
}

export interface PodNetworkPlan {
  readonly cni: Cni;
  readonly mtu: number;
  /** MTU of the pods' interfaces: the underlay MTU less the encapsulation overhead. */
  readonly podMtu: number;
  readonly encapOverhead: number;
  readonly vni: number;
  readonly nodes: readonly NodeNetwork[];
  /** Any of a node's own addresses to that node's index. */
  readonly nodeOfAddress: ReadonlyMap<number, number>;
  /** The node holding a pod address (by its blocks, or a borrowed address's /32), or -1. */
  podNode(ip: number): number;
}

/**
 * Blocks owned by each node: its pod CIDRs, plus (Calico) the blocks its Pod objects sit in, the
 * first pod of a block claiming it for its node; and Calico's borrowed addresses, pod address ->
 * node: pods whose address lies in a block another node holds (IPAM lends one when a node's own
 * blocks are full and strictAffinity is off). felix's route resolver gives each such allocation a
 * /32 route to the node that holds it (L3RouteResolver.routesFromBlock, the block's
 * NonAffineAllocations), which wins over the block's own route by its longer prefix, on the block's
 * owner too; BIRD exports the same /32 where BGP carries the routes.
 */
function ipamBlocks(cluster: Cluster): { blocks: Cidr[][]; borrowed: Map<number, number> } {
  const blocks = cluster.nodes.map((n) => [...n.podCIDRs]);
  const borrowed = new Map<number, number>();
  if (!cluster.network.cni.startsWith('calico')) return { blocks, borrowed };
  const pool = cluster.network.ipPools[0];
  for (const pod of cluster.pods) {
    if (pod.hostNetwork || pod.node < 0 || blocks[pod.node].some((c) => cidrContains(c, pod.ip))) continue;
    if (pool) {
      const block = { base: (pod.ip & prefixMask(pool.blockSize)) >>> 0, prefix: pool.blockSize };
      if (!blocks.some((list) => list.some((c) => c.base === block.base && c.prefix === block.prefix))) {
        blocks[pod.node].push(block);
        continue;
      }
    }
    if (blocks.some((list, node) => node !== pod.node && list.some((c) => cidrContains(c, pod.ip)))) borrowed.set(pod.ip >>> 0, pod.node);
  }
  return { blocks, borrowed };
}

export function buildPodNetwork(cluster: Cluster): PodNetworkPlan {
  const { cni, mtu } = cluster.network;
  const { blocks, borrowed } = ipamBlocks(cluster);
  const calico = cni.startsWith('calico');
  const tunnel = cni === 'calico-vxlan' || cni === 'calico-ipip' || cni === 'flannel-vxlan';
  const info = cluster.nodes.map((n, i) => {
    const first = blocks[i][0];
    return {
      primaryIp: n.internalIPs[0] ?? n.externalIPs[0] ?? 0,
      tunnelIp: tunnel && first ? first.base : 0,
      // kubenet's cbr0 and flannel's cni0 (its CNI delegates to the bridge plugin with
      // isGateway) hold the block's first host address, the pods' gateway.
      bridgeIp: (cni === 'kubenet' || cni === 'flannel-vxlan') && first ? (first.base + 1) >>> 0 : 0,
    };
  });
  const nodeOfAddress = new Map<number, number>();
  cluster.nodes.forEach((n, i) => {
    for (const ip of [...n.internalIPs, ...n.externalIPs, info[i].tunnelIp, info[i].bridgeIp]) if (ip) nodeOfAddress.set(ip, i);
  });

  const remoteKind = cni === 'calico-vxlan' ? RK_VXLAN : cni === 'calico-ipip' ? RK_IPIP : cni === 'flannel-vxlan' ? RK_FLANNEL : RK_UNDERLAY;
  // Calico's CrossSubnet: encapsulate only toward nodes outside this node's subnet (known from
  // the projectcalico.org/IPv4Address annotation); within the subnet, route directly.
  const pool = cluster.network.ipPools[0];
  const crossSubnet = pool !== undefined && (cni === 'calico-vxlan' ? pool.vxlanMode : cni === 'calico-ipip' ? pool.ipipMode : 'Never') === 'CrossSubnet';
  const sameSubnet = (i: number, j: number): boolean => {
    const a = cluster.nodes[i].subnet;
    return a !== undefined && cidrContains(a, info[j].primaryIp);
  };
  // How node i reaches node j's pods: the next hop is the remote tunnel's address for VXLAN
  // (ARP/FDB resolve it to the node's VTEP), and the remote node's underlay address for IPIP and
  // plain routing.
  const toward = (i: number, j: number): { kind: number; gateway: number } => {
    const kind = crossSubnet && sameSubnet(i, j) ? RK_UNDERLAY : remoteKind;
    return { kind, gateway: kind === RK_VXLAN || kind === RK_FLANNEL ? info[j].tunnelIp : info[j].primaryIp };
  };
  const nodes: NodeNetwork[] = cluster.nodes.map((n, i) => {
    const routes: RouteSpec[] = [{ cidr: { base: 0, prefix: 0 }, kind: RK_UNDERLAY }];
    const own = [...n.internalIPs, ...n.externalIPs, info[i].tunnelIp, info[i].bridgeIp].filter((ip) => ip !== 0);
    for (const ip of own) routes.push({ cidr: { base: ip, prefix: 32 }, kind: RK_LOCAL, node: i });
    // NodeLocal DNSCache's `nodelocaldns` dummy interface holds its listen addresses on every node.
    for (const ip of cluster.dns.nodeLocal?.listenIps ?? []) routes.push({ cidr: { base: ip, prefix: 32 }, kind: RK_LOCAL, node: i });
    for (const b of blocks[i]) routes.push({ cidr: b, kind: calico ? RK_VETH : RK_BRIDGE, node: i });
    cluster.nodes.forEach((m, j) => {
      if (j === i) return;
      for (const ip of [...m.internalIPs, ...m.externalIPs]) routes.push({ cidr: { base: ip, prefix: 32 }, kind: RK_UNDERLAY, node: j, gateway: ip });
      for (const b of blocks[j]) routes.push({ cidr: b, ...toward(i, j), node: j });
    });
    for (const [ip, j] of borrowed) routes.push({ cidr: { base: ip, prefix: 32 }, ...(j === i ? { kind: RK_VETH } : toward(i, j)), node: j });
    return {
      index: i,
      name: n.name,
      routes: RouteTable.build(dedupe(routes)),
      primaryIp: info[i].primaryIp,
      addresses: own,
      tunnelIp: info[i].tunnelIp,
      bridgeIp: info[i].bridgeIp,
      podBlocks: blocks[i],
    };
  });
  const overhead = kEncapOverhead[cni];
  const blockOwner = blocks.flatMap((list, node) => list.map((cidr) => ({ cidr, node })));
  return {
    cni,
    mtu,
    podMtu: mtu - overhead,
    encapOverhead: overhead,
    vni: cni === 'flannel-vxlan' ? kFlannelVni : kCalicoVni,
    nodes,
    nodeOfAddress,
    podNode(ip: number): number {
      const lent = borrowed.get(ip >>> 0);
      if (lent !== undefined) return lent;
      for (const b of blockOwner) if (cidrContains(b.cidr, ip)) return b.node;
      return -1;
    },
  };
}

/** A node address that is also inside a pod block must not appear twice with one prefix. */
function dedupe(routes: RouteSpec[]): RouteSpec[] {
  const seen = new Set<string>();
  return routes.filter((r) => {
    const key = `${r.cidr.base}/${r.cidr.prefix}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Interface names as the CNIs print them, for traces: `cali` + 11 hex, `veth` + 8 hex. */
/** The pods' bridge: kubenet's `cbr0`, flannel's `cni0` (the bridge plugin's default name). */
export function bridgeName(cni: Cni): string {
  return cni === 'flannel-vxlan' ? 'cni0' : 'cbr0';
}

export function vethName(cni: Cni, podIp: number): string {
  const hex = (podIp >>> 0).toString(16).padStart(8, '0');
  return cni.startsWith('calico') ? `cali${hex}${hex.slice(0, 3)}` : `veth${hex}`;
}
