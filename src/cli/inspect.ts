import { formatDiagnostic } from '../model/diagnostics.js';
import { modeOf } from '../compile/index.js';
import type { Cluster } from '../model/types.js';
import { summarize, type ClusterSummary } from '../model/summary.js';
import { clipTokens, EXIT_INVALID, EXIT_OK, parse, type Command } from './command.js';
import { UsageError } from '../errors.js';
import { readClusterFile, reportDiagnostics } from './cluster-file.js';

const help = `Usage: kdp inspect FILE [--json]

Reads a cluster file (JSON or YAML; - for standard input), validates it and prints a summary:
objects by kind, services by type and policy, endpoints by condition, CIDRs, nodes, the pod
network and kube-proxy's configuration, then every warning. Errors are printed and the exit
status is 2.

Options:
  --json       print one JSON object { "summary": ..., "diagnostics": [...] } instead
  -h, --help   this text

Exit status: 0 the cluster is valid; 2 bad usage or an invalid cluster file (every error is
listed, with file and line); 3 the file cannot be read (permissions, an I/O error).
`;

export const inspectCommand: Command = {
  name: 'inspect',
  summary: 'validate a cluster file and summarise it',
  help,
  async run(argv) {
    const { values, positionals } = parse(argv, { json: { type: 'boolean' } });
    if (positionals.length > 1) throw new UsageError(`one cluster file at a time, not ${positionals.length}`);
    const { cluster, diagnostics, kinds } = await readClusterFile(positionals[0]);
    if (values.json) {
      const summary = cluster ? summaryOf(cluster, kinds) : null;
      process.stdout.write(`${JSON.stringify({ summary, diagnostics }, null, 2)}\n`);
      return cluster ? EXIT_OK : EXIT_INVALID;
    }
    if (!cluster) {
      reportDiagnostics(diagnostics);
      return EXIT_INVALID;
    }
    process.stdout.write(render(summaryOf(cluster, kinds)));
    const warnings = diagnostics.filter((d) => d.severity === 'warning');
    if (warnings.length) {
      process.stdout.write(`\nWarnings (${warnings.length}):\n`);
      for (const w of warnings.slice(0, 50)) process.stdout.write(`  ${clipTokens(formatDiagnostic(w))}\n`);
      if (warnings.length > 50) process.stdout.write(`  ... and ${warnings.length - 50} more (--json lists all)\n`);
    }
    return EXIT_OK;
  },
};

/** The summary, with the proxy mode kube-proxy would run (an unset mode is its default). */
function summaryOf(cluster: Cluster, kinds: Record<string, number>): ClusterSummary {
  const s = summarize(cluster, kinds);
  return { ...s, proxy: { ...s.proxy, mode: modeOf(cluster).name } };
}

function counts(record: Record<string, number>): string {
  const entries = Object.entries(record);
  return entries.length ? entries.map(([k, v]) => `${k} ${v}`).join(', ') : 'none';
}

function render(s: ClusterSummary): string {
  const lines = [
    `Objects:        ${counts(s.objects)}`,
    `Nodes:          ${s.nodes.total}${s.nodes.withoutNodeObject ? ` (+${s.nodes.withoutNodeObject} named by endpoints only)` : ''}`,
    `Services:       ${s.services.total} (${counts(s.services.byType)}; headless ${s.services.headless})`,
    `  policies:     externalTrafficPolicy=Local ${s.services.externalTrafficPolicyLocal}, internalTrafficPolicy=Local ${s.services.internalTrafficPolicyLocal}, ClientIP affinity ${s.services.sessionAffinity}`,
    `  external:     with externalIPs ${s.services.withExternalIPs}, with loadBalancerSourceRanges ${s.services.withSourceRanges}`,
    `Service ports:  ${s.servicePorts.total} (${counts(s.servicePorts.byProtocol)}; NodePorts ${s.servicePorts.nodePorts}; without endpoints ${s.servicePorts.withoutEndpoints})`,
    `Endpoints:      ${s.endpoints.rows} (ready ${s.endpoints.ready}, serving+terminating ${s.endpoints.servingTerminating}, not serving ${s.endpoints.notServing})`,
    `Pods:           ${s.pods} Pod objects`,
    `Service CIDRs:  ${s.serviceCIDRs.join(', ') || '(none given: clusterIPs are not range-checked)'}`,
    `kube-proxy:     mode ${s.proxy.mode}, clusterCIDR ${s.proxy.clusterCIDRs.join(',') || '(unset)'}, detectLocalMode ${s.proxy.detectLocalMode}, masqueradeAll ${s.proxy.masqueradeAll}, ipvs scheduler ${s.proxy.ipvsScheduler}`,
    `Pod network:    ${s.network.cni}, MTU ${s.network.mtu}, NodePort range ${s.network.nodePortRange}${s.network.ipPools.length ? `, pools: ${s.network.ipPools.join('; ')}` : ''}`,
  ];
  const shown = s.nodes.list.slice(0, 20);
  for (const n of shown) lines.push(`  node ${n.name}: pod CIDR ${n.podCIDRs.join(',') || '-'}, InternalIP ${n.internalIPs.join(',') || '-'}${n.zone ? `, zone ${n.zone}` : ''}`);
  if (s.nodes.list.length > shown.length) lines.push(`  ... and ${s.nodes.list.length - shown.length} more nodes`);
  return `${lines.join('\n')}\n`;
}
