/**
 * A health-check node port is kept only for a LoadBalancer Service with externalTrafficPolicy
 * Local (kube-proxy pkg/proxy/serviceport.go newBaseServiceInfo: `if apiservice.NeedsHealthCheck(service)`;
 * NeedsHealthCheck is type LoadBalancer and ExternalPolicyLocal). A stray field on another Service
 * opens nothing: no filter ACCEPT in iptables mode, no KUBE-HEALTH-CHECK-NODE-PORT entry in IPVS mode.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HOOK_PREROUTING } from '../../src/compile/dataplane.js';
import { renderRules } from '../../src/compile/index.js';
import { loadNodeState } from '../../src/compile/node-state.js';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { traceNodeState } from '../../src/dataplane/node-trace.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD } from '../../src/dataplane/pipeline.js';
import { tracePacket } from '../../src/dataplane/trace.js';
import { parseIp } from '../../src/net/ipv4.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';
import { clusterOf, node, proxyConfig, service, slice } from '../helpers/cluster.js';

function clusterWith(spec: Record<string, unknown>, status: Record<string, unknown> = {}) {
  return clusterOf(
    proxyConfig({ clusterCIDR: '10.244.0.0/16' }),
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    service('default', 'web', { clusterIP: '10.96.0.30', healthCheckNodePort: 32000, ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080, protocol: 'TCP' }], ...spec }, status),
    slice('default', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.5', node: 'node-1' }]),
  );
}

const cases = [
  ['LoadBalancer, externalTrafficPolicy Local', { type: 'LoadBalancer', externalTrafficPolicy: 'Local' }, true],
  ['LoadBalancer, externalTrafficPolicy Cluster', { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster' }, false],
  ['NodePort, externalTrafficPolicy Local', { type: 'NodePort', externalTrafficPolicy: 'Local' }, false],
] as const;

for (const [what, spec, kept] of cases) {
  test(`health check node port of a ${what}: ${kept ? 'kept' : 'ignored, as kube-proxy ignores it'}`, () => {
    const cluster = clusterWith(spec, { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } });
    assert.equal(cluster.services[0].healthCheckNodePort, kept ? 32000 : 0);
    const iptables = renderRules(cluster, 'iptables', 0, 'iptables-save');
    assert.equal(/-A KUBE-NODEPORTS .*"default\/web:http health check node port" -m tcp --dport 32000 -j ACCEPT/.test(iptables), kept, iptables.split('\n').filter((l) => l.includes('health')).join('\n'));
    const ipset = renderRules(cluster, 'ipvs', 0, 'ipset');
    assert.equal(/^add KUBE-HEALTH-CHECK-NODE-PORT 32000$/m.test(ipset), kept);
  });
}

/**
 * What a first packet to the health-check node port is told, per mode (kube-proxy v1.33):
 * - iptables: filter INPUT jumps KUBE-NODEPORTS ("kubernetes health check service ports"), whose
 *   `"NS/SVC:PORT health check node port" -m tcp -p tcp --dport N -j ACCEPT` accepts it
 *   (pkg/proxy/iptables/proxier.go, "Capture healthCheckNodePorts"): decision "accept".
 * - ipvs: INPUT jumps KUBE-NODE-PORT ("kubernetes health check rules"), whose
 *   `-m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT` accepts it
 *   (pkg/proxy/ipvs/proxier.go writeIptablesRules): "accept". The set is a bitmap:port, which
 *   the kernel matches by the port of TCP and UDP alike (ip_set_bitmap_port.c bitmap_port_kadt,
 *   ip_set_get_ip_port), so UDP is accepted too; SCTP is not.
 * - nftables: no rule names the port (the filter chains only drop or reject service traffic), so
 *   the packet goes on to the node's health server untouched: "none".
 * - userspace (as before its removal in 1.26): no health-check port at all (ServiceInfo has none,
 *   pkg/proxy/userspace/proxier.go): "none".
 * - cilium (v1.17): the port is no frontend; the agent serves it from its own listening socket
 *   (pkg/service/healthserver, `Addr: ":<port>"`): "none".
 * Only INPUT has the rule: the node's own packet (OUTPUT) is "none" everywhere.
 */
const kDecisions = [
  ['external client, TCP', ENTRY_EXTERNAL, PROTO_TCP, { iptables: 'accept', ipvs: 'accept', nftables: 'none', userspace: 'none', cilium: 'none' }],
  ['pod, TCP', ENTRY_POD, PROTO_TCP, { iptables: 'accept', ipvs: 'accept', nftables: 'none', userspace: 'none', cilium: 'none' }],
  ['the node itself, TCP', ENTRY_HOST, PROTO_TCP, { iptables: 'none', ipvs: 'none', nftables: 'none', userspace: 'none', cilium: 'none' }],
  ['external client, UDP', ENTRY_EXTERNAL, PROTO_UDP, { iptables: 'none', ipvs: 'accept', nftables: 'none', userspace: 'none', cilium: 'none' }],
  ['external client, SCTP', ENTRY_EXTERNAL, PROTO_SCTP, { iptables: 'none', ipvs: 'none', nftables: 'none', userspace: 'none', cilium: 'none' }],
] as const;

for (const [who, entry, proto, want] of kDecisions) {
  for (const mode of ['iptables', 'ipvs', 'nftables', 'userspace', 'cilium'] as const) {
    test(`health check node port from ${who}, ${mode} mode: kdp trace says "${want[mode]}"`, () => {
      const cluster = clusterWith({ type: 'LoadBalancer', externalTrafficPolicy: 'Local' }, { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } });
      const srcIp = entry === ENTRY_HOST ? parseIp('192.168.0.11') : entry === ENTRY_POD ? parseIp('10.244.1.77') : parseIp('203.0.113.9');
      const probe = { proto, srcIp: srcIp >>> 0, srcPort: 40000, dstIp: parseIp('192.168.0.11') >>> 0, dstPort: 32000, node: 0, entry };
      const r = tracePacket(new PipelineContext(new CompiledCluster(cluster, mode), { seed: 1 }), probe).result;
      assert.equal(r.decision, want[mode]);
      // iptables' rule carries the Service port's name in its comment; IPVS's set holds port numbers only.
      assert.equal(r.service, mode === 'iptables' && want[mode] === 'accept' ? 'default/web:http' : null);
      assert.deepEqual(r.candidates, []);
      // Accepted or not, the packet is the node's to answer.
      assert.equal(r.verdict, 'local');
    });
  }
}

test('health check node port: a node\'s iptables-save, read back, traces "accept"', () => {
  const cluster = clusterWith({ type: 'LoadBalancer', externalTrafficPolicy: 'Local' }, { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } });
  const save = renderRules(cluster, 'iptables', 0, 'iptables-save');
  const pkt = { proto: PROTO_TCP, srcIp: parseIp('203.0.113.9') >>> 0, srcPort: 40000, dstIp: parseIp('192.168.0.11') >>> 0, dstPort: 32000, hook: HOOK_PREROUTING, fromPodInterface: false };
  const r = traceNodeState(loadNodeState([{ path: 'node-1.iptables-save', text: save }], cluster, 0), pkt, { cluster, nodeName: 'node-1', rand: 1 });
  assert.equal(r.decision, 'accept');
  assert.equal(r.service, 'default/web:http');
  assert.equal(r.verdict, 'local');
  assert.ok(r.hops.some((h) => /^ACCEPT: -A KUBE-NODEPORTS .*health check node port/.test(h.action)), r.hops.map((h) => h.action).join('\n'));
  // A plain ACCEPT of another owner in INPUT is not a Service's answer: still "none".
  const other = save.replace(/^(-A KUBE-NODEPORTS .*health check node port.*)$/m, '-A INPUT -p tcp -m tcp --dport 32000 -j ACCEPT');
  const dp = loadNodeState([{ path: 'node-1.iptables-save', text: other }], cluster, 0);
  assert.equal(traceNodeState(dp, pkt, { cluster, nodeName: 'node-1', rand: 1 }).decision, 'none');
});

test('health check node port: an IPVS node\'s dump, read back, accepts TCP and UDP to it, not SCTP', () => {
  // The walk over the dump matches the bitmap:port set itself (ipsetContains), not kdp's compiled IPVS mode.
  const cluster = clusterWith({ type: 'LoadBalancer', externalTrafficPolicy: 'Local' }, { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } });
  const dp = loadNodeState(['ipvsadm', 'ipset', 'iptables-save'].map((f) => ({ path: `node-1.${f}`, text: renderRules(cluster, 'ipvs', 0, f) })), cluster, 0);
  for (const [proto, want] of [[PROTO_TCP, 'accept'], [PROTO_UDP, 'accept'], [PROTO_SCTP, 'none']] as const) {
    const pkt = { proto, srcIp: parseIp('203.0.113.9') >>> 0, srcPort: 40000, dstIp: parseIp('192.168.0.11') >>> 0, dstPort: 32000, hook: HOOK_PREROUTING, fromPodInterface: false };
    assert.equal(traceNodeState(dp, pkt, { cluster, nodeName: 'node-1', rand: 1 }).decision, want, `protocol ${proto}`);
  }
});
