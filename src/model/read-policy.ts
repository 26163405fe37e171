/**
 * Network policies, read field by field into the one shape felix enforces (types.ts `Policy`):
 *
 * - `networking.k8s.io/v1 NetworkPolicy`, converted as libcalico-go's
 *   `K8sNetworkPolicyToCalico` converts it (Calico v3.29, libcalico-go/lib/backend/k8s/conversion):
 *   name `knp.default.<name>`, order 1000, selector `projectcalico.org/orchestrator == 'k8s'` and
 *   the podSelector's terms, one Allow rule per (protocol, peer), an ipBlock as nets and its
 *   `except` as notNets, an empty namespaceSelector as `all()`. `policyTypes` is defaulted as the
 *   API server defaults it (Ingress, plus Egress when the policy has egress rules).
 * - `projectcalico.org/v3` and `crd.projectcalico.org/v1` `NetworkPolicy` and
 *   `GlobalNetworkPolicy`: order, selector (Calico's selector language), types, rules with
 *   action, protocol and source/destination entity rules.
 *
 * What felix would enforce and kdp does not model is an error naming the field (tiers other than
 * `default`, preDNAT, doNotTrack, serviceAccounts, services, HTTP and ICMP type matches), never
 * silently ignored: a policy read half would allow or deny the wrong packets.
 */
import { PROTO_ICMP, PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../net/proto.js';
import { cidrContains, type Cidr } from '../net/ipv4.js';
import { kAll, parseSelector, SelectorSyntaxError, type Selector } from './calico-selector.js';
import { describe, type FieldReader, type Json } from './fields.js';
import type { Policy, PolicyAction, PolicyEntity, PolicyPort, PolicyRule } from './types.js';

type Path = (string | number)[];

/** The label Calico puts on every Kubernetes workload endpoint (apiv3.LabelOrchestrator). */
export const kOrchestratorLabel = 'projectcalico.org/orchestrator';
/** The label Calico puts on every workload endpoint: its namespace (apiv3.LabelNamespace). */
export const kNamespaceLabel = 'projectcalico.org/namespace';
/** The label the API server sets on every Namespace (KEP-2161, Kubernetes 1.22). */
export const kNamespaceNameLabel = 'kubernetes.io/metadata.name';
/** libcalico-go's order for every converted Kubernetes NetworkPolicy. */
export const kK8sPolicyOrder = 1000;

const kOrchestratorK8s: Selector = { op: 'eq', key: kOrchestratorLabel, value: 'k8s' };
const kAnyEntity: PolicyEntity = { nets: [], notNets: [], ports: [], notPorts: [] };

/** A metav1.LabelSelector as a Calico selector (k8sSelectorToCalico); `prefix` terms come first. */
function labelSelector(r: FieldReader, value: unknown, path: Path, prefix: Selector[]): Selector {
  const s = r.record(value, path);
  const terms = [...prefix];
  const ml = r.record(s.matchLabels, [...path, 'matchLabels']);
  for (const key of Object.keys(ml).sort()) {
    terms.push({ op: 'eq', key, value: r.string(ml[key], [...path, 'matchLabels', key]) });
  }
  r.array(s.matchExpressions, [...path, 'matchExpressions']).forEach((v, i) => {
    const p = [...path, 'matchExpressions', i];
    const e = r.record(v, p);
    const key = r.string(e.key, [...p, 'key']);
    if (!key) r.error([...p, 'key'], 'is required');
    const op = r.oneOf(e.operator, [...p, 'operator'], ['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, 'Exists');
    if (e.operator === undefined) r.error([...p, 'operator'], 'is required (In, NotIn, Exists or DoesNotExist)');
    const values = r.array(e.values, [...p, 'values']).map((x, j) => r.string(x, [...p, 'values', j]));
    if ((op === 'In' || op === 'NotIn') && values.length === 0) r.error([...p, 'values'], `must be non-empty for operator ${op}`);
    if ((op === 'Exists' || op === 'DoesNotExist') && values.length > 0) r.error([...p, 'values'], `must be empty for operator ${op}`);
    if (op === 'In') terms.push({ op: 'in', key, values });
    else if (op === 'NotIn') terms.push({ op: 'notin', key, values });
    else if (op === 'Exists') terms.push({ op: 'has', key });
    else terms.push({ op: 'not', arg: { op: 'has', key } });
  });
  return terms.length === 0 ? kAll : terms.length === 1 ? terms[0] : { op: 'and', args: terms };
}

function cidrList(r: FieldReader, value: unknown, path: Path): Cidr[] {
  const out: Cidr[] = [];
  r.array(value, path).forEach((v, i) => {
    const c = r.cidr(v, [...path, i]);
    if (c) out.push(c);
  });
  return out;
}

/** `TCP`/`UDP`/`SCTP` of a NetworkPolicyPort (TCP when absent). */
function k8sProtocol(r: FieldReader, value: unknown, path: Path): number {
  const p = r.oneOf(value, path, ['TCP', 'UDP', 'SCTP'] as const, 'TCP');
  return p === 'UDP' ? PROTO_UDP : p === 'SCTP' ? PROTO_SCTP : PROTO_TCP;
}

/** A NetworkPolicyPeer as libcalico-go's k8sPeerToCalicoFields converts it. */
function k8sPeer(r: FieldReader, value: unknown, path: Path): PolicyEntity {
  const peer = r.record(value, path);
  if (peer.ipBlock !== undefined && peer.ipBlock !== null) {
    if (peer.podSelector !== undefined || peer.namespaceSelector !== undefined) {
      r.error(path, 'may not specify ipBlock together with podSelector or namespaceSelector (the API server refuses it)');
    }
    const b = r.record(peer.ipBlock, [...path, 'ipBlock']);
    const cidr = r.cidr(b.cidr, [...path, 'ipBlock', 'cidr']);
    const except = cidrList(r, b.except, [...path, 'ipBlock', 'except']);
    except.forEach((e, i) => {
      // validation.ValidateIPBlock: every except must be strictly inside the cidr.
      if (cidr && !(e.prefix > cidr.prefix && cidrContains(cidr, e.base))) {
        r.error([...path, 'ipBlock', 'except', i], 'must be a strict subset of ipBlock.cidr (the API server refuses it)');
      }
    });
    return { ...kAnyEntity, nets: cidr ? [cidr] : [], notNets: except };
  }
  if (peer.podSelector === undefined && peer.namespaceSelector === undefined) {
    r.error(path, 'must specify podSelector, namespaceSelector or ipBlock');
  }
  // Without a namespaceSelector the pod selector applies in the policy's own namespace.
  const selector = labelSelector(r, peer.podSelector, [...path, 'podSelector'], [kOrchestratorK8s]);
  const ns = peer.namespaceSelector;
  if (ns === undefined || ns === null) return { ...kAnyEntity, selector };
  return { ...kAnyEntity, selector, namespaceSelector: labelSelector(r, ns, [...path, 'namespaceSelector'], []) };
}

/** One k8s ingress/egress rule as libcalico-go's k8sRuleToCalico: one Allow rule per protocol and peer. */
function k8sRule(r: FieldReader, value: unknown, path: Path, ingress: boolean): PolicyRule[] {
  const rule = r.record(value, path);
  const peerField = ingress ? 'from' : 'to';
  const peers: (PolicyEntity | undefined)[] = r.array(rule[peerField], [...path, peerField]).map((p, i) => k8sPeer(r, p, [...path, peerField, i]));
  if (peers.length === 0) peers.push(undefined);
  // protocol -> ports (null: every port of the protocol); '' with null: any protocol, any port.
  const byProtocol = new Map<number, PolicyPort[] | null>();
  const ports = r.array(rule.ports, [...path, 'ports']);
  ports.forEach((v, i) => {
    const p = [...path, 'ports', i];
    const port = r.record(v, p);
    const protocol = k8sProtocol(r, port.protocol, [...p, 'protocol']);
    let match: PolicyPort | null = null;
    if (typeof port.port === 'string') {
      match = /^\d+$/.test(port.port) ? { min: r.port(Number(port.port), [...p, 'port']), max: Number(port.port) } : { name: port.port };
      if (!/^\d+$/.test(port.port) && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(port.port)) r.error([...p, 'port'], `"${port.port}" is not a port number or an IANA service name`);
    } else if (port.port !== undefined && port.port !== null) {
      const n = r.port(port.port, [...p, 'port']);
      match = { min: n, max: n };
    }
    if (port.endPort !== undefined && port.endPort !== null) {
      if (match === null || 'name' in match) r.error([...p, 'endPort'], 'may only be set with a numeric port');
      else {
        const end = r.port(port.endPort, [...p, 'endPort']);
        if (end > 0 && end < match.min) r.error([...p, 'endPort'], `${end} must be at least port ${match.min}`);
        else if (end > 0) match = { min: match.min, max: end };
      }
    }
    const prev = byProtocol.get(protocol);
    if (match === null) byProtocol.set(protocol, null);
    else if (prev === undefined) byProtocol.set(protocol, [match]);
    else if (prev !== null) prev.push(match);
  });
  const groups: [number, PolicyPort[]][] = ports.length === 0 ? [[0, []]] : [...byProtocol.entries()].map(([proto, list]) => [proto, list ?? []]);
  // libcalico-go sorts the protocols by name (SCTP, TCP, UDP) for deterministic output.
  const name = (p: number): string => (p === PROTO_TCP ? 'TCP' : p === PROTO_UDP ? 'UDP' : p === PROTO_SCTP ? 'SCTP' : '');
  groups.sort((a, b) => (name(a[0]) < name(b[0]) ? -1 : name(a[0]) > name(b[0]) ? 1 : 0));
  const out: PolicyRule[] = [];
  for (const [protocol, list] of groups) {
    for (const peer of peers) {
      const peerSide = peer ?? kAnyEntity;
      const portSide: PolicyEntity = { ...kAnyEntity, ports: list };
      out.push({
        action: 'Allow',
        protocol,
        notProtocol: 0,
        source: ingress ? peerSide : kAnyEntity,
        destination: ingress ? portSide : { ...peerSide, ports: list },
      });
    }
  }
  return out;
}

export function readK8sNetworkPolicy(r: FieldReader, obj: Json, namespace: string, name: string): Policy {
  const spec = r.record(obj.spec, ['spec']);
  if (spec.podSelector === undefined) r.error(['spec', 'podSelector'], 'is required ({} selects every pod of the namespace)');
  const selector = labelSelector(r, spec.podSelector, ['spec', 'podSelector'], [kOrchestratorK8s]);
  const ingressRules = r.array(spec.ingress, ['spec', 'ingress']).flatMap((v, i) => k8sRule(r, v, ['spec', 'ingress', i], true));
  const egressList = r.array(spec.egress, ['spec', 'egress']);
  const egressRules = egressList.flatMap((v, i) => k8sRule(r, v, ['spec', 'egress', i], false));
  const types = r.array(spec.policyTypes, ['spec', 'policyTypes']).map((v, i) => r.oneOf(v, ['spec', 'policyTypes', i], ['Ingress', 'Egress'] as const, 'Ingress'));
  // The API server's defaulting (SetDefaults_NetworkPolicySpec): Ingress, and Egress when there are egress rules.
  const defaulted = types.length === 0;
  const ingress = defaulted || types.includes('Ingress');
  const egress = defaulted ? egressList.length > 0 : types.includes('Egress');
  return {
    name: `${namespace}/knp.default.${name}`,
    namespace,
    source: `${namespace}/${name}`,
    kind: 'KubernetesNetworkPolicy',
    order: kK8sPolicyOrder,
    selector,
    ingress,
    egress,
    ingressRules,
    egressRules,
  };
}

function calicoSelector(r: FieldReader, value: unknown, path: Path): Selector | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  const text = r.string(value, path);
  try {
    return parseSelector(text);
  } catch (e) {
    if (e instanceof SelectorSyntaxError) {
      r.error(path, `is not a Calico selector: ${e.message}`);
      return undefined;
    }
    throw e;
  }
}

const kCalicoProtocols: Readonly<Record<string, number>> = { TCP: PROTO_TCP, UDP: PROTO_UDP, ICMP: PROTO_ICMP, SCTP: PROTO_SCTP, UDPLite: 136 };

/** Calico's numorstring.Protocol: a name or a number 1-255; 0 when absent. */
function calicoProtocol(r: FieldReader, value: unknown, path: Path): number {
  if (value === undefined || value === null || value === '') return 0;
  if (typeof value === 'number') return r.integer(value, path, 0, 1, 255);
  if (typeof value === 'string' && Object.hasOwn(kCalicoProtocols, value)) return kCalicoProtocols[value];
  if (typeof value === 'string' && Object.hasOwn(kCalicoProtocols, value.toUpperCase())) return kCalicoProtocols[value.toUpperCase()];
  r.error(path, `must be TCP, UDP, ICMP, SCTP, UDPLite or a number 1-255, not ${describe(value)}`);
  return 0;
}

/** Calico's numorstring.Port: a number, "min:max", or a named port. */
function calicoPorts(r: FieldReader, value: unknown, path: Path): PolicyPort[] {
  return r.array(value, path).flatMap((v, i): PolicyPort[] => {
    const p = [...path, i];
    if (typeof v === 'number') {
      const n = r.port(v, p);
      return n > 0 ? [{ min: n, max: n }] : [];
    }
    if (typeof v !== 'string') {
      r.error(p, `must be a port, a range "min:max" or a port name, not ${describe(v)}`);
      return [];
    }
    const m = /^(\d+)(?::(\d+))?$/.exec(v);
    if (m) {
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : Number(m[2]);
      if (min > 65535 || max > 65535 || max < min) {
        r.error(p, `"${v}" is not a port range within 0-65535 with min <= max`);
        return [];
      }
      return [{ min, max }];
    }
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(v) || v.length > 15) {
      r.error(p, `"${v}" is not a port, a range "min:max" or a port name`);
      return [];
    }
    return [{ name: v }];
  });
}

function calicoEntity(r: FieldReader, value: unknown, path: Path, protocol: number): PolicyEntity {
  const e = r.record(value, path);
  for (const field of ['serviceAccounts', 'services'] as const) {
    if (e[field] !== undefined && e[field] !== null) r.error([...path, field], `${field} matches are not modelled by kdp yet`);
  }
  const selector = calicoSelector(r, e.selector, [...path, 'selector']);
  const namespaceSelector = calicoSelector(r, e.namespaceSelector, [...path, 'namespaceSelector']);
  const notSelector = calicoSelector(r, e.notSelector, [...path, 'notSelector']);
  const ports = calicoPorts(r, e.ports, [...path, 'ports']);
  const notPorts = calicoPorts(r, e.notPorts, [...path, 'notPorts']);
  if (notPorts.some((p) => 'name' in p)) r.error([...path, 'notPorts'], 'named ports in notPorts are not modelled by kdp yet');
  if ((ports.length > 0 || notPorts.length > 0) && protocol !== PROTO_TCP && protocol !== PROTO_UDP && protocol !== PROTO_SCTP && protocol !== 136) {
    r.error([...path, ports.length > 0 ? 'ports' : 'notPorts'], 'port matches need the rule\'s protocol to be TCP, UDP, SCTP or UDPLite (Calico refuses the rule otherwise)');
  }
  return {
    ...(selector ? { selector } : {}),
    ...(namespaceSelector ? { namespaceSelector } : {}),
    ...(notSelector ? { notSelector } : {}),
    nets: [...cidrList(r, e.nets, [...path, 'nets']), ...(e.net !== undefined ? cidrList(r, [e.net], [...path, 'net']) : [])],
    notNets: cidrList(r, e.notNets, [...path, 'notNets']),
    ports,
    notPorts,
  };
}

function calicoRule(r: FieldReader, value: unknown, path: Path): PolicyRule | undefined {
  const rule = r.record(value, path);
  if (rule.action === undefined) r.error([...path, 'action'], 'is required (Allow, Deny, Log or Pass)');
  const action = r.oneOf(rule.action, [...path, 'action'], ['Allow', 'Deny', 'Log', 'Pass'] as const, 'Allow') as PolicyAction;
  for (const field of ['http', 'icmp', 'notICMP'] as const) {
    if (rule[field] !== undefined && rule[field] !== null) r.error([...path, field], `${field} matches are not modelled by kdp yet`);
  }
  const protocol = calicoProtocol(r, rule.protocol, [...path, 'protocol']);
  const notProtocol = calicoProtocol(r, rule.notProtocol, [...path, 'notProtocol']);
  const source = calicoEntity(r, rule.source, [...path, 'source'], protocol);
  const destination = calicoEntity(r, rule.destination, [...path, 'destination'], protocol);
  // An IPv6-only rule never matches an IPv4 packet: felix renders it into the IPv6 tables only.
  if (rule.ipVersion === 6) return undefined;
  if (rule.ipVersion !== undefined && rule.ipVersion !== 4) r.error([...path, 'ipVersion'], `must be 4 or 6, not ${describe(rule.ipVersion)}`);
  return { action, protocol, notProtocol, source, destination };
}

/** A projectcalico.org/v3 (or crd.projectcalico.org/v1) NetworkPolicy or GlobalNetworkPolicy. */
export function readCalicoPolicy(r: FieldReader, obj: Json, global: boolean, namespace: string, name: string): Policy {
  const spec = r.record(obj.spec, ['spec']);
  const tier = r.string(spec.tier, ['spec', 'tier'], 'default');
  if (tier !== 'default') r.error(['spec', 'tier'], `tier "${tier}": kdp models Calico's default tier only`);
  for (const field of ['preDNAT', 'doNotTrack', 'applyOnForward'] as const) {
    if (spec[field] === true) r.error(['spec', field], `${field} policies are not modelled by kdp yet (they apply at host endpoints)`);
  }
  if (spec.serviceAccountSelector !== undefined && spec.serviceAccountSelector !== '') r.error(['spec', 'serviceAccountSelector'], 'is not modelled by kdp yet');
  let order: number | undefined;
  if (spec.order !== undefined && spec.order !== null) {
    if (typeof spec.order === 'number' && Number.isFinite(spec.order)) order = spec.order;
    else r.error(['spec', 'order'], `must be a number, not ${describe(spec.order)}`);
  }
  // Each list is read once: a second read would report a bad value again, without its path.
  const ingressList = r.array(spec.ingress, ['spec', 'ingress']);
  const egressList = r.array(spec.egress, ['spec', 'egress']);
  const ingressRules = ingressList.flatMap((v, i) => calicoRule(r, v, ['spec', 'ingress', i]) ?? []);
  const egressRules = egressList.flatMap((v, i) => calicoRule(r, v, ['spec', 'egress', i]) ?? []);
  const types = r.array(spec.types, ['spec', 'types']).map((v, i) => r.oneOf(v, ['spec', 'types', i], ['Ingress', 'Egress'] as const, 'Ingress'));
  // Calico's default: Ingress unless there are egress rules only; both when there are both.
  const hasIngress = ingressList.length > 0;
  const hasEgress = egressList.length > 0;
  const defaulted = types.length === 0;
  const namespaceSelector = global ? calicoSelector(r, spec.namespaceSelector, ['spec', 'namespaceSelector']) : undefined;
  return {
    name: global ? name : `${namespace}/${name}`,
    namespace: global ? '' : namespace,
    source: global ? name : `${namespace}/${name}`,
    kind: global ? 'GlobalNetworkPolicy' : 'NetworkPolicy',
    order,
    selector: calicoSelector(r, spec.selector, ['spec', 'selector']) ?? kAll,
    ...(namespaceSelector ? { namespaceSelector } : {}),
    ingress: defaulted ? hasIngress || !hasEgress : types.includes('Ingress'),
    egress: defaulted ? hasEgress : types.includes('Egress'),
    ingressRules,
    egressRules,
  };
}
