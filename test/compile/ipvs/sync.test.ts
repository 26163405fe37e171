/** Sync cost: what kube-proxy's IPVS mode changes from scratch, and for one real server or one service. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { compileIpvs, ipvsIpsetEntries, ipvsSyncDelta, kIpvsIpsets } from '../../../src/compile/ipvs/index.js';
import { modeNamed } from '../../../src/compile/index.js';
import type { IpvsSyncDelta } from '../../../src/compile/ipvs/sync.js';
import { updateIpvsEndpoints } from '../../../src/compile/ipvs/update.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { Prng } from '../../../src/model/prng.js';
import { randomEndpointChange } from '../../helpers/endpoint-change.js';
import type { Cluster } from '../../../src/model/types.js';
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

/**
 * Law: the one-endpoint sync, which compares only the changed Services' virtual services (and the
 * sets, addresses and payload whole), writes what the whole delta writes, and its full sync,
 * counted without keeping a command, what a sync from an empty node writes. Oracle: ipvsSyncDelta
 * over both whole states. Synthetic clusters (NodePorts, LoadBalancers, externalIPs, affinity,
 * traffic policies), rr and mh, both nodes; endpoint conditions changed at random in 1-3 random
 * Services, sometimes every endpoint of one off; and again over the tables the change was written
 * into in place (updateIpvsEndpoints), as a node's tables are after the sweep's timed updates.
 */
test('law: the one-endpoint sync writes what the whole delta writes', () => {
  const ipvs = modeNamed('ipvs');
  const size = (d: IpvsSyncDelta): [number, number] => [d.ipvsadm.length + d.ipset.length, d.commandBytes + d.iptablesRestoreBytes];
  let wrote = 0;
  for (let seed = 1; seed <= 8; seed++) {
    const generated = generateCluster({ services: 40, endpoints: 3, nodes: 2, seed, mode: 'ipvs' });
    const base: Cluster = { ...generated, proxy: { ...generated.proxy, ipvsScheduler: seed % 2 === 0 ? 'mh' : 'rr' } };
    const { changed, conditions: conditionsOf } = randomEndpointChange(base, new Prng(seed * 7919));
    const before: Cluster = { ...base, endpoints: { ...base.endpoints, conditions: conditionsOf() } };
    const after: Cluster = { ...before, endpoints: { ...before.endpoints, conditions: conditionsOf() } };
    for (const n of [0, 1]) {
      const prev = compileIpvs(before, { node: n });
      for (const written of [false, true]) {
        // Written in place: the same tables with the change and its undo written, as the sweep leaves node 0.
        if (written) {
          updateIpvsEndpoints(prev, after, [...changed]);
          updateIpvsEndpoints(prev, before, [...changed]);
        }
        const sync = ipvs.syncOneEndpoint(prev, before, after, n, [...changed]);
        const whole = size(ipvsSyncDelta(prev, compileIpvs(after, { node: n })));
        const full = size(ipvsSyncDelta(null, prev));
        const at = `seed ${seed} node ${n}${written ? ', written in place' : ''}`;
        assert.deepEqual([sync.oneEndpointRewrittenRules, sync.oneEndpointRewrittenBytes], whole, `${at}: the change`);
        assert.deepEqual([sync.fullRules, sync.fullBytes], full, `${at}: the full sync`);
        if (whole[0] > 0) wrote++;
      }
    }
  }
  assert.ok(wrote >= 16, `the changes wrote something in most cases (${wrote} of 32)`);
});
