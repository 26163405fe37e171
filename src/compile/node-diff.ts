/**
 * `kdp diff`'s answer, whatever the mode: what the node should have for each Service port (kdp's
 * compilation of the cluster) against what it has, both seen as a ServiceView (the Service ports
 * the node has state for, and the endpoints that state sends to). Each mode that can be diffed
 * builds its views from its own objects, in its folder's diff.ts.
 */
import { servicePortName, type Cluster, type ModeName } from '../model/types.js';

export interface EndpointDiff {
  readonly service: string;
  readonly missing: readonly string[];
  readonly stale: readonly string[];
}

export interface NodeDiff {
  readonly node: string;
  readonly mode: ModeName;
  readonly inSync: boolean;
  readonly missingServices: readonly string[];
  readonly staleServices: readonly string[];
  readonly endpoints: readonly EndpointDiff[];
  readonly orphanChains: readonly string[];
}

/** Per Service port (index into Cluster.ports): whether the node has state for it, and its endpoints as "ip:port". */
export interface ServiceView {
  readonly present: ReadonlySet<number>;
  readonly targets: ReadonlyMap<number, ReadonlySet<string>>;
}

export const sorted = (s: Iterable<string>): string[] => [...s].sort();

/**
 * The diff of two views, with what only the mode can name: Services the node still serves that the
 * cluster no longer has, and the node's objects no Service owns.
 */
export function diffViews(
  cluster: Cluster, node: number, mode: NodeDiff['mode'], want: ServiceView, have: ServiceView,
  staleServices: Iterable<string>, orphanChains: Iterable<string>,
): NodeDiff {
  const name = (p: number): string => servicePortName(cluster, cluster.ports[p]);
  const missingServices = sorted([...want.present].filter((p) => !have.present.has(p)).map(name));
  const endpoints: EndpointDiff[] = [];
  for (const p of [...want.present].filter((q) => have.present.has(q)).sort((a, b) => a - b)) {
    const w = want.targets.get(p) ?? new Set<string>();
    const h = have.targets.get(p) ?? new Set<string>();
    const missing = sorted([...w].filter((t) => !h.has(t)));
    const stale = sorted([...h].filter((t) => !w.has(t)));
    if (missing.length > 0 || stale.length > 0) endpoints.push({ service: name(p), missing, stale });
  }
  // Ports the node has state for that kdp would not write on this node (a Service changed type).
  for (const p of [...have.present].filter((q) => !want.present.has(q)).sort((a, b) => a - b)) {
    endpoints.push({ service: name(p), missing: [], stale: sorted(have.targets.get(p) ?? []) });
  }
  const stale = sorted(new Set(staleServices));
  const orphans = sorted(new Set(orphanChains));
  const inSync = missingServices.length === 0 && stale.length === 0 && endpoints.length === 0 && orphans.length === 0;
  return { node: cluster.nodes[node].name, mode, inSync, missingServices, staleServices: stale, endpoints, orphanChains: orphans };
}
