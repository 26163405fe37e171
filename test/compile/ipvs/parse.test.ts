/**
 * The IPVS node readers on hand-written dumps, as a real node prints them: `ipvsadm -Ln` with its
 * header, column padding and connection counters, `ipvsadm -S -n`, `ipset save` with ipset 7.x's
 * create options and other owners' sets; and their errors, each naming the line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipvsFromDump, parseIpsetSave, parseIpvsadm } from '../../../src/compile/ipvs/index.js';
import { HOOK_PREROUTING, newFirstPacket } from '../../../src/compile/dataplane.js';
import { RuleParseError } from '../../../src/errors.js';
import { parseIp } from '../../../src/net/ipv4.js';
import { PROTO_TCP, PROTO_UDP } from '../../../src/net/proto.js';
import { clusterOf, node, proxyConfig, service, slice } from '../../helpers/cluster.js';

const kList = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.1:443 rr
  -> 192.168.0.10:6443            Masq    1      3          12
TCP  10.96.0.10:53 rr persistent 10800
  -> 10.244.0.2:53                Masq    1      0          0
  -> 10.244.0.3:53                Masq    0      0          5
UDP  10.96.0.10:53 rr
  -> 10.244.0.2:53                Masq    1      0          0
`;

test('ipvsadm -Ln: services, schedulers, persistence and real servers with their weights; counters ignored', () => {
  const s = parseIpvsadm(kList);
  assert.equal(s.length, 3);
  assert.deepEqual([s[0].proto, s[0].ip, s[0].port, s[0].scheduler, s[0].persistent], [PROTO_TCP, parseIp('10.96.0.1'), 443, 'rr', 0]);
  assert.equal(s[1].persistent, 10800);
  assert.deepEqual(s[1].dests.map((d) => [d.ip, d.port, d.weight, d.forward]), [[parseIp('10.244.0.2'), 53, 1, 'masq'], [parseIp('10.244.0.3'), 53, 0, 'masq']]);
  assert.equal(s[2].proto, PROTO_UDP);
});

test('ipvsadm -S -n: -A and -a lines, -b scheduler flags, the same services as the listing', () => {
  const s = parseIpvsadm('-A -t 10.96.0.10:80 -s mh -b mh-port -p 60\n-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1\n-a -t 10.96.0.10:80 -r 10.244.2.5:8080 -m -w 2\n');
  assert.equal(s.length, 1);
  assert.deepEqual([s[0].scheduler, s[0].schedFlags, s[0].persistent, s[0].dests.map((d) => d.weight)], ['mh', ['mh-port'], 60, [1, 2]]);
});

test('ipvsadm errors name the line', () => {
  const line = (text: string): number | undefined => {
    try {
      parseIpvsadm(text);
      return undefined;
    } catch (e) {
      assert.ok(e instanceof RuleParseError, String(e));
      return e.line;
    }
  };
  assert.equal(line('-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.11:80 -r 10.244.1.5:8080 -m -w 1\n'), 2);
  assert.equal(line('TCP  10.96.0.10:80 rr\n  -> 10.244.1.5 Masq 1 0 0\n'), 2);
  assert.equal(line('\n\nFWM  5 rr\n'), 3);
  assert.equal(line('-A -t 10.96.0.10:80 -s rr\n-A -t 10.96.0.10:80 -s rr\n'), 2);
});

test('ipvsadm errors say what was expected and what was found', () => {
  const message = (text: string): string => {
    try {
      parseIpvsadm(text);
    } catch (e) {
      assert.ok(e instanceof RuleParseError, String(e));
      return e.message;
    }
    return assert.fail('parsed without an error');
  };
  const rows: [string, RegExp][] = [
    ['-A -x 10.96.0.10:80\n', /expected -t, -u or --sctp-service after -A, found "-x"/],
    ['-A\n', /expected -t, -u or --sctp-service after -A, found "end of line"/],
    ['-A -t 10.96.0.10 -s rr\n', /the service address must be IPv4:port as ipvsadm -n prints it \(10\.96\.0\.10:80\), found "10\.96\.0\.10"/],
    ['TCP  10.96.0.10:http rr\n', /the service address must be IPv4:port .*found "10\.96\.0\.10:http"/],
    ['TCP  10.96.0.10:80 rr\n  -> 10.244.1.5 Masq 1 0 0\n', /the real server must be IPv4:port .*found "10\.244\.1\.5"/],
  ];
  for (const [text, want] of rows) assert.match(message(text), want, JSON.stringify(text));
});

test('ipset save: every set with its type and members, other owners included; errors name the line', () => {
  const sets = parseIpsetSave([
    'create cali40all-ipam-pools hash:net family inet hashsize 1024 maxelem 1048576 bucketsize 12 initval 0x5b7a6b4b',
    'add cali40all-ipam-pools 10.244.0.0/16',
    'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x0d3c3d5c',
    'add KUBE-CLUSTER-IP 10.96.0.10,tcp:53',
    'add KUBE-CLUSTER-IP 10.96.0.10,udp:53 timeout 0',
    'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535',
    'add KUBE-NODE-PORT-TCP 30080',
  ].join('\n'));
  assert.deepEqual([...sets.values()].map((s) => [s.name, s.type, s.members]), [
    ['cali40all-ipam-pools', 'hash:net', ['10.244.0.0/16']],
    ['KUBE-CLUSTER-IP', 'hash:ip,port', ['10.96.0.10,tcp:53', '10.96.0.10,udp:53']],
    ['KUBE-NODE-PORT-TCP', 'bitmap:port', ['30080']],
  ]);
  assert.throws(() => parseIpsetSave('create A hash:ip\nadd B 10.0.0.1\n'), (e: unknown) => e instanceof RuleParseError && e.line === 2);
  assert.throws(() => parseIpsetSave('create A hash:ip\nflush A\n'), (e: unknown) => e instanceof RuleParseError && e.line === 2);
});

test('a node dump that lost a real server: the node DNATs to what it holds, not to what the cluster says', () => {
  // Arrange: web has two endpoints; the node's ipvsadm holds only the first (a failed sync).
  const cluster = clusterOf(
    proxyConfig({ mode: 'ipvs', clusterCIDR: '10.244.0.0/16' }),
    node('node-1', '10.244.1.0/24', '192.168.0.11'),
    service('default', 'web', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] }),
    slice('default', 'web', [{ name: 'http', port: 8080 }], [{ ip: '10.244.1.5', node: 'node-1' }, { ip: '10.244.1.6', node: 'node-1' }]),
  );
  const dp = ipvsFromDump('-A -t 10.96.0.10:80 -s rr\n-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1\n', cluster, 0);
  const pkt = Object.assign(newFirstPacket(), { srcIp: parseIp('10.244.1.99'), srcPort: 40000, dstIp: parseIp('10.96.0.10'), dstPort: 80, proto: PROTO_TCP, hook: HOOK_PREROUTING, fromPodInterface: true });
  // Act
  const e = dp.explain(pkt);
  // Assert: one candidate, the first endpoint row, named against the cluster's Service.
  assert.equal(e.verdict, 'dnat');
  assert.deepEqual(e.candidates, [0]);
  assert.equal(e.servicePort, 0);
});
