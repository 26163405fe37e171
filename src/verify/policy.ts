/**
 * `kdp verify --policy`: the real kernel as referee of Calico's policy on one node.
 *
 * A sandbox of namespaces (sandbox.ts: kdp's own, deleted by name on exit or failure) holds the
 * node, one namespace per workload on it, joined to the node by a veth named as Calico names it
 * (`cali…`, the pod's side `eth0`, a /32 route, 169.254.1.1 as the pods' gateway), and one
 * "remote" namespace holding every other pod address and an outside address, joined by a plain
 * veth (the underlay). The node gets felix's chains and sets as kdp renders them
 * (compile/calico-policy/render.ts), loaded by the real `ipset restore` and `iptables-restore`.
 * Every namespace answers on the probe ports (responder.js); each probe is a TCP connect from one
 * address to another (agent.js), at least one end a workload of this node.
 *
 * The kernel's verdict (answered = allowed, no answer = dropped) is compared with `kdp trace`'s
 * for the same connection, on this node: its egress verdict when the sender is local, its
 * ingress verdict when the receiver is; a probe whose sender's own node denies it in kdp is not
 * comparable here (that node's rules are not in the sandbox) and is counted apart.
 */
import { fileURLToPath } from 'node:url';
import { renderFelix } from '../compile/calico-policy/render.js';
import { modeOf } from '../compile/index.js';
import { CompiledCluster } from '../dataplane/compiled-cluster.js';
import { PipelineContext } from '../dataplane/context.js';
import { ENTRY_EXTERNAL, ENTRY_POD } from '../dataplane/pipeline.js';
import { vethName } from '../dataplane/pod-network.js';
import { tracePacket } from '../dataplane/trace.js';
import { EnvironmentError, InvalidArgumentError } from '../errors.js';
import type { Cluster } from '../model/types.js';
import { formatIp } from '../net/ipv4.js';
import { PROTO_TCP } from '../net/proto.js';
import type { AgentOutcome, AgentProbe, AgentRequest } from './agent.js';
import { Sandbox } from './sandbox.js';

const responderPath = fileURLToPath(new URL('./responder.js', import.meta.url));
const agentPath = fileURLToPath(new URL('./agent.js', import.meta.url));

/** An address outside the cluster that probes come from and go to. */
const kOutside = '203.0.113.77';

export interface PolicyProbeResult {
  readonly src: string;
  readonly dst: string;
  readonly kernel: 'allowed' | 'dropped' | 'error';
  readonly kdp: 'allowed' | 'dropped';
  /** kdp's policy verdicts on this node, as the trace JSON gives them. */
  readonly policy: string;
  readonly agree: boolean;
}

export interface PolicyVerifyReport {
  readonly node: string;
  readonly workloads: number;
  readonly probes: PolicyProbeResult[];
  readonly disagreements: PolicyProbeResult[];
  /** Probes the sender's own node denies in kdp (not comparable on this node). */
  readonly notComparable: number;
  readonly ok: boolean;
}

export interface PolicyVerifyOptions {
  readonly node?: number;
  /** TCP ports probed (default: 80, 8080 and every named container port of the node's pods). */
  readonly ports?: readonly number[];
  /** Most probes sent (default 400). */
  readonly maxProbes?: number;
  readonly probeTimeoutMs?: number;
  readonly log?: (line: string) => void;
}

export async function verifyPolicy(cluster: Cluster, options: PolicyVerifyOptions = {}): Promise<PolicyVerifyReport> {
  const node = options.node ?? 0;
  const log = options.log ?? (() => undefined);
  // Policy is the CNI's, whatever proxies Services: the cluster's own mode carries the probes.
  const compiled = new CompiledCluster(cluster, modeOf(cluster).name);
  const tables = compiled.policy;
  if (!tables) throw new InvalidArgumentError(cluster.policies.length === 0 ? 'the file has no network policy to verify' : `the pod network is ${cluster.network.cni}, which enforces no policy`);
  const cni = cluster.network.cni;
  const local: number[] = [];
  const remote: number[] = [];
  for (let w = 0; w < tables.workloadIp.length; w++) (tables.workloadNode[w] === node ? local : remote).push(w);
  if (local.length === 0) throw new InvalidArgumentError(`node ${cluster.nodes[node]?.name ?? node} has no workload to police`);
  if (local.length > 40) throw new InvalidArgumentError(`node ${cluster.nodes[node]?.name} has ${local.length} workloads; kdp verify --policy builds one namespace each and takes at most 40`);
  const ports = [...new Set(options.ports ?? [80, 8080, ...local.flatMap((w) => cluster.pods[tables.workloadPod[w]].namedPorts.filter((p) => p.protocol === PROTO_TCP).map((p) => p.port))])].sort((a, b) => a - b);
  const rendering = renderFelix(tables, cluster, node);

  const sandbox = new Sandbox();
  try {
    const nodeNs = await sandbox.addNamespace('node');
    await sandbox.sysctl(nodeNs, { 'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.rp_filter': 0, 'net.ipv4.conf.default.rp_filter': 0 });
    // The gateway every namespace routes through: an address of the node, so the node answers its ARP.
    await sandbox.ipBatch(nodeNs, ['address add 169.254.1.1/32 dev lo']);
    const podNs: string[] = [];
    for (let k = 0; k < local.length; k++) {
      const ip = formatIp(tables.workloadIp[local[k]]);
      const ns = await sandbox.addNamespace(`pod${k}`);
      podNs.push(ns);
      const iface = vethName(cni, tables.workloadIp[local[k]]);
      await sandbox.addVeth(nodeNs, ns, { a: iface, b: 'eth0' });
      // Calico's plumbing: the pod routes everything to 169.254.1.1 on eth0, which the node answers for.
      await sandbox.ipBatch(ns, [`address add ${ip}/32 dev eth0`, 'route add 169.254.1.1 dev eth0 scope link', 'route add default via 169.254.1.1 dev eth0']);
      await sandbox.ipBatch(nodeNs, [`route add ${ip}/32 dev ${iface}`]);
    }
    const remoteNs = await sandbox.addNamespace('remote');
    await sandbox.addVeth(nodeNs, remoteNs, { a: 'wire0', b: 'eth0' });
    const remoteIps = [...remote.map((w) => formatIp(tables.workloadIp[w])), kOutside];
    await sandbox.ipBatch(remoteNs, [...remoteIps.map((ip) => `address add ${ip}/32 dev eth0`), 'route add 169.254.1.1 dev eth0 scope link', 'route add default via 169.254.1.1 dev eth0']);
    await sandbox.ipBatch(nodeNs, remoteIps.map((ip) => `route add ${ip}/32 dev wire0`));

    const sets = await sandbox.exec(nodeNs, 'ipset', ['restore'], { input: rendering.ipset });
    if (sets.status !== 0) throw new EnvironmentError(`ipset restore failed: ${sets.stderr.trim().slice(0, 300)}`);
    const rules = await sandbox.exec(nodeNs, 'iptables-restore', [], { input: rendering.iptables });
    if (rules.status !== 0) throw new EnvironmentError(`iptables-restore failed: ${rules.stderr.trim().slice(0, 300)}`);
    log(`kdp verify --policy: ${rendering.rules} rules in ${rendering.chains} chains and ${rendering.ipset.split('\n').filter((l) => l.startsWith('create ')).length} sets loaded on ${cluster.nodes[node].name}; ${local.length} workloads, ${remoteIps.length} remote addresses`);

    const portsArg = JSON.stringify({ tcp: ports, udp: [] });
    const responders = [...podNs, remoteNs].map((ns) => sandbox.start(ns, process.execPath, [responderPath, portsArg], 120_000));
    // Every listener is up before the first probe leaves (a bounded wait: at most 10 s a namespace).
    for (const ns of [...podNs, remoteNs]) {
      for (let attempt = 0; ; attempt++) {
        const ss = await sandbox.exec(ns, 'ss', ['-H', '-l', '-t', '-n']);
        if (ss.status === 0 && ports.every((p) => ss.stdout.includes(`:${p} `))) break;
        if (attempt >= 100) throw new EnvironmentError(`the responder in ${ns} did not listen on ${ports.join(', ')} within 10 s`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    // Probes: local -> every address, every address -> local, bounded.
    const localIps = local.map((w) => formatIp(tables.workloadIp[w]));
    const pairs: [string, string, number][] = [];
    for (const port of ports) {
      for (const s of localIps) for (const d of [...localIps, ...remoteIps]) if (s !== d) pairs.push([s, d, port]);
      for (const s of remoteIps) for (const d of localIps) pairs.push([s, d, port]);
    }
    const chosen = pairs.slice(0, options.maxProbes ?? 400);
    const nsOf = (ip: string): string => (localIps.includes(ip) ? podNs[localIps.indexOf(ip)] : remoteNs);
    const bySource = new Map<string, AgentProbe[]>();
    chosen.forEach(([s, d, port], id) => {
      const ns = nsOf(s);
      const list = bySource.get(ns) ?? [];
      list.push({ id, proto: 'tcp', src: s, sport: 20000 + id, dst: d, dport: port });
      bySource.set(ns, list);
    });
    const outcomes = new Map<number, AgentOutcome>();
    for (const [ns, probes] of bySource) {
      const req: AgentRequest = { probes, timeoutMs: options.probeTimeoutMs ?? 400, concurrency: 64 };
      const r = await sandbox.exec(ns, process.execPath, [agentPath], { input: JSON.stringify(req), timeoutMs: 120_000 });
      if (r.status !== 0) throw new EnvironmentError(`probe agent in ${ns} failed (status ${r.status}): ${r.stderr.trim().slice(0, 300)}`);
      for (const o of JSON.parse(r.stdout) as AgentOutcome[]) outcomes.set(o.id, o);
    }
    for (const r of responders) await r.stop();

    // kdp's verdicts for the same connections, each in a fresh context (a new flow).
    const results: PolicyProbeResult[] = [];
    let notComparable = 0;
    chosen.forEach(([s, d, port], id) => {
      const ctx = new PipelineContext(compiled);
      const srcIp = ipNumber(s);
      const fromPod = tables.workload(srcIp);
      const entryNode = fromPod >= 0 ? tables.workloadNode[fromPod] : node;
      const { result } = tracePacket(ctx, { proto: PROTO_TCP, srcIp, srcPort: 20000 + id, dstIp: ipNumber(d), dstPort: port, node: entryNode, entry: fromPod >= 0 ? ENTRY_POD : ENTRY_EXTERNAL });
      const srcLocal = localIps.includes(s);
      const dstLocal = localIps.includes(d);
      // The sender's own node (not this one) denied it: the sandbox cannot judge that.
      if (!srcLocal && result.policy.egress.verdict === 'deny') {
        notComparable++;
        return;
      }
      const deniedHere = (srcLocal && result.policy.egress.verdict === 'deny') || (dstLocal && result.policy.ingress.verdict === 'deny');
      const kdp = deniedHere ? 'dropped' : 'allowed';
      const o = outcomes.get(id);
      const kernel = o?.outcome === 'answered' ? 'allowed' : o?.outcome === 'timeout' ? 'dropped' : 'error';
      if (kernel === 'error') log(`kdp verify --policy: probe ${s} -> ${d}:${port}: ${o?.outcome ?? 'no outcome'} ${o?.code ?? ''}`);
      const policy = `egress ${result.policy.egress.verdict}${result.policy.egress.policy ? ` (${result.policy.egress.policy})` : ''}, ingress ${result.policy.ingress.verdict}${result.policy.ingress.policy ? ` (${result.policy.ingress.policy})` : ''}`;
      results.push({ src: s, dst: `${d}:${port}`, kernel, kdp, policy, agree: kernel === kdp });
    });
    const disagreements = results.filter((r) => !r.agree);
    return { node: cluster.nodes[node].name, workloads: local.length, probes: results, disagreements, notComparable, ok: disagreements.length === 0 && results.length > 0 };
  } finally {
    await sandbox.dispose();
  }
}

function ipNumber(text: string): number {
  return text.split('.').reduce((a, o) => a * 256 + Number(o), 0) >>> 0;
}
