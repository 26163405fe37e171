/**
 * An independent reading of the Kubernetes NetworkPolicy specification, for the laws: written from
 * the Kubernetes documentation ("Network Policies", concepts/services-networking/network-policies,
 * and the networking.k8s.io/v1 API reference), not from kdp's policy code, and over the raw
 * objects a cluster file holds (no kdp model, no Calico conversion).
 *
 * - A pod is isolated for ingress (egress) when a NetworkPolicy of its namespace selects it with
 *   podSelector and has Ingress (Egress) in policyTypes; policyTypes left out means Ingress, plus
 *   Egress when the policy has an egress section (the API server's defaulting).
 * - A connection is allowed when the sender's egress and the receiver's ingress both allow it;
 *   for an isolated pod, some selecting policy of that direction must have a rule whose peers
 *   (none = everyone) and ports (none = every port) match. Replies of an allowed connection are
 *   always allowed.
 * - Peers: podSelector alone = pods of the policy's namespace; namespaceSelector alone = every pod
 *   of the matching namespaces; both = matching pods of matching namespaces; ipBlock = addresses in
 *   cidr and in no except. Namespaces carry `kubernetes.io/metadata.name`.
 * - Ports: protocol (TCP when absent), a number, a range up to endPort, or a named container port
 *   of the receiving pod.
 */

export interface OraclePod {
  readonly namespace: string;
  readonly labels: Record<string, string>;
  readonly ip: string;
  readonly ports: readonly { name: string; containerPort: number; protocol?: string }[];
}

export interface OracleWorld {
  readonly pods: readonly OraclePod[];
  readonly namespaceLabels: Record<string, Record<string, string>>;
  /** networking.k8s.io/v1 NetworkPolicy objects, as written. */
  readonly policies: readonly any[];
  /** Calico GlobalNetworkPolicies of one rule, as the laws generate them (described, not parsed). */
  readonly globals?: readonly OracleGlobal[];
}

/**
 * A one-rule Calico GlobalNetworkPolicy, read with Calico's documentation ("Get started with
 * Calico network policy", "Policy tiers", the GlobalNetworkPolicy reference): it applies to the
 * workloads its selector matches, in its direction; policies are evaluated in ascending order,
 * Kubernetes NetworkPolicies at order 1000; the first rule that matches with Allow or Deny
 * decides, Log goes on, Pass skips the rest of the tier (with no later tier, the namespace's
 * profile allows); a workload that some policy applies to and none decides is denied, one that
 * no policy applies to is allowed.
 */
export interface OracleGlobal {
  readonly order: number;
  readonly dir: 'Ingress' | 'Egress';
  /** The workloads it applies to: all, one app label, or one namespace. */
  readonly select: { readonly all: true } | { readonly app: string } | { readonly namespace: string };
  readonly action: 'Allow' | 'Deny' | 'Pass' | 'Log';
  /** The rule's peer (source for Ingress, destination for Egress): any address when absent. */
  readonly peer?: { readonly app: string } | { readonly namespace: string };
  /** A TCP destination port the rule requires, when present. */
  readonly port?: number;
}

function globalSelects(g: OracleGlobal, pod: OraclePod): boolean {
  if ('all' in g.select) return true;
  if ('app' in g.select) return pod.labels.app === g.select.app;
  return pod.namespace === g.select.namespace;
}

function globalRuleMatches(world: OracleWorld, g: OracleGlobal, peerIp: string, proto: string, dport: number): boolean {
  if (g.port !== undefined && (proto !== 'TCP' || dport !== g.port)) return false;
  if (!g.peer) return true;
  const peer = podAt(world, peerIp);
  if (!peer) return false;
  return 'app' in g.peer ? peer.labels.app === g.peer.app : peer.namespace === g.peer.namespace;
}

type LabelSelector = { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined;

/** metav1.LabelSelector semantics: every matchLabels pair and every expression must hold; {} selects all. */
export function labelSelectorMatches(sel: LabelSelector, labels: Record<string, string>): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const values = e.values ?? [];
    if (e.operator === 'In' && !(has && values.includes(labels[e.key]))) return false;
    if (e.operator === 'NotIn' && has && values.includes(labels[e.key])) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

function ipToNumber(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  const start = Math.floor(ipToNumber(base) / size) * size;
  const x = ipToNumber(ip);
  return x >= start && x < start + size;
}

function nsLabels(world: OracleWorld, ns: string): Record<string, string> {
  return { ...(world.namespaceLabels[ns] ?? {}), 'kubernetes.io/metadata.name': ns };
}

function types(policy: any): string[] {
  if (policy.spec.policyTypes?.length) return policy.spec.policyTypes;
  return policy.spec.egress?.length ? ['Ingress', 'Egress'] : ['Ingress'];
}

/** The pod of an address, if a pod has it. */
function podAt(world: OracleWorld, ip: string): OraclePod | undefined {
  return world.pods.find((p) => p.ip === ip);
}

function peerMatches(world: OracleWorld, policyNs: string, peer: any, ip: string): boolean {
  if (peer.ipBlock) return inCidr(ip, peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some((c: string) => inCidr(ip, c));
  const pod = podAt(world, ip);
  if (!pod) return false;
  if (peer.namespaceSelector) {
    if (!labelSelectorMatches(peer.namespaceSelector, nsLabels(world, pod.namespace))) return false;
  } else if (pod.namespace !== policyNs) return false;
  return labelSelectorMatches(peer.podSelector, pod.labels);
}

function portMatches(port: any, receiver: OraclePod | undefined, proto: string, dport: number): boolean {
  if ((port.protocol ?? 'TCP') !== proto) return false;
  if (port.port === undefined) return true;
  if (typeof port.port === 'string') {
    return (receiver?.ports ?? []).some((p) => p.name === port.port && (p.protocol ?? 'TCP') === proto && p.containerPort === dport);
  }
  return dport >= port.port && dport <= (port.endPort ?? port.port);
}

/** Whether `pod`'s policies of one direction let the connection through (peer is the other end's address). */
function directionAllows(world: OracleWorld, pod: OraclePod, dir: 'Ingress' | 'Egress', peerIp: string, receiver: OraclePod | undefined, proto: string, dport: number): boolean {
  const selecting = world.policies.filter((p) => p.metadata.namespace === pod.namespace && types(p).includes(dir) && labelSelectorMatches(p.spec.podSelector, pod.labels));
  const globals = (world.globals ?? []).filter((g) => g.dir === dir && globalSelects(g, pod));
  if (selecting.length === 0 && globals.length === 0) return true;
  // Kubernetes policies all sit at order 1000 and only allow: together they are one step there.
  const k8sAllows = (): boolean => {
    for (const p of selecting) {
      const rules: any[] = (dir === 'Ingress' ? p.spec.ingress : p.spec.egress) ?? [];
      for (const rule of rules) {
        const peers: any[] = (dir === 'Ingress' ? rule.from : rule.to) ?? [];
        const ports: any[] = rule.ports ?? [];
        const peerOk = peers.length === 0 || peers.some((peer) => peerMatches(world, p.metadata.namespace, peer, peerIp));
        const portOk = ports.length === 0 || ports.some((port) => portMatches(port, receiver, proto, dport));
        if (peerOk && portOk) return true;
      }
    }
    return false;
  };
  const steps: { order: number; run: () => 'allow' | 'deny' | 'next' }[] = globals.map((g) => ({
    order: g.order,
    run: () => {
      if (!globalRuleMatches(world, g, peerIp, proto, dport) || g.action === 'Log') return 'next';
      return g.action === 'Deny' ? 'deny' : 'allow'; // Allow, or Pass to the profile, which allows
    },
  }));
  if (selecting.length > 0) steps.push({ order: 1000, run: () => (k8sAllows() ? 'allow' : 'next') });
  steps.sort((a, b) => a.order - b.order);
  for (const step of steps) {
    const v = step.run();
    if (v !== 'next') return v === 'allow';
  }
  return false;
}

/** Whether a new connection src -> dst:dport (after any Service translation) is allowed. */
export function connectionAllowed(world: OracleWorld, srcIp: string, dstIp: string, proto: string, dport: number): boolean {
  const src = podAt(world, srcIp);
  const dst = podAt(world, dstIp);
  if (src && !directionAllows(world, src, 'Egress', dstIp, dst, proto, dport)) return false;
  if (dst && !directionAllows(world, dst, 'Ingress', srcIp, dst, proto, dport)) return false;
  return true;
}
