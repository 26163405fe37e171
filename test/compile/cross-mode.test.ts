/**
 * The same cluster in every mode: for each probe of a table over every service type and policy
 * (test/helpers/every-shape.ts, 91 probes on two nodes), ipvs, nftables, userspace and cilium must
 * give iptables mode's answer (verdict, service, eligible endpoints, masquerade for DNATed packets),
 * except where kube-proxy's own modes, or Cilium's kube-proxy replacement, differ. Each such
 * difference is listed below with the source that shows it (kube-proxy's, or Cilium v1.17's), and
 * is asserted in its exact shape, not skipped. A socket-LB mode (Cilium) is asked where a local
 * socket's first packet meets it: at connect()/sendmsg() (HOOK_SOCKET).
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { HOOK_SOCKET, newFirstPacket, type Explanation } from '../../src/compile/dataplane.js';
import { compileDataplane } from '../../src/compile/index.js';
import type { ModeName } from '../../src/model/types.js';
import { formatIp, parseIp } from '../../src/net/ipv4.js';
import { everyShapeCluster, everyShapeProbes, type ShapeProbe } from '../helpers/every-shape.js';

interface Answer {
  verdict: string;
  service: number;
  candidates: string[];
  masquerade: boolean;
}

interface Difference {
  readonly id: string;
  readonly mode: ModeName;
  readonly probes: RegExp;
  /** What the mode answers instead, checked against iptables mode's answer (and the probe, for the node it met). */
  check(got: Answer, reference: Answer, probe: ShapeProbe): void;
  readonly source: string;
}

/** kube-proxy's documented differences from iptables mode, by mode. */
const kDifferences: readonly Difference[] = [
  {
    id: 'nftables D1',
    mode: 'nftables',
    probes: /wrong port/,
    check: (got) => assert.equal(got.verdict, 'reject'),
    source: 'pkg/proxy/nftables/proxier.go setupNFTables: chain cluster-ips-check, "ip daddr @cluster-ips reject" (traffic to invalid ports of ClusterIPs)',
  },
  {
    id: 'ipvs D3',
    mode: 'ipvs',
    probes: /wrong port/,
    check: (got) => assert.equal(got.verdict, 'reject'),
    source: 'pkg/proxy/ipvs/proxier.go writeIptablesRules: KUBE-IPVS-FILTER rejects traffic to kube-ipvs0 addresses on ports no service has (issue 72236)',
  },
  {
    id: 'ipvs D2',
    mode: 'ipvs',
    probes: /^itp-local from .* node-1$/,
    check: (got, ref) => {
      assert.equal(ref.verdict, 'drop');
      assert.equal(got.verdict, 'reject');
    },
    source: 'pkg/proxy/ipvs/proxier.go syncEndpoint: a Local-policy virtual service with no local real server has none; the kernel answers ICMP port unreachable (net/netfilter/ipvs/ip_vs_core.c ip_vs_leave)',
  },
  {
    id: 'ipvs D1',
    mode: 'ipvs',
    probes: /^np-local NodePort from (outside|the host network).* node-1$/,
    check: (got) => {
      assert.equal(got.verdict, 'dnat');
      assert.deepEqual(got.candidates, ['10.244.2.21:8080']);
      assert.equal(got.masquerade, false);
    },
    source: 'pkg/proxy/ipvs/proxier.go syncEndpoint (PR 97081): externalTrafficPolicy Local without a local endpoint falls back to the cluster endpoints, unmasqueraded',
  },
  {
    id: 'ipvs D9',
    mode: 'ipvs',
    probes: /^np-local NodePort from the host network of node-2$/,
    check: (got, ref) => {
      assert.equal(ref.masquerade, true);
      assert.deepEqual(got, { ...ref, masquerade: false });
    },
    source:
      'pkg/proxy/ipvs/proxier.go writeIptablesRules: KUBE-NODE-PORT RETURNs for KUBE-NODE-PORT-LOCAL-* before KUBE-MARK-MASQ, with no exception for node-originated traffic; iptables mode masquerades it ("route LOCAL traffic" rule with --src-type LOCAL, pkg/proxy/iptables/proxier.go syncProxyRules)',
  },
  {
    id: 'userspace U5',
    mode: 'userspace',
    probes: /^lb ingress IP from (a pod|outside \(203)/,
    check: (got, ref) => {
      assert.equal(ref.verdict, 'drop');
      assert.equal(got.verdict, 'dnat');
      assert.deepEqual(got.candidates, ['10.244.1.30:8443', '10.244.2.30:8443']);
    },
    source: 'pkg/proxy/userspace/proxier.go openOnePortal/closePortal (<= 1.25): ingress IP portals match no source, so loadBalancerSourceRanges are not enforced',
  },
  {
    id: 'userspace U4',
    mode: 'userspace',
    probes: /^ext externalIP from a pod/,
    check: (got) => assert.equal(got.verdict, 'none'),
    source: 'pkg/proxy/userspace/proxier.go iptablesContainerPortalArgs: external IP portals carry "! --physdev-is-in", so traffic from bridged pods is not redirected',
  },
  {
    id: 'userspace U2',
    mode: 'userspace',
    probes: /^(itp-local from .* node-1$|empty|draining|np-local NodePort from outside.* node-1$)/,
    check: (got, ref) => {
      // Ready endpoints only: no traffic policy, no terminating fallback, and with none the
      // proxy still accepts the connection and then closes it.
      assert.equal(got.verdict, 'dnat');
      assert.notDeepEqual(got, ref);
    },
    source: 'pkg/proxy/userspace/roundrobin.go NextEndpoint / OnEndpointsUpdate (<= 1.25): ready addresses only, traffic policies unknown to the userspace proxier',
  },
  {
    id: 'cilium C-D7 socket',
    mode: 'cilium',
    probes: /^(?!ext externalIP|lb ingress IP|itp-local from a pod|sctp).*(from a pod|from the host network)|^hairpin/,
    check: (got, ref) => assert.deepEqual(got, { ...ref, masquerade: false }),
    source: 'bpf/bpf_sock.c __sock4_xlate_fwd: a local socket is connected to the backend at connect()/sendmsg(); no packet carries the service address, so nothing is NATed or masqueraded (hairpin included)',
  },
  {
    id: 'cilium C-D7 device',
    mode: 'cilium',
    probes: /^(?!np-local NodePort from outside.* node-1$).*(NodePort|externalIP|ingress IP) from (outside|an allowed)/,
    check: (got, ref, p) => {
      if (ref.verdict !== 'dnat') return assert.deepEqual(got, ref); // a source range refused alike
      const remote = got.candidates.some((c) => c.split('.')[2] !== String(p.node + 1));
      assert.deepEqual(got, { ...ref, masquerade: remote });
    },
    source: 'bpf/lib/nodeport.h nodeport_lb4: SNAT (nodeport_nat_ipv4_fwd) only toward a backend on another node, a local backend sees the client (bpf-lb-mode snat, the default); iptables mode masquerades every external packet under Cluster policy',
  },
  {
    id: 'cilium C-D4',
    mode: 'cilium',
    probes: /^(web|sticky|empty|dns (udp|tcp)|draining|itp-local|\S+ clusterIP) from outside/,
    check: (got) => assert.equal(got.verdict, 'drop'),
    source: 'bpf/lib/nodeport.h nodeport_lb4: a ClusterIP frontend without SVC_FLAG_ROUTABLE (bpf-lb-external-clusterip false by default) is refused from outside, DROP_IS_CLUSTER_IP; iptables mode DNATs and masquerades it',
  },
  {
    id: 'cilium C-D3',
    mode: 'cilium',
    probes: /^ext externalIP from a pod/,
    check: (got, ref) => {
      assert.equal(ref.verdict, 'dnat');
      assert.equal(got.verdict, 'none');
    },
    source: 'bpf/bpf_sock.c sock4_skip_xlate: an externalIP is translated at a socket only when it is the node\'s own address (no MITM of a public IP); iptables mode DNATs pod traffic to it',
  },
  {
    id: 'cilium C-D6',
    mode: 'cilium',
    probes: /^lb ingress IP from a pod/,
    check: (got, ref) => {
      assert.equal(ref.verdict, 'drop');
      assert.equal(got.verdict, 'dnat');
    },
    source: 'bpf/bpf_sock.c __sock4_xlate_fwd (as read): no source-range check at the socket; loadBalancerSourceRanges are checked at the device (lb4_src_range_ok in nodeport_lb4); iptables mode\'s KUBE-FW drops the pod',
  },
  {
    id: 'cilium C-D2',
    mode: 'cilium',
    probes: /^(itp-local from a pod on node-1|np-local NodePort from outside.* node-1)$/,
    check: (got, ref) => {
      assert.equal(ref.verdict, 'drop');
      assert.equal(got.verdict, 'reject');
    },
    source: 'bpf/bpf_sock.c __sock4_xlate_fwd: a frontend without backends fails connect() (-EHOSTUNREACH); at the device, service-no-backend-response (reject by default); iptables mode DROPs under a Local policy',
  },
  {
    id: 'cilium C-D8',
    mode: 'cilium',
    probes: /^sctp/,
    check: (got) => assert.equal(got.verdict, 'none'),
    source: 'pkg/option/config.go enable-sctp (default false): SCTP Service ports are left out of the LB maps; bpf/bpf_sock.c sock_proto_enabled: sockets translate TCP and UDP only',
  },
];

function answer(e: Explanation, rows: (r: number) => string): Answer {
  const verdict = e.verdict === 'redirect' ? 'dnat' : e.verdict;
  return {
    verdict,
    service: e.servicePort,
    candidates: [...e.candidates].sort((a, b) => a - b).map(rows),
    // Masquerade only means something for a packet that is DNATed.
    masquerade: verdict === 'dnat' && e.masquerade,
  };
}

describe('every mode gives iptables mode\'s answer, except kube-proxy\'s documented differences', () => {
  const cluster = everyShapeCluster();
  const probes = everyShapeProbes();
  const rows = (r: number) => `${formatIp(cluster.endpoints.ip[r])}:${cluster.endpoints.port[r]}`;
  const modes: ModeName[] = ['iptables', 'ipvs', 'nftables', 'userspace', 'cilium'];
  const dataplanes = new Map(modes.map((m) => [m, [0, 1].map((n) => compileDataplane(cluster, m, n))]));
  const ask = (mode: ModeName, p: ShapeProbe): Answer => {
    const [srcIp, srcPort] = p.src.split(':');
    const [dstIp, dstPort] = p.dst.split(':');
    const pkt = Object.assign(newFirstPacket(), {
      srcIp: parseIp(srcIp),
      srcPort: Number(srcPort),
      dstIp: parseIp(dstIp),
      dstPort: Number(dstPort),
      proto: p.proto,
      hook: p.from === 1 ? 1 : 0,
      fromPodInterface: p.from === 0,
      rand: 12345,
    });
    const dp = dataplanes.get(mode)![p.node];
    if (dp.socketLb && p.from !== 2) pkt.hook = HOOK_SOCKET;
    return answer(dp.explain(pkt), rows);
  };

  it('has a table of at least 50 probes over every service type and policy', () => {
    assert.ok(probes.length >= 50, `${probes.length} probes`);
  });

  const used = new Set<string>();
  for (const mode of ['ipvs', 'nftables', 'userspace', 'cilium'] as const) {
    it(`${mode} mode`, () => {
      for (const p of probes) {
        const reference = ask('iptables', p);
        const got = ask(mode, p);
        const differences = kDifferences.filter((d) => d.mode === mode && d.probes.test(p.name));
        if (differences.length > 0) {
          for (const d of differences) {
            used.add(d.id);
            d.check(got, reference, p);
          }
          continue;
        }
        // userspace U1: the proxy always connects from the node's address, so masquerade (an
        // iptables mark) has no counterpart there (pkg/proxy/userspace/proxier.go, proxysocket.go).
        const expected = mode === 'userspace' ? { ...reference, masquerade: false } : reference;
        assert.deepEqual(got, expected, `${mode} differs from iptables for "${p.name}"`);
      }
    });
  }

  it('every documented difference was met by some probe', () => {
    assert.deepEqual([...used].sort(), kDifferences.map((d) => d.id).sort());
  });
});

describe('explain() after decide()', () => {
  it('lists every candidate of a ClientIP-affinity service even after the client was pinned, in every mode', () => {
    const cluster = everyShapeCluster();
    for (const mode of ['iptables', 'ipvs', 'nftables', 'userspace', 'cilium'] as const) {
      // Arrange: one decision pins the client to an endpoint of the sticky service.
      const dp = compileDataplane(cluster, mode, 0);
      const pkt = Object.assign(newFirstPacket(), { srcIp: parseIp('10.244.1.99'), srcPort: 40000, dstIp: parseIp('10.96.0.60'), dstPort: 80, proto: 6, fromPodInterface: true, rand: 7 });
      if (dp.socketLb) pkt.hook = HOOK_SOCKET;
      const out = { verdict: 0, servicePort: -1, endpoint: -1, dnatIp: 0, dnatPort: 0, masquerade: false, work: 0 };
      dp.decide(pkt, out);
      // Act: explain the same packet.
      const e = dp.explain(pkt);
      // Assert: both endpoints remain candidates, and the pinned one is among them.
      assert.equal(e.candidates.length, 2, `${mode}: ${e.candidates}`);
      assert.ok(e.candidates.includes(out.endpoint), mode);
    }
  });
});
