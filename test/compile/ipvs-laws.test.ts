/**
 * Laws of kdp's IPVS mode, each checked against an outside authority that its comment names:
 * kube-proxy's ipvs proxier (Kubernetes v1.33 pkg/proxy/ipvs/proxier.go), the kernel's Maglev
 * scheduler (net/netfilter/ipvs/ip_vs_mh.c), ipvsadm(8) and ipset(8).
 */
import { describe, it } from 'node:test';
import { strict as assert } from 'node:assert';
import { newNatDecision, VERDICT_REJECT } from '../../src/compile/dataplane.js';
import { compileIpvs, ipvsMode, parseIpsetSave, parseIpvsadm, renderIpsetSave, renderIpvsadmSave } from '../../src/compile/ipvs/index.js';
import { sortEntries } from '../../src/compile/ipvs/ipsets.js';
import { maglevPopulate } from '../../src/compile/ipvs/maglev.js';
import { servicesUpTo } from '../../src/model/service-change.js';
import { RuleParseErrors } from '../../src/errors.js';
import { parseIp } from '../../src/net/ipv4.js';
import { clusterNetwork, clusterOf, node, proxyConfig, service, slice } from '../helpers/cluster.js';
import { compiledFor, firstPacket, testFlows } from '../helpers/packet-flow.js';
import { flowCluster } from './ipvs/flow-cluster.js';

const kUdp = 17;

/**
 * node-1 (192.168.0.11) with a TCP NodePort 30080 and a UDP NodePort 30053, and two UDP ClusterIP
 * Services whose ports are those same numbers: the NodePort bitmaps are per protocol.
 */
function portClashCluster(): ReturnType<typeof clusterOf> {
  const port = (protocol: string, p: number, extra: Record<string, unknown> = {}) => ({ name: 'p', protocol, port: p, targetPort: 8080, ...extra });
  const eps = (svc: string, protocol: string, ip: string) => slice('default', svc, [{ name: 'p', port: 8080, protocol }], [{ ip, node: 'node-1' }], `${svc}-x`);
  return clusterOf(
    proxyConfig({ mode: 'ipvs', clusterCIDR: '10.244.0.0/16' }),
    clusterNetwork({ cni: 'kubenet', mtu: 1500, serviceNodePortRange: '30000-32767' }),
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    service('default', 'web', { type: 'NodePort', clusterIP: '10.96.3.1', ports: [port('TCP', 80, { nodePort: 30080 })] }),
    eps('web', 'TCP', '10.244.1.10'),
    service('default', 'dns', { type: 'NodePort', clusterIP: '10.96.3.2', ports: [port('UDP', 53, { nodePort: 30053 })] }),
    eps('dns', 'UDP', '10.244.1.11'),
    service('default', 'udp-on-tcp-nodeport', { type: 'ClusterIP', clusterIP: '10.96.3.3', ports: [port('UDP', 30080)] }),
    eps('udp-on-tcp-nodeport', 'UDP', '10.244.1.12'),
    service('default', 'udp-on-udp-nodeport', { type: 'ClusterIP', clusterIP: '10.96.3.4', ports: [port('UDP', 30053)] }),
    eps('udp-on-udp-nodeport', 'UDP', '10.244.1.13'),
  );
}

// KUBE-NODE-PORT marks for masquerade by protocol: proxier.go's ipsetWithIptablesChain pairs
// KUBE-NODE-PORT-UDP with `-p udp` and KUBE-NODE-PORT-TCP with `-p tcp` (both bitmap:port, matched
// on the destination port after `--dst-type LOCAL`, which every VIP is). A UDP packet to a VIP port
// that is only a TCP NodePort is not marked; one on a UDP NodePort's number is.
testFlows('ipvs: KUBE-NODE-PORT masquerades a UDP packet only for a UDP NodePort number', compiledFor(portClashCluster(), 'ipvs', 0), [
  { name: 'UDP to a ClusterIP port that is a TCP NodePort only', src: '10.244.1.99', dst: '10.96.3.3', port: 30080, proto: kUdp, fromPod: true, verdict: 'dnat', endpoints: ['10.244.1.12:8080'], masq: false },
  { name: 'UDP to a ClusterIP port that is a UDP NodePort', src: '10.244.1.99', dst: '10.96.3.4', port: 30053, proto: kUdp, fromPod: true, verdict: 'dnat', endpoints: ['10.244.1.13:8080'], masq: true },
]);

describe('ipvs: rendered state', () => {
  // kube-proxy adds a UDP NodePort's port to KUBE-NODE-PORT-UDP and a TCP one's to
  // KUBE-NODE-PORT-TCP (proxier.go syncService's nodePortSet per protocol; kubeNodePortSetUDP).
  it('ipset save lists a UDP NodePort in KUBE-NODE-PORT-UDP, a TCP one in KUBE-NODE-PORT-TCP, and neither in the other', () => {
    const adds = renderIpsetSave(compileIpvs(portClashCluster(), { node: 'node-1' })).split('\n').filter((l) => l.startsWith('add KUBE-NODE-PORT-'));
    assert.deepEqual(adds.sort(), ['add KUBE-NODE-PORT-TCP 30080', 'add KUBE-NODE-PORT-UDP 30053']);
  });

  // One `ipvsadm -S -n` line per kernel object: `-A` per virtual service, `-a` per real server
  // (ipvsadm(8)); stats() counts the same objects.
  it('stats() counts the -A and -a lines of ipvsadm -S -n', () => {
    const dp = compileIpvs(flowCluster(), { node: 'node-1' });
    const lines = renderIpvsadmSave(dp).split('\n');
    const services = lines.filter((l) => l.startsWith('-A ')).length;
    const servers = lines.filter((l) => l.startsWith('-a ')).length;
    assert.ok(servers > 0);
    assert.deepEqual([dp.stats().virtualServices, dp.stats().realServers, dp.stats().rules], [services, servers, services + servers]);
  });
});

describe('ipvs: ipset entries in numeric order', () => {
  it('sorts address,proto:port[,address] entries field by field as numbers, as `ipset save | sort -V` would, the input untouched in content', () => {
    // Oracle from the entries' meaning: the address's four octets, the protocol's number, the
    // port, then any second address, compared as numbers in that order.
    const protoNum: Record<string, number> = { tcp: 6, udp: 17, sctp: 132 };
    const tuple = (e: string): number[] => {
      const [a, pp, b] = e.split(',');
      const [proto, port] = pp!.split(':');
      return [...a!.split('.').map(Number), protoNum[proto!]!, Number(port), ...(b ? b.split('.').map(Number) : [])];
    };
    const entries: string[] = [];
    for (let i = 0; i < 400; i++) {
      const h = Math.imul(i + 1, 0x9e3779b1) >>> 0;
      const ip = `10.${(h >>> 24) & 3}.${(h >>> 16) & 15}.${(h >>> 8) & 255}`;
      const proto = ['tcp', 'udp', 'sctp'][h % 3]!;
      const port = [80, 443, 8080, 53, 9][(h >>> 4) % 5]!;
      entries.push(i % 4 === 0 ? `${ip},${proto}:${port},10.0.0.${h & 255}` : `${ip},${proto}:${port}`);
    }
    const byOracle = [...entries].sort((x, y) => {
      const a = tuple(x);
      const b = tuple(y);
      for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
      return a.length - b.length;
    });
    const input = [...entries];
    assert.deepEqual(sortEntries(input), byOracle);
    assert.deepEqual([...input].sort(), [...entries].sort(), 'the same entries, only reordered');
    // Numbers, not text: 10.0.0.9 before 10.0.0.10, port 9 before 80.
    assert.deepEqual(sortEntries(['10.0.0.10,tcp:80', '10.0.0.9,tcp:80']), ['10.0.0.9,tcp:80', '10.0.0.10,tcp:80']);
    assert.deepEqual(sortEntries(['10.0.0.1,tcp:80', '10.0.0.1,tcp:9']), ['10.0.0.1,tcp:9', '10.0.0.1,tcp:80']);
  });
});

describe('ipvs: node dump readers', () => {
  // ipvsadm(8): -g (--gatewaying, direct routing), -i (--ipip, tunnelling), -m (--masquerading)
  // pick a real server's packet-forwarding method; ipvsadm -S prints the same flags.
  it('ipvsadm -S -n: -g, -i and -m are route, tunnel and masq', () => {
    const [s] = parseIpvsadm([
      '-A -t 10.96.0.10:80 -s rr',
      '-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -g -w 1',
      '-a -t 10.96.0.10:80 -r 10.244.1.6:8080 -i -w 1',
      '-a -t 10.96.0.10:80 -r 10.244.1.7:8080 -m -w 1',
      '',
    ].join('\n'));
    assert.deepEqual(s.dests.map((d) => d.forward), ['route', 'tunnel', 'masq']);
  });

  // ipset(8): a hash:ip,port entry is IP,[proto:]port; ipset refuses `add` with a dimension
  // missing ("Second element is missing") or one too many.
  it('ipset save: an entry with the wrong number of comma parts is an error naming its line and entry', () => {
    const text = [
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
      'add KUBE-CLUSTER-IP 10.96.0.10,tcp:53',
      'add KUBE-CLUSTER-IP 10.96.0.11',
      'add KUBE-CLUSTER-IP 10.96.0.12,tcp:53,10.0.0.1',
      '',
    ].join('\n');
    assert.throws(() => parseIpsetSave(text), (e: unknown) => {
      assert.ok(e instanceof RuleParseErrors);
      assert.deepEqual(e.problems.map((p) => p.line), [3, 4]);
      assert.match(e.problems[0].message, /10\.96\.0\.11/);
      assert.match(e.problems[1].message, /10\.96\.0\.12,tcp:53,10\.0\.0\.1/);
      return true;
    });
  });
});

describe('ipvs: Maglev (mh) table', () => {
  // ip_vs_mh.c ip_vs_mh_populate: "If gcd is smaller then 1, number of dests or all last_weight of
  // dests are zero. So, skip permutation for the dests." The table is left without destinations
  // (ip_vs_mh_get finds none), so every slot is empty.
  it('real servers that all weigh 0 fill no slot', () => {
    const m = 251;
    const table = maglevPopulate({ ip: [parseIp('10.244.1.5'), parseIp('10.244.1.6')], port: [8080, 8080], weight: [0, 0], start: 0, count: 2 }, m);
    assert.deepEqual([...new Set(table)], [0xffffffff]);
  });
});

describe('ipvs: Services added in place', () => {
  // The contract of update-services.ts (after tables/capacity.ts withRoom): a compile leaves room
  // for `vsIp.length` virtual services; an add that fits the room is written in place, one that
  // needs a single VS more gives up with nothing written (the caller recompiles). kube-proxy
  // creates one VS for the ClusterIP and one per externalIP (proxier.go syncProxyRules).
  const withExternalIps = (n: number) => clusterOf(
    proxyConfig({ mode: 'ipvs', clusterCIDR: '10.244.0.0/16' }),
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    service('default', 'a', { type: 'ClusterIP', clusterIP: '10.96.0.1', ports: [{ name: 'p', port: 80, protocol: 'TCP' }] }),
    service('default', 'b', {
      type: 'ClusterIP', clusterIP: '10.96.0.2', ports: [{ name: 'p', port: 80, protocol: 'TCP' }],
      externalIPs: Array.from({ length: n }, (_, i) => `198.51.100.${i + 1}`),
    }),
  );
  const room = (() => {
    const t = compileIpvs(servicesUpTo(withExternalIps(0), 1), { node: 'node-1' }).tables;
    return t.vsIp.length - t.vsCount;
  })();

  it('an add that fills the room exactly is written, and each of its VSs answers', () => {
    const next = withExternalIps(room - 1);
    const dp = compileIpvs(servicesUpTo(next, 1), { node: 'node-1' });
    const u = ipvsMode.updateServices!(dp, next, [1], []);
    assert.ok(u !== undefined, `${room} VSs in a room of ${room}`);
    assert.equal(dp.stats().virtualServices, 1 + room);
    const out = newNatDecision();
    dp.decide(firstPacket({ src: '10.244.1.99', dst: `198.51.100.${room - 1}`, port: 80, fromPod: true }), out);
    assert.equal(out.verdict, VERDICT_REJECT, 'the last externalIP VS exists (no real servers: ICMP port unreachable)');
  });

  it('an add one VS past the room writes nothing', () => {
    const next = withExternalIps(room);
    const dp = compileIpvs(servicesUpTo(next, 1), { node: 'node-1' });
    const gen = dp.tables.generation[0];
    assert.equal(ipvsMode.updateServices!(dp, next, [1], []), undefined);
    assert.equal(dp.tables.generation[0], gen);
    assert.equal(dp.stats().virtualServices, 1);
  });
});
