/**
 * `kdp trace --node-state DIR|FILE... --src --dst`: a packet through the rules read from a real
 * node instead of a cluster's compiled rules (src/dataplane/node-trace.ts), with a cluster file
 * beside it to name the Services and endpoints its DNAT targets are.
 */
import { HOOK_OUTPUT, HOOK_PREROUTING } from '../compile/dataplane.js';
import { findNode } from '../compile/node-addresses.js';
import { buildPodNetwork } from '../dataplane/pod-network.js';
import { ENTRY_HOST, ENTRY_POD } from '../dataplane/pipeline.js';
import { parseProtocol, resolveProbe } from '../dataplane/resolve.js';
import { traceNodeState, type NodePacket, type NodeTraceResult } from '../dataplane/node-trace.js';
import { EngineError, UsageError } from '../errors.js';
import type { Cluster } from '../model/types.js';
import { parseIp } from '../net/ipv4.js';
import { choiceOption, EXIT_INVALID, EXIT_OK } from './command.js';
import { requireCluster } from './cluster-file.js';
import { nodeStateOrReport, readNodeStateFiles } from './node-state.js';

export interface NodeTraceArgs {
  readonly nodeState: readonly string[];
  readonly cluster?: string;
  readonly src: string;
  readonly dst: string;
  readonly proto?: string;
  readonly node?: string;
  readonly from?: string;
  readonly iif?: string;
  readonly oif?: string;
  readonly json: boolean;
  readonly seed: number;
}

/** The node the files came from: --node, else the cluster's first node. */
export function nodeOfState(cluster: Cluster | undefined, name: string | undefined): { index: number | undefined; name: string } {
  if (!cluster) return { index: undefined, name: name ?? 'the node' };
  const known = cluster.nodes.filter((n) => n.known);
  if (known.length === 0) throw new UsageError('the cluster has no Node objects to map the node state to; leave the cluster file out, or add the Node');
  if (name === undefined) return { index: known[0].index, name: known[0].name };
  const n = findNode(cluster, name);
  if (n < 0 || !cluster.nodes[n].known) throw new UsageError(`--node ${name}: no such Node (nodes: ${known.map((k) => k.name).join(', ')})`);
  return { index: n, name: cluster.nodes[n].name };
}

function addr(text: string, what: string): { ip: number; port: number | undefined } {
  const m = /^([\d.]+)(?::(\d+))?$/.exec(text);
  const ip = m ? parseIp(m[1]) : -1;
  const port = m?.[2] === undefined ? undefined : Number(m[2]);
  if (ip < 0 || (port !== undefined && (port < 1 || port > 65535))) throw new UsageError(`${what} "${text}" is not ADDR[:PORT] (without a cluster file, names such as svc/NS/NAME cannot be resolved)`);
  return { ip: ip >>> 0, port };
}

export async function runNodeStateTrace(a: NodeTraceArgs): Promise<number> {
  const cluster = a.cluster ? await requireCluster(a.cluster, true) : undefined;
  if (a.cluster && !cluster) return EXIT_INVALID;
  const node = nodeOfState(cluster, a.node);
  const from = a.from === undefined ? undefined : choiceOption(a.from, 'from', ['pod', 'host', 'outside'] as const, 'outside');
  let packet: NodePacket;
  try {
    const proto = parseProtocol(a.proto);
    if (cluster && node.index !== undefined) {
      const p = resolveProbe(cluster, buildPodNetwork(cluster), { src: a.src, dst: a.dst, proto: a.proto, node: node.name });
      // The files are this node's: a packet entering elsewhere meets them only as one arriving from outside.
      const entry = from === undefined ? (p.node === node.index ? p.entry : -1) : from === 'pod' ? ENTRY_POD : from === 'host' ? ENTRY_HOST : -1;
      packet = { proto, srcIp: p.srcIp, srcPort: p.srcPort, dstIp: p.dstIp, dstPort: p.dstPort, hook: entry === ENTRY_HOST ? HOOK_OUTPUT : HOOK_PREROUTING, fromPodInterface: entry === ENTRY_POD, ...ifaces(a) };
    } else {
      const s = addr(a.src, 'source');
      const d = addr(a.dst, 'destination');
      if (d.port === undefined) throw new UsageError(`destination "${a.dst}" needs a port (ADDR:PORT)`);
      const host = from === 'host' || (from === undefined && s.ip >>> 24 === 127);
      packet = { proto, srcIp: s.ip, srcPort: s.port ?? 40000, dstIp: d.ip, dstPort: d.port, hook: host ? HOOK_OUTPUT : HOOK_PREROUTING, fromPodInterface: from === 'pod', ...ifaces(a) };
    }
  } catch (err) {
    if (err instanceof EngineError && !(err instanceof UsageError)) throw new UsageError(err.message);
    throw err;
  }
  const files = await readNodeStateFiles(a.nodeState);
  const dp = nodeStateOrReport('trace', files, cluster, node.index);
  if (!dp) return EXIT_INVALID;
  const result = traceNodeState(dp, packet, { ...(cluster ? { cluster } : {}), nodeName: node.name, rand: a.seed });
  process.stdout.write(a.json ? `${JSON.stringify(result, null, 2)}\n` : renderNodeTrace(result));
  return EXIT_OK;
}

function ifaces(a: NodeTraceArgs): { iif?: string; oif?: string } {
  return { ...(a.iif ? { iif: a.iif } : {}), ...(a.oif ? { oif: a.oif } : {}) };
}

export function renderNodeTrace(r: NodeTraceResult): string {
  let out = `packet: ${r.packet.protocol} ${r.packet.src} > ${r.packet.dst}, ${r.mode} rules read from ${r.node}\n`;
  out += r.service
    ? `service ${r.service}: ${r.decision}${r.endpoint ? ` to ${r.endpoint}` : ''}; candidates ${r.candidates.join(', ') || 'none'}; masquerade ${r.masquerade ? 'yes' : 'no'}\n`
    : `decision: ${r.decision}${r.candidates.length ? `; candidates ${r.candidates.join(', ')}` : ''}${r.masquerade ? '; masquerade yes' : ''}\n`;
  r.hops.forEach((h, k) => (out += `  ${String(k + 1).padStart(2)}. ${h.at.padEnd(28)} ${h.action}\n`));
  if (r.unknownAt) out += `kdp stops knowing at ${r.unknownAt}\n`;
  out += `verdict: ${r.verdict}${r.dropReason ? ` (${r.dropReason})` : ''}\n`;
  return out;
}
