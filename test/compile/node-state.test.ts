/**
 * A real node's files as kdp's input (issue 13, items 1 and 3).
 *
 * 1. kdp's own rendering of a cluster, read back as a node's state, traces every probe of the
 *    cross-mode table (test/helpers/every-shape.ts) to the decision, candidates and masquerade the
 *    cluster trace gives, in each mode whose text kdp reads back (iptables-save; nft).
 * 2. A packet-flow table over a kube-proxy node with rules of other owners added (Docker, Calico,
 *    NodeLocal DNSCache, firewalld-style sets, flannel): each row's expectation is written from
 *    iptables-extensions(8) and the kernel's netfilter hook order by hand, not computed by kdp.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { HOOK_OUTPUT, HOOK_PREROUTING } from '../../src/compile/dataplane.js';
import { modeNamed, renderRules } from '../../src/compile/index.js';
import { detectFormat, loadNodeState, splitFormatSuffix } from '../../src/compile/node-state.js';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { traceNodeState, type NodeTraceResult } from '../../src/dataplane/node-trace.js';
import { tracePacket } from '../../src/dataplane/trace.js';
import { RuleParseErrors } from '../../src/errors.js';
import type { ModeName } from '../../src/model/types.js';
import { parseIp } from '../../src/net/ipv4.js';
import { loadFixture } from '../helpers/cluster.js';
import { everyShapeCluster, everyShapeProbes } from '../helpers/every-shape.js';

type Probe = ReturnType<typeof everyShapeProbes>[number];
type Answer = Pick<NodeTraceResult, 'decision' | 'service' | 'candidates' | 'masquerade'>;

/** One cross-mode probe traced through the cluster (`want`) and through the node's state read back (`got`), as the fields both answer. */
function traceBoth(compiled: CompiledCluster, state: ReturnType<typeof loadNodeState>, cluster: ReturnType<typeof everyShapeCluster>, p: Probe): { got: Answer; want: Answer } {
  const [srcIp, srcPort] = p.src.split(':');
  const [dstIp, dstPort] = p.dst.split(':');
  const probe = { proto: p.proto as 6, srcIp: parseIp(srcIp) >>> 0, srcPort: Number(srcPort), dstIp: parseIp(dstIp) >>> 0, dstPort: Number(dstPort), node: p.node, entry: p.from };
  const reference = tracePacket(new PipelineContext(compiled, { seed: 1 }), probe).result;
  const node = traceNodeState(state, { ...probe, hook: p.from === 1 ? HOOK_OUTPUT : HOOK_PREROUTING, fromPodInterface: p.from === 0 }, { cluster, nodeName: `node-${p.node + 1}`, rand: 1 });
  return {
    got: { decision: node.decision, service: node.service, candidates: node.candidates, masquerade: node.masquerade },
    want: { decision: reference.decision, service: reference.service, candidates: reference.candidates, masquerade: reference.masquerade },
  };
}

describe('kdp trace --node-state on kdp\'s own rendering gives the cluster trace\'s answer (every cross-mode probe)', () => {
  const cluster = everyShapeCluster();
  const probes = everyShapeProbes();
  const cases: [ModeName, string][] = [['iptables', 'iptables-save'], ['nftables', 'nft']];
  for (const [mode, format] of cases) {
    it(`${mode} mode, read back from ${format}`, () => {
      const compiled = new CompiledCluster(cluster, mode);
      const states = [0, 1].map((n) => loadNodeState([{ path: `node-${n + 1}.${format}`, text: renderRules(cluster, mode, n, format) }], cluster, n));
      let dnat = 0;
      for (const p of probes) {
        const { got, want } = traceBoth(compiled, states[p.node], cluster, p);
        assert.deepEqual(got, want, `${mode}: "${p.name}"`);
        if (got.decision === 'dnat') dnat++;
      }
      assert.ok(dnat >= 30, `only ${dnat} probes were DNATed: the table would not test the mapping to endpoints`);
    });
  }
});

/**
 * An IPVS node read whole (ipvsadm + ipset save + iptables-save, ipvs/node-state.ts) against the
 * cluster's IPVS-mode trace, for every cross-mode probe: equal, except the probes below, each
 * with what the node's trace says instead and why. (A probe in neither is a failure, and so is a
 * listed probe that agrees: the list cannot go stale.)
 */
const kIpvsNodeDifferences: readonly { readonly probe: RegExp; readonly node: Partial<NodeTraceResult>; readonly why: string }[] = [
  {
    probe: /^ext externalIP from (a pod on|outside \(203\.0\.113\.9\) at) node-[12]$/,
    node: { decision: 'unknown' },
    why: 'nat KUBE-SERVICES\' externalIP rule `-m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT` (ipvs/proxier.go writeIptablesRules): whether the packet was bridged is not in a dump, so the walk stops there; kdp\'s IPVS mode takes every packet as routed, not bridged',
  },
];

describe('kdp trace --node-state on an IPVS node (ipvsadm, ipset save, iptables-save) gives the cluster\'s IPVS trace', () => {
  const cluster = everyShapeCluster();
  const probes = everyShapeProbes();
  for (const listing of ['ipvsadm', 'ipvsadm-list']) {
    it(`read from ${listing}, ipset and iptables-save: every probe agrees or is a listed difference`, () => {
      const compiled = new CompiledCluster(cluster, 'ipvs');
      const states = [0, 1].map((n) => loadNodeState([listing, 'ipset', 'iptables-save'].map((f) => ({ path: `node-${n + 1}.${f}`, text: renderRules(cluster, 'ipvs', n, f) })), cluster, n));
      let agreed = 0;
      let dnat = 0;
      const listedSeen = new Set<number>();
      for (const p of probes) {
        const { got: mine, want } = traceBoth(compiled, states[p.node], cluster, p);
        const k = kIpvsNodeDifferences.findIndex((d) => d.probe.test(p.name));
        if (k < 0) {
          assert.deepEqual(mine, want, `ipvs node: "${p.name}"`);
          agreed++;
          if (mine.decision === 'dnat') dnat++;
          continue;
        }
        listedSeen.add(k);
        assert.notDeepEqual(mine, want, `"${p.name}" is listed as a difference but agrees: take it off the list`);
        assert.deepEqual({ ...mine, ...kIpvsNodeDifferences[k].node }, mine, `"${p.name}": ${kIpvsNodeDifferences[k].why}`);
        assert.equal(mine.service, want.service, `"${p.name}": the service is named either way`);
      }
      assert.equal(listedSeen.size, kIpvsNodeDifferences.length, 'a listed difference no probe shows');
      assert.equal(agreed, probes.length - 4, `${agreed} of ${probes.length} probes agree`);
      assert.ok(dnat >= 30, `only ${dnat} probes were DNATed: the table would not test IPVS's real servers`);
    });
  }

  it('refuses an IPVS node without the cluster file, naming what it needs', () => {
    const files = ['ipvsadm', 'ipset', 'iptables-save'].map((f) => ({ path: `node-1.${f}`, text: renderRules(cluster, 'ipvs', 0, f) }));
    assert.throws(() => loadNodeState(files), /needs the cluster file/);
  });

  it('reads the same node with --mode ipvs named, and refuses it under a mode that does not read ipvsadm beside iptables-save', () => {
    const files = ['ipvsadm', 'ipset', 'iptables-save'].map((f) => ({ path: `node-1.${f}`, text: renderRules(cluster, 'ipvs', 0, f) }));
    const named = loadNodeState(files, cluster, 0, modeNamed('ipvs'));
    assert.equal(named.mode, 'ipvs');
    const compiled = new CompiledCluster(cluster, 'ipvs');
    for (const p of probes.filter((q) => q.node === 0)) assert.deepEqual(traceBoth(compiled, named, cluster, p).got, traceBoth(compiled, loadNodeState(files, cluster, 0), cluster, p).got, p.name);
    for (const other of ['iptables', 'nftables'] as const) assert.throws(() => loadNodeState(files, cluster, 0, modeNamed(other)), /one proxy's rules per node/, other);
  });
});

/** Inserts chains (after the table's chain lines) and rules (before its COMMIT, or first in their chain with `first`). */
function inject(save: string, table: string, chains: string[], rules: string[], first: string[] = []): string {
  const lines = save.split('\n');
  const start = lines.indexOf(`*${table}`);
  assert.ok(start >= 0, `no *${table} in the rendering`);
  let commit = start;
  while (lines[commit] !== 'COMMIT') commit++;
  let lastChain = start;
  while (lines[lastChain + 1]?.startsWith(':')) lastChain++;
  lines.splice(commit, 0, ...rules);
  lines.splice(lastChain + 1, 0, ...chains.map((c) => `:${c} - [0:0]`), ...first);
  return lines.join('\n');
}

/** kdp's rendering of the small cluster for node-1 (192.168.0.11), with other owners' rules. */
function busyNode(): string {
  let save = renderRules(loadFixture('small-cluster.yaml'), 'iptables', 0, 'iptables-save');
  // iptables-save -c prints counters before every rule.
  save = save.replace(/^-A /gm, '[12:720] -A ');
  save = `# Warning: iptables-legacy tables present, use iptables-legacy-save to see them\n${save}`;
  save += [
    '*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
    // NodeLocal DNSCache (k8s.io/dns cmd/node-cache): its address bypasses conntrack both ways.
    '-A PREROUTING -d 169.254.20.10/32 -p udp -m udp --dport 53 -m comment --comment "NodeLocal DNS Cache: skip conntrack" -j NOTRACK',
    '-A OUTPUT -s 169.254.20.10/32 -p udp -m udp --sport 53 -j CT --notrack',
    'COMMIT', '',
    '*mangle', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':cali-PREROUTING - [0:0]',
    '-A PREROUTING -m comment --comment "cali:6gwbT8clXdHdC1b1" -j cali-PREROUTING',
    '-A cali-PREROUTING -s 10.244.1.0/24 -p tcp -m multiport --dports 7000:7100,9090 -j MARK --set-xmark 0x10000/0x10000',
    'COMMIT', '',
  ].join('\n');
  save = inject(save, 'nat', ['DOCKER', 'FLANNEL-POSTRTG'], [
    '-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER',
    '-A DOCKER -i docker0 -j RETURN',
    '-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.2:80',
    '-A DOCKER -p tcp -m tcp --dport 8443 -j DNAT --to-destination 172.17.0.3',
    '-A POSTROUTING -m comment --comment "flanneld masq" -j FLANNEL-POSTRTG',
    '-A FLANNEL-POSTRTG -s 10.244.0.0/16 -d 10.244.0.0/16 -m comment --comment "flanneld masq" -j RETURN',
    '-A FLANNEL-POSTRTG -s 10.244.0.0/16 ! -d 224.0.0.0/4 -m comment --comment "flanneld masq" -j MASQUERADE --random-fully',
  ]);
  save = inject(save, 'filter', ['cali-FORWARD', 'cali-fw-x', 'FW-SETS', 'LIMITS'], [
    '-A FORWARD -j cali-FORWARD',
    '-A cali-FORWARD -m mark --mark 0x10000/0x10000 -j DROP',
    '-A cali-FORWARD -p tcp -m tcp --dport 6000 -g cali-fw-x',
    '-A cali-FORWARD -p tcp -m tcp --dport 6000 -j REJECT --reject-with icmp-host-prohibited',
    '-A cali-fw-x -s 10.244.1.0/24 -j RETURN',
    '-A cali-fw-x -j DROP',
    '-A cali-FORWARD -p tcp -m tcp --dport 6100 -m conntrack --ctorigdst 192.168.0.0/16 --ctorigdstport 6100 -j DROP',
    '-A cali-FORWARD -p tcp -m tcp --dport 6200 -m hashlimit --hashlimit-above 10/sec --hashlimit-name x -j DROP',
    '-A cali-FORWARD -p udp -m udp --dport 6201 -m hashlimit --hashlimit-above 10/sec --hashlimit-name y -j DROP',
    '-A cali-FORWARD -p tcp -m tcp --dport 6300 -m set --match-set NOSUCHSET src -j DROP',
    '-A cali-FORWARD -p tcp -m tcp --dport 6400 -m physdev --physdev-is-bridged -j DROP',
    '-A cali-FORWARD -p tcp -m tcp --dport 6500 -j TPROXY --on-port 1234',
    '-A cali-FORWARD -p tcp -m tcp --sport 1:1023 --dport 6600 -j DROP',
    '-A cali-FORWARD -p tcp -m tcp --dport 6700 -m conntrack --ctstatus ASSURED -j DROP',
    '-A cali-FORWARD -p tcp -m tcp --dport 6700 -m conntrack ! --ctstatus ASSURED -j REJECT',
    '-A INPUT -j FW-SETS',
    '-A FW-SETS -m set --match-set blocklist src -j DROP',
    '-A FW-SETS -m set ! --match-set allow-ports dst,dst -p tcp -m tcp --dport 9000:9999 -j REJECT',
    '-A FW-SETS -p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN -m tcp --dport 7777 -j LOG --log-prefix "syn "',
    '-A FW-SETS -p tcp -m tcp --dport 7777 -j DROP',
    '-A FW-SETS -p tcp -m iprange --src-range 203.0.113.100-203.0.113.200 -m tcp --dport 7778 -j DROP',
  ]);
  return save;
}

const kIpsets = [
  'create blocklist hash:net family inet hashsize 1024 maxelem 65536',
  'add blocklist 203.0.113.0/25',
  'add blocklist 203.0.113.64/26 nomatch',
  'create allow-ports hash:ip,port family inet hashsize 1024 maxelem 65536',
  'add allow-ports 192.168.0.11,tcp:9100',
  'add allow-ports 192.168.0.11,udp:9200',
  '',
].join('\n');

interface Row {
  readonly name: string;
  readonly proto?: number;
  readonly src: string;
  readonly dst: string;
  readonly from?: 'pod' | 'host' | 'outside';
  readonly iif?: string;
  readonly expect: Partial<Pick<NodeTraceResult, 'decision' | 'masquerade' | 'candidates' | 'verdict' | 'service'>>;
  /** Part of `unknownAt` when the decision is unknown (the line's rule). */
  readonly unknownAt?: RegExp;
}

// Expectations from iptables-extensions(8) and the hook order (raw, mangle, nat, filter; nat only for tracked packets).
const kRows: readonly Row[] = [
  { name: 'a Service still works through the foreign chains', src: '10.244.1.5:40000', dst: '10.96.0.10:80', from: 'pod', expect: { decision: 'dnat', service: 'default/web:http', candidates: ['10.244.1.5:8080', '10.244.2.7:8080'], masquerade: true } },
  { name: 'NOTRACK in raw: nat never sees NodeLocal DNSCache queries', proto: 17, src: '10.244.1.5:40000', dst: '169.254.20.10:53', from: 'pod', expect: { decision: 'none', masquerade: false } },
  { name: 'Docker DNAT to the node address from another interface', src: '198.51.100.7:40000', dst: '192.168.0.11:8080', iif: 'eth0', expect: { decision: 'dnat', candidates: ['172.17.0.2:80'] } },
  { name: 'Docker: from docker0 the DOCKER chain RETURNs first', src: '172.17.0.9:40000', dst: '192.168.0.11:8080', iif: 'docker0', expect: { decision: 'none' } },
  { name: '-i without the interface known is unknown, at its line', src: '198.51.100.7:40000', dst: '192.168.0.11:8080', expect: { decision: 'unknown', verdict: 'unknown' }, unknownAt: /-A DOCKER -i docker0 -j RETURN.*interface/ },
  { name: 'DNAT without a port keeps the port', src: '198.51.100.7:40000', dst: '192.168.0.11:8443', iif: 'eth0', expect: { decision: 'dnat', candidates: ['172.17.0.3:8443'] } },
  { name: 'flannel masquerades pod traffic leaving the pod network', src: '10.244.1.5:40000', dst: '8.8.8.8:443', from: 'pod', expect: { decision: 'none', masquerade: true, verdict: 'delivered' } },
  { name: 'flannel RETURNs pod-to-pod traffic unmasqueraded', src: '10.244.1.5:40000', dst: '10.244.2.9:443', from: 'pod', expect: { decision: 'none', masquerade: false } },
  { name: 'Calico mangle mark (multiport range) then DROP in filter', src: '10.244.1.5:40000', dst: '10.244.2.9:7050', from: 'pod', expect: { decision: 'drop', verdict: 'dropped' } },
  { name: 'multiport single port', src: '10.244.1.5:40000', dst: '10.244.2.9:9090', from: 'pod', expect: { decision: 'drop' } },
  { name: 'multiport: outside the list and range', src: '10.244.1.5:40000', dst: '10.244.2.9:7101', from: 'pod', expect: { decision: 'none' } },
  { name: 'the mark rule is for the pod CIDR only', src: '10.0.9.9:40000', dst: '10.244.2.9:7050', expect: { decision: 'none' } },
  { name: '-g: RETURN from a goto chain skips the rest of the calling chain', src: '10.244.1.5:40000', dst: '10.244.2.9:6000', from: 'pod', expect: { decision: 'none' } },
  { name: '-g: the goto chain drops others', src: '10.9.0.5:40000', dst: '10.244.2.9:6000', expect: { decision: 'drop' } },
  { name: 'conntrack --ctorigdst/--ctorigdstport', src: '10.9.0.5:40000', dst: '10.244.2.9:6100', expect: { decision: 'none' } },
  { name: 'conntrack --ctorigdst matches the original destination', src: '10.9.0.5:40000', dst: '192.168.5.5:6100', expect: { decision: 'drop' } },
  { name: 'hashlimit is opaque: unknown at its line', src: '10.9.0.5:40000', dst: '10.244.2.9:6200', expect: { decision: 'unknown' }, unknownAt: /hashlimit/ },
  { name: 'an opaque match after a failing -p is no match', src: '10.9.0.5:40000', dst: '10.244.2.9:6201', expect: { decision: 'none' } },
  { name: 'a set not given is unknown', src: '10.9.0.5:40000', dst: '10.244.2.9:6300', expect: { decision: 'unknown' }, unknownAt: /NOSUCHSET/ },
  { name: 'physdev is unknown', src: '10.9.0.5:40000', dst: '10.244.2.9:6400', expect: { decision: 'unknown' }, unknownAt: /bridged/ },
  { name: 'an unknown target is unknown', src: '10.9.0.5:40000', dst: '10.244.2.9:6500', expect: { decision: 'unknown' }, unknownAt: /TPROXY/ },
  { name: '--sport range: 40000 is not in 1:1023', src: '10.9.0.5:40000', dst: '10.244.2.9:6600', expect: { decision: 'none' } },
  { name: '--sport range: 500 is', src: '10.9.0.5:500', dst: '10.244.2.9:6600', expect: { decision: 'drop' } },
  { name: '--ctstatus: a first packet is not ASSURED', src: '10.9.0.5:40000', dst: '10.244.2.9:6700', expect: { decision: 'reject', verdict: 'rejected' } },
  { name: 'ipset hash:net: in the blocklist', src: '203.0.113.5:40000', dst: '192.168.0.11:22', iif: 'eth0', expect: { decision: 'drop' } },
  { name: 'ipset nomatch entry carves out of the blocklist', src: '203.0.113.70:40000', dst: '192.168.0.11:22', iif: 'eth0', expect: { decision: 'none', verdict: 'local' } },
  { name: 'ipset hash:ip,port dst,dst: allowed port', src: '198.51.100.7:40000', dst: '192.168.0.11:9100', iif: 'eth0', expect: { decision: 'none' } },
  { name: 'ipset hash:ip,port dst,dst: not in the set (and its udp entry is not tcp)', src: '198.51.100.7:40000', dst: '192.168.0.11:9200', iif: 'eth0', expect: { decision: 'reject' } },
  { name: 'LOG goes on; --tcp-flags SYN matches a first packet', src: '198.51.100.7:40000', dst: '192.168.0.11:7777', iif: 'eth0', expect: { decision: 'drop' } },
  { name: 'iprange', src: '203.0.113.150:40000', dst: '192.168.0.11:7778', iif: 'eth0', expect: { decision: 'drop' } },
  { name: 'iprange: outside', src: '203.0.113.250:40000', dst: '192.168.0.11:7778', iif: 'eth0', expect: { decision: 'none' } },
];

describe('a kube-proxy node with other owners\' rules: packet-flow table', () => {
  const cluster = loadFixture('small-cluster.yaml');
  const dp = loadNodeState([{ path: 'iptables-save', text: busyNode() }, { path: 'ipset', text: kIpsets }], cluster, 0);
  for (const row of kRows) {
    it(row.name, () => {
      const [s, sp] = row.src.split(':');
      const [d, dpt] = row.dst.split(':');
      const from = row.from ?? 'outside';
      const got = traceNodeState(dp, {
        proto: row.proto ?? 6, srcIp: parseIp(s) >>> 0, srcPort: Number(sp), dstIp: parseIp(d) >>> 0, dstPort: Number(dpt),
        hook: from === 'host' ? HOOK_OUTPUT : HOOK_PREROUTING, fromPodInterface: from === 'pod', ...(row.iif ? { iif: row.iif } : {}),
      }, { cluster, nodeName: 'node-1', rand: 1 });
      for (const [k, v] of Object.entries(row.expect)) assert.deepEqual(got[k as keyof NodeTraceResult], v, `${k}: ${JSON.stringify(got, null, 1).slice(0, 3000)}`);
      if (row.unknownAt) assert.match(got.unknownAt ?? '', row.unknownAt);
      else assert.equal(got.unknownAt, undefined);
      if (got.decision === 'unknown') assert.match(got.unknownAt ?? '', /^line \d+: -A /);
    });
  }
});

describe('node-state files', () => {
  it('detects each tool\'s format from its first lines', () => {
    assert.equal(detectFormat('# Generated by iptables-save v1.8.7\n*nat\n'), 'iptables-save');
    assert.equal(detectFormat('*filter\n:INPUT ACCEPT [0:0]\n'), 'iptables-save');
    assert.equal(detectFormat('create KUBE-CLUSTER-IP hash:ip,port family inet\n'), 'ipset');
    assert.equal(detectFormat('table ip kube-proxy {\n'), 'nft');
    assert.equal(detectFormat('-A -t 10.96.0.1:443 -s rr\n'), 'ipvsadm');
    assert.equal(detectFormat('hello\n'), undefined);
    assert.deepEqual(splitFormatSuffix('dump.txt:iptables-save'), { path: 'dump.txt', format: 'iptables-save' });
    assert.deepEqual(splitFormatSuffix('C:weird'), { path: 'C:weird' });
  });

  it('lists every problem of every file with the file\'s own line', () => {
    const a = '*nat\n:X - [0:0]\n-A X -s 999.1.1.1 -j RETURN\nCOMMIT\n';
    const b = '*filter\n:Y - [0:0]\n-A NOPE -j DROP\nCOMMIT\n';
    const c = 'create s hash:ip\nadd s 10.0.0.300\n';
    assert.throws(() => loadNodeState([{ path: 'a', text: a }, { path: 'b', text: b }, { path: 'c', text: c }]), (e: unknown) => {
      assert.ok(e instanceof RuleParseErrors);
      assert.deepEqual(e.problems.map((p) => `${p.file}:${p.line}`), ['c:2', 'a:3', 'b:3']);
      return true;
    });
  });
});
