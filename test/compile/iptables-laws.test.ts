/**
 * Laws of kdp's iptables mode that a mutation run of src/compile/iptables found untested. Every
 * expectation is written from netfilter's behaviour (xt_conntrack.c, iptables-extensions(8)),
 * the iptables-save/iptables-restore text formats, or kube-proxy's pkg/proxy/iptables/proxier.go,
 * not from kdp's code.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { HOOK_PREROUTING } from '../../src/compile/dataplane.js';
import { renderRules } from '../../src/compile/index.js';
import { dataplaneFromIptablesSave, parseIptablesSave, renderIptablesRestore, saveRuleBody } from '../../src/compile/iptables/index.js';
import { T_DNAT } from '../../src/compile/iptables/ruleset.js';
import { serviceAccepts } from '../../src/compile/iptables/service-accept.js';
import { loadNodeState } from '../../src/compile/node-state.js';
import { traceNodeState, type NodeTraceResult } from '../../src/dataplane/node-trace.js';
import { formatIp, parseIp } from '../../src/net/ipv4.js';
import { loadFixture } from '../helpers/cluster.js';

const cluster = loadFixture('small-cluster.yaml');

/** `save` with `chains` declared in `table` and `rules` appended to it, so after each chain's own rules, as `iptables -A` puts them. */
function withRules(save: string, table: string, chains: readonly string[], rules: readonly string[]): string {
  const lines = save.split('\n');
  const start = lines.indexOf(`*${table}`);
  assert.ok(start >= 0, `no *${table} in the rendering`);
  const commit = lines.indexOf('COMMIT', start);
  let lastChain = start;
  while (lines[lastChain + 1].startsWith(':')) lastChain++;
  lines.splice(commit, 0, ...rules);
  lines.splice(lastChain + 1, 0, ...chains.map((c) => `:${c} - [0:0]`));
  return lines.join('\n');
}

const nodeSave = (): string => renderRules(cluster, 'iptables', 0, 'iptables-save');

/** A TCP first packet from outside the node (PREROUTING, not from a pod interface). */
function traceFromOutside(save: string, src: string, dst: string): NodeTraceResult {
  const dp = loadNodeState([{ path: 'node-1.iptables-save', text: save }], cluster, 0);
  const [s, sp] = src.split(':');
  const [d, dport] = dst.split(':');
  return traceNodeState(dp, {
    proto: 6, srcIp: parseIp(s) >>> 0, srcPort: Number(sp), dstIp: parseIp(d) >>> 0, dstPort: Number(dport), hook: HOOK_PREROUTING, fromPodInterface: false,
  }, { cluster, nodeName: 'node-1', rand: 1 });
}

// `-m conntrack --ctproto P` in another owner's filter rule, for a tracked and an untracked packet.
// Oracle: xt_conntrack.c conntrack_mt. A tracked packet: ct_proto_port_check fails unless
// (nf_ct_protonum(ct) == l4proto) differs from the `!` flag, and a first packet's entry has the
// packet's own protocol. An untracked packet (raw `-j NOTRACK` / `-j CT --notrack`): nf_ct_get gives
// NULL with ctinfo IP_CT_UNTRACKED, and `if (ct == NULL) return info->match_flags & XT_CONNTRACK_STATE;`
// makes a match without --ctstate fail before --ctproto is looked at, negated or not, and one with a
// --ctstate that passed hold whatever --ctproto says (kernels since the fake untracked conntrack
// object was removed, 4.12; before, `!` met the template's protocol 0). Each `-m conntrack` is its
// own match (its own xt_conntrack_mtinfo): a --ctstate in one instance does not carry another's
// --ctproto past the `ct == NULL` test (seen on this machine's kernel, 2026-12-04: a SYN to ports
// 6807-6809 of a namespace with these rules and the raw NOTRACK counted 0, 0 and 1 on the DROPs).
describe('conntrack --ctproto of another owner (xt_conntrack)', () => {
  const save = withRules(nodeSave(), 'filter', ['LAW-CT'], [
    '-A FORWARD -j LAW-CT',
    '-A LAW-CT -p tcp -m tcp --dport 6800 -m conntrack --ctproto tcp -j DROP',
    '-A LAW-CT -p tcp -m tcp --dport 6801 -m conntrack --ctproto udp -j DROP',
    '-A LAW-CT -p tcp -m tcp --dport 6802 -m conntrack ! --ctproto udp -j DROP',
    '-A LAW-CT -p tcp -m tcp --dport 6803 -m conntrack --ctproto tcp -j DROP',
    '-A LAW-CT -p tcp -m tcp --dport 6804 -m conntrack ! --ctproto udp -j DROP',
    '-A LAW-CT -p tcp -m tcp --dport 6805 -m conntrack --ctstate UNTRACKED --ctproto udp -j DROP',
    '-A LAW-CT -p tcp -m tcp --dport 6806 -m conntrack --ctstate NEW --ctproto tcp -j DROP',
    '-A LAW-CT -p tcp -m tcp --dport 6807 -m conntrack --ctstate UNTRACKED -m conntrack --ctproto udp -j DROP',
    '-A LAW-CT -p tcp -m tcp --dport 6808 -m conntrack ! --ctproto udp -m conntrack --ctstate UNTRACKED -j DROP',
    '-A LAW-CT -p tcp -m tcp --dport 6809 -m conntrack --ctstate UNTRACKED -m conntrack --ctstate UNTRACKED -j DROP',
  ]) + [
    '*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
    '-A PREROUTING -p tcp -m tcp --dport 6803 -j NOTRACK',
    '-A PREROUTING -p tcp -m tcp --dport 6804 -j CT --notrack',
    '-A PREROUTING -p tcp -m tcp --dport 6805:6809 -j NOTRACK',
    'COMMIT', '',
  ].join('\n');
  const rows: readonly [string, number, NodeTraceResult['decision']][] = [
    ['tracked, the entry\'s protocol is the one named: matches', 6800, 'drop'],
    ['tracked, another protocol named: no match', 6801, 'none'],
    ['tracked, `!` another protocol: matches', 6802, 'drop'],
    ['untracked: no entry, no match', 6803, 'none'],
    ['untracked: `!` does not make it match', 6804, 'none'],
    ['untracked, with --ctstate UNTRACKED: the state decides, --ctproto is never looked at', 6805, 'drop'],
    ['untracked, with --ctstate NEW: the state fails first', 6806, 'none'],
    ['untracked, --ctstate UNTRACKED in one -m conntrack, --ctproto in a second: the second has no state, so no match', 6807, 'none'],
    ['untracked, the same two instances the other way round: still no match', 6808, 'none'],
    ['untracked, --ctstate UNTRACKED in both instances: both hold', 6809, 'drop'],
  ];
  for (const [name, port, decision] of rows) {
    it(name, () => {
      const got = traceFromOutside(save, '10.9.0.5:40000', `10.244.2.9:${port}`);
      assert.equal(got.decision, decision, JSON.stringify(got).slice(0, 2000));
      assert.equal(got.unknownAt, undefined);
    });
  }
});

// Another owner's `-i`/`-o`, `-p all` and /0 addresses in filter FORWARD, traced with the packet's
// interfaces known. Oracle: iptables(8): `-i name` matches the interface the packet was received
// on, `-o name` the one it is going to be sent on (a trailing `+` a prefix); `-p all` (or 0) matches
// every protocol, and `! -p all` none; a mask is "the number of 1's at the left side of the network
// mask", so an address/0 has an all-zero mask and matches every address (so does xt_conntrack's
// --ctorigsrc, which compares under the same mask).
describe('-i, -o, -p all and /0 addresses of another owner (iptables(8))', () => {
  const save = withRules(nodeSave(), 'filter', ['LAW-IF'], [
    '-A FORWARD -j LAW-IF',
    '-A LAW-IF -p tcp -m tcp --dport 6810 -o eth1 -j DROP',
    '-A LAW-IF -p tcp -m tcp --dport 6811 -o eth0 -j DROP',
    '-A LAW-IF -p tcp -m tcp --dport 6812 -i eth0 -j DROP',
    '-A LAW-IF -p tcp -m tcp --dport 6813 -i eth1 -j DROP',
    '-A LAW-IF -p tcp -m tcp --dport 6814 ! -o eth0 -j DROP',
    '-A LAW-IF -d 10.244.2.10/32 -p all -j DROP',
    '-A LAW-IF -d 10.244.2.11/32 ! -p all -j DROP',
    '-A LAW-IF -d 10.244.2.12/32 -p 0 -j DROP',
    '-A LAW-IF -d 10.244.2.13/32 -s 0.0.0.0/0 -j DROP',
    '-A LAW-IF -d 10.244.2.14/32 ! -s 0.0.0.0/0 -j DROP',
    '-A LAW-IF -d 10.244.2.15/32 -m conntrack --ctorigsrc 0.0.0.0/0 -j DROP',
  ]);
  const trace = (dst: string): NodeTraceResult => {
    const dp = loadNodeState([{ path: 'node-1.iptables-save', text: save }], cluster, 0);
    const [d, dport] = dst.split(':');
    return traceNodeState(dp, {
      proto: 6, srcIp: parseIp('10.9.0.5') >>> 0, srcPort: 40000, dstIp: parseIp(d) >>> 0, dstPort: Number(dport), hook: HOOK_PREROUTING, fromPodInterface: false, iif: 'eth0', oif: 'eth1',
    }, { cluster, nodeName: 'node-1', rand: 1 });
  };
  const rows: readonly [string, string, NodeTraceResult['decision']][] = [
    ['in on eth0, out on eth1: `-o eth1` matches', '10.244.2.9:6810', 'drop'],
    ['`-o eth0` is the output interface, not the input one: no match', '10.244.2.9:6811', 'none'],
    ['`-i eth0` matches', '10.244.2.9:6812', 'drop'],
    ['`-i eth1` is the input interface, not the output one: no match', '10.244.2.9:6813', 'none'],
    ['`! -o eth0`: out on eth1, matches', '10.244.2.9:6814', 'drop'],
    ['`-p all` matches a TCP packet', '10.244.2.10:80', 'drop'],
    ['`! -p all` matches nothing', '10.244.2.11:80', 'none'],
    ['`-p 0` is `-p all`', '10.244.2.12:80', 'drop'],
    ['`-s 0.0.0.0/0`: a /0 mask is all zeros, every source matches', '10.244.2.13:80', 'drop'],
    ['`! -s 0.0.0.0/0` matches no source', '10.244.2.14:80', 'none'],
    ['`--ctorigsrc 0.0.0.0/0` matches every original source', '10.244.2.15:80', 'drop'],
  ];
  for (const [name, dst, decision] of rows) {
    it(name, () => {
      const got = trace(dst);
      assert.equal(got.decision, decision, JSON.stringify(got).slice(0, 2000));
      assert.equal(got.unknownAt, undefined);
    });
  }
});

// Which ACCEPT is a Service's answer (trace decision "accept"). Oracle: proxier.go writes its
// health check node port ACCEPT in the filter table only ("Capture healthCheckNodePorts",
// `-A KUBE-NODEPORTS ... --comment "NS/SVC:PORT health check node port" ... -j ACCEPT`), and a nat
// table ACCEPT only ends the nat traversal (iptables(8): the filter table still decides). A rule
// with the same comment but another target, or in another table, is someone else's, not the answer.
describe('a Service\'s ACCEPT is kube-proxy\'s filter-table health check rule only', () => {
  const comment = '-m comment --comment "store/shop:https health check node port"';
  const save = withRules(withRules(nodeSave(), 'nat', [], [
    `-A KUBE-NODEPORTS -p tcp ${comment} -m tcp --dport 31998 -j ACCEPT`,
  ]), 'filter', [], [
    `-A KUBE-NODEPORTS -p tcp ${comment} -m tcp --dport 31997 -j DROP`,
  ]);

  it('the filter ACCEPT of the health check node port is "accept"; a nat ACCEPT with its comment is "none"', () => {
    const accepted = traceFromOutside(save, '198.51.100.7:40000', '192.168.0.11:31999');
    assert.equal(accepted.decision, 'accept');
    // kdp trace's JSON contract (--help): a node with no Calico policy names none in both directions.
    const none = { verdict: 'none', policy: null, rule: null };
    assert.deepEqual(accepted.policy, { egress: none, ingress: none });
    const nat = traceFromOutside(save, '198.51.100.7:40000', '192.168.0.11:31998');
    assert.deepEqual({ decision: nat.decision, verdict: nat.verdict }, { decision: 'none', verdict: 'local' });
  });

  it('serviceAccepts flags that filter ACCEPT alone, not the DROP nor the nat ACCEPT with the same comment', () => {
    const rs = parseIptablesSave(save).ruleset;
    const flags = serviceAccepts(rs);
    const flagged = [...flags.keys()].filter((r) => flags[r] === 1).map((r) => `-A ${rs.chainName[rs.ruleChain[r]]}${saveRuleBody(rs, r)}`);
    assert.deepEqual(flagged, [`-A KUBE-NODEPORTS -p tcp ${comment} -m tcp --dport 31999 -j ACCEPT`]);
  });
});

// Reading a node's dump back onto the cluster: only a DNAT rule stands for an endpoint. Oracle:
// proxier.go's endpoint chain is `-A KUBE-SEP-X -s EP_IP -j KUBE-MARK-MASQ` (a hairpin mark, it
// sends the packet nowhere) then `-A KUBE-SEP-X ... -j DNAT --to-destination EP`; iptables-extensions(8):
// DNAT alone rewrites the destination.
describe('a dump read onto the cluster maps DNAT rules, and only them, to endpoints', () => {
  it('every rule with an endpoint is a DNAT, and every kube-proxy DNAT has the endpoint it sends to', () => {
    const rs = dataplaneFromIptablesSave(nodeSave(), { cluster, node: 0 }).rules;
    let dnats = 0;
    for (let r = 0; r < rs.ruleCount; r++) {
      const e = rs.ruleEndpoint[r];
      const text = `-A ${rs.chainName[rs.ruleChain[r]]}${saveRuleBody(rs, r)}`;
      if (rs.ruleTarget[r] !== T_DNAT) {
        assert.equal(e, -1, `${text}: not a DNAT, yet endpoint #${e}`);
        continue;
      }
      dnats++;
      assert.ok(e >= 0, `${text}: no endpoint`);
      assert.ok(text.endsWith(` --to-destination ${formatIp(cluster.endpoints.ip[e])}:${cluster.endpoints.port[e]}`), `${text}: endpoint #${e}`);
    }
    assert.equal(dnats, 7, 'the small cluster has 7 endpoint chains on node-1');
  });
});

// kube-proxy's restore text for session affinity. Oracle: proxier.go writes
// `-m recent --name SEP --rcheck --seconds N --reap -j SEP` in the service chain and
// `-m recent --name SEP --set` before the DNAT in the endpoint chain, never `--mask` or `--rsource`
// (libxt_recent's defaults, which iptables-save prints anyway). A payload that spells them out is
// still valid iptables-restore input, and reading it back must not lose bytes of it.
describe('-m recent in iptables-restore text', () => {
  const restore = renderRules(cluster, 'iptables', 0, 'iptables-restore');

  it('is written as kube-proxy writes it, without --mask/--rsource', () => {
    const lines = restore.split('\n');
    for (const want of [
      '-A KUBE-SVC-2KKYJRIGYGQNRODB -m comment --comment "kube-system/dns:dns -> 10.244.1.3:53" -m recent --name KUBE-SEP-BX3SRQHK3DLK6AD2 --rcheck --seconds 600 --reap -j KUBE-SEP-BX3SRQHK3DLK6AD2',
      '-A KUBE-SEP-BX3SRQHK3DLK6AD2 -m comment --comment kube-system/dns:dns -m recent --name KUBE-SEP-BX3SRQHK3DLK6AD2 --set -m udp -p udp -j DNAT --to-destination 10.244.1.3:53',
    ]) assert.ok(lines.includes(want), `missing: ${want}`);
    assert.doesNotMatch(restore, /--mask|--rsource/);
  });

  it('a payload that spells out --mask 255.255.255.255 --rsource renders back byte for byte', () => {
    const explicit = restore.replace(/ (--set|--reap) /g, ' $1 --mask 255.255.255.255 --rsource ');
    assert.equal((explicit.match(/--rsource/g) ?? []).length, 8, 'four affinity endpoints: a --set and an --rcheck each');
    assert.equal(renderIptablesRestore(parseIptablesSave(explicit).ruleset).text, explicit);
  });
});
