/**
 * A bad value in a cluster file is named by the object, the path of the field as the file spells
 * it, and the line: one row per field, each written by hand from the YAML beside it (the path is
 * read off the text, not off kdp's readers). The warnings a file may also earn (a policy on a
 * cluster whose CNI enforces none, an Endpoints of no Service) are not what these rows test.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { loadCluster } from '../../src/model/load.js';

const gnp = (spec: string) => `apiVersion: crd.projectcalico.org/v1\nkind: GlobalNetworkPolicy\nmetadata: {name: p}\nspec: ${spec}\n`;
const pool = (spec: string) => `apiVersion: crd.projectcalico.org/v1\nkind: IPPool\nmetadata: {name: pool}\nspec: ${spec}\n`;

const svc = (extra: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {type: LoadBalancer, clusterIP: 10.96.0.10, ports: [{port: 80}], ${extra}}\n`;

const kRows: readonly [string, string, string, string][] = [
  ["a Service's second external IP", svc('externalIPs: [10.0.0.1, bad]'), 'spec.externalIPs[1]', '"bad" is not a valid IPv4 address'],
  ["a Service's second source range", svc('loadBalancerSourceRanges: [10.0.0.0/8, 300.1.0.0/16]'), 'spec.loadBalancerSourceRanges[1]', '"300.1.0.0/16" is not a valid IPv4 CIDR'],
  ['IPPool ipipMode', pool('{cidr: 10.244.0.0/16, ipipMode: Sometimes}'), 'spec.ipipMode', 'must be one of Never, Always, CrossSubnet, not "Sometimes"'],
  ['IPPool vxlanMode', pool('{cidr: 10.244.0.0/16, vxlanMode: 3}'), 'spec.vxlanMode', 'must be one of Never, Always, CrossSubnet, not 3'],
  [
    "Endpoints address's nodeName",
    'apiVersion: v1\nkind: Endpoints\nmetadata: {name: web, namespace: shop}\nsubsets: [{addresses: [{ip: 10.244.1.9, nodeName: 7}], ports: [{port: 8080}]}]\n',
    'subsets[0].addresses[0].nodeName',
    'must be a string, not 7',
  ],
  ['GlobalNetworkPolicy spec', gnp('x'), 'spec', 'must be an object, not "x"'],
  ['Pod spec', 'apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: [x]\nstatus: {podIP: 10.244.1.9}\n', 'spec', 'must be an object, not a list'],
  ['Calico tier', gnp('{tier: security, selector: all()}'), 'spec.tier', 'tier "security": kdp models Calico\'s default tier only'],
  ['rule protocol', gnp('{selector: all(), ingress: [{action: Allow, protocol: GRE}]}'), 'spec.ingress[0].protocol', 'must be TCP, UDP, ICMP, SCTP, UDPLite or a number 1-255, not "GRE"'],
  ['rule source', gnp('{selector: all(), ingress: [{action: Allow, source: x}]}'), 'spec.ingress[0].source', 'must be an object, not "x"'],
  ['rule destination', gnp('{selector: all(), egress: [{action: Deny, destination: 5}]}'), 'spec.egress[0].destination', 'must be an object, not 5'],
  ['a port range upside down', gnp('{selector: all(), ingress: [{action: Allow, protocol: TCP, destination: {ports: ["9100:9000"]}}]}'), 'spec.ingress[0].destination.ports[0]', '"9100:9000" is not a port range within 0-65535 with min <= max'],
  ['KubeProxyConfiguration conntrack.tcpBeLiberal', 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\nconntrack: {tcpBeLiberal: "yes"}\n', 'conntrack.tcpBeLiberal', 'must be true or false, not "yes"'],
  [
    'cilium-config service-no-backend-response',
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cilium-config, namespace: kube-system}\ndata: {service-no-backend-response: bogus}\n',
    'data.service-no-backend-response',
    'must be one of reject, drop, not "bogus"',
  ],
  [
    "an EndpointSlice port's name",
    'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}\nports: [{name: http, port: 8080}, {name: 7, port: 8443}]\naddressType: IPv4\nendpoints: []\n',
    'ports[1].name',
    'must be a string, not 7',
  ],
  ["a Node's second podCIDR", 'apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec: {podCIDRs: [10.244.1.0/24, bad]}\n', 'spec.podCIDRs[1]', '"bad" is not a valid IPv4 CIDR'],
  ["a Node's address entry", 'apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: Hostname, address: n1}, x]}\n', 'status.addresses[1]', 'must be an object, not "x"'],
  ["a Node's InternalIP", 'apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nstatus: {addresses: [{type: Hostname, address: n1}, {type: InternalIP, address: bad}]}\n', 'status.addresses[1].address', '"bad" is not a valid IPv4 address'],
  ["a Service's ports", 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {clusterIP: 10.96.0.10, ports: x}\n', 'spec.ports', 'must be a list, not "x"'],
  ['KubeProxyConfiguration nodePortAddresses, the second CIDR', 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: iptables\nnodePortAddresses: [10.0.0.0/8, bad]\n', 'nodePortAddresses[1]', '"bad" is not a valid IPv4 CIDR'],
  ["a Service's second IPv4 cluster IP", 'apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {clusterIPs: [10.96.0.10, 10.96.0.11], ports: [{port: 80}]}\n', 'spec.clusterIPs[1]', '"10.96.0.11": a Service has at most one cluster IP per IP family, and 10.96.0.10 is its IPv4 one'],
  ['GlobalNetworkPolicy egress', gnp('{selector: all(), egress: x}'), 'spec.egress', 'must be a list, not "x"'],
  ['rule destination notNets', gnp('{selector: all(), ingress: [{action: Allow, destination: {notNets: [bad]}}]}'), 'spec.ingress[0].destination.notNets[0]', '"bad" is not a valid IPv4 CIDR'],
];

describe('a bad field is named by its path and line', () => {
  for (const [name, yaml, path, message] of kRows) {
    it(name, () => {
      const r = loadCluster(yaml);
      const errors = r.diagnostics.filter((d) => d.severity === 'error');
      assert.deepEqual(
        errors.map((d) => [d.path, d.line, d.message.split(' (')[0]]),
        [[path, 4, message]],
      );
      assert.equal(r.cluster, undefined);
    });
  }
});

describe('a bad address says why', () => {
  it('the IPv4 diagnostic gives the reason after the value, in brackets', () => {
    const r = loadCluster(svc('externalIPs: [10.0.0.300]'));
    const [e] = r.diagnostics.filter((d) => d.severity === 'error');
    assert.match(e.message, /^"10\.0\.0\.300" is not a valid IPv4 address \(.+\)$/);
  });
});

describe('an Endpoints without a name', () => {
  it('is one error, at metadata.name, and its addresses are not read', () => {
    const r = loadCluster('apiVersion: v1\nkind: Endpoints\nmetadata: {namespace: shop}\nsubsets: [{addresses: [{ip: 10.244.1.9, nodeName: 7}], ports: [{port: 8080}]}]\n');
    assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error').map((d) => d.path), ['metadata.name']);
    assert.equal(r.cluster, undefined);
  });
});

describe('a Pod the kubelet has not given an address yet', () => {
  // A Pending pod has no status.podIP (or an empty one, as some dumps write it): nothing to route
  // to, and nothing wrong with the file.
  for (const status of ['{}', "{podIP: ''}", '{podIPs: []}']) {
    it(`status ${status}: left out, no diagnostic`, () => {
      const r = loadCluster(`apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: shop}\nspec: {nodeName: node-1}\nstatus: ${status}\n`);
      assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error'), []);
      assert.equal(r.cluster!.pods.length, 0);
    });
  }
});

describe("Calico's numorstring.Port in a policy rule", () => {
  it('a number, a number as text, a range "min:max" and a port name, in the order written', () => {
    const r = loadCluster(gnp('{selector: all(), ingress: [{action: Allow, protocol: TCP, destination: {ports: [8080, "70", "9000:9100", http]}}]}'));
    assert.deepEqual(r.diagnostics.filter((d) => d.severity === 'error'), []);
    assert.deepEqual(r.cluster!.policies[0].ingressRules[0].destination.ports, [{ min: 8080, max: 8080 }, { min: 70, max: 70 }, { min: 9000, max: 9100 }, { name: 'http' }]);
  });
});
