/**
 * Laws of Calico's policy in the pipeline, against an independent reading of the Kubernetes
 * NetworkPolicy specification and Calico's documented order, Allow/Deny/Pass/Log semantics
 * (test/helpers/netpol-oracle.ts): over random namespaces, labelled pods, Kubernetes
 * NetworkPolicies, one-rule Calico GlobalNetworkPolicies and connections (pod to pod, pod to a Service, pod to outside,
 * outside to pod), the pipeline delivers the first packet exactly when the oracle allows the
 * connection, and the answer to a delivered packet is never denied (conntrack accepts it before
 * any policy).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { resolveProbe } from '../../src/dataplane/resolve.js';
import { tracePacket } from '../../src/dataplane/trace.js';
import { connectionAllowed, type OracleGlobal, type OraclePod, type OracleWorld } from '../helpers/netpol-oracle.js';
import { clusterOf, node, proxyConfig, service, slice } from '../helpers/cluster.js';

const kNamespaces = ['a', 'b', 'c'];
const kApps = ['web', 'db', 'api'];

const podSelector = fc.oneof(
  fc.constant({}),
  fc.constantFrom(...kApps).map((app) => ({ matchLabels: { app } })),
  fc.record({ key: fc.constantFrom('app', 'tier'), operator: fc.constantFrom('In', 'NotIn'), values: fc.subarray(['web', 'db', 'fe', 'be'], { minLength: 1 }) }).map((e) => ({ matchExpressions: [e] })),
  fc.record({ key: fc.constant('tier'), operator: fc.constantFrom('Exists', 'DoesNotExist') }).map((e) => ({ matchExpressions: [e] })),
);
const namespaceSelector = fc.oneof(
  fc.constant({}),
  fc.constantFrom('x', 'y').map((team) => ({ matchLabels: { team } })),
  fc.constantFrom(...kNamespaces).map((n) => ({ matchLabels: { 'kubernetes.io/metadata.name': n } })),
  fc.subarray(['x', 'y'], { minLength: 1 }).map((values) => ({ matchExpressions: [{ key: 'team', operator: 'NotIn', values }] })),
);
const ipBlock = fc.oneof(
  fc.record({ cidr: fc.constant('10.244.0.0/16'), except: fc.subarray(['10.244.1.0/28', '10.244.2.8/29']) }),
  fc.record({ cidr: fc.constant('10.244.1.0/24'), except: fc.subarray(['10.244.1.0/28']) }),
  fc.record({ cidr: fc.constant('10.0.0.0/8'), except: fc.subarray(['10.244.0.0/16']) }),
  fc.record({ cidr: fc.constant('203.0.113.0/24') }),
);
const peer = fc.oneof(
  podSelector.map((p) => ({ podSelector: p })),
  namespaceSelector.map((n) => ({ namespaceSelector: n })),
  fc.record({ podSelector, namespaceSelector }),
  ipBlock.map((b) => ({ ipBlock: b })),
);
const port = fc.oneof(
  fc.record({ port: fc.constantFrom(80, 8080, 8081), protocol: fc.constantFrom('TCP', 'UDP') }),
  fc.record({ port: fc.constant('http') }),
  fc.record({ port: fc.constant(8000), endPort: fc.constantFrom(8080, 8100) }),
  fc.constant({ protocol: 'UDP' }),
);
const rule = (peerField: 'from' | 'to') => fc.record({ [peerField]: fc.array(peer, { maxLength: 2 }), ports: fc.array(port, { maxLength: 2 }) }, { requiredKeys: [] });
const policy = fc.record(
  {
    namespace: fc.constantFrom(...kNamespaces),
    podSelector,
    policyTypes: fc.constantFrom(['Ingress'], ['Egress'], ['Ingress', 'Egress']),
    ingress: fc.array(rule('from'), { maxLength: 2 }),
    egress: fc.array(rule('to'), { maxLength: 2 }),
  },
  { requiredKeys: ['namespace', 'podSelector'] },
);
const pod = fc.record({
  namespace: fc.constantFrom(...kNamespaces),
  app: fc.constantFrom(...kApps),
  tier: fc.option(fc.constantFrom('fe', 'be'), { nil: undefined }),
  http: fc.constantFrom(8080, 8081),
});
/** One-rule GlobalNetworkPolicies; order never 1000, so no tie with the Kubernetes policies is left to names. */
const globalPolicy = fc.record(
  {
    order: fc.constantFrom(10, 500, 999, 1001, 2000),
    dir: fc.constantFrom('Ingress' as const, 'Egress' as const),
    select: fc.oneof(fc.constant({ all: true as const }), fc.constantFrom(...kApps).map((app) => ({ app })), fc.constantFrom(...kNamespaces).map((namespace) => ({ namespace }))),
    action: fc.constantFrom('Allow' as const, 'Deny' as const, 'Pass' as const, 'Log' as const),
    peer: fc.oneof(fc.constantFrom(...kApps).map((app) => ({ app })), fc.constantFrom(...kNamespaces).map((namespace) => ({ namespace }))),
    port: fc.constantFrom(80, 8080),
  },
  { requiredKeys: ['order', 'dir', 'select', 'action'] },
);

function globalObject(g: OracleGlobal, i: number): object {
  const selector = 'all' in g.select ? 'all()' : 'app' in g.select ? `app == '${g.select.app}'` : `projectcalico.org/namespace == '${g.select.namespace}'`;
  const peer = !g.peer ? {} : 'app' in g.peer ? { selector: `app == '${g.peer.app}'` } : { namespaceSelector: `kubernetes.io/metadata.name == '${g.peer.namespace}'` };
  const ports = g.port !== undefined ? { ports: [g.port] } : {};
  const rule = g.dir === 'Ingress' ? { action: g.action, ...(g.port !== undefined ? { protocol: 'TCP' } : {}), source: peer, destination: ports } : { action: g.action, ...(g.port !== undefined ? { protocol: 'TCP' } : {}), destination: { ...peer, ...ports } };
  return { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: `g${i}` }, spec: { order: g.order, selector, types: [g.dir], [g.dir === 'Ingress' ? 'ingress' : 'egress']: [rule] } };
}

const world = fc.record({
  globals: fc.array(globalPolicy, { maxLength: 3 }),
  teams: fc.tuple(fc.option(fc.constantFrom('x', 'y')), fc.option(fc.constantFrom('x', 'y')), fc.option(fc.constantFrom('x', 'y'))),
  pods: fc.array(pod, { minLength: 2, maxLength: 6 }),
  policies: fc.array(policy, { maxLength: 4 }),
  backend: fc.nat(),
});
/** A connection: from pod s (or outside), to pod d (or its Service, or outside), on a port. */
const connection = fc.record({ from: fc.nat(), to: fc.nat(), kind: fc.constantFrom('pod', 'pod', 'service', 'outside', 'from-outside'), dport: fc.constantFrom(80, 8080, 8081, 8090), proto: fc.constantFrom('tcp', 'udp') });

type World = typeof world extends fc.Arbitrary<infer T> ? T : never;

function build(w: World) {
  const pods: OraclePod[] = w.pods.map((p, i) => ({
    namespace: p.namespace,
    labels: { app: p.app, ...(p.tier ? { tier: p.tier } : {}) },
    ip: `10.244.${1 + (i % 2)}.${10 + i}`,
    ports: [{ name: 'http', containerPort: p.http }],
  }));
  const namespaceLabels: Record<string, Record<string, string>> = {};
  kNamespaces.forEach((n, i) => (namespaceLabels[n] = w.teams[i] ? { team: w.teams[i]! } : {}));
  const policies = w.policies.map((p, i) => {
    const spec: Record<string, unknown> = { podSelector: p.podSelector };
    if (p.policyTypes) spec.policyTypes = p.policyTypes;
    if (p.ingress) spec.ingress = p.ingress;
    if (p.egress) spec.egress = p.egress;
    return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: p.namespace, name: `p${i}` }, spec };
  });
  const backend = w.backend % pods.length;
  const objects = [
    proxyConfig({ mode: 'iptables', clusterCIDR: '10.244.0.0/16' }),
    { apiVersion: 'crd.projectcalico.org/v1', kind: 'IPPool', metadata: { name: 'pool' }, spec: { cidr: '10.244.0.0/16', blockSize: 24, ipipMode: 'Always' } },
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    node('node-2', '10.244.2.0/24', '192.168.0.12'),
    ...kNamespaces.map((n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: n, labels: namespaceLabels[n] } })),
    ...pods.map((p, i) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { namespace: p.namespace, name: `pod${i}`, labels: p.labels },
      spec: { nodeName: `node-${1 + (i % 2)}`, containers: [{ name: 'c', ports: p.ports }] },
      status: { podIP: p.ip },
    })),
    service(pods[backend].namespace, 'svc', { clusterIP: '10.96.0.10', ports: [{ name: 'p', port: 80, targetPort: 8080 }, { name: 'u', port: 80, protocol: 'UDP', targetPort: 8080 }] }),
    slice(pods[backend].namespace, 'svc', [{ name: 'p', port: 8080 }, { name: 'u', port: 8080, protocol: 'UDP' }], [{ ip: pods[backend].ip, node: `node-${1 + (backend % 2)}` }]),
    ...policies,
    ...w.globals.map(globalObject),
  ];
  const oracle: OracleWorld = { pods, namespaceLabels, policies, globals: w.globals };
  return { compiled: new CompiledCluster(clusterOf(...objects), 'iptables'), oracle, pods, backend };
}

describe('Calico policy against the NetworkPolicy specification', () => {
  it('a connection is delivered exactly when the specification (and Calico\'s order, Deny, Pass, Log) allows it, and its answer is never denied', () => {
    fc.assert(
      fc.property(world, fc.array(connection, { minLength: 1, maxLength: 6 }), (w, connections) => {
        const { compiled, oracle, pods, backend } = build(w);
        const ctx = new PipelineContext(compiled);
        connections.forEach((c, k) => {
          const s = pods[c.from % pods.length];
          const d = pods[c.to % pods.length];
          const sport = 40000 + k;
          let src = `${s.ip}:${sport}`;
          let dst = `${d.ip}:${c.dport}`;
          let expectSrc = s.ip;
          let expectDst = d.ip;
          let expectPort = c.dport;
          if (c.kind === 'service') {
            dst = '10.96.0.10:80';
            expectDst = pods[backend].ip;
            expectPort = 8080;
          } else if (c.kind === 'outside') {
            dst = `203.0.113.7:${c.dport}`;
            expectDst = '203.0.113.7';
          } else if (c.kind === 'from-outside') {
            src = `203.0.113.9:${sport}`;
            expectSrc = '203.0.113.9';
          } else if (s === d) return; // a pod to itself never leaves its namespace
          const probe = resolveProbe(compiled.cluster, compiled.plan, { src, dst, proto: c.proto });
          const { result } = tracePacket(ctx, probe, { reply: true });
          const allowed = connectionAllowed(oracle, expectSrc, expectDst, c.proto.toUpperCase(), expectPort);
          const what = `${c.proto} ${src} -> ${dst}: ${result.verdict} (${result.dropReason}), policy ${JSON.stringify(result.policy)}`;
          assert.equal(result.verdict === 'delivered', allowed, `${what}; the specification says ${allowed ? 'allowed' : 'denied'}`);
          if (!allowed) assert.equal(result.dropReason, 'policy', what);
          if (allowed) assert.equal(result.reply?.verdict, 'delivered', `the answer to ${what} was ${result.reply?.verdict} (${result.reply?.dropReason})`);
        });
      }),
      { numRuns: Number(process.env.KDP_POLICY_RUNS ?? 300) },
    );
  });
});
