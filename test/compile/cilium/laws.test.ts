/**
 * Laws of kdp's Cilium model, each with its oracle:
 *
 * - a frontend address:port/proto that a second Service also claims (an externalIP on a node's
 *   address at another Service's nodePort, which the API server does not refuse) stays the first
 *   Service's (first upserted; kdp upserts in the cluster's order): Cilium's load-balancing writer refuses the second upsert (pkg/loadbalancer
 *   ErrFrontendConflict, "frontend already owned by another service"), so it writes nothing for it;
 * - explain() names the backends a packet can get: with Maglev the one backend the frontend's
 *   table gives the flow (what decide() picks), with random selection every active backend;
 * - a DROP_NOT_IN_SRC_RANGE explanation lists the allowed ranges: the Service's
 *   loadBalancerSourceRanges, as the user wrote them;
 * - a pod address two Services share is one backend (the agent's backend map is keyed by
 *   address, port and protocol: one lb4_backend and one ID for it);
 * - a full sync writes every entry of the maps, at the sizes of their C structs (bpf/lib/common.h):
 *   a service-map entry is a 12-byte lb4_key and a 12-byte lb4_service, a backend a 4-byte ID and
 *   a 12-byte lb4_backend, a rev-NAT entry a 2-byte index and a 6-byte lb4_reverse_nat;
 * - an endpoint update rewrites each Maglev frontend's whole table, M entries (lbmap's
 *   UpsertMaglevLookupTable writes the inner map in one update), and Cilium gives Maglev tables to
 *   routable frontends only;
 * - `cilium-dbg service list` is read only as cilium-dbg prints it: a backend cell with a port
 *   Go's %d never prints, or a protocol other than its frontend's, is refused with its line (before,
 *   such a cell was read and its state silently replaced by the cluster's); a backend line before
 *   any frontend's row is refused too;
 * - `cilium-dbg bpf lb list` read back holds one rev-NAT entry per rev-NAT ID it names.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { compileDataplane, modeNamed, parseRules } from '../../../src/compile/index.js';
import type { CiliumDataplane } from '../../../src/compile/cilium/index.js';
import {
  SCOPE_EXT, beIp, bePort, feCount, feSlotStart, serviceKeyWord, slotBackend,
} from '../../../src/compile/cilium/tables.js';
import { HOOK_PREROUTING, newFirstPacket, newNatDecision, type FirstPacket } from '../../../src/compile/dataplane.js';
import { RuleParseError } from '../../../src/errors.js';
import { servicesUpTo } from '../../../src/model/service-change.js';
import { EP_SERVING, type Cluster } from '../../../src/model/types.js';
import { formatIp, parseIp } from '../../../src/net/ipv4.js';
import { PROTO_TCP } from '../../../src/net/proto.js';
import { clusterOf, node, service, slice } from '../../helpers/cluster.js';

const ciliumConfig = (data: Record<string, string> = {}): object => ({
  apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'cilium-config' }, data: { 'kube-proxy-replacement': 'true', ...data },
});

/** A first packet from outside arriving at node-1's device (nodeport_lb4). */
function fromOutside(src: string, sport: number, dst: string, dport: number): FirstPacket {
  return Object.assign(newFirstPacket(), { srcIp: parseIp(src), srcPort: sport, dstIp: parseIp(dst), dstPort: dport, proto: PROTO_TCP, hook: HOOK_PREROUTING });
}

/** The backend address a packet is DNATed to, or its verdict when none. */
function backendOf(dp: CiliumDataplane, pkt: FirstPacket): string {
  const out = newNatDecision();
  dp.decide(pkt, out);
  return out.endpoint >= 0 ? formatIp(dp.cluster.endpoints.ip[out.endpoint]) : `verdict ${out.verdict}`;
}

describe('cilium: a frontend two Services claim stays the first one\'s (ErrFrontendConflict)', () => {
  /** Service a's NodePort 30080 on the node's address, then Service b with that address as externalIP at port 30080 (unless `withClaim` is false). */
  const conflict = (nodeIp: string, withClaim = true): Cluster => clusterOf(
    node('node-1', '10.244.1.0/24', nodeIp),
    ciliumConfig(),
    service('default', 'a', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] }),
    slice('default', 'a', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.10', node: 'node-1' }]),
    service('default', 'b', { clusterIP: '10.96.0.20', ...(withClaim ? { externalIPs: [nodeIp] } : {}), ports: [{ name: 'http', port: 30080, targetPort: 8080 }] }),
    slice('default', 'b', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.20', node: 'node-1' }]),
  );
  const nodeIp = (k: number): string => `192.168.${k >> 7}.${(k & 127) + 1}`;
  /** The hash slot of a's claim on the node's address: slot 0 is an edge of the "already claimed" check. */
  const claimSlot = (dp: CiliumDataplane, ip: string): number => dp.tables.services.find(parseIp(ip), serviceKeyWord(30080, PROTO_TCP, SCOPE_EXT));

  /** The law at 64 node addresses and on until one puts a's claim in the hash table's first slot. */
  const everyAddress = (law: (ip: string) => CiliumDataplane): void => {
    let firstSlot = false;
    for (let k = 0; k < 4096 && !(firstSlot && k >= 64); k++) {
      const ip = nodeIp(k);
      firstSlot = claimSlot(law(ip), ip) === 0 || firstSlot;
    }
    assert.ok(firstSlot, 'no node address put the claim in the first slot');
  };

  it('compiled: the node\'s address at 30080 reaches a\'s backend, for every node address', () => {
    everyAddress((ip) => {
      const dp = compileDataplane(conflict(ip), 'cilium', 0) as CiliumDataplane;
      assert.equal(backendOf(dp, fromOutside('203.0.113.9', 40000, ip, 30080)), '10.244.1.10', `node address ${ip}`);
      return dp;
    });
  });

  it('added in place: b\'s conflicting frontend is written as nothing, and a keeps the address', () => {
    const cilium = modeNamed('cilium');
    everyAddress((ip) => {
      const withClaim = conflict(ip);
      const dp = compileDataplane(servicesUpTo(withClaim, 1), 'cilium', 0) as CiliumDataplane;
      const u = cilium.updateServices!(dp, withClaim, [1], []);
      assert.ok(u, `node address ${ip}: the add was not written in place`);
      // The same Service without the conflicting externalIP writes exactly as much.
      const without = conflict(ip, false);
      const plain = compileDataplane(servicesUpTo(without, 1), 'cilium', 0) as CiliumDataplane;
      assert.equal(u.entriesWritten, cilium.updateServices!(plain, without, [1], [])!.entriesWritten, `node address ${ip}: entries written for the refused frontend`);
      assert.equal(backendOf(dp, fromOutside('203.0.113.9', 40000, ip, 30080)), '10.244.1.10', `node address ${ip}`);
      return dp;
    });
  });
});

describe('cilium: explain() names the backends a packet can get', () => {
  const cluster = (algorithm: string): Cluster => clusterOf(
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    ciliumConfig({ 'bpf-lb-algorithm': algorithm, 'bpf-lb-maglev-table-size': '251' }),
    service('default', 'web', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] }),
    slice('default', 'web', [{ name: 'http', port: 8080 }], ['10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.1.5'].map((ip) => ({ ip, node: 'node-1' }))),
  );

  it('Maglev: exactly the backend decide() gives the flow', () => {
    const dp = compileDataplane(cluster('maglev'), 'cilium', 0) as CiliumDataplane;
    const out = newNatDecision();
    const chosen = new Set<number>();
    for (let sport = 40000; sport < 40032; sport++) {
      const pkt = fromOutside('203.0.113.9', sport, '192.168.0.11', 30080);
      dp.decide(pkt, out);
      chosen.add(out.endpoint);
      assert.deepEqual(dp.explain(pkt).candidates, [out.endpoint], `source port ${sport}`);
    }
    assert.ok(chosen.size > 1, 'the flows all hashed to one backend: the law was not tested against the others');
  });

  it('random: every active backend', () => {
    const dp = compileDataplane(cluster('random'), 'cilium', 0) as CiliumDataplane;
    const e = dp.explain(fromOutside('203.0.113.9', 40000, '192.168.0.11', 30080));
    assert.deepEqual([...e.candidates].map((r) => formatIp(dp.cluster.endpoints.ip[r])).sort(), ['10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.1.5']);
  });

  it('DROP_NOT_IN_SRC_RANGE lists the Service\'s loadBalancerSourceRanges, and nothing else', () => {
    const c = clusterOf(
      node('node-1', '10.244.1.0/24', '192.168.0.11'),
      ciliumConfig(),
      service('default', 'lb', { type: 'LoadBalancer', clusterIP: '10.96.0.30', loadBalancerSourceRanges: ['198.51.100.0/24', '10.8.0.0/16'], ports: [{ name: 'https', port: 443, targetPort: 8443, nodePort: 30443 }] }, { loadBalancer: { ingress: [{ ip: '192.0.2.30' }] } }),
      slice('default', 'lb', [{ name: 'https', port: 8443 }], [{ ip: '10.244.1.30', node: 'node-1' }]),
    );
    const dp = compileDataplane(c, 'cilium', 0);
    const e = dp.explain(fromOutside('203.0.113.9', 40000, '192.0.2.30', 443));
    assert.equal(e.verdict, 'drop');
    assert.equal(e.steps.at(-1)!.action, 'DROP_NOT_IN_SRC_RANGE (allowed: 198.51.100.0/24, 10.8.0.0/16)');
  });
});

/** One node, two ClusterIP Services: a with backends 10.244.1.2 and .3, b with 10.244.1.4. */
function twoClusterIps(): Cluster {
  return clusterOf(
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    ciliumConfig(),
    service('default', 'a', { clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
    slice('default', 'a', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.2', node: 'node-1' }, { ip: '10.244.1.3', node: 'node-1' }]),
    service('default', 'b', { clusterIP: '10.96.0.2', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
    slice('default', 'b', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.4', node: 'node-1' }]),
  );
}

describe('cilium: what a sync writes', () => {
  it('a full sync is every map entry at its struct\'s size', () => {
    // Two ClusterIP Services, backends 2 and 1: 2 masters + 3 slots, 2 rev-NAT entries, 3 backends.
    const c = twoClusterIps();
    const prev = compileDataplane(c, 'cilium', 0) as CiliumDataplane;
    const sync = modeNamed('cilium').syncOneEndpoint(prev, c, c, 0, [0]);
    assert.equal(sync.fullRules, 5 + 2 + 3);
    assert.equal(sync.fullBytes, 5 * (12 + 12) + 2 * (2 + 6) + 3 * (4 + 12));
  });

  it('a pod address two Services share is one backend: one ID in both Services\' slots, one backend entry', () => {
    // a and b both select 10.244.1.2:8080; b also has 10.244.1.9, and its UDP port makes UDP backends of both.
    const c = clusterOf(
      node('node-1', '10.244.1.0/24', '192.168.0.11'),
      ciliumConfig(),
      service('default', 'a', { clusterIP: '10.96.0.1', ports: [{ name: 'http', port: 80, targetPort: 8080 }] }),
      slice('default', 'a', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.2', node: 'node-1' }]),
      service('default', 'b', { clusterIP: '10.96.0.2', ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'dns', port: 53, targetPort: 8080, protocol: 'UDP' }] }),
      slice('default', 'b', [{ name: 'http', port: 8080 }, { name: 'dns', port: 8080, protocol: 'UDP' }], [{ ip: '10.244.1.9', node: 'node-1' }, { ip: '10.244.1.2', node: 'node-1' }]),
    );
    const t = (compileDataplane(c, 'cilium', 0) as CiliumDataplane).tables;
    const backends = Array.from({ length: t.backends }, (_, k) => `${formatIp(beIp(t, k + 1))}:${bePort(t, k + 1)}/${t.beProto[k + 1]}`);
    assert.deepEqual([...backends].sort(), ['10.244.1.2:8080/17', '10.244.1.2:8080/6', '10.244.1.9:8080/17', '10.244.1.9:8080/6']);
    const idsOf = (f: number): string[] => Array.from({ length: feCount(t, f) }, (_, k) => backends[slotBackend(t, feSlotStart(t, f) + k) - 1]);
    const fa = t.services.rows[t.services.at(t.services.find(parseIp('10.96.0.1'), serviceKeyWord(80, PROTO_TCP, SCOPE_EXT)))];
    const fb = t.services.rows[t.services.at(t.services.find(parseIp('10.96.0.2'), serviceKeyWord(80, PROTO_TCP, SCOPE_EXT)))];
    assert.deepEqual(idsOf(fa), ['10.244.1.2:8080/6']);
    assert.deepEqual(idsOf(fb).sort(), ['10.244.1.2:8080/6', '10.244.1.9:8080/6']);
  });

  it('an endpoint update writes M entries more per Maglev frontend: node-1\'s NodePort, not the surrogate or the ClusterIP', () => {
    const c = (algorithm: string): Cluster => clusterOf(
      node('node-1', '10.244.1.0/24', '192.168.0.11'),
      ciliumConfig({ 'bpf-lb-algorithm': algorithm, 'bpf-lb-maglev-table-size': '251' }),
      service('default', 'web', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] }),
      slice('default', 'web', [{ name: 'http', port: 8080 }], ['10.244.1.2', '10.244.1.3', '10.244.1.4'].map((ip) => ({ ip, node: 'node-1' }))),
    );
    /** Entries written when web's first endpoint goes unready (serving, not ready). */
    const written = (cluster: Cluster): number => {
      const dp = compileDataplane(cluster, 'cilium', 0) as CiliumDataplane;
      const conditions = cluster.endpoints.conditions.slice();
      conditions[cluster.ports[0].endpointStart] = EP_SERVING;
      return modeNamed('cilium').updateEndpoints!(dp, { ...cluster, endpoints: { ...cluster.endpoints, conditions } }, [0])!.entriesWritten;
    };
    assert.equal(written(c('maglev')) - written(c('random')), 251);
  });
});

describe('cilium: cilium-dbg service list is read as cilium-dbg prints it', () => {
  const c = clusterOf(
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    ciliumConfig(),
    service('default', 'lb', { clusterIP: '10.96.0.30', ports: [{ name: 'https', port: 443, targetPort: 8443 }] }),
    slice('default', 'lb', [{ name: 'https', port: 8443 }], [{ ip: '10.244.1.30', node: 'node-1' }, { ip: '10.244.1.31', node: 'node-1' }]),
  );
  const listing = (cell: string): string => [
    'ID   Frontend             Service Type   Backend',
    '4    10.96.0.30:443/TCP   ClusterIP      1 => 10.244.1.30:8443/TCP (active)',
    `                                         2 => ${cell}`,
    '',
  ].join('\n');
  const errorLine = (text: string): number => {
    try {
      parseRules('service-list', text, c, 0);
    } catch (err) {
      assert.ok(err instanceof RuleParseError, String(err));
      return err.line;
    }
    assert.fail('parsed without an error');
  };

  it('refuses a port with a leading zero and a protocol other than the frontend\'s, naming the line', () => {
    assert.equal(errorLine(listing('10.244.1.31:08443/TCP (terminating)')), 3);
    assert.equal(errorLine(listing('10.244.1.31:8443/UDP (terminating)')), 3);
  });

  it('refuses a listing whose first row is a backend line (cilium-dbg prints a backend under its frontend\'s row), naming the line', () => {
    const text = [
      'ID   Frontend             Service Type   Backend',
      '                                         1 => 10.244.1.30:8443/TCP (active)',
      '4    10.96.0.30:443/TCP   ClusterIP      1 => 10.244.1.30:8443/TCP (active)',
      '',
    ].join('\n');
    assert.throws(() => parseRules('service-list', text, c, 0), (e: unknown) => e instanceof RuleParseError && e.line === 2 && e.message === "line 2: a backend before its frontend's row");
  });
});

describe('cilium: cilium-dbg bpf lb list read back', () => {
  it('holds one rev-NAT entry per rev-NAT ID the listing names (cilium_lb4_reverse_nat: one lb4_reverse_nat per ID)', () => {
    const c = twoClusterIps();
    const text = [
      'SERVICE ADDRESS    BACKEND ADDRESS (REVNAT_ID) (SLOT)',
      '10.96.0.1:80/TCP   0.0.0.0:0 (1) (0) [ClusterIP, non-routable]',
      '                   10.244.1.2:8080/TCP (1) (1)',
      '                   10.244.1.3:8080/TCP (1) (2)',
      '10.96.0.2:80/TCP   0.0.0.0:0 (2) (0) [ClusterIP, non-routable]',
      '                   10.244.1.4:8080/TCP (2) (1)',
      '',
    ].join('\n');
    assert.equal(parseRules('bpf-lb-list', text, c, 0).stats().revNats, 2);
  });
});
