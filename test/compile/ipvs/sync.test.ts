/** Sync cost: what kube-proxy's IPVS mode changes from scratch, and for one real server or one service. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { compileIpvs, ipvsIpsetEntries, ipvsSyncDelta, kIpvsIpsets } from '../../../src/compile/ipvs/index.js';
import { clusterFromObjects } from '../../../src/model/load.js';
import { fixturePath, service, slice } from '../../helpers/cluster.js';

type Obj = Record<string, any>;
const base = (): Obj[] => parseAllDocuments(readFileSync(fixturePath('small-cluster.yaml'), 'utf8')).map((d) => d.toJSON() as Obj);

function withExtraWebEndpoint(): Obj[] {
  const objs = base();
  const web = objs.find((o) => o.kind === 'EndpointSlice' && o.metadata.name === 'web-7x2kq')!;
  web.endpoints.push({ addresses: ['10.244.1.6'], conditions: { ready: true }, nodeName: 'node-1' });
  return objs;
}

const node1 = (objs: Obj[]) => compileIpvs(clusterFromObjects(objs), { node: 'node-1' });

test('sync from scratch: every virtual service, real server, set entry and address', () => {
  const d = ipvsSyncDelta(null, node1(base()));
  assert.equal(d.virtualServicesAdded, 6);
  assert.equal(d.realServersAdded, 9);
  assert.equal(d.ipvsadm.length, 15);
  assert.equal(d.addresses.length, 4);
  assert.equal(d.ipsetAdded, d.ipset.length);
  assert.ok(d.ipsetAdded >= 16);
  assert.equal(d.calls, d.ipvsadm.length + d.ipset.length + d.addresses.length);
  assert.ok(d.iptablesRestoreBytes > 2000);
  // The set entries are added set by set, each in `ipset save` order (oracle: the sorted entries).
  const saved = ipvsIpsetEntries(node1(base()));
  assert.deepEqual(d.ipset, kIpvsIpsets.flatMap((s) => saved.get(s.name)!.map((e) => `add ${s.name} ${e}`)));
});

test('adding one endpoint: one -a per virtual service of the port, one KUBE-LOOP-BACK entry', () => {
  const d = ipvsSyncDelta(node1(base()), node1(withExtraWebEndpoint()));
  assert.deepEqual(d.ipvsadm, ['-a -t 10.96.0.10:80 -r 10.244.1.6:8080 -m -w 1']);
  assert.deepEqual(d.ipset, ['add KUBE-LOOP-BACK 10.244.1.6,tcp:8080,10.244.1.6']);
  assert.deepEqual(d.addresses, []);
  assert.equal(d.iptablesLinesChanged, 0);
  assert.equal(d.commandBytes, '-a -t 10.96.0.10:80 -r 10.244.1.6:8080 -m -w 1\n'.length + 'add KUBE-LOOP-BACK 10.244.1.6,tcp:8080,10.244.1.6\n'.length);
});

test('removing one endpoint: deleted at once, or quiesced to weight 0 while it has connections', () => {
  const d = ipvsSyncDelta(node1(withExtraWebEndpoint()), node1(base()));
  assert.deepEqual(d.ipvsadm, ['-d -t 10.96.0.10:80 -r 10.244.1.6:8080']);
  assert.deepEqual(d.ipset, ['del KUBE-LOOP-BACK 10.244.1.6,tcp:8080,10.244.1.6']);
  const busy = ipvsSyncDelta(node1(withExtraWebEndpoint()), node1(base()), { busy: () => true });
  assert.deepEqual(busy.ipvsadm, ['-e -t 10.96.0.10:80 -r 10.244.1.6:8080 -m -w 0']);
});

test('adding and removing one service: -A/-a, set entries, the kube-ipvs0 address; then -D', () => {
  const more = [...base(), service('default', 'extra', { clusterIP: '10.96.0.99', ports: [{ name: 'h', port: 8080, protocol: 'TCP' }] }), slice('default', 'extra', [{ name: 'h', port: 9090 }], [{ ip: '10.244.2.50', node: 'node-2' }], 'extra-1')];
  const d = ipvsSyncDelta(node1(base()), node1(more));
  assert.deepEqual(d.ipvsadm, ['-A -t 10.96.0.99:8080 -s rr', '-a -t 10.96.0.99:8080 -r 10.244.2.50:9090 -m -w 1']);
  assert.deepEqual([...d.ipset].sort(), ['add KUBE-CLUSTER-IP 10.96.0.99,tcp:8080', 'add KUBE-IPVS-IPS 10.96.0.99']);
  assert.deepEqual(d.addresses, ['ip addr add 10.96.0.99/32 dev kube-ipvs0']);
  // IPVS mode's iptables rules do not grow with services: the restore payload is the same.
  assert.equal(d.iptablesLinesChanged, 0);
  const back = ipvsSyncDelta(node1(more), node1(base()));
  assert.deepEqual(back.ipvsadm, ['-D -t 10.96.0.99:8080']);
  assert.equal(back.realServersRemoved, 1);
  assert.deepEqual(back.addresses, ['ip addr del 10.96.0.99/32 dev kube-ipvs0']);
});
