/**
 * Every validation case of the cluster loader: the message must name the object (kind,
 * namespace/name), the field, and the line where the input has lines.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import type { Diagnostic } from '../../src/model/diagnostics.js';
import { loadCluster } from '../../src/model/load.js';
import { formatIp } from '../../src/net/ipv4.js';

function load(text: string) {
  return loadCluster(text, 'cluster.yaml');
}

/** Exactly one diagnostic of the severity matches; returns it. */
function only(diagnostics: readonly Diagnostic[], severity: Diagnostic['severity'], pattern: RegExp): Diagnostic {
  const found = diagnostics.filter((d) => d.severity === severity && pattern.test(d.message));
  assert.equal(found.length, 1, `expected one ${severity} matching ${pattern}, got:\n${JSON.stringify(diagnostics, null, 2)}`);
  return found[0];
}

const node1 = `apiVersion: v1
kind: Node
metadata: {name: node-1}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.0.11}]}`;

const web = (extra = '', clusterIP = '10.96.0.10', port = '80') => `apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  clusterIP: ${clusterIP}
  ports:
    - name: http
      port: ${port}
      targetPort: 8080${extra}`;

const slice = (service: string, ip: string, portName = 'http') => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ${service}-abc
  namespace: shop
  labels: {kubernetes.io/service-name: ${service}}
addressType: IPv4
ports: [{name: ${portName}, port: 8080, protocol: TCP}]
endpoints:
  - addresses: [${ip}]
    nodeName: node-1`;

describe('cluster validation', () => {
  it('reports unparsable JSON with its line', () => {
    const r = load('{\n  "apiVersion": "v1",\n  "kind": "List",\n  "items": [ , ]\n}');
    assert.equal(r.cluster, undefined);
    const d = only(r.diagnostics, 'error', /not valid JSON/);
    assert.equal(d.line, 4);
  });

  it('reports unparsable YAML with its line', () => {
    const r = load('apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n  namespace: x\n');
    assert.equal(r.cluster, undefined);
    const d = only(r.diagnostics, 'error', /not valid YAML/);
    assert.ok(d.line !== undefined && d.line >= 4, `line ${d.line}`);
  });

  it('skips unknown kinds with a warning and rejects objects without apiVersion or kind', () => {
    const r = load(`apiVersion: v1\nkind: Secret\nmetadata: {name: settings, namespace: app}\n---\nkind: Service\nmetadata: {name: noversion}\n---\napiVersion: v1\nmetadata: {name: nokind}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: app}\n`);
    const skipped = only(r.diagnostics, 'warning', /not a kind kdp reads/);
    assert.equal(skipped.kind, 'Secret');
    assert.equal(skipped.name, 'settings');
    assert.equal(skipped.path, 'kind');
    assert.equal(skipped.message, 'v1 Secret is not a kind kdp reads; skipped');
    // ConfigMaps are read for kube-system/cilium-config only.
    const otherMap = only(r.diagnostics, 'warning', /ConfigMap app\/settings is not one kdp reads/);
    assert.equal(otherMap.kind, 'ConfigMap');
    const noVersion = only(r.diagnostics.filter((d) => d.name === 'noversion'), 'error', /apiVersion and kind/);
    assert.equal(noVersion.path, 'apiVersion');
    assert.equal(noVersion.line, 5);
    const noKind = r.diagnostics.filter((d) => d.severity === 'error' && d.name === 'nokind');
    assert.equal(noKind.length, 1);
    assert.equal(noKind[0].path, 'kind');
    assert.equal(r.cluster, undefined);
  });

  it('rejects a malformed IP with the object, field and line', () => {
    const r = load(web('', '10.96.0.300'));
    const d = only(r.diagnostics, 'error', /not a valid IPv4 address/);
    assert.equal(d.kind, 'Service');
    assert.equal(d.namespace, 'shop');
    assert.equal(d.name, 'web');
    assert.equal(d.path, 'spec.clusterIP');
    assert.equal(d.line, 5);
    assert.match(d.message, /10\.96\.0\.300/);
  });

  it('rejects a clusterIP that differs from clusterIPs[0], as the API server does; one of the two alone, or both equal, is fine', () => {
    // Arrange: the API server's rule (validateServiceClusterIPsRelatedFields): with both set,
    // clusterIPs[0] must equal clusterIP ("first value must match `clusterIP`").
    const withIPs = (clusterIP: string, ips: string) => `${node1}\n---\n${web(`\n  clusterIPs: ${ips}`, clusterIP)}`;
    // Act
    const garbage = load(withIPs('"not-an-ip"', '[10.96.0.10]'));
    const other = load(withIPs('10.96.0.11', '[10.96.0.10]'));
    // Assert
    for (const [r, shown] of [[garbage, /"not-an-ip"/], [other, /"10\.96\.0\.11"/]] as const) {
      assert.equal(r.cluster, undefined);
      const d = only(r.diagnostics, 'error', /first value must match `clusterIP`/);
      assert.equal(d.kind, 'Service');
      assert.equal(`${d.namespace}/${d.name}`, 'shop/web');
      assert.equal(d.path, 'spec.clusterIPs');
      assert.match(d.message, shown);
      assert.match(d.message, /"10\.96\.0\.10"/);
    }
    assert.ok(load(withIPs('10.96.0.10', '[10.96.0.10]')).cluster, 'both equal');
    assert.ok(load(`${node1}\n---\n${web('\n  clusterIPs: [10.96.0.10]', '""')}`).cluster, 'clusterIP empty: the API server fills it in');
    assert.ok(load(`${node1}\n---\n${web()}`).cluster, 'clusterIP alone');
  });

  it('rejects malformed CIDRs, including host bits set', () => {
    const r = load(`apiVersion: v1\nkind: Node\nmetadata: {name: bad}\nspec:\n  podCIDR: 10.244.1.0/33\n---\napiVersion: v1\nkind: Node\nmetadata: {name: hostbits}\nspec:\n  podCIDR: 10.244.2.1/24\n`);
    const a = r.diagnostics.find((d) => d.name === 'bad')!;
    assert.equal(a.path, 'spec.podCIDR');
    assert.equal(a.line, 5);
    assert.match(a.message, /not a valid IPv4 CIDR/);
    const b = r.diagnostics.find((d) => d.name === 'hostbits')!;
    assert.equal(b.path, 'spec.podCIDR');
    assert.match(b.message, /10\.244\.2\.1\/24.*not a valid IPv4 CIDR/);
  });

  it("names an IPPool's missing or malformed spec.cidr by its path and line", () => {
    const pool = (name: string, spec: string) => `apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata: {name: ${name}}\nspec: ${spec}\n---\n`;
    const r = load(pool('missing', '{vxlanMode: Always}') + pool('bad', '{cidr: 10.300.0.0/16}'));
    const errors = r.diagnostics.filter((d) => d.severity === 'error').map((d) => [d.name, d.path, d.line, d.message.split(' (')[0]]);
    assert.deepEqual(errors, [
      ['missing', 'spec.cidr', 4, 'is required'],
      ['bad', 'spec.cidr', 9, '"10.300.0.0/16" is not a valid IPv4 CIDR'],
    ]);
    assert.equal(r.cluster, undefined);
  });

  it('rejects a clusterIP outside the ServiceCIDRs, and guesses no service CIDR without one', () => {
    const cidr = `apiVersion: networking.k8s.io/v1\nkind: ServiceCIDR\nmetadata: {name: kubernetes}\nspec: {cidrs: [10.96.0.0/16]}\n---\n`;
    const r = load(cidr + web('', '10.100.0.10'));
    const d = only(r.diagnostics, 'error', /outside the service CIDRs/);
    assert.equal(d.message, 'clusterIP 10.100.0.10 is outside the service CIDRs (10.96.0.0/16)');
    assert.equal(d.name, 'web');
    assert.equal(d.path, 'spec.clusterIP');
    assert.equal(d.line, 10);
    assert.ok(load(web('', '10.100.0.10')).cluster, 'without a ServiceCIDR any clusterIP is accepted');
  });

  it('rejects ports out of 1-65535', () => {
    const r = load(web('', '10.96.0.10', '70000'));
    const d = only(r.diagnostics, 'error', /out of range 1-65535/);
    assert.equal(d.path, 'spec.ports[0].port');
    assert.equal(d.line, 8);
    assert.equal(d.name, 'web');
  });

  it('rejects a nodePort outside the NodePort range the file declares', () => {
    const network = 'apiVersion: kdp.dev/v1alpha1\nkind: ClusterNetwork\nmetadata: {name: c}\nspec: {serviceNodePortRange: 30000-32767}\n---\n';
    const r = load(network + web('\n      nodePort: 29999\n  type: NodePort'));
    const d = only(r.diagnostics, 'error', /outside the NodePort range 30000-32767/);
    assert.equal(d.path, 'spec.ports[0].nodePort');
    assert.equal(d.line, 15);
    assert.equal(r.cluster, undefined);
  });

  it('only warns about a nodePort outside the assumed default range (kube-proxy never checks it)', () => {
    const r = load(web('\n      nodePort: 3001\n  type: NodePort'));
    const d = only(r.diagnostics, 'warning', /outside kube-apiserver's default NodePort range/);
    assert.equal(d.path, 'spec.ports[0].nodePort');
    assert.ok(r.cluster);
  });

  it('rejects two services claiming the same IP:port/protocol', () => {
    const other = web().replace('name: web', 'name: web-copy');
    const r = load(`${web()}\n---\n${other}`);
    const d = only(r.diagnostics, 'error', /already claimed by service shop\/web/);
    assert.equal(d.name, 'web-copy');
    assert.equal(d.path, 'spec.ports[0].port');
    assert.match(d.message, /10\.96\.0\.10:80\/TCP/);
  });

  it('rejects overlapping node pod CIDRs', () => {
    const node2 = node1.replace('node-1', 'node-2').replace('10.244.1.0/24', '10.244.0.0/16');
    const r = load(`${node1}\n---\n${node2}`);
    const d = only(r.diagnostics, 'error', /overlaps/);
    assert.equal(d.kind, 'Node');
    assert.ok(d.name === 'node-1' || d.name === 'node-2');
    assert.equal(d.path, 'spec.podCIDR');
  });


  it('warns about endpoints in no node pod CIDR, and still builds', () => {
    const r = load(`${node1}\n---\n${web()}\n---\n${slice('web', '10.9.9.9')}`);
    const d = only(r.diagnostics, 'warning', /lies in no node's pod CIDR/);
    assert.equal(d.kind, 'EndpointSlice');
    assert.equal(d.name, 'web-abc');
    assert.equal(d.path, 'endpoints[0].addresses[0]');
    assert.ok(r.cluster);
  });

  it('names the field of an EndpointSlice whose metadata or labels are not objects', () => {
    const broken = (meta: string) => slice('web', '10.244.1.9').replace(/metadata:\n(  .*\n)+/, `${meta}\n`);
    const r1 = load(`${node1}\n---\n${web()}\n---\n${broken('metadata: [web-abc]')}`);
    assert.equal(only(r1.diagnostics, 'error', /must be an object, not a list/).path, 'metadata');
    const r2 = load(`${node1}\n---\n${web()}\n---\n${broken('metadata: {name: web-abc, namespace: shop, labels: oops}')}`);
    const d = only(r2.diagnostics, 'error', /must be an object, not "oops"/);
    assert.equal(d.name, 'web-abc');
    assert.equal(d.path, 'metadata.labels');
  });

  it('skips, with a warning, an EndpointSlice without a service-name label or with an empty one (kube-proxy ignores both)', () => {
    for (const labels of ['labels: {app: web}', "labels: {kubernetes.io/service-name: ''}"]) {
      const unowned = slice('web', '10.244.1.9').replace(/labels: \{.*\}/, labels);
      const r = load(`${node1}\n---\n${web()}\n---\n${unowned}`);
      const d = only(r.diagnostics, 'warning', /has no "kubernetes.io\/service-name" label/);
      assert.equal(d.path, 'metadata.labels');
      assert.equal(r.diagnostics.filter((x) => /does not exist/.test(x.message)).length, 0, labels);
      assert.ok(r.cluster);
    }
  });

  it('warns about EndpointSlices naming a service that does not exist', () => {
    const r = load(`${node1}\n---\n${slice('ghost', '10.244.1.9')}`);
    const d = only(r.diagnostics, 'warning', /names service shop\/ghost, which does not exist/);
    assert.equal(d.name, 'ghost-abc');
    assert.equal(d.path, 'metadata.labels.kubernetes.io/service-name');
    assert.ok(r.cluster);
  });

  it('rejects a targetPort name that no endpoint port matches', () => {
    const named = web().replace('targetPort: 8080', 'targetPort: web-port');
    const r = load(`${node1}\n---\n${named}\n---\n${slice('web', '10.244.1.9', 'metrics')}`);
    const d = only(r.diagnostics, 'error', /targetPort "web-port" is a name/);
    assert.equal(d.name, 'web');
    assert.equal(d.path, 'spec.ports[0].targetPort');
    assert.equal(d.line, 15);
    // A numeric targetPort names nothing to blame: kube-proxy matches slice ports by name, so the
    // port has no endpoints, and the file is valid.
    const numeric = load(`${node1}\n---\n${web()}\n---\n${slice('web', '10.244.1.9', 'metrics')}`);
    assert.deepEqual(numeric.diagnostics.filter((x) => x.severity === 'error'), []);
    assert.equal(numeric.cluster!.ports[0].endpointCount, 0);
  });

  it('says IPv6 is not supported yet, naming the object', () => {
    const r = load(web('', 'fd00::10'));
    const d = only(r.diagnostics, 'error', /IPv6 is not supported yet/);
    assert.equal(d.name, 'web');
    assert.equal(d.path, 'spec.clusterIP');
    const dual = load(web().replace('spec:\n', 'spec:\n  ipFamilies: [IPv4, IPv6]\n'));
    assert.match(only(dual.diagnostics, 'error', /dual-stack/).path ?? '', /spec\.ipFamilies/);
  });

  it('reports every problem at once and yields no half-built model', () => {
    const r = load(`${web('', '10.96.0.300', '0')}\n---\n${node1.replace('10.244.1.0/24', 'nonsense')}`);
    assert.equal(r.cluster, undefined);
    assert.equal(r.diagnostics.filter((d) => d.severity === 'error').length, 3, JSON.stringify(r.diagnostics));
  });

  it('locates fields in JSON too', () => {
    const json = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', namespace: 'y' }, spec: { clusterIP: 'bad', ports: [{ port: 80 }] } }] }, null, 2);
    const d = only(loadCluster(json).diagnostics, 'error', /not a valid IPv4 address/);
    assert.equal(d.path, 'spec.clusterIP');
    assert.equal(json.split('\n')[d.line! - 1].trim(), '"clusterIP": "bad",');
  });
});

describe('inputs as real clusters write them', () => {
  it('converts legacy v1 Endpoints', () => {
    const r = load(`${web()}\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {name: web, namespace: shop}\nsubsets:\n  - addresses: [{ip: 10.244.1.2, nodeName: node-1}]\n    notReadyAddresses: [{ip: 10.244.1.3}]\n    ports: [{name: http, port: 8080}]\n`);
    const c = r.cluster!;
    assert.ok(c, JSON.stringify(r.diagnostics));
    const port = c.ports[c.services[0].ports[0]];
    assert.equal(port.endpointCount, 2);
    assert.equal(formatIp(c.endpoints.ip[port.endpointStart]), '10.244.1.2');
    assert.equal(c.endpoints.conditions[port.endpointStart + 1], 0, 'not-ready address: neither ready nor serving');
  });

  it('accepts endpoints on nodes that have no Node object', () => {
    const r = load(`${web()}\n---\n${slice('web', '10.180.0.5').replace('node-1', 'elsewhere')}`);
    const c = r.cluster!;
    assert.ok(c, JSON.stringify(r.diagnostics));
    const n = c.nodes[c.endpoints.node[0]];
    assert.equal(n.name, 'elsewhere');
    assert.equal(n.known, false);
  });

  it('treats clusterIP None as headless (no service rules)', () => {
    const r = load(web('', 'None'));
    assert.equal(r.cluster!.services[0].headless, true);
    assert.deepEqual(r.cluster!.services[0].ports, []);
  });
});

describe('the proxy mode a KubeProxyConfiguration names', () => {
  const config = (mode: string) => `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: ${mode}
---
${node1}`;

  it('is checked against the modes the caller knows, naming the field and the line', () => {
    const { cluster, diagnostics } = loadCluster(config('ipvss'), 'cluster.yaml', { modes: ['iptables', 'ipvs'] });
    assert.equal(cluster, undefined);
    const d = only(diagnostics, 'error', /must be one of iptables, ipvs, not "ipvss"/);
    assert.equal(d.kind, 'KubeProxyConfiguration');
    assert.equal(d.path, 'mode');
    assert.equal(d.line, 3);
  });

  it('is kept as written when the caller names no modes, and is empty when unset (kube-proxy default)', () => {
    assert.equal(load(config('ipvss')).cluster?.proxy.mode, 'ipvss');
    assert.equal(loadCluster(config('""'), 'cluster.yaml', { modes: ['iptables'] }).cluster?.proxy.mode, '');
  });
});

describe('nodePortAddresses in a KubeProxyConfiguration', () => {
  const config = (npa: string) => `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
nodePortAddresses: ${npa}
---
${node1}`;

  it('takes "primary" alone or CIDRs, and refuses the two together as kube-proxy does', () => {
    assert.equal(load(config('[primary]')).cluster?.proxy.nodePortPrimaryOnly, true);
    assert.equal(load(config('[192.168.0.0/24]')).cluster?.proxy.nodePortAddresses.length, 1);
    // validateKubeProxyNodePortAddress (pkg/proxy/apis/config/validation): "can't use both 'primary' and CIDRs".
    const { cluster, diagnostics } = load(config('[192.168.0.0/24, primary]'));
    assert.equal(cluster, undefined);
    assert.equal(only(diagnostics, 'error', /can't use both 'primary' and CIDRs/).path, 'nodePortAddresses[1]');
  });
});
