/**
 * Turns what a person types (`10.0.0.2:40000`, `pod/NS/NAME`, `svc/NS/NAME:PORT`, a node
 * address, loopback) into a probe: addresses, ports, and where and how the packet enters.
 *
 * Where a packet enters follows the node's view: a Pod object's address enters from that pod's
 * veth on its node; any address in a node's pod blocks is a pod of that node; a node's own
 * address (or loopback) is the host network (OUTPUT); anything else is an external client
 * arriving at a node's NIC (the node named, or the one owning the destination address).
 */
import { findNode } from '../compile/node-addresses.js';
import { InvalidArgumentError } from '../errors.js';
import type { Cluster } from '../model/types.js';
import { cidrContains, parseIp } from '../net/ipv4.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD } from './pipeline.js';
import type { PodNetworkPlan } from './pod-network.js';
import type { Probe } from './trace.js';
import { parseProto, type Protocol } from '../net/proto.js';

export interface ProbeSpec {
  readonly src: string;
  readonly dst: string;
  readonly proto?: string;
  readonly node?: string;
}

export interface ResolvedProbe extends Probe {
  /** How the entry point was chosen, for people ("pod web-1 on node-1", "external, --node"). */
  readonly entryReason: string;
}

const kDefaultSourcePort = 40000;
const kLoopback = { base: 0x7f000000, prefix: 8 };

export function parseProtocol(text: string | undefined): Protocol {
  const proto = parseProto((text ?? 'tcp').toLowerCase());
  if (proto === undefined) throw new InvalidArgumentError(`protocol must be tcp, udp or sctp, not "${text}"`);
  return proto;
}

function splitPort(text: string, what: string): { host: string; port: number | undefined } {
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { host: text, port: undefined };
  const portText = text.slice(colon + 1);
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65535) throw new InvalidArgumentError(`${what} "${text}": the port must be 1-65535`);
  return { host: text.slice(0, colon), port };
}

interface Address {
  readonly ip: number;
  readonly port: number | undefined;
  readonly pod?: { readonly node: number; readonly name: string };
}

function resolveAddress(cluster: Cluster, text: string, what: string, proto: Protocol): Address {
  if (text.startsWith('pod/')) {
    const [, ns, rest] = text.split('/');
    if (!ns || !rest) throw new InvalidArgumentError(`${what} "${text}" is not pod/NAMESPACE/NAME[:PORT]`);
    const { host: name, port } = splitPort(rest, what);
    const pod = cluster.pods.find((p) => p.namespace === ns && p.name === name);
    if (!pod) throw new InvalidArgumentError(`${what} ${text}: no Pod ${ns}/${name} in the cluster file (pod/NAMESPACE/NAME needs Pod objects)`);
    return { ip: pod.ip, port, ...(pod.hostNetwork ? {} : { pod: { node: pod.node, name: `${ns}/${name}` } }) };
  }
  if (text.startsWith('svc/')) {
    const [, ns, rest] = text.split('/');
    if (!ns || !rest) throw new InvalidArgumentError(`${what} "${text}" is not svc/NAMESPACE/NAME[:PORT]`);
    const colon = rest.indexOf(':');
    const name = colon < 0 ? rest : rest.slice(0, colon);
    const portName = colon < 0 ? undefined : rest.slice(colon + 1);
    const svc = cluster.services.find((s) => s.namespace === ns && s.name === name);
    if (!svc) throw new InvalidArgumentError(`${what} ${text}: no Service ${ns}/${name}`);
    if (svc.clusterIPs.length === 0) throw new InvalidArgumentError(`${what} ${text}: the service has no ClusterIP (headless or ExternalName)`);
    const ports = svc.ports.map((p) => cluster.ports[p]);
    const port =
      portName === undefined
        ? ports.find((p) => p.protocol === proto)
        : ports.find((p) => p.name === portName || String(p.port) === portName);
    if (!port) {
      const names = ports.map((p) => p.name || String(p.port)).join(', ') || 'none';
      throw new InvalidArgumentError(`${what} ${text}: no such port (the service's ports: ${names})`);
    }
    return { ip: svc.clusterIPs[0], port: port.port };
  }
  const { host, port } = splitPort(text, what);
  const ip = parseIp(host);
  if (ip < 0) throw new InvalidArgumentError(`${what} "${text}" is not ADDR[:PORT], pod/NS/NAME or svc/NS/NAME[:PORT]`);
  const pod = cluster.pods.find((p) => p.ip === ip && !p.hostNetwork);
  return { ip, port, ...(pod ? { pod: { node: pod.node, name: `${pod.namespace}/${pod.name}` } } : {}) };
}

export function resolveProbe(cluster: Cluster, plan: PodNetworkPlan, spec: ProbeSpec): ResolvedProbe {
  const proto = parseProtocol(spec.proto);
  const src = resolveAddress(cluster, spec.src, 'source', proto);
  const dst = resolveAddress(cluster, spec.dst, 'destination', proto);
  if (dst.port === undefined) throw new InvalidArgumentError(`destination "${spec.dst}" needs a port (ADDR:PORT)`);
  let named = -1;
  if (spec.node !== undefined) {
    named = findNode(cluster, spec.node);
    if (named < 0 || !cluster.nodes[named].known) {
      throw new InvalidArgumentError(`--node ${spec.node}: no such Node (nodes: ${cluster.nodes.filter((n) => n.known).map((n) => n.name).join(', ')})`);
    }
  }
  const base = { proto, srcIp: src.ip, srcPort: src.port ?? kDefaultSourcePort, dstIp: dst.ip, dstPort: dst.port };
  const firstNode = cluster.nodes.findIndex((n) => n.known);
  if (firstNode < 0) throw new InvalidArgumentError('the cluster has no Node objects: kdp needs at least one node to trace on');
  if (src.pod && src.pod.node >= 0) {
    return { ...base, node: src.pod.node, entry: ENTRY_POD, entryReason: `from pod ${src.pod.name}'s veth on ${cluster.nodes[src.pod.node].name}` };
  }
  const hostNode = plan.nodeOfAddress.get(src.ip);
  if (hostNode !== undefined) {
    if (named >= 0 && named !== hostNode) throw new InvalidArgumentError(`source ${spec.src} is an address of node ${cluster.nodes[hostNode].name}, not of --node ${spec.node}`);
    return { ...base, node: hostNode, entry: ENTRY_HOST, entryReason: `from the host network of ${cluster.nodes[hostNode].name} (OUTPUT)` };
  }
  if (cidrContains(kLoopback, src.ip)) {
    const node = named >= 0 ? named : firstNode;
    return { ...base, node, entry: ENTRY_HOST, entryReason: `from loopback on ${cluster.nodes[node].name} (OUTPUT)` };
  }
  if (named >= 0) {
    const ownPod = plan.nodes[named].podBlocks.some((b) => cidrContains(b, src.ip));
    return ownPod
      ? { ...base, node: named, entry: ENTRY_POD, entryReason: `from a pod address of ${spec.node} (its veth)` }
      : { ...base, node: named, entry: ENTRY_EXTERNAL, entryReason: `from outside, arriving at ${spec.node} (PREROUTING)` };
  }
  const podNode = plan.podNode(src.ip);
  if (podNode >= 0) return { ...base, node: podNode, entry: ENTRY_POD, entryReason: `from a pod address of ${cluster.nodes[podNode].name} (its veth)` };
  const dstNode = plan.nodeOfAddress.get(dst.ip);
  const node = dstNode ?? firstNode;
  return {
    ...base,
    node,
    entry: ENTRY_EXTERNAL,
    entryReason: dstNode !== undefined ? `from outside, arriving at ${cluster.nodes[node].name}, which owns the destination` : `from outside, arriving at ${cluster.nodes[node].name} (the first node; --node chooses another)`,
  };
}
