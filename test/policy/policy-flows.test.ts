/**
 * Packet-flow table for Calico's policy (test/fixtures/policy-cluster.yaml): the cases issue 15's
 * Done-when names, each with what the Kubernetes and Calico documentation say, checked in
 * `kdp trace`'s JSON (verdict, dropReason, policy.egress / policy.ingress, the hop's words).
 *
 *  - Kubernetes "Default deny all ingress traffic": pods of prod take nothing unless a policy allows it.
 *  - "Allow from a namespace" (namespaceSelector): monitoring may reach web's named port metrics.
 *  - ipBlock with except, egress: dev/client may reach 10.244.0.0/16 except 10.244.2.0/24, nothing else.
 *  - Calico GlobalNetworkPolicy order: deny-dev-to-db (order 10) denies before the Kubernetes
 *    policies (order 1000) are looked at; pass-ops (order 100) passes ops' traffic out of the
 *    tier, past the Kubernetes default deny, to the namespace profile, which allows (Calico
 *    "Pass: skips to the next tier ... if none, the profiles apply"); its Log rule goes on.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { resolveProbe } from '../../src/dataplane/resolve.js';
import { tracePacket, type TraceResult } from '../../src/dataplane/trace.js';
import { loadCluster } from '../../src/model/load.js';
import { fixturePath, loadFixture } from '../helpers/cluster.js';

type Side = { verdict: 'allow' | 'deny' | 'none'; policy: string | null; rule: number | null };
interface Case {
  readonly name: string;
  readonly src: string;
  readonly dst: string;
  readonly proto?: string;
  readonly verdict: TraceResult['verdict'];
  readonly egress: Side;
  readonly ingress: Side;
  /** Words a hop must say (none: no policy chain on the path). */
  readonly hop: string | null;
}

const none: Side = { verdict: 'none', policy: null, rule: null };
const defaultDeny: Side = { verdict: 'deny', policy: null, rule: null };

const kCases: readonly Case[] = [
  { name: 'default deny: monitoring to web on a port no policy opens', src: 'pod/monitoring/prometheus', dst: '10.244.2.10:8080', verdict: 'dropped', egress: none, ingress: defaultDeny, hop: 'default deny' },
  { name: 'default deny: dev to web', src: 'pod/dev/tester', dst: '10.244.2.10:8080', verdict: 'dropped', egress: none, ingress: defaultDeny, hop: 'default deny' },
  { name: 'allow from a namespace, on the named port', src: 'pod/monitoring/prometheus', dst: '10.244.2.10:9090', verdict: 'delivered', egress: none, ingress: { verdict: 'allow', policy: 'prod/allow-monitoring', rule: 0 }, hop: 'policy: prod/allow-monitoring allowed' },
  { name: 'allow from the same namespace, through the Service (policy sees the endpoint)', src: 'pod/prod/frontend', dst: 'svc/prod/web:http', verdict: 'delivered', egress: none, ingress: { verdict: 'allow', policy: 'prod/allow-same-namespace', rule: 0 }, hop: 'policy: prod/allow-same-namespace allowed' },
  { name: 'ipBlock egress: inside the cidr', src: 'pod/dev/client', dst: '10.244.1.20:8080', verdict: 'delivered', egress: { verdict: 'allow', policy: 'dev/egress-ipblock', rule: 0 }, ingress: none, hop: 'policy: dev/egress-ipblock allowed' },
  { name: 'ipBlock egress: in the except', src: 'pod/dev/client', dst: '10.244.2.10:8080', verdict: 'dropped', egress: defaultDeny, ingress: none, hop: 'default deny' },
  { name: 'ipBlock egress: outside the cidr (DNS to the internet)', src: 'pod/dev/client', dst: '8.8.8.8:53', proto: 'udp', verdict: 'dropped', egress: defaultDeny, ingress: none, hop: 'default deny' },
  { name: 'no policy selects the workload: open', src: 'pod/prod/web', dst: '10.244.1.20:9090', verdict: 'delivered', egress: none, ingress: none, hop: 'no policy selects the workload' },
  { name: "the node's own packets to its workloads are not policed (kubelet probes through a default deny)", src: '192.168.0.12', dst: '10.244.2.10:8080', verdict: 'delivered', egress: none, ingress: none, hop: null },
  { name: 'GlobalNetworkPolicy order 10 Deny wins over the Kubernetes allow at 1000', src: 'pod/dev/tester', dst: '10.244.2.11:5432', verdict: 'dropped', egress: none, ingress: { verdict: 'deny', policy: 'deny-dev-to-db', rule: 0 }, hop: 'policy: deny-dev-to-db denied' },
  { name: 'GlobalNetworkPolicy Pass skips the Kubernetes default deny: the profile allows', src: 'pod/ops/toolbox', dst: '10.244.2.11:5432', verdict: 'delivered', egress: none, ingress: { verdict: 'allow', policy: 'pass-ops', rule: 1 }, hop: 'policy: pass-ops passed' },
  { name: 'same namespace is still allowed to the db (Deny matches dev only)', src: 'pod/prod/frontend', dst: '10.244.2.11:5432', verdict: 'delivered', egress: none, ingress: { verdict: 'allow', policy: 'prod/allow-same-namespace', rule: 0 }, hop: 'policy: prod/allow-same-namespace allowed' },
];

describe('Calico policy: packet-flow table', () => {
  const compiled = new CompiledCluster(loadFixture('policy-cluster.yaml'), 'iptables');
  for (const c of kCases) {
    it(c.name, () => {
      const ctx = new PipelineContext(compiled);
      const probe = resolveProbe(compiled.cluster, compiled.plan, { src: c.src, dst: c.dst, ...(c.proto ? { proto: c.proto } : {}) });
      const { result } = tracePacket(ctx, probe, { reply: true });
      assert.equal(result.verdict, c.verdict);
      assert.equal(result.dropReason, c.verdict === 'dropped' ? 'policy' : null);
      assert.deepEqual(result.policy, { egress: c.egress, ingress: c.ingress });
      const chains = result.hops.filter((h) => h.at.startsWith('cali-'));
      if (c.hop === null) assert.deepEqual(chains, []);
      else {
        const decisive = chains.find((h) => h.action.startsWith(c.hop!));
        assert.ok(decisive, result.hops.map((h) => `${h.at}: ${h.action}`).join('\n'));
        // The hop that decided says so when it dropped the packet, and only then.
        assert.equal(decisive.action.endsWith(': dropped'), c.verdict === 'dropped', decisive.action);
      }
      // Replies are never denied: conntrack accepts them before any policy.
      if (c.verdict === 'delivered') {
        assert.ok(result.reply?.verdict === 'delivered' || result.reply?.verdict === 'local', `reply ${result.reply?.verdict}`);
        assert.deepEqual(result.reply?.policy, { egress: none, ingress: none });
      }
    });
  }

  it('an established flow is not policed again (conntrack accepts it first)', () => {
    const ctx = new PipelineContext(compiled);
    const probe = resolveProbe(compiled.cluster, compiled.plan, { src: 'pod/monitoring/prometheus', dst: '10.244.2.10:9090' });
    assert.equal(tracePacket(ctx, probe).result.verdict, 'delivered');
    const again = tracePacket(ctx, probe).result;
    assert.equal(again.verdict, 'delivered');
    assert.ok(!again.hops.some((h) => h.at.startsWith('cali-')), 'a second packet of the flow met a policy chain');
  });

  it('on kubenet (and flannel) the same policies are not enforced, and kdp says so', () => {
    for (const cni of ['kubenet', 'flannel-vxlan']) {
      const fixture = readFileSync(fixturePath('policy-cluster.yaml'), 'utf8');
      const pool = /apiVersion: crd\.projectcalico\.org\/v1\nkind: IPPool\n.*\n.*\n/.exec(fixture);
      assert.ok(pool, 'the fixture has an IPPool');
      const text = fixture.replace(pool[0], `apiVersion: kdp.dev/v1alpha1\nkind: ClusterNetwork\nmetadata: {name: cluster}\nspec: {cni: ${cni}}\n`);
      const { cluster, diagnostics } = loadCluster(text, 'policy.yaml');
      assert.ok(cluster, diagnostics.map((d) => d.message).join('\n'));
      assert.ok(diagnostics.some((d) => d.severity === 'warning' && d.message.includes('not enforced') && d.message.includes(cni)), JSON.stringify(diagnostics));
      const c = new CompiledCluster(cluster, 'iptables');
      const ctx = new PipelineContext(c);
      const probe = resolveProbe(c.cluster, c.plan, { src: 'pod/dev/tester', dst: '10.244.2.11:5432' });
      const { result } = tracePacket(ctx, probe);
      assert.equal(result.verdict, 'delivered');
      assert.deepEqual(result.policy, { egress: none, ingress: none });
    }
  });

  it('a Calico cluster with no policy at all: every workload open, and no policy chain on the path (felix\'s chains send it to the profile\'s allow; kdp skips the stage)', () => {
    const docs = readFileSync(fixturePath('policy-cluster.yaml'), 'utf8').split(/^---$/m);
    const text = docs.filter((d) => !/^kind: (NetworkPolicy|GlobalNetworkPolicy)$/m.test(d)).join('---');
    const { cluster, diagnostics } = loadCluster(text, 'no-policy.yaml');
    assert.ok(cluster, diagnostics.map((d) => d.message).join('\n'));
    assert.equal(cluster.policies.length, 0);
    const c = new CompiledCluster(cluster, 'iptables');
    for (const [src, dst] of [['pod/dev/tester', '10.244.2.11:5432'], ['pod/monitoring/prometheus', '10.244.2.10:8080']]) {
      const { result } = tracePacket(new PipelineContext(c), resolveProbe(c.cluster, c.plan, { src, dst }));
      assert.equal(result.verdict, 'delivered', `${src} -> ${dst}`);
      assert.deepEqual(result.policy, { egress: none, ingress: none });
      assert.ok(!result.hops.some((h) => h.at.startsWith('cali-')), `${src} -> ${dst} met a policy chain: ${result.hops.map((h) => h.at).join(', ')}`);
    }
  });

  it('validation errors name the object and the field', () => {
    const bad = [
      { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'p' }, spec: { podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['11.0.0.0/16'] } }] }] } },
      { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'g' }, spec: { selector: "app == 'x' &&", ingress: [{ action: 'Allow' }] } },
      { apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { namespace: 'x', name: 'c' }, spec: { ingress: [{ action: 'Reject' }] } },
    ];
    const { diagnostics } = loadCluster(JSON.stringify({ apiVersion: 'v1', kind: 'List', items: bad }), 'bad.json');
    const errors = diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.kind} ${d.namespace ?? ''}/${d.name} ${d.path}`);
    assert.deepEqual(errors, ['NetworkPolicy x/p spec.ingress[0].from[0].ipBlock.except[0]', 'GlobalNetworkPolicy /g spec.selector', 'NetworkPolicy x/c spec.ingress[0].action']);
  });
});
