/**
 * Calico's policy, compiled the way felix lays it out (Calico v3.29, felix/rules/policy.go and
 * felix/rules/endpoints.go), over typed arrays:
 *
 * - per-endpoint dispatch (`cali-from-wl-dispatch` / `cali-to-wl-dispatch` to `cali-fw-<if>` /
 *   `cali-tw-<if>`): a workload's address finds its row, and the row lists, per direction, the
 *   policies that select it in felix's order (order ascending, a missing order last, then name);
 * - per-policy chains (`cali-pi-<policy>` / `cali-po-<policy>`): each policy's rules in order;
 * - selectors resolved to address sets (felix's `cali40s:` ipsets), one set per distinct
 *   (scope, selector), and named ports to (address, protocol, port) sets (`cali40n:`).
 *
 * A verdict is taken once per new flow (established and related packets are accepted by
 * conntrack before any policy: `-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT` heads
 * felix's chains). Within the one tier kdp models (`default`): the first Allow or Deny decides,
 * Log goes on, Pass leaves the tier; a tier whose policies select the endpoint and none of which
 * decides ends in felix's "end of tier drop"; an endpoint no policy selects, or a Pass out of the
 * last tier, falls to its namespace profile (`kns.<ns>`), which allows.
 */
import { AddressSet, PairTable } from '../tables/index.js';
import { formatSelector, selectorMatches, type Labels, type Selector } from '../../model/calico-selector.js';
import { kNamespaceLabel, kOrchestratorLabel } from '../../model/read-policy.js';
import type { Cluster, Policy, PolicyEntity, PolicyPort, PolicyRule } from '../../model/types.js';
import { prefixMask } from '../../net/ipv4.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../net/proto.js';

export const DIR_INGRESS = 0;
export const DIR_EGRESS = 1;

/** Verdicts of `evaluate`. */
export const PV_NONE = 0; // no policy selects the workload in this direction: its profile allows
export const PV_ALLOW = 1; // an Allow rule
export const PV_DENY = 2; // a Deny rule
export const PV_DEFAULT_DENY = 3; // selected, and no rule decided: felix's end-of-tier drop
export const PV_PASS = 4; // a Pass rule left the last tier: the profile allows

const ACT_ALLOW = 0;
const ACT_DENY = 1;
const ACT_LOG = 2;
const ACT_PASS = 3;
const kActions = { Allow: ACT_ALLOW, Deny: ACT_DENY, Log: ACT_LOG, Pass: ACT_PASS } as const;

/** The labels felix gives a Kubernetes workload endpoint: the pod's, its namespace and orchestrator. */
export function endpointLabels(namespace: string, labels: Labels): Labels {
  return { ...labels, [kNamespaceLabel]: namespace, [kOrchestratorLabel]: 'k8s' };
}

/** felix's policy order: by order (missing = last), then by name. */
export function comparePolicies(a: Policy, b: Policy): number {
  const oa = a.order ?? Infinity;
  const ob = b.order ?? Infinity;
  if (oa !== ob) return oa < ob ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

const portKey = (proto: number, port: number): number => ((proto << 16) | port) >>> 0;

/** Grows typed columns while compiling, then trims them. */
class Column {
  data: Int32Array = new Int32Array(16);
  length = 0;
  push(v: number): number {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length] = v;
    return this.length++;
  }
  trim(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

export class PolicyTables {
  /** Policies in felix's order; indexes below are into this list. */
  readonly policies: readonly Policy[];
  /** Workload endpoints (pods not on the host network): address, node, namespace. */
  readonly workloadIp: Uint32Array;
  readonly workloadNode: Int32Array;
  readonly workloadPod: Int32Array;
  /** address -> workload row (key (ip, 1)). */
  readonly #byIp: PairTable;
  /** Per direction: workload w's policies are list[d][start[d][w] .. start[d][w + 1]). */
  readonly start: readonly [Int32Array, Int32Array];
  readonly list: readonly [Int32Array, Int32Array];
  /** Policy p, direction d: rules [ruleStart[2p + d], ruleStart[2p + d + 1]) (egress ends where the next policy's ingress starts). */
  readonly ruleStart: Int32Array;
  readonly ruleAction: Uint8Array;
  readonly ruleProto: Uint8Array;
  readonly ruleNotProto: Uint8Array;
  readonly ruleSrc: Int32Array;
  readonly ruleDst: Int32Array;
  /** Entity columns (entity 0 matches everything). */
  readonly entSet: Int32Array;
  readonly entNotSet: Int32Array;
  readonly entNamed: Int32Array;
  readonly entNet: Int32Array; // [start, end) into netBase/netMask, 2 per entity
  readonly entNotNet: Int32Array;
  readonly entPort: Int32Array; // [start, end) into portLo/portHi
  readonly entNotPort: Int32Array;
  readonly netBase: Uint32Array;
  readonly netMask: Uint32Array;
  readonly portLo: Uint16Array;
  readonly portHi: Uint16Array;
  /** felix's ipsets: selector address sets, named-port (ip, proto << 16 | port) sets. */
  readonly sets: readonly AddressSet[];
  readonly setNames: readonly string[];
  readonly namedSets: readonly PairTable[];
  readonly namedSetNames: readonly string[];
  /** Index of the policy (and rule within its direction) that decided the last `evaluate`, -1 none. */
  lastPolicy = -1;
  lastRule = -1;
  /** Rules looked at by the last `evaluate`, the work a first packet pays for. */
  lastSteps = 0;

  constructor(cluster: Cluster) {
    this.policies = [...cluster.policies].sort(comparePolicies);
    const pods = cluster.pods;
    const wIp: number[] = [];
    const wNode: number[] = [];
    const wPod: number[] = [];
    const seen = new Set<number>();
    pods.forEach((pod, i) => {
      if (pod.hostNetwork || seen.has(pod.ip)) return;
      seen.add(pod.ip);
      wIp.push(pod.ip);
      wNode.push(pod.node);
      wPod.push(i);
    });
    const W = wIp.length;
    this.workloadIp = Uint32Array.from(wIp);
    this.workloadNode = Int32Array.from(wNode);
    this.workloadPod = Int32Array.from(wPod);
    this.#byIp = new PairTable(Math.max(1, W), 1);
    for (let w = 0; w < W; w++) this.#byIp.rows[this.#byIp.at(this.#byIp.slotFor(wIp[w], 1))] = w;
    const labels = wPod.map((i) => endpointLabels(pods[i].namespace, pods[i].labels));
    const nsLabels = cluster.namespaceLabels;
    const nsOf = (w: number): string => pods[wPod[w]].namespace;

    // Sets, shared by every rule with the same scope and selectors (felix dedups its ipsets by selector).
    const sets: AddressSet[] = [];
    const setNames: string[] = [];
    const setIds = new Map<string, number>();
    const named: PairTable[] = [];
    const namedNames: string[] = [];
    const namedIds = new Map<string, number>();
    const inScope = (w: number, scopeNs: string, nsSel: Selector | undefined): boolean => {
      const ns = nsOf(w);
      if (nsSel) return selectorMatches(nsSel, nsLabels.get(ns) ?? {});
      return scopeNs === '' || ns === scopeNs;
    };
    const setOf = (scopeNs: string, nsSel: Selector | undefined, sel: Selector | undefined): number => {
      const name = `${nsSel ? `ns(${formatSelector(nsSel)})` : scopeNs ? `ns == '${scopeNs}'` : 'any ns'} && ${sel ? formatSelector(sel) : 'all()'}`;
      let id = setIds.get(name);
      if (id !== undefined) return id;
      const members: number[] = [];
      for (let w = 0; w < W; w++) if (inScope(w, scopeNs, nsSel) && (!sel || selectorMatches(sel, labels[w]))) members.push(wIp[w]);
      id = sets.length;
      sets.push(AddressSet.of(members));
      setNames.push(name);
      setIds.set(name, id);
      return id;
    };
    const namedSetOf = (scope: string, portNames: string[], proto: number, member: (w: number) => boolean): number => {
      const name = `${scope} named ${portNames.join(',')}/${proto}`;
      let id = namedIds.get(name);
      if (id !== undefined) return id;
      const keys: [number, number][] = [];
      for (let w = 0; w < W; w++) {
        if (!member(w)) continue;
        for (const np of pods[wPod[w]].namedPorts) {
          if (portNames.includes(np.name) && (proto === 0 || np.protocol === proto)) keys.push([wIp[w], portKey(np.protocol, np.port)]);
        }
      }
      const table = new PairTable(Math.max(1, keys.length), 1);
      for (const [a, b] of keys) table.slotFor(a, b);
      id = named.length;
      named.push(table);
      namedNames.push(name);
      namedIds.set(name, id);
      return id;
    };

    const ent = { set: new Column(), notSet: new Column(), named: new Column(), net: new Column(), notNet: new Column(), port: new Column(), notPort: new Column() };
    const nets = { base: [] as number[], mask: [] as number[] };
    const ports = { lo: [] as number[], hi: [] as number[] };
    const pushNets = (list: PolicyEntity['nets'], col: Column): void => {
      col.push(nets.base.length);
      for (const c of list) {
        nets.mask.push(prefixMask(c.prefix) >>> 0);
        nets.base.push((c.base & prefixMask(c.prefix)) >>> 0);
      }
      col.push(nets.base.length);
    };
    const pushPorts = (list: readonly PolicyPort[], col: Column): string[] => {
      col.push(ports.lo.length);
      const names: string[] = [];
      for (const p of list) {
        if ('name' in p) names.push(p.name);
        else {
          ports.lo.push(p.min);
          ports.hi.push(p.max);
        }
      }
      col.push(ports.lo.length);
      return names;
    };
    const addEntity = (scopeNs: string, e: PolicyEntity, proto: number): number => {
      const id = ent.set.length;
      const selects = e.selector !== undefined || e.namespaceSelector !== undefined;
      ent.set.push(selects ? setOf(scopeNs, e.namespaceSelector, e.selector) : -1);
      ent.notSet.push(e.notSelector ? setOf(scopeNs, e.namespaceSelector, e.notSelector) : -1);
      pushNets(e.nets, ent.net);
      pushNets(e.notNets, ent.notNet);
      const names = pushPorts(e.ports, ent.port);
      pushPorts(e.notPorts, ent.notPort); // named notPorts are refused by the reader
      if (names.length > 0) {
        // Endpoints in the entity's scope (any endpoint without a selector) that carry the named port.
        const scope = selects ? setNames[setOf(scopeNs, e.namespaceSelector, e.selector)] : 'any';
        const member = selects ? (w: number) => inScope(w, scopeNs, e.namespaceSelector) && (!e.selector || selectorMatches(e.selector, labels[w])) : () => true;
        ent.named.push(namedSetOf(scope, names, proto, member));
      } else ent.named.push(-1);
      return id;
    };
    const kAny: PolicyEntity = { nets: [], notNets: [], ports: [], notPorts: [] };
    addEntity('', kAny, 0); // entity 0: anything

    const rules = { start: new Column(), action: [] as number[], proto: [] as number[], notProto: [] as number[], src: [] as number[], dst: [] as number[] };
    const addRules = (policy: Policy, list: readonly PolicyRule[]): void => {
      rules.start.push(rules.action.length);
      for (const r of list) {
        rules.action.push(kActions[r.action]);
        rules.proto.push(r.protocol);
        rules.notProto.push(r.notProtocol);
        rules.src.push(isAny(r.source) ? 0 : addEntity(policy.namespace, r.source, r.protocol));
        rules.dst.push(isAny(r.destination) ? 0 : addEntity(policy.namespace, r.destination, r.protocol));
      }
    };
    for (const p of this.policies) {
      addRules(p, p.ingressRules);
      addRules(p, p.egressRules);
    }
    rules.start.push(rules.action.length);

    // Endpoint dispatch: which policies select each workload, per direction, in order.
    const start: [Int32Array, Int32Array] = [new Int32Array(W + 1), new Int32Array(W + 1)];
    const list: [Column, Column] = [new Column(), new Column()];
    // A namespaced policy looks at its namespace's workloads only (10k policies x 10k pods stays fast).
    const byNamespace = new Map<string, number[]>();
    const all: number[] = [];
    for (let w = 0; w < W; w++) {
      all.push(w);
      const ns = nsOf(w);
      const l = byNamespace.get(ns);
      if (l) l.push(w);
      else byNamespace.set(ns, [w]);
    }
    const perWorkload: [number[][], number[][]] = [Array.from({ length: W }, () => []), Array.from({ length: W }, () => [])];
    this.policies.forEach((p, k) => {
      for (const w of p.namespace === '' ? all : byNamespace.get(p.namespace) ?? []) {
        if (p.namespaceSelector && !selectorMatches(p.namespaceSelector, nsLabels.get(nsOf(w)) ?? {})) continue;
        if (!selectorMatches(p.selector, labels[w])) continue;
        if (p.ingress) perWorkload[DIR_INGRESS][w].push(k);
        if (p.egress) perWorkload[DIR_EGRESS][w].push(k);
      }
    });
    for (let d = 0; d < 2; d++) {
      for (let w = 0; w < W; w++) {
        start[d][w] = list[d].length;
        for (const k of perWorkload[d][w]) list[d].push(k);
      }
      start[d][W] = list[d].length;
    }

    this.start = start;
    this.list = [list[0].trim(), list[1].trim()];
    this.ruleStart = rules.start.trim();
    this.ruleAction = Uint8Array.from(rules.action);
    this.ruleProto = Uint8Array.from(rules.proto);
    this.ruleNotProto = Uint8Array.from(rules.notProto);
    this.ruleSrc = Int32Array.from(rules.src);
    this.ruleDst = Int32Array.from(rules.dst);
    this.entSet = ent.set.trim();
    this.entNotSet = ent.notSet.trim();
    this.entNamed = ent.named.trim();
    this.entNet = ent.net.trim();
    this.entNotNet = ent.notNet.trim();
    this.entPort = ent.port.trim();
    this.entNotPort = ent.notPort.trim();
    this.netBase = Uint32Array.from(nets.base);
    this.netMask = Uint32Array.from(nets.mask);
    this.portLo = Uint16Array.from(ports.lo);
    this.portHi = Uint16Array.from(ports.hi);
    this.sets = sets;
    this.setNames = setNames;
    this.namedSets = named;
    this.namedSetNames = namedNames;
  }

  /** The workload row of an address, -1 when it is no workload endpoint. One hash probe. */
  workload(ip: number): number {
    const s = this.#byIp.find(ip, 1);
    return s < 0 ? -1 : this.#byIp.rows[this.#byIp.at(s)];
  }

  /** Whether the workload is selected by any policy in direction d. */
  selected(w: number, d: number): boolean {
    return this.start[d][w + 1] > this.start[d][w];
  }

  /**
   * The verdict of workload w's policies in direction d for one new flow (PV_*), setting
   * lastPolicy / lastRule / lastSteps. Cost: one pass over the rules of the policies that select
   * w, each a few compares and at most a set probe per side (~10-30 ns a rule); no allocation.
   */
  evaluate(d: number, w: number, proto: number, srcIp: number, srcPort: number, dstIp: number, dstPort: number): number {
    const list = this.list[d];
    const end = this.start[d][w + 1];
    let k = this.start[d][w];
    this.lastPolicy = -1;
    this.lastRule = -1;
    if (k === end) {
      this.lastSteps = 0;
      return PV_NONE;
    }
    const { ruleStart, ruleAction, ruleProto, ruleNotProto, ruleSrc, ruleDst } = this;
    let steps = 0;
    for (; k < end; k++) {
      const p = list[k];
      const r0 = ruleStart[2 * p + d];
      const r1 = ruleStart[2 * p + d + 1];
      for (let r = r0; r < r1; r++) {
        steps++;
        const rp = ruleProto[r];
        if (rp !== 0 && rp !== proto) continue;
        if (ruleNotProto[r] !== 0 && ruleNotProto[r] === proto) continue;
        if (!this.#entityMatches(ruleSrc[r], proto, srcIp, srcPort)) continue;
        if (!this.#entityMatches(ruleDst[r], proto, dstIp, dstPort)) continue;
        const a = ruleAction[r];
        if (a === ACT_LOG) continue; // felix logs (the LOG target) and goes on to the next rule
        this.lastPolicy = p;
        this.lastRule = r - r0;
        this.lastSteps = steps;
        return a === ACT_ALLOW ? PV_ALLOW : a === ACT_DENY ? PV_DENY : PV_PASS;
      }
    }
    this.lastSteps = steps;
    return PV_DEFAULT_DENY;
  }

  #entityMatches(e: number, proto: number, ip: number, port: number): boolean {
    if (e === 0) return true;
    const set = this.entSet[e];
    if (set >= 0 && !this.sets[set].has(ip)) return false;
    const notSet = this.entNotSet[e];
    if (notSet >= 0 && this.sets[notSet].has(ip)) return false;
    const { netBase, netMask, portLo, portHi } = this;
    let a = this.entNet[2 * e];
    let b = this.entNet[2 * e + 1];
    if (b > a) {
      let hit = false;
      for (let i = a; i < b && !hit; i++) hit = ((ip & netMask[i]) >>> 0) === netBase[i];
      if (!hit) return false;
    }
    a = this.entNotNet[2 * e];
    b = this.entNotNet[2 * e + 1];
    for (let i = a; i < b; i++) if (((ip & netMask[i]) >>> 0) === netBase[i]) return false;
    const hasPorts = proto === PROTO_TCP || proto === PROTO_UDP || proto === PROTO_SCTP || proto === 136;
    a = this.entPort[2 * e];
    b = this.entPort[2 * e + 1];
    const named = this.entNamed[e];
    if (b > a || named >= 0) {
      if (!hasPorts) return false;
      let hit = false;
      for (let i = a; i < b && !hit; i++) hit = port >= portLo[i] && port <= portHi[i];
      if (!hit && named >= 0) hit = this.namedSets[named].find(ip, portKey(proto, port)) >= 0;
      if (!hit) return false;
    }
    a = this.entNotPort[2 * e];
    b = this.entNotPort[2 * e + 1];
    if (b > a && hasPorts) for (let i = a; i < b; i++) if (port >= portLo[i] && port <= portHi[i]) return false;
    return true;
  }
}

function isAny(e: PolicyEntity): boolean {
  return !e.selector && !e.namespaceSelector && !e.notSelector && e.nets.length === 0 && e.notNets.length === 0 && e.ports.length === 0 && e.notPorts.length === 0;
}
