/**
 * The kernel baseline for the benchmark: what the real Linux kernel pays, with kdp's rendering of
 * a synthetic cluster's rules loaded, for rule loading and for the first packet of a new flow.
 *
 * Inside a sandbox of three namespaces (client -- node -- sink, veth pairs, nothing else; see
 * sandbox.ts for the safety rules), for one synthetic cluster:
 *
 * - rule-load time: `iptables-restore` / `nft -f` of the full rendering, median of 3 loads
 *   (process wall time, as kube-proxy pays it) -> `sync.fullMs`;
 * - new-flow cost: `flows` new UDP flows (one datagram each, distinct source ports) sent from a
 *   pod address to the ClusterIP of the FIRST and of the LAST UDP service port of KUBE-SERVICES,
 *   conntrack flushed before each run, timed in the sender (flood.ts); minus the same flows with
 *   no ruleset loaded at all (routing, veth and syscall cost, no conntrack). Per run the cost is
 *   the mean of first and last (what a uniformly chosen service costs under a linear scan), and
 *   `newFlow.nsPerFlow` is the median over runs -> comparable to kdp's `newFlow.nsPerFlow`.
 *   First, last and baseline are also in `counters`.
 *
 * - one-endpoint apply: kube-proxy's payload for one endpoint turning unready applied into a table
 *   already holding the rules (kernel-apply.ts: iptables-legacy and iptables-nft, or nft), median
 *   of 5 -> `sync.oneEndpointMs` for the backend `iptables-restore` is here; every backend's in
 *   `counters.apply<Backend>{Full,Partial}Ms`, `...PartialBytes`.
 *
 * Fields not measured here are 0; see `counters.measured` (1) per field group in the note below.
 */
import { fileURLToPath } from 'node:url';
import { categorizeEndpoints } from '../compile/topology.js';
import { buildPodNetwork } from '../dataplane/pod-network.js';
import { generateCluster } from '../model/synthetic.js';
import { shouldSkipService, type Cluster, type ModeName } from '../model/types.js';
import { formatCidr, formatIp } from '../net/ipv4.js';
import { PROTO_UDP } from '../net/proto.js';
import type { CellResult } from '../report/result.js';
import { median, spreadOf } from '../report/spread.js';
import { planAddresses } from './probes.js';
import { kernelMode, missingRequirements } from './requirements.js';
import { loadRules } from './rules.js';
import { measureKernelApply } from './kernel-apply.js';
import { Sandbox } from './sandbox.js';

export interface KernelBaselineOptions {
  readonly services: number;
  readonly endpointsPerService: number;
  readonly seed: number;
  /** A mode whose rules the kernel loads (ProxyMode.kernel). */
  readonly mode: ModeName;
  /** Nodes of the synthetic cluster (default 3) and its CNI (default the generator's). */
  readonly nodes?: number;
  readonly cni?: Cluster['network']['cni'];
  /** New flows per run (default 2000) and runs (default 5). */
  readonly flows?: number;
  readonly runs?: number;
  /** Told each apply backend that was not measured, and why (kernel-apply.ts). */
  readonly log?: (line: string) => void;
}

const floodPath = fileURLToPath(new URL('./flood.js', import.meta.url));

/**
 * The ClusterIP:port of the first and the last UDP service port with endpoints, in the order
 * kube-proxy writes Services (its nat KUBE-SERVICES rules in iptables mode, where the first is
 * met after one rule and the last after all of them; test/verify/kernel-bench.test.ts checks that
 * the two orders agree). A hash mode meets both at the same cost.
 */
export function firstAndLastUdpService(cluster: Cluster): { first: [number, number]; last: [number, number] } | undefined {
  const found: [number, number][] = [];
  for (const svc of cluster.services) {
    if (shouldSkipService(svc)) continue;
    for (const p of svc.ports) {
      const port = cluster.ports[p];
      if (port.protocol === PROTO_UDP && categorizeEndpoints(cluster, port, 0).hasAnyEndpoints) found.push([svc.clusterIPs[0], port.port]);
    }
  }
  return found.length === 0 ? undefined : { first: found[0], last: found[found.length - 1] };
}

export async function runKernelBaseline(options: KernelBaselineOptions): Promise<CellResult | { skipped: string }> {
  const missing = missingRequirements(options.mode);
  if (missing.length > 0) return { skipped: `the kernel baseline was not measured: missing ${missing.join('; ')}` };
  const mode = kernelMode(options.mode)!;
  const flows = options.flows ?? 2000;
  const runs = options.runs ?? 5;
  const cluster = generateCluster({
    services: options.services,
    endpoints: options.endpointsPerService,
    nodes: options.nodes ?? 3,
    seed: options.seed,
    mode: options.mode,
    ...(options.cni ? { cni: options.cni } : {}),
  });
  const targets = firstAndLastUdpService(cluster);
  if (!targets) return { skipped: 'the kernel baseline was not measured: the cluster has no UDP service with endpoints' };
  const plan = planAddresses(cluster, 0, buildPodNetwork(cluster).nodes[0].podBlocks);
  const client = formatIp(plan.podClient);
  const sandbox = new Sandbox();
  try {
    const node = await sandbox.addNamespace('node');
    const cns = await sandbox.addNamespace('client');
    const sink = await sandbox.addNamespace('sink');
    await sandbox.sysctl(node, { 'net.ipv4.ip_forward': 1, 'net.ipv4.conf.all.rp_filter': 0, 'net.ipv4.conf.default.rp_filter': 0, 'net.ipv4.conf.all.send_redirects': 0, 'net.ipv4.conf.default.send_redirects': 0 });
    for (const ns of [cns, sink]) await sandbox.sysctl(ns, { 'net.ipv4.conf.all.rp_filter': 0, 'net.ipv4.conf.default.rp_filter': 0 });
    await sandbox.addVeth(node, cns, { a: 'kvclient', b: 'eth0' });
    await sandbox.addVeth(node, sink, { a: 'kvsink', b: 'eth0' });
    await sandbox.ipBatch(cns, [`address add ${client}/32 dev eth0`, 'address add 169.254.1.2/32 scope link dev eth0', 'route add 169.254.1.1/32 dev eth0 scope link', 'route add default via 169.254.1.1 dev eth0 onlink']);
    await sandbox.ipBatch(sink, ['address add 169.254.4.2/32 scope link dev eth0']);
    const nodeLines = [
      'address add 169.254.1.1/32 scope link dev kvclient',
      'address add 169.254.4.1/32 scope link dev kvsink',
      ...cluster.nodes[0].internalIPs.map((ip) => `address add ${formatIp(ip)}/32 dev lo`),
      `route add ${client}/32 via 169.254.1.2 dev kvclient onlink`,
    ];
    // Every cluster address (pods, endpoints, services) ends in the sink, which drops it silently.
    const sinkCidrs = new Set([...cluster.proxy.clusterCIDRs, ...cluster.serviceCIDRs, ...cluster.nodes.flatMap((n) => n.podCIDRs)].map(formatCidr));
    for (const ip of plan.serviceAddresses) sinkCidrs.add(`${formatIp(ip)}/32`);
    for (const c of sinkCidrs) nodeLines.push(`route replace ${c} via 169.254.4.2 dev kvsink onlink`);
    nodeLines.push(`route replace ${client}/32 via 169.254.1.2 dev kvclient onlink`);
    await sandbox.ipBatch(node, nodeLines);

    const flood = async (dst: [number, number]): Promise<number> => {
      const req = { src: client, firstPort: 20000, flows, dst: formatIp(dst[0]), dport: dst[1] };
      const r = await sandbox.exec(cns, process.execPath, [floodPath, JSON.stringify(req)], { timeoutMs: 120_000 });
      if (r.status !== 0) throw new Error(`flood sender failed: ${r.stderr.trim()}`);
      const out = JSON.parse(r.stdout) as { ns: number; flows: number };
      return out.ns / out.flows;
    };
    // Baseline: no ruleset has ever been loaded in this namespace (no conntrack either).
    await flood(targets.first); // warm-up: ARP, route cache, JIT
    const baseline: number[] = [];
    for (let i = 0; i < runs; i++) baseline.push(await flood(i % 2 ? targets.last : targets.first));

    const text = mode.kernel.render(cluster, 0);
    const loads: number[] = [];
    let lines = 0;
    let stripped = 0;
    for (let i = 0; i < 3; i++) {
      const l = await loadRules(sandbox, node, mode, text);
      loads.push(l.ms);
      lines = l.lines;
      stripped = l.stripped.length;
    }
    const first: number[] = [];
    const last: number[] = [];
    const perRun: number[] = [];
    const base = median(baseline);
    await sandbox.exec(node, 'conntrack', ['-F']);
    await flood(targets.first); // warm-up with rules
    for (let i = 0; i < runs; i++) {
      await sandbox.exec(node, 'conntrack', ['-F']);
      const f = await flood(targets.first);
      await sandbox.exec(node, 'conntrack', ['-F']);
      const l = await flood(targets.last);
      first.push(f);
      last.push(l);
      perRun.push(Math.max(0, (f + l) / 2 - base));
    }
    const newFlowNs = median(perRun);
    // The kernel's apply of a one-endpoint sync into this table size (kernel-apply.ts), per backend.
    const apply = await measureKernelApply(mode, options.services, options.endpointsPerService, options.seed);
    for (const why of apply.skipped) options.log?.(`one-endpoint apply not measured: ${why}`);
    const applyCounters: Record<string, number> = {};
    for (const f of apply.figures) {
      const k = f.backend.replace(/(^|-)([a-z])/g, (_, _d: string, c: string) => c.toUpperCase());
      applyCounters[`apply${k}FullMs`] = f.fullMs;
      applyCounters[`apply${k}PartialMs`] = f.partialMs;
      applyCounters[`apply${k}PartialMsMin`] = f.partialMsMin;
      applyCounters[`apply${k}PartialMsMax`] = f.partialMsMax;
      applyCounters[`apply${k}PartialBytes`] = f.partialBytes;
    }
    // The cell's one-endpoint figure: the backend the rules were loaded with (what `iptables-restore`
    // is here, legacy or nf_tables; or nft), told by the load tool's --version.
    const version = (await sandbox.exec(node, mode.kernel.tool, ['--version'])).stdout;
    const ownBackend = mode.kernel.apply?.backends.find((b) => b.version.test(version))?.name;
    const own = apply.figures.find((f) => f.backend === ownBackend);
    const result: CellResult = {
      schema: 1,
      mode: `kernel-${options.mode}`,
      services: options.services,
      endpointsPerService: options.endpointsPerService,
      cni: cluster.network.cni,
      workers: 1,
      flows,
      seed: options.seed,
      zipf: 0,
      finishedAt: new Date().toISOString(),
      packets: flows * (2 * runs + 2 + runs),
      wireBytes: 0,
      gbitPerSecond: 0,
      newFlow: { nsPerFlow: newFlowNs, perSecond: newFlowNs > 0 ? 1e9 / newFlowNs : 0, spread: spreadOf(perRun) },
      established: { packetsPerSecond: 0, nsPerPacket: 0 },
      sync: { fullMs: median(loads), oneEndpointMs: own?.partialMs ?? 0, oneEndpointRewrittenBytes: own?.partialBytes ?? 0 },
      memory: { tableBytes: 0, conntrackBytesPerEntry: 0 },
      limits: { randomReadNs: 0, scanNsPerElement: 0 },
      counters: {
        firstServiceNsPerFlow: median(first) - base,
        lastServiceNsPerFlow: median(last) - base,
        baselineNsPerFlow: base,
        firstServiceRawNsPerFlow: median(first),
        lastServiceRawNsPerFlow: median(last),
        ruleLoadMsMin: Math.min(...loads),
        ruleLoadMsMax: Math.max(...loads),
        renderedLines: lines,
        strippedLines: stripped,
        runs,
        // 1 = measured; 0 = not measured by the kernel baseline (the field is 0).
        measuredNewFlow: 1,
        measuredFullSync: 1,
        measuredEstablished: 0,
        // sync.oneEndpointMs: the kernel's apply of the one-endpoint payload (kernel-apply.ts).
        measuredOneEndpointSync: own ? 1 : 0,
        ...applyCounters,
        measuredMemory: 0,
      },
      decisionChecksum: '',
    };
    return result;
  } finally {
    sandbox.disposeSync();
  }
}
