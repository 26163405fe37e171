/**
 * A field written as null, or a string field written empty, is read as if it were absent: Go's
 * JSON decoding (Kubernetes' and Calico's API types) leaves a nil pointer or a zero value for
 * both, and the API treats that as not set. NetworkPolicy `endPort: null` is no range (networking/v1
 * NetworkPolicyPort.EndPort is *int32); a Calico selector "" is no selector (the default all() of
 * the policy, no constraint in a rule), and a rule protocol "" or null is any protocol
 * (numorstring.Protocol pointer left nil). Each row loads two files that differ only in that field
 * and asks for the same model and no diagnostic.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { loadCluster } from '../../src/model/load.js';

const np = (port: string) =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: shop}\nspec: {podSelector: {}, policyTypes: [Ingress], ingress: [{ports: [${port}]}]}\n`;
const gnp = (spec: string) => `apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: ${spec}\n`;

const kRows: readonly [string, string, string][] = [
  ['NetworkPolicy endPort: null', np('{protocol: TCP, port: 80, endPort: null}'), np('{protocol: TCP, port: 80}')],
  ['Calico policy selector: ""', gnp("{selector: '', ingress: [{action: Allow}]}"), gnp('{ingress: [{action: Allow}]}')],
  ['Calico policy selector: null', gnp('{selector: null, ingress: [{action: Allow}]}'), gnp('{ingress: [{action: Allow}]}')],
  ['Calico rule source selector: ""', gnp("{selector: all(), ingress: [{action: Allow, source: {selector: ''}}]}"), gnp('{selector: all(), ingress: [{action: Allow, source: {}}]}')],
  ['Calico rule source selector: null', gnp('{selector: all(), ingress: [{action: Allow, source: {selector: null}}]}'), gnp('{selector: all(), ingress: [{action: Allow, source: {}}]}')],
  ['Calico rule protocol: ""', gnp("{selector: all(), ingress: [{action: Allow, protocol: ''}]}"), gnp('{selector: all(), ingress: [{action: Allow}]}')],
  ['Calico rule protocol: null', gnp('{selector: all(), ingress: [{action: Allow, protocol: null}]}'), gnp('{selector: all(), ingress: [{action: Allow}]}')],
];

describe('null or empty is absent', () => {
  for (const [name, given, without] of kRows) {
    it(name, () => {
      const a = loadCluster(given);
      const b = loadCluster(without);
      assert.deepEqual(a.diagnostics.filter((d) => d.severity === 'error'), []);
      assert.ok(a.cluster && b.cluster);
      assert.deepEqual(a.cluster.policies, b.cluster.policies);
      assert.ok(a.cluster.policies.length > 0);
    });
  }
});

describe('a Service clusterIP written empty is absent', () => {
  // core/v1 ServiceSpec.ClusterIP is a string: "" is its zero value, "not set" (the API server
  // allocates one on create), and Go's JSON decoding leaves a string null decodes into as ""; clusterIPs
  // entries likewise.
  const svc = (field: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {${field}ports: [{port: 80}]}\n`;
  for (const field of ['clusterIP: "", ', 'clusterIPs: [""], ', 'clusterIP: null, ', 'clusterIPs: [null], ']) {
    it(field.trim().replace(/,$/, ''), () => {
      const a = loadCluster(svc(field));
      const b = loadCluster(svc(''));
      assert.deepEqual(a.diagnostics.filter((d) => d.severity === 'error'), []);
      assert.ok(a.cluster && b.cluster);
      assert.deepEqual(a.cluster.services, b.cluster.services);
    });
  }
});
