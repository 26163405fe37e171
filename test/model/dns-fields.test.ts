/**
 * The cluster-DNS fields of the model (endpoint hostnames, externalName, dnsPolicy/dnsConfig,
 * KubeletConfiguration, ClusterNetwork nodeResolvConf): read as the API server validates them,
 * and every error names the object and the field.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { Diagnostic } from '../../src/model/diagnostics.js';
import { loadCluster } from '../../src/model/load.js';

function errors(text: string): Diagnostic[] {
  return loadCluster(text, 'c.yaml').diagnostics.filter((d) => d.severity === 'error');
}

function one(text: string): Pick<Diagnostic, 'kind' | 'namespace' | 'name' | 'path'> & { message: string } {
  const e = errors(text);
  assert.equal(e.length, 1, JSON.stringify(e, null, 2));
  return { kind: e[0].kind, namespace: e[0].namespace, name: e[0].name, path: e[0].path, message: e[0].message };
}

describe('cluster DNS fields', () => {
  it('an endpoint hostname must be a DNS label', () => {
    const e = one(`apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: db-1, namespace: shop, labels: {kubernetes.io/service-name: db}}
addressType: IPv4
endpoints: [{addresses: [10.244.1.20], hostname: DB_0}]`);
    assert.deepEqual({ ...e, message: undefined }, { kind: 'EndpointSlice', namespace: 'shop', name: 'db-1', path: 'endpoints[0].hostname', message: undefined });
    assert.match(e.message, /"DB_0" is not a DNS label/);
  });

  it('an ExternalName Service needs externalName', () => {
    const e = one('apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: shop}\nspec: {type: ExternalName}');
    assert.equal(e.path, 'spec.externalName');
    assert.match(e.message, /is required for an ExternalName Service/);
  });

  it('dnsPolicy None needs a nameserver, and dnsPolicy must be one of the four', () => {
    const none = one('apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {dnsPolicy: None}\nstatus: {podIP: 10.244.1.9}');
    assert.equal(none.path, 'spec.dnsConfig.nameservers');
    const bad = one('apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {dnsPolicy: ClusterLast}\nstatus: {podIP: 10.244.1.9}');
    assert.equal(bad.path, 'spec.dnsPolicy');
    assert.match(bad.message, /ClusterFirst, ClusterFirstWithHostNet, Default, None/);
  });

  it('dnsConfig searches must be DNS names and nameservers addresses', () => {
    const e = errors('apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: shop}\nspec: {dnsConfig: {nameservers: [bogus], searches: ["-bad"]}}\nstatus: {podIP: 10.244.1.9}');
    assert.deepEqual(e.map((d) => d.path).sort(), ['spec.dnsConfig.nameservers[0]', 'spec.dnsConfig.searches[0]']);
  });

  it('KubeletConfiguration: clusterDNS addresses and clusterDomain are checked; a second one is refused', () => {
    const k = (body: string) => `apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\n${body}`;
    assert.equal(one(k('clusterDNS: [10.96.0.999]')).path, 'clusterDNS[0]');
    assert.equal(one(k('clusterDomain: "Bad_Domain"')).path, 'clusterDomain');
    assert.match(one(`${k('clusterDomain: a.local')}\n---\n${k('clusterDomain: b.local')}`).message, /a second KubeletConfiguration/);
  });

  it('the DNS address: KubeletConfiguration clusterDNS first, else kube-system/kube-dns', () => {
    const dnsSvc = 'apiVersion: v1\nkind: Service\nmetadata: {name: kube-dns, namespace: kube-system}\nspec: {clusterIP: 10.96.0.10, ports: [{port: 53, protocol: UDP}]}';
    const only = loadCluster(dnsSvc).cluster!.dns;
    assert.deepEqual([only.servers, only.serversFrom, only.domain], [[0x0a60000a], 'Service kube-system/kube-dns', 'cluster.local']);
    const both = loadCluster(`${dnsSvc}\n---\napiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nclusterDNS: [169.254.20.10]`).cluster!.dns;
    assert.deepEqual([both.servers, both.serversFrom], [[0xa9fe140a], 'KubeletConfiguration clusterDNS']);
  });

  it('Namespace objects are read, not skipped', () => {
    const r = loadCluster('apiVersion: v1\nkind: Namespace\nmetadata: {name: quiet}');
    assert.deepEqual(r.diagnostics, []);
    assert.ok(r.cluster!.dns.namespaces.includes('quiet'));
  });
});
