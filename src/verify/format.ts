/** `kdp verify`'s report as text: the agreement table, then every disagreement with both views. */
import type { ProbeComparison, VerifyReport } from './verify.js';

function table(headers: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)];
}

function view(c: ProbeComparison): string[] {
  const k = c.kernel;
  const d = c.kdp;
  return [
    `  #${c.id} ${c.category}${c.service ? ` ${c.service}` : ''}: ${c.packet} (from ${c.client})`,
    `    kernel: ${k.decision}${k.endpoint ? ` to ${k.endpoint}` : ''}${k.masquerade ? ', masqueraded' : ''}  [${k.evidence}]`,
    `    kdp:    ${d.decision}${d.endpoint ? ` to ${d.endpoint}` : ''}${d.masquerade ? ', masqueraded' : ''}; candidates: ${d.candidates.length ? d.candidates.join(', ') : 'none'}`,
    `    why:    ${c.why ?? ''}`,
  ];
}

export function formatReport(r: VerifyReport): string {
  const out: string[] = [];
  out.push(
    `kdp verify: ${r.mode} rules of node ${r.node} (${r.cluster.services} services, ${r.cluster.ports} ports, ${r.cluster.endpoints} endpoint rows), ` +
      `${r.load.lines} lines loaded with ${r.load.tool} in ${r.load.ms.toFixed(0)} ms`,
  );
  if (r.load.stripped.length > 0) {
    out.push(`Lines the kernel refused and that were stripped before loading (${r.load.stripped.length}):`);
    for (const s of r.load.stripped) out.push(`  line ${s.line}: ${s.text}\n    ${s.reason}`);
  } else {
    out.push('The kernel loaded the whole rendering; nothing was stripped.');
  }
  out.push('');
  const rows = r.categories.map((c) => [
    c.category,
    String(c.probes),
    String(c.agree),
    String(c.disagree),
    Object.entries(c.kernelDecisions)
      .map(([k, v]) => `${k} ${v}`)
      .join(', '),
  ]);
  rows.push(['total', String(r.probes), String(r.agreed), String(r.probes - r.agreed), '']);
  out.push(...table(['probes', 'sent', 'agree', 'disagree', "kernel's decisions"], rows));
  out.push('');
  if (r.distribution) {
    const d = r.distribution;
    out.push(
      `Uniformity over ${d.kernel.samples} flows to ${d.service} (${d.candidates.length} endpoints): ` +
        `kernel ${d.kernel.counts.join('/')} (chi² ${d.kernel.chiSquare.toFixed(2)}, p ${d.kernel.pValue.toFixed(3)}), ` +
        `kdp ${d.kdp.counts.join('/')} (chi² ${d.kdp.chiSquare.toFixed(2)}, p ${d.kdp.pValue.toFixed(3)}): ${d.uniform ? 'both uniform' : 'NOT uniform'}`,
    );
  }
  for (const n of r.notProbed) out.push(`Not probed: ${n}`);
  if (r.disagreements.length > 0) {
    out.push('', `${r.disagreements.length} disagreement${r.disagreements.length === 1 ? '' : 's'}:`);
    for (const c of r.disagreements.slice(0, 200)) out.push(...view(c));
    if (r.disagreements.length > 200) out.push(`  … and ${r.disagreements.length - 200} more (--json lists all)`);
  }
  out.push('', `${r.ok ? 'OK: the kernel agrees with kdp' : 'FAILED: the kernel disagrees with kdp'} (${r.agreed}/${r.probes} probes, ${(r.durationMs / 1000).toFixed(1)} s; namespaces ${r.namespaces[0]?.replace(/-node$/, '-*') ?? ''} deleted)`);
  return `${out.join('\n')}\n`;
}
