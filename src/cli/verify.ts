/**
 * `kdp verify`: the real Linux kernel as referee of kdp's iptables and nftables decisions.
 */
import { modeOf } from '../compile/index.js';
import { findNode } from '../compile/node-addresses.js';
import { kernelModes, missingRequirements } from '../verify/requirements.js';
import { formatReport } from '../verify/format.js';
import { runVerify } from '../verify/verify.js';
import { verifyPolicy } from '../verify/policy.js';
import { spawnSync } from 'node:child_process';
import type { Cluster } from '../model/types.js';
import { requireCluster } from './cluster-file.js';
import { choiceOption, EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_UNAVAILABLE, intOption, parse, type Command } from './command.js';
import { UsageError } from '../errors.js';

const help = `Usage: kdp verify FILE --mode iptables|nftables [options]

Loads kdp's rendering of one node's rules into the real Linux kernel, inside network namespaces
of its own, sends probe packets, reads what the kernel did from its conntrack table, and
compares every probe with kdp's trace of the same packet: the kernel's endpoint must be among
kdp's candidates, masquerade must agree, and so must reject and drop. Over many flows to one
service, both sides' endpoint distributions must be uniform (chi-square, p >= 0.001).

Probes: every edge case kdp derives from the cluster (each service port from a pod and from the
host, a wrong port, NodePorts from outside, from a pod and from the host, load-balancer IPs from
inside and outside loadBalancerSourceRanges, external IPs, hairpin from an endpoint to its own
service, services without endpoints, an unallocated NodePort), N random flows, and a few hundred
flows to the service with the most endpoints.

Network safety: traffic only between namespaces this command creates (kdpv-<pid>-*), joined to
each other by veth pairs and to nothing else; all of them are deleted on exit, error or Ctrl-C.
Each namespace records its owner (pid and start time); a run first removes the kdpv- namespaces
of runs that were killed (owner gone) and the processes left in them, never another live run's.
Helpers inside the namespaces die with kdp (a lifeline pipe), even after SIGKILL.
Needs root, ip (iproute2), sysctl, conntrack, and iptables-restore or nft.

Options:
  --mode MODE     iptables | nftables      [default: the cluster's KubeProxyConfiguration mode]
  --node NAME     the node whose rules are loaded          [default: the first node]
  --probes N      random flows on top of the edge cases (0-50000)          [default: 200]
  --seed S        seed of the random sample (0-4294967295)                 [default: 1]
  --policy        instead of the Services: Calico's network policy on --node. felix's chains and
                  sets as kdp renders them (kdp compile --policy) are loaded into the node's
                  namespace, each of its workloads gets a namespace behind its cali veth, every
                  other pod address and an outside one sit behind the underlay, and TCP probes
                  between them (each port the node's pods name, 80, 8080) must meet the kernel's
                  verdict where kdp trace says (needs ipset and ss too)
  --json          the full report as JSON on standard output
  -h, --help      this text

Exit status: 0 the kernel agrees with kdp on every probe; 1 a disagreement (each is printed
with both views); 2 bad usage or an invalid cluster file; 3 not root, or a tool is missing or
fails (ip netns, iptables-restore or nft, conntrack).

Example:
  kdp generate --services 200 --endpoints 3 --nodes 3 -o c.json
  sudo kdp verify c.json --mode nftables --probes 1000
`;

export const verifyCommand: Command = {
  name: 'verify',
  summary: 'check kdp against the real Linux kernel (iptables, nftables; needs root)',
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, {
      mode: { type: 'string' },
      node: { type: 'string' },
      probes: { type: 'string' },
      seed: { type: 'string' },
      json: { type: 'boolean' },
      policy: { type: 'boolean' },
    });
    if (positionals.length > 1) throw new UsageError(`unexpected argument "${positionals[1]}"`);
    const probes = intOption(values.probes, 'probes', 200, 0, 50_000);
    const seed = intOption(values.seed, 'seed', 1, 0, 0xffffffff);
    const cluster = await requireCluster(positionals[0], true);
    if (!cluster) return EXIT_INVALID;
    if (values.policy) return runPolicy(cluster, values.node, values.json === true);
    const kernel = kernelModes().map((m) => m.name);
    let mode: string;
    if (values.mode === undefined) {
      mode = modeOf(cluster).name;
      if (!kernel.includes(mode)) throw new UsageError(`the cluster's proxy mode is ${mode}; kdp verify checks ${kernel.join(' or ')}: give --mode`);
    } else {
      mode = choiceOption(values.mode, 'mode', kernel, kernel[0]);
    }
    let node = 0;
    if (values.node !== undefined) {
      node = findNode(cluster, values.node);
      if (node < 0) throw new UsageError(`no node named "${values.node}"; nodes are ${cluster.nodes.slice(0, 10).map((n) => n.name).join(', ')}${cluster.nodes.length > 10 ? ', …' : ''}`);
    }
    const missing = missingRequirements(mode);
    if (missing.length > 0) {
      process.stderr.write(`kdp verify: cannot run; missing:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
      return EXIT_UNAVAILABLE;
    }
    const log = values.json ? undefined : (line: string) => process.stderr.write(`kdp verify: ${line}\n`);
    const report = await runVerify(cluster, { mode, node, probes, seed, ...(log ? { log } : {}) });
    if (values.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else process.stdout.write(formatReport(report));
    return report.ok ? EXIT_OK : EXIT_FAILED;
  },
};

/** `--policy`: the kernel as referee of Calico's policy on one node (src/verify/policy.ts). */
async function runPolicy(cluster: Cluster, nodeName: string | undefined, json: boolean): Promise<number> {
  const node = nodeName === undefined ? 0 : findNode(cluster, nodeName);
  if (node < 0) throw new UsageError(`no node named "${nodeName}"; nodes are ${cluster.nodes.slice(0, 10).map((n) => n.name).join(', ')}`);
  const missing = missingRequirements('iptables');
  for (const [tool, pkg] of [['ipset', 'ipset'], ['ss', 'iproute2']] as const) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) missing.push(`${tool} (not on PATH; Debian/Ubuntu: apt-get install ${pkg})`);
  }
  if (missing.length > 0) {
    process.stderr.write(`kdp verify: cannot run; missing:\n${missing.map((m) => `  - ${m}`).join('\n')}\n`);
    return EXIT_UNAVAILABLE;
  }
  const report = await verifyPolicy(cluster, { node, ...(json ? {} : { log: (line: string) => void process.stderr.write(`${line}\n`) }) });
  if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else {
    const lines = [`kdp verify --policy on ${report.node}: ${report.probes.length} probes, ${report.probes.length - report.disagreements.length} agree, ${report.disagreements.length} disagree${report.notComparable ? ` (${report.notComparable} denied by their sender's own node in kdp: not judged here)` : ''}`];
    for (const d of report.disagreements) lines.push(`  ${d.src} -> ${d.dst}: kernel ${d.kernel}, kdp ${d.kdp} (${d.policy})`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return report.ok ? EXIT_OK : EXIT_FAILED;
}
