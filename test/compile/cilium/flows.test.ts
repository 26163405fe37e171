/**
 * Cilium's kube-proxy replacement, packet by packet through the real pipeline (`kdp trace`'s
 * code), as Cilium v1.17 handles each case (bpf/bpf_sock.c, bpf/lib/nodeport.h, bpf/lib/lb.h),
 * and its configuration as users write it (the kube-system/cilium-config ConfigMap).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { compileDataplane, modeOf, renderRules, parseRules } from '../../../src/compile/index.js';
import { CompiledCluster } from '../../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../../src/dataplane/context.js';
import { IPS_DST_NAT, IPS_SRC_NAT } from '../../../src/dataplane/conntrack.js';
import { ENTRY_EXTERNAL, ENTRY_POD } from '../../../src/dataplane/pipeline.js';
import { tracePacket, type Probe } from '../../../src/dataplane/trace.js';
import { loadCluster } from '../../../src/model/load.js';
import type { Cluster } from '../../../src/model/types.js';
import { parseIp } from '../../../src/net/ipv4.js';
import { PROTO_TCP, PROTO_UDP } from '../../../src/net/proto.js';
import { HOOK_PREROUTING, HOOK_SOCKET, newFirstPacket, newNatDecision } from '../../../src/compile/dataplane.js';
import { frontendText, renderMaglevList, renderServiceList, type CiliumDataplane } from '../../../src/compile/cilium/index.js';
import { feCount, feMaglev, feQCount, feRevNat, feSlotStart, slotBackend, slotRow } from '../../../src/compile/cilium/tables.js';
import { RuleParseError } from '../../../src/errors.js';
import { formatIp } from '../../../src/net/ipv4.js';
import { clusterOf, node, service, slice } from '../../helpers/cluster.js';

const ciliumConfig = (data: Record<string, string>): object => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'cilium-config' }, data });

function cluster(data: Record<string, string> = { 'kube-proxy-replacement': 'true' }): Cluster {
  return clusterOf(
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    node('node-2', '10.244.2.0/24', '192.168.0.12'),
    ciliumConfig(data),
    service('default', 'web', { type: 'NodePort', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }] }),
    slice('default', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.244.2.7', node: 'node-2' }]),
    service('default', 'dns', { clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
    slice('default', 'dns', [{ name: 'dns', port: 53, protocol: 'UDP' }], [{ ip: '10.244.1.53', node: 'node-1' }]),
    service('default', 'empty', { clusterIP: '10.96.0.99', ports: [{ name: 'http', port: 80 }] }),
    service('default', 'lb', { type: 'LoadBalancer', clusterIP: '10.96.0.30', loadBalancerSourceRanges: ['198.51.100.0/24'], ports: [{ name: 'https', port: 443, targetPort: 8443, nodePort: 30443 }] }, { loadBalancer: { ingress: [{ ip: '192.0.2.30' }] } }),
    slice('default', 'lb', [{ name: 'https', port: 8443 }], [{ ip: '10.244.1.30', node: 'node-1' }, { ip: '10.244.2.30', node: 'node-2' }]),
  );
}

const probe = (src: string, dst: string, nodeIx: number, entry: number, proto: 6 | 17 = PROTO_TCP): Probe => {
  const [s, sp] = src.split(':');
  const [d, dp] = dst.split(':');
  return { proto, srcIp: parseIp(s), srcPort: Number(sp), dstIp: parseIp(d), dstPort: Number(dp), node: nodeIx, entry };
};

function trace(c: Cluster, p: Probe) {
  const ctx = new PipelineContext(new CompiledCluster(c, 'cilium'), { seed: 1, conntrackMax: 1024 });
  return { ctx, out: tracePacket(ctx, p, { reply: true }) };
}

describe('cilium: the cilium-config ConfigMap', () => {
  it('makes cilium the default mode when kube-proxy-replacement is on, and fills Cilium\'s defaults', () => {
    const c = cluster();
    assert.equal(c.proxy.mode, 'cilium');
    assert.equal(modeOf(c).name, 'cilium');
    assert.deepEqual(
      { ...c.cilium },
      {
        kubeProxyReplacement: true, socketLb: true, socketLbHostnsOnly: false, lbAlgorithm: 'random', lbMode: 'snat', lbAcceleration: 'disabled', dsrDispatch: 'opt',
        maglevTableSize: 16381, maglevHashSeed: 'JLfvgnHc2kaSUFaI', ctGlobalTcpMax: 524288, ctGlobalAnyMax: 262144, lbMapMax: 65536,
        externalClusterIp: false, sourceRangeAllTypes: false, noBackendResponse: 'reject', enableSctp: false,
      },
    );
  });

  it('leaves kube-proxy\'s default mode alone without kube-proxy replacement, and reads every key it models', () => {
    assert.equal(cluster({ 'kube-proxy-replacement': 'false' }).proxy.mode, '');
    const c = cluster({ 'kube-proxy-replacement': 'true', 'bpf-lb-algorithm': 'maglev', 'bpf-lb-mode': 'dsr', 'bpf-lb-maglev-table-size': '1021', 'bpf-lb-maglev-hash-seed': 'AAAAAAAAAAAAAAAA', 'bpf-ct-global-tcp-max': '65536', 'bpf-lb-external-clusterip': 'true' });
    assert.equal(c.cilium?.lbAlgorithm, 'maglev');
    assert.equal(c.cilium?.lbMode, 'dsr');
    assert.equal(c.cilium?.maglevTableSize, 1021);
    assert.equal(c.cilium?.maglevHashSeed, 'AAAAAAAAAAAAAAAA');
    assert.equal(c.cilium?.ctGlobalTcpMax, 65536);
    assert.equal(c.cilium?.externalClusterIp, true);
  });

  it('refuses values Cilium refuses, naming the key', () => {
    const text = JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [ciliumConfig({ 'bpf-lb-maglev-table-size': '16383', 'bpf-lb-maglev-hash-seed': 'short', 'bpf-lb-mode': 'fast' })] });
    const r = loadCluster(text, 'c.json');
    assert.equal(r.cluster, undefined);
    const messages = r.diagnostics.map((d) => d.message).join('\n');
    assert.match(messages, /16383 is not a size Cilium supports/);
    assert.match(messages, /"short" is not 12 bytes of base64/);
    assert.match(messages, /must be one of snat, dsr, hybrid/);
  });
});

describe('cilium: packets', () => {
  it('pod to ClusterIP: the backend is the destination from the first hop on the wire, and conntrack holds no NAT', () => {
    const c = cluster();
    const { ctx, out } = trace(c, probe('10.244.1.9:40000', '10.96.0.10:80', 0, ENTRY_POD));
    const r = out.result;
    assert.equal(r.decision, 'dnat');
    assert.equal(r.endpoint, '10.244.2.7:8080');
    assert.equal(r.masquerade, false);
    assert.equal(r.hops[0].at, 'pod socket');
    assert.equal(r.hops[0].dst, '10.96.0.10:80');
    // Every hop from the pod's eth0 on carries the backend, never the ClusterIP.
    assert.equal(r.hops[1].at, 'pod eth0');
    for (const h of r.hops.slice(1)) assert.equal(h.dst, '10.244.2.7:8080', `${h.at}: ${h.action}`);
    assert.match(r.hops[1].action, /socket LB at connect\(\)/);
    // Conntrack on both nodes: the flow pod -> backend, no NAT bits.
    for (const n of [0, 1]) {
      const ct = ctx.world.conntrack(n);
      const slot = ct.lookup(parseIp('10.244.1.9'), parseIp('10.244.2.7'), 40000, 8080, PROTO_TCP);
      assert.ok(slot >= 0, `node-${n + 1} tracks pod -> backend`);
      assert.equal(ct.statusOf(slot) & (IPS_DST_NAT | IPS_SRC_NAT), 0);
      assert.equal(ct.lookup(parseIp('10.244.1.9'), parseIp('10.96.0.10'), 40000, 80, PROTO_TCP), -1, 'no entry carries the ClusterIP');
    }
    // The answer reaches the application from the ClusterIP, translated at the socket.
    const back = r.reply!;
    assert.equal(back.verdict, 'delivered');
    assert.equal(back.hops.at(-1)!.at, 'pod socket');
    assert.equal(back.hops.at(-1)!.src, '10.96.0.10:80');
    assert.equal(back.hops.at(-2)!.src, '10.244.2.7:8080');
  });

  it("the socket program is named as Cilium names it: cil_sock4_connect for TCP, cil_sock4_sendmsg for UDP (bpf/bpf_sock.c), from a pod's socket or the host's", () => {
    const dp = compileDataplane(cluster(), 'cilium', 0);
    const where = (proto: number, fromPodInterface: boolean) =>
      dp.explain(Object.assign(newFirstPacket(), { srcIp: parseIp(fromPodInterface ? '10.244.1.9' : '192.168.0.11'), srcPort: 40000, dstIp: parseIp('10.96.0.10'), dstPort: 80, proto, hook: HOOK_SOCKET, fromPodInterface })).steps.map((x) => x.where);
    assert.deepEqual(new Set(where(PROTO_TCP, true)), new Set(['pod socket: cil_sock4_connect']));
    assert.deepEqual(new Set(where(PROTO_UDP, true)), new Set(['pod socket: cil_sock4_sendmsg']));
    assert.deepEqual(new Set(where(PROTO_TCP, false)), new Set(['host socket: cil_sock4_connect']));
  });

  it('pod to a UDP ClusterIP: translated at sendmsg()', () => {
    const { out } = trace(cluster(), probe('10.244.2.9:40000', '10.96.0.53:53', 1, ENTRY_POD, PROTO_UDP));
    assert.equal(out.result.endpoint, '10.244.1.53:53');
    assert.match(out.result.hops[1].action, /sendmsg\(\)/);
  });

  it('pod to a Service without backends: connect() is refused at the socket', () => {
    const { out } = trace(cluster(), probe('10.244.1.9:40000', '10.96.0.99:80', 0, ENTRY_POD));
    assert.equal(out.result.decision, 'reject');
    assert.equal(out.result.verdict, 'rejected');
    assert.equal(out.result.hops.length, 2);
  });

  it('NodePort from outside to a backend on another node: nodeport_lb4 at the device, SNAT to the node (bpf-lb-mode snat)', () => {
    const { out } = trace(cluster(), probe('203.0.113.9:40000', '192.168.0.11:30080', 0, ENTRY_EXTERNAL));
    const r = out.result;
    assert.equal(r.decision, 'dnat');
    assert.equal(r.masquerade, true);
    assert.equal(r.hops[1].at, 'bpf_host (tc from-netdev): nodeport_lb4');
    const snat = r.hops.find((h) => /^SNAT to 192\.168\.0\.11:/.test(h.action));
    assert.ok(snat, r.hops.map((h) => h.action).join('\n'));
    assert.match(snat.action, /nodeport_nat_ipv4_fwd/);
    assert.equal(r.verdict, 'delivered');
    // The reply goes back through node-1, which undoes both translations.
    assert.equal(r.reply!.verdict, 'delivered');
    assert.equal(r.reply!.hops.at(-1)!.src, '192.168.0.11:30080');
    assert.equal(r.reply!.hops.at(-1)!.dst, '203.0.113.9:40000');
  });

  it('NodePort from outside with bpf-lb-mode dsr: no SNAT, the backend sees the client; XDP named with bpf-lb-acceleration', () => {
    const c = cluster({ 'kube-proxy-replacement': 'true', 'bpf-lb-mode': 'dsr', 'bpf-lb-acceleration': 'native' });
    const { out } = trace(c, probe('203.0.113.9:40000', '192.168.0.11:30080', 0, ENTRY_EXTERNAL));
    assert.equal(out.result.masquerade, false);
    assert.equal(out.result.hops[1].at, 'bpf_host (XDP): nodeport_lb4');
    const delivered = out.result.hops.at(-1)!;
    assert.equal(delivered.src, '203.0.113.9:40000');
    assert.equal(delivered.dst, '10.244.2.7:8080');
    assert.ok(!out.result.hops.some((h) => /SNAT/.test(h.action)));
  });

  it('a ClusterIP from outside is dropped (DROP_IS_CLUSTER_IP) unless bpf-lb-external-clusterip', () => {
    assert.equal(trace(cluster(), probe('203.0.113.9:40000', '10.96.0.10:80', 0, ENTRY_EXTERNAL)).out.result.decision, 'drop');
    const open = cluster({ 'kube-proxy-replacement': 'true', 'bpf-lb-external-clusterip': 'true' });
    assert.equal(trace(open, probe('203.0.113.9:40000', '10.96.0.10:80', 0, ENTRY_EXTERNAL)).out.result.decision, 'dnat');
  });

  it('loadBalancerSourceRanges at the device: outsiders dropped, the allowed range served', () => {
    assert.equal(trace(cluster(), probe('203.0.113.9:40000', '192.0.2.30:443', 0, ENTRY_EXTERNAL)).out.result.decision, 'drop');
    assert.equal(trace(cluster(), probe('198.51.100.7:40000', '192.0.2.30:443', 0, ENTRY_EXTERNAL)).out.result.decision, 'dnat');
  });

  it('a pod reaches another node\'s NodePort through the socket\'s wildcard lookup', () => {
    const { out } = trace(cluster(), probe('10.244.1.9:40000', '192.168.0.12:30080', 0, ENTRY_POD));
    assert.equal(out.result.endpoint, '10.244.2.7:8080');
    assert.equal(out.result.hops[1].dst, '10.244.2.7:8080');
  });

  it('with Maglev, the tc path picks the backend the frontend\'s table gives the flow, the same on every try', () => {
    const c = cluster({ 'kube-proxy-replacement': 'true', 'bpf-lb-algorithm': 'maglev', 'bpf-lb-maglev-table-size': '251' });
    const dp = compileDataplane(c, 'cilium', 0);
    assert.equal(dp.stats().maglevTables, 3); // web's NodePort on node-1's address, lb's NodePort and ingress IP; not the surrogates or ClusterIPs
    const seen = new Set<string>();
    for (let k = 0; k < 5; k++) seen.add(trace(c, probe('198.51.100.7:40001', '192.0.2.30:443', 0, ENTRY_EXTERNAL)).out.result.endpoint ?? '');
    assert.equal(seen.size, 1);
  });
});

describe('cilium: formats', () => {
  it('renders cilium-dbg bpf lb list, maglev list and service list, and reads bpf lb list back', () => {
    const c = cluster({ 'kube-proxy-replacement': 'true', 'bpf-lb-algorithm': 'maglev', 'bpf-lb-maglev-table-size': '251' });
    const list = renderRules(c, 'cilium', 0, 'bpf-lb-list');
    assert.match(list, /^SERVICE ADDRESS\s+BACKEND ADDRESS \(REVNAT_ID\) \(SLOT\)/);
    assert.match(list, /\n10\.96\.0\.10:80\/TCP\s+0\.0\.0\.0:0 \(\d+\) \(0\) \[ClusterIP, non-routable\]/);
    assert.match(list, /\n0\.0\.0\.0:30080\/TCP\s+0\.0\.0\.0:0 \(\d+\) \(0\) \[NodePort, non-routable\]/);
    assert.match(list, /\n\s+10\.244\.2\.7:8080\/TCP \(\d+\) \(1\)/);
    assert.match(list, /\[LoadBalancer, check source-range\]/);
    const maglev = renderRules(c, 'cilium', 0, 'bpf-lb-maglev-list');
    assert.match(maglev, /^SVC ID\s+LOOKUP TABLE/);
    assert.match(maglev, /\n\[\d+\]\/v4\s+\[(\d+ ){250}\d+\]/);
    const services = renderRules(c, 'cilium', 0, 'service-list');
    assert.match(services, /^ID\s+Frontend\s+Service Type\s+Backend/);
    assert.match(services, /10\.96\.0\.10:80\/TCP\s+ClusterIP\s+1 => 10\.244\.2\.7:8080\/TCP \(active\)/);
    const back = parseRules('bpf-lb-list', list, c, 0);
    assert.equal(renderRules(c, 'cilium', 0, 'bpf-lb-list'), list);
    assert.equal(back.stats().rules, compileDataplane(c, 'cilium', 0).stats().rules);
    assert.throws(() => parseRules('bpf-lb-list', list.replace('(0) [ClusterIP', '(0) [Cluster'), c, 0), /line \d+: unknown service type "Cluster"/);
  });

  /** The line a parse error names, or a failure when the text parses. */
  const errorLine = (fn: () => unknown): number => {
    try {
      fn();
    } catch (err) {
      assert.ok(err instanceof RuleParseError, String(err));
      return err.line;
    }
    assert.fail('parsed without an error');
  };

  /** The backend addresses a socket on node-1 gets for ip:port over several draws. */
  const socketPicks = (dp: CiliumDataplane, dst: string): Set<string> => {
    const [d, dp2] = dst.split(':');
    const pkt = Object.assign(newFirstPacket(), { srcIp: parseIp('10.244.1.9'), srcPort: 40000, dstIp: parseIp(d), dstPort: Number(dp2), proto: PROTO_TCP, hook: HOOK_SOCKET, fromPodInterface: true });
    const out = newNatDecision();
    const picks = new Set<string>();
    for (const rand of [0, 0x40000000, 0x80000000, 0xc0000000, 0xffffffff]) {
      pkt.rand = rand;
      dp.decide(pkt, out);
      picks.add(formatIp(dp.cluster.endpoints.ip[out.endpoint]));
    }
    return picks;
  };

  it('reads cilium-dbg service list as v1.17 prints it: frontends, rev-NAT IDs, numbered backends and their states', () => {
    const c = cluster();
    // Written by hand in service_list.go's layout (tabwriter: minwidth 5, padding 3): lb's ClusterIP with one backend terminating.
    const text = [
      'ID   Frontend             Service Type   Backend                                   ',
      '4    10.96.0.30:443/TCP   ClusterIP      1 => 10.244.1.30:8443/TCP (active)        ',
      '                                         2 => 10.244.2.30:8443/TCP (terminating)   ',
      '',
    ].join('\n');
    const dp = parseRules('service-list', text, c, 0) as CiliumDataplane;
    const t = dp.tables;
    const f = [...Array(t.frontends).keys()].find((i) => feRevNat(t, i) !== 0);
    assert.ok(f !== undefined);
    assert.deepEqual(
      { fe: frontendText(t, f), revNat: feRevNat(t, f), count: feCount(t, f), qcount: feQCount(t, f) },
      { fe: '10.96.0.30:443/TCP', revNat: 4, count: 1, qcount: 1 },
    );
    assert.equal(renderServiceList(t), text);
    // The terminating backend is kept behind the active one: a socket never gets it (the cluster's own maps choose both).
    assert.deepEqual([...socketPicks(dp, '10.96.0.30:443')], ['10.244.1.30']);
    assert.deepEqual([...socketPicks(compileDataplane(c, 'cilium', 0) as CiliumDataplane, '10.96.0.30:443')].sort(), ['10.244.1.30', '10.244.2.30']);
  });

  it('refuses a service list it cannot read, naming the line', () => {
    const c = cluster();
    const rows = ['ID   Frontend             Service Type   Backend', '4    10.96.0.30:443/TCP   ClusterIP      1 => 10.244.1.30:8443/TCP (active)'];
    const text = (...more: string[]): string => [...rows, ...more].join('\n');
    assert.equal(errorLine(() => parseRules('service-list', 'Frontend   Service Type   Backend\n', c, 0)), 1);
    assert.equal(errorLine(() => parseRules('service-list', text('                                         2 => 10.244.2.30:8443/TCP (quarantined)'), c, 0)), 3);
    assert.equal(errorLine(() => parseRules('service-list', text('                                         3 => 10.244.2.30:8443/TCP (active)'), c, 0)), 3);
    assert.equal(errorLine(() => parseRules('service-list', text('9    10.96.0.31:443/TCP   ClusterIP'), c, 0)), 3);
    assert.equal(errorLine(() => parseRules('service-list', text('5    10.96.0.10:80/TCP   NodePort'), c, 0)), 3);
    assert.equal(errorLine(() => parseRules('service-list', text('                                         2 => 10.244.9.9:8443/TCP (active)'), c, 0)), 3);
  });

  it('reads cilium-dbg bpf lb maglev list back: the listing\'s tables, not recomputed ones, decide at the device', () => {
    const c = cluster({ 'kube-proxy-replacement': 'true', 'bpf-lb-algorithm': 'maglev', 'bpf-lb-maglev-table-size': '251' });
    const compiled = compileDataplane(c, 'cilium', 0) as CiliumDataplane;
    const t = compiled.tables;
    const f = [...Array(t.frontends).keys()].find((i) => frontendText(t, i) === '192.168.0.11:30443/TCP')!;
    const text = renderMaglevList(t);
    assert.equal(renderMaglevList((parseRules('bpf-lb-maglev-list', text, c, 0) as CiliumDataplane).tables), text);
    // Every slot of lb's NodePort table pointed at its first backend, as an operator might find a node's map.
    const first = slotBackend(t, feSlotStart(t, f));
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.startsWith(`[${feRevNat(t, f)}]/v4 `));
    lines[at] = `[${feRevNat(t, f)}]/v4   [${Array(251).fill(first).join(' ')}]`;
    const edited = lines.join('\n');
    const dp = parseRules('bpf-lb-maglev-list', edited, c, 0) as CiliumDataplane;
    assert.equal(renderMaglevList(dp.tables).split('\n')[at].trimEnd(), lines[at]);
    assert.deepEqual([...dp.tables.maglev.subarray(feMaglev(dp.tables, f), feMaglev(dp.tables, f) + 251)], Array(251).fill(first));
    const pkt = Object.assign(newFirstPacket(), { srcIp: parseIp('203.0.113.5'), dstIp: parseIp('192.168.0.11'), dstPort: 30443, proto: PROTO_TCP, hook: HOOK_PREROUTING });
    const out = newNatDecision();
    const picked = { compiled: new Set<number>(), read: new Set<number>() };
    for (let sport = 40000; sport < 40040; sport++) {
      pkt.srcPort = sport;
      compiled.decide(pkt, out);
      picked.compiled.add(out.endpoint);
      dp.decide(pkt, out);
      picked.read.add(out.endpoint);
    }
    assert.equal(picked.compiled.size, 2);
    assert.deepEqual([...picked.read], [slotRow(t, feSlotStart(t, f))]);
  });

  it('refuses a maglev list it cannot read, naming the line', () => {
    const c = cluster({ 'kube-proxy-replacement': 'true', 'bpf-lb-algorithm': 'maglev', 'bpf-lb-maglev-table-size': '251' });
    const lines = renderRules(c, 'cilium', 0, 'bpf-lb-maglev-list').split('\n');
    const edit = (n: number, line: string): string => lines.map((l, i) => (i === n - 1 ? line : l)).join('\n');
    const revNat = /^\[(\d+)\]/.exec(lines[2])![1];
    assert.equal(errorLine(() => parseRules('bpf-lb-maglev-list', edit(1, 'SVC   TABLE'), c, 0)), 1);
    assert.equal(errorLine(() => parseRules('bpf-lb-maglev-list', edit(3, `[${revNat}]/v4   [${Array(250).fill(1).join(' ')}]`), c, 0)), 3);
    assert.equal(errorLine(() => parseRules('bpf-lb-maglev-list', edit(3, `[${revNat}]/v4   [${Array(251).fill(99).join(' ')}]`), c, 0)), 3);
    assert.equal(errorLine(() => parseRules('bpf-lb-maglev-list', edit(3, `[${revNat}]/v6   [1]`), c, 0)), 3);
    assert.equal(errorLine(() => parseRules('bpf-lb-maglev-list', edit(3, lines[2].replace(/^\[\d+\]/, '[999]')), c, 0)), 3);
    assert.equal(errorLine(() => parseRules('bpf-lb-maglev-list', edit(3, ''), c, 0)), lines.length);
    assert.equal(errorLine(() => parseRules('bpf-lb-maglev-list', lines.join('\n'), cluster(), 0)), 2);
  });
});
