/**
 * Laws of reading a real node's iptables-save (issue 13, item 1, done-when):
 *
 *  - Every construct of item 1, written by hand into chains of other owners beside kdp's own
 *    rendering, parses: no error, every rule kept, and the only opaque matches are those of
 *    constructs whose answer depends on what kdp cannot know (physdev, socket, hashlimit, owner,
 *    a foreign recent list, statistic nth); a target kdp does not evaluate is the only T_UNKNOWN.
 *  - Round trip: rendering what was read gives the dump back, line for line (counters aside),
 *    and reading that again gives the same ruleset.
 *
 * The construct table is the oracle: each entry says, from iptables-extensions(8), whether kdp
 * can decide it for a first packet.
 *
 *  - Read back as a node's state, kdp's rendering of random clusters answers every first packet as
 *    the oracle of kube-proxy's iptables mode (test/helpers/iptables-oracle.ts) says.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { compileRuleset, parseIptablesSave, renderIptablesSave } from '../../src/compile/iptables/index.js';
import { T_UNKNOWN } from '../../src/compile/iptables/ruleset.js';
import { loadFixture } from '../helpers/cluster.js';
import { checkProperty, runs, scenarioReport } from '../helpers/nat-assertions.js';
import { HOOK_OUTPUT, HOOK_PREROUTING, newFirstPacket, type ServiceDataplane } from '../../src/compile/dataplane.js';
import { renderRules } from '../../src/compile/index.js';
import { loadNodeState } from '../../src/compile/node-state.js';
import { ENTRY_HOST, ENTRY_POD } from '../../src/dataplane/pipeline.js';
import { resolveScenario, scenarioArb } from '../helpers/arbitraries.js';
import { iptablesAnswer } from '../helpers/iptables-oracle.js';

/** A match as iptables-save prints it, and how many opaque matches kdp must make of it. */
const kMatches: readonly { text: string; opaque: number }[] = [
  { text: '-i cali+', opaque: 0 },
  { text: '! -o eth0', opaque: 0 },
  { text: '! -s 10.0.0.0/8', opaque: 0 },
  { text: '-d 192.0.2.1/32', opaque: 0 },
  { text: '-p udp -m udp --sport 53', opaque: 0 },
  { text: '-p tcp -m tcp --sport 1000:2000 --dport 80', opaque: 0 },
  { text: '-p tcp -m tcp --tcp-flags FIN,SYN,RST,ACK SYN', opaque: 0 },
  { text: '-p tcp -m multiport --dports 80,443,8000:8100', opaque: 0 },
  { text: '-m multiport ! --sports 22', opaque: 0 },
  { text: '-m addrtype --src-type LOCAL --limit-iface-in', opaque: 0 },
  { text: '-m addrtype ! --dst-type LOCAL,MULTICAST', opaque: 0 },
  { text: '-m mark --mark 0x10000/0x10000', opaque: 0 },
  { text: '-m mark ! --mark 0x4000/0x4000', opaque: 0 },
  { text: '-m conntrack --ctstate RELATED,ESTABLISHED', opaque: 0 },
  { text: '-m conntrack --ctstatus CONFIRMED', opaque: 0 },
  { text: '-m conntrack --ctorigdst 10.96.0.0/12 --ctorigdstport 443', opaque: 0 },
  { text: '-m conntrack ! --ctstate DNAT --ctdir ORIGINAL', opaque: 0 },
  { text: '-m state --state NEW', opaque: 0 },
  { text: '-m set --match-set cali40all-hosts-net dst', opaque: 0 },
  { text: '-m set ! --match-set KUBE-CLUSTER-IP dst,dst', opaque: 0 },
  { text: '-m statistic --mode random --probability 0.25000000000', opaque: 0 },
  { text: '-m statistic --mode nth --every 2 --packet 0', opaque: 1 },
  { text: '-m recent --update --seconds 60 --hitcount 4 --name SSH --mask 255.255.255.255 --rsource', opaque: 1 },
  { text: '-m comment --comment "cali:Lz6Ej9PlvxeMBZ9T"', opaque: 0 },
  { text: '-m iprange --src-range 10.0.0.1-10.0.0.9', opaque: 0 },
  { text: '-m physdev --physdev-is-bridged', opaque: 1 },
  { text: '-m socket --transparent', opaque: 1 },
  { text: '-m hashlimit --hashlimit-above 10/sec --hashlimit-name x', opaque: 1 },
  { text: '-m owner --uid-owner 0', opaque: 1 },
  { text: '-f', opaque: 0 },
];

/** A target as iptables-save prints it; `unknown` when kdp cannot follow it. */
const kTargets: readonly { text: string; unknown: boolean }[] = [
  { text: '-j DNAT --to-destination 10.1.1.1-10.1.1.5:80-90', unknown: false },
  { text: '-j DNAT --to-destination 172.17.0.2:80', unknown: false },
  { text: '-j DNAT --to-destination 172.17.0.3', unknown: false },
  { text: '-j SNAT --to-source 192.0.2.7', unknown: false },
  { text: '-j MASQUERADE --to-ports 1000-2000 --random-fully', unknown: false },
  { text: '-j MASQUERADE', unknown: false },
  { text: '-j MARK --set-xmark 0x1/0x1', unknown: false },
  { text: '-j MARK --set-xmark 0x2/0x0', unknown: false },
  { text: '-j CT --notrack', unknown: false },
  { text: '-j NOTRACK', unknown: false },
  { text: '-j RETURN', unknown: false },
  { text: '-j ACCEPT', unknown: false },
  { text: '-j DROP', unknown: false },
  { text: '-j REJECT --reject-with tcp-reset', unknown: false },
  { text: '-j LOG --log-prefix "dropped: "', unknown: false },
  { text: '-g OTHER-B', unknown: false },
  { text: '-j OTHER-B', unknown: false },
  { text: '-j TPROXY --on-port 15001 --on-ip 0.0.0.0 --tproxy-mark 0x1/0x1', unknown: true },
];

const kBase = renderIptablesSave(compileRuleset(loadFixture('small-cluster.yaml'), { node: 0 }));

/** One match per module (iptables-save never prints one module twice in kube-proxy's forms), -s and -d first as it prints them. */
const family = (m: number): string => kMatches[m].text.replace(/^! /, '').split(' ').slice(0, 2).join(' ');
const rank = (m: number): number => (/^(! )?-s /.test(kMatches[m].text) ? 0 : /^(! )?-d /.test(kMatches[m].text) ? 1 : 2);
const rule = fc.record({
  matches: fc.uniqueArray(fc.nat(kMatches.length - 1), { maxLength: 3, selector: family }).map((ms) => [...ms].sort((a, b) => rank(a) - rank(b))),
  target: fc.nat(kTargets.length - 1),
});
const foreignRules = fc.record({ table: fc.constantFrom('nat', 'filter'), rules: fc.array(rule, { minLength: 1, maxLength: 8 }) });

/** kdp's dump with chains OTHER-A (the rules) and OTHER-B of another owner added to one table. */
function withForeign(table: string, lines: readonly string[]): string {
  const out = kBase.split('\n');
  const start = out.indexOf(`*${table}`);
  let lastChain = start;
  while (out[lastChain + 1]?.startsWith(':')) lastChain++;
  let commit = start;
  while (out[commit] !== 'COMMIT') commit++;
  out.splice(commit, 0, ...lines.map((l) => `-A OTHER-A ${l}`), '-A OTHER-B -j RETURN');
  out.splice(lastChain + 1, 0, ':OTHER-A - [0:0]', ':OTHER-B - [0:0]');
  return out.join('\n');
}

test('every construct of item 1 in a foreign chain parses, with only the undecidable ones opaque, and round-trips', () => {
  const ownRules = parseIptablesSave(kBase).ruleset.ruleCount;
  checkProperty(
    'foreign constructs parse and round-trip',
    foreignRules,
    ({ table, rules }) => {
      const lines = rules.map((r) => [...r.matches.map((m) => kMatches[m].text), kTargets[r.target].text].join(' '));
      const text = withForeign(table, lines);
      // Arrange/act: iptables-save -c prefixes counters; reading must not care.
      const rs = parseIptablesSave(text.replace(/^-A /gm, '[3:180] -A ')).ruleset;
      // Assert: every rule kept; kdp's own are read as before (no foreign rule among them).
      assert.equal(rs.ruleCount, ownRules + rules.length + 1);
      const a = rs.chainId(table === 'nat' ? 2 : 1, 'OTHER-A');
      assert.ok(a >= 0);
      for (let k = 0; k < rules.length; k++) {
        const r = rs.chainStart[a] + k;
        const fi = rs.ruleForeign[r] ?? -1;
        const wantOpaque = rules[k].matches.reduce((n, m) => n + kMatches[m].opaque, 0);
        const gotOpaque = fi < 0 ? 0 : rs.foreign[fi].matches.filter((m) => m.k === 'opaque').length;
        assert.equal(gotOpaque, wantOpaque, `opaque matches of "${lines[k]}"`);
        assert.equal(rs.ruleTarget[r] === T_UNKNOWN, kTargets[rules[k].target].unknown, `target of "${lines[k]}"`);
      }
      assert.equal(rs.foreign.length <= rules.length + 1, true);
      // Round trip: the rendering is the dump (without counters), and reads back to the same rules.
      const again = renderIptablesSave(rs);
      assert.equal(again, text);
      const rs2 = parseIptablesSave(again).ruleset;
      assert.deepEqual(rs2.foreign, rs.foreign.map((f) => ({ ...f })));
      assert.deepEqual(rs2.ruleFlags, rs.ruleFlags);
      assert.deepEqual(rs2.ruleTarget, rs.ruleTarget);
    },
    { numRuns: runs(150), describe: ({ table, rules }) => `${table}: ${rules.map((r) => [...r.matches.map((m) => kMatches[m].text), kTargets[r.target].text].join(' ')).join('\n')}` },
  );
});

/**
 * The reading path against an oracle that is not kdp's: random clusters and packets
 * (test/helpers/arbitraries.ts), each node's rules rendered as iptables-save (with `-c` counters)
 * and read back as a node's state; every first packet's answer (verdict, service port, every
 * candidate endpoint, masquerade) must be kube-proxy's, as the oracle written from proxier.go says
 * (test/helpers/iptables-oracle.ts). A reader that drops, reorders or misreads a rule breaks it.
 */
test('a node state read from iptables-save answers as the kube-proxy oracle says', () => {
  checkProperty(
    'node state vs iptables oracle',
    scenarioArb(),
    (sc) => {
      const { cluster, packets } = resolveScenario(sc);
      const states = new Map<number, ServiceDataplane>();
      for (const p of packets) {
        const n = p.probe.node;
        if (!states.has(n)) {
          const text = renderRules(cluster, 'iptables', n, 'iptables-save').replace(/^-A /gm, '[7:420] -A ');
          states.set(n, loadNodeState([{ path: `node-${n}`, text }], cluster, n));
        }
        const pkt = Object.assign(newFirstPacket(), {
          srcIp: p.probe.srcIp, srcPort: p.probe.srcPort, dstIp: p.probe.dstIp, dstPort: p.probe.dstPort, proto: p.probe.proto,
          hook: p.probe.entry === ENTRY_HOST ? HOOK_OUTPUT : HOOK_PREROUTING, fromPodInterface: p.probe.entry === ENTRY_POD,
        });
        const ex = states.get(n)!.explain(pkt);
        const verdict = ex.verdict;
        const got = {
          verdict,
          servicePort: verdict === 'dnat' ? ex.servicePort : -1,
          candidates: verdict === 'dnat' ? [...new Set(ex.candidates)].sort((a, b) => a - b) : [],
          masquerade: verdict === 'dnat' ? ex.masquerade : null,
        };
        const want = iptablesAnswer(sc.cluster, cluster, p);
        assert.deepEqual(got, want);
      }
    },
    { numRuns: runs(100), ...scenarioReport() },
  );
});
