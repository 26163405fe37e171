/**
 * Every text format kdp renders parses back to itself, and a parsed ruleset decides exactly as
 * the compiled one, for random clusters and every node:
 *  - iptables-save and iptables-restore input (src/compile/iptables: render, parse);
 *  - `nft list table ip kube-proxy` (src/compile/nftables: renderRuleset, parseRuleset) and its
 *    JSON, `nft -j` (json.ts: renderRulesetJson, parseRulesetJson);
 *  - `cilium-dbg bpf lb list`, `bpf lb maglev list` and `service list` (src/compile/cilium: render.ts,
 *    parse.ts, parse-maglev.ts, parse-service-list.ts), with random and with Maglev selection, asked
 *    both at the socket and at the node's device: every listing kdp writes for Cilium reads back to
 *    the same listing and to maps that decide alike.
 *  - `ipvsadm -S -n`, `ipvsadm -Ln` and `ipset save` (src/compile/ipvs: render.ts, ipsets.ts,
 *    parse-ipvsadm.ts, parse-ipset.ts, from-node.ts): each listing reads back to the same
 *    listings (IPVS mode's iptables-save included, which the sets decide), alone or together, and
 *    to a node that decides alike. ipvsadm sorts real servers for display, so a dump cannot give
 *    the kernel's own order: the parsed node is held to the same verdict, Service, candidates and
 *    masquerade, not to the same rr/mh pick.
 * The userspace mode's iptables-save has no parser, so it has no round-trip law.
 *
 * Runs in `npm test`: 40 scenarios per format (every node; every packet of the scenario decided
 * with 4 random draws by both dataplanes).
 */
import { test } from 'node:test';
import { compileIptables, compileRuleset, dataplaneFromIptablesSave, parseIptablesSave, renderIptablesRestore, renderIptablesSave } from '../../src/compile/iptables/index.js';
import { buildRuleset, compileNftables, dataplaneFromNftText, dataplaneFromRuleset, parseRuleset, parseRulesetJson, renderRuleset, renderRulesetJson } from '../../src/compile/nftables/index.js';
import { HOOK_OUTPUT, HOOK_PREROUTING, HOOK_SOCKET, kVerdictNames, newFirstPacket, newNatDecision, type ServiceDataplane } from '../../src/compile/dataplane.js';
import { compileCilium, parseLbList, parseMaglevList, parseServiceList, renderLbList, renderMaglevList, renderServiceList, type CiliumTables } from '../../src/compile/cilium/index.js';
import type { CiliumConfig, Cluster } from '../../src/model/types.js';
import { CiliumDataplane } from '../../src/compile/cilium/dataplane.js';
import { compileIpvs, ipvsFromDump, renderIpsetSave, renderIpvsadmList, renderIpvsadmSave, renderIpvsIptablesSave } from '../../src/compile/ipvs/index.js';
import { kDefaultCiliumConfig } from '../../src/model/read-config.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD } from '../../src/dataplane/pipeline.js';
import fc from 'fast-check';
import { resolveScenario, scenarioArb, type ResolvedPacket } from '../helpers/arbitraries.js';
import { checkProperty, holds, runs, scenarioReport } from '../helpers/nat-assertions.js';

const kRuns = runs(40);

function firstLineDiff(a: string, b: string): string {
  const x = a.split('\n');
  const y = b.split('\n');
  for (let i = 0; i < Math.max(x.length, y.length); i++) if (x[i] !== y[i]) return `line ${i + 1}:\n      rendered: ${x[i]}\n      re-rendered: ${y[i]}`;
  return '';
}

/** Both dataplanes decide every packet alike, for several random draws (a local socket's at the socket for socket LB). */
function decideAlike(a: ServiceDataplane, b: ServiceDataplane, packets: readonly ResolvedPacket[]): string {
  const pkt = newFirstPacket();
  const da = newNatDecision();
  const db = newNatDecision();
  for (const p of packets) {
    Object.assign(pkt, {
      srcIp: p.probe.srcIp, srcPort: p.probe.srcPort, dstIp: p.probe.dstIp, dstPort: p.probe.dstPort, proto: p.probe.proto,
      hook: a.socketLb && p.probe.entry !== ENTRY_EXTERNAL ? HOOK_SOCKET : p.probe.entry === ENTRY_HOST ? HOOK_OUTPUT : HOOK_PREROUTING, fromPodInterface: p.probe.entry === ENTRY_POD,
    });
    for (const rand of [0, 0x55555555, 0xaaaaaaaa, 0xffffffff]) {
      pkt.rand = rand;
      a.decide(pkt, da);
      b.decide(pkt, db);
      const { work: _wa, ...ka } = da;
      const { work: _wb, ...kb } = db;
      if (JSON.stringify(ka) !== JSON.stringify(kb)) return `rand ${rand}: compiled ${JSON.stringify(ka)}, parsed ${JSON.stringify(kb)}`;
    }
    const ea = a.explain(pkt);
    const eb = b.explain(pkt);
    if (ea.verdict !== eb.verdict || JSON.stringify(ea.candidates) !== JSON.stringify(eb.candidates) || ea.masquerade !== eb.masquerade) {
      return `explain: compiled ${ea.verdict} ${ea.candidates}, parsed ${eb.verdict} ${eb.candidates}`;
    }
  }
  return '';
}

test('iptables-save and iptables-restore text: render -> parse -> render is the identity, and the parsed ruleset decides as the compiled one', () => {
  checkProperty(
    'iptables text round trip',
    scenarioArb(),
    (sc) => {
      // Arrange
      const { cluster, packets } = resolveScenario(sc);
      for (let node = 0; node < cluster.nodes.length; node++) {
        // Act
        const rs = compileRuleset(cluster, { node });
        const save = renderIptablesSave(rs);
        const restore = renderIptablesRestore(rs).text;
        // Assert
        holds(firstLineDiff(save, renderIptablesSave(parseIptablesSave(save).ruleset)), `iptables-save, node-${node + 1}`);
        holds(firstLineDiff(restore, renderIptablesRestore(parseIptablesSave(restore).ruleset).text), `iptables-restore, node-${node + 1}`);
        holds(decideAlike(compileIptables(cluster, { node }), dataplaneFromIptablesSave(save, { cluster, node }), packets.filter((p) => p.probe.node === node)), `node-${node + 1}`);
      }
    },
    { numRuns: kRuns, ...scenarioReport('iptables') },
  );
});

test('nft list text and nft -j JSON: render -> parse -> render is the identity, and the parsed ruleset decides as the compiled one', () => {
  checkProperty(
    'nftables text round trip',
    scenarioArb(),
    (sc) => {
      // Arrange
      const { cluster, packets } = resolveScenario(sc);
      for (let node = 0; node < cluster.nodes.length; node++) {
        // Act
        const text = renderRuleset(buildRuleset(cluster, { node }));
        // Assert
        holds(firstLineDiff(text, renderRuleset(parseRuleset(text))), `nft, node-${node + 1}`);
        holds(decideAlike(compileNftables(cluster, { node }), dataplaneFromNftText(text, cluster, { node }), packets.filter((p) => p.probe.node === node)), `node-${node + 1}`);
        const json = renderRulesetJson(buildRuleset(cluster, { node }));
        const fromJson = parseRulesetJson(json);
        holds(json === renderRulesetJson(fromJson) ? '' : 'nft -j: re-rendered JSON differs', `nft -j, node-${node + 1}`);
        holds(decideAlike(compileNftables(cluster, { node }), dataplaneFromRuleset(fromJson, cluster, { node }), packets.filter((p) => p.probe.node === node)), `nft -j, node-${node + 1}`);
      }
    },
    { numRuns: kRuns, ...scenarioReport('nftables') },
  );
});

/** Each `[id ...]` table of a maglev listing with its first entry moved to the end (the row keeps its width). */
function rotateMaglevTables(text: string): string {
  return text.replace(/\[(\d+)((?: \d+)*)\]/g, (whole, head: string, rest: string) => (rest === '' ? whole : `[${rest.slice(1)} ${head}]`));
}

/** Every listing kdp renders for Cilium, with its reader. */
const kCiliumListings: readonly (readonly [string, (t: CiliumTables) => string, (text: string, c: Cluster, node: number, config: CiliumConfig) => CiliumTables])[] = [
  ['bpf lb list', renderLbList, parseLbList],
  ['bpf lb maglev list', renderMaglevList, parseMaglevList],
  ['service list', renderServiceList, parseServiceList],
];

test('cilium-dbg bpf lb list, bpf lb maglev list, service list: render -> parse -> render is the identity, and the parsed maps decide as the compiled ones', () => {
  checkProperty(
    'cilium text round trip',
    fc.tuple(scenarioArb(), fc.constantFrom('random' as const, 'maglev' as const)),
    ([sc, lbAlgorithm]) => {
      // Arrange: the scenario's cluster under Cilium's defaults, random or Maglev selection (M = 251).
      const resolved = resolveScenario(sc);
      const cluster = { ...resolved.cluster, cilium: { ...kDefaultCiliumConfig, kubeProxyReplacement: true, socketLb: true, lbAlgorithm, maglevTableSize: 251 } };
      for (let node = 0; node < cluster.nodes.length; node++) {
        const compiled = compileCilium(cluster, node);
        for (const [name, render, parse] of kCiliumListings) {
          // Act
          const text = render(compiled.tables);
          const tables = parse(text, cluster, node, cluster.cilium);
          // Assert
          holds(firstLineDiff(text, render(tables)), `${name}, node-${node + 1}`);
          holds(decideAlike(compiled, new CiliumDataplane(cluster, node, cluster.cilium, tables), resolved.packets.filter((p) => p.probe.node === node)), `${name}, node-${node + 1}`);
        }
        // A Maglev listing is read, not recomputed: every table turned by one slot (still a table of its backends) reads back turned.
        const turned = rotateMaglevTables(renderMaglevList(compiled.tables));
        holds(firstLineDiff(turned, renderMaglevList(parseMaglevList(turned, cluster, node, cluster.cilium))), `turned maglev list, node-${node + 1}`);
      }
    },
    { numRuns: kRuns, describe: ([sc, alg]) => `${alg}: ${JSON.stringify(sc.cluster)}` },
  );
});

/** Verdict, Service, candidates (as a set) and masquerade alike for every packet, and each pick a candidate. */
function decideAlikeAnyOrder(a: ServiceDataplane, b: ServiceDataplane, packets: readonly ResolvedPacket[]): string {
  const pkt = newFirstPacket();
  const db = newNatDecision();
  for (const p of packets) {
    Object.assign(pkt, {
      srcIp: p.probe.srcIp, srcPort: p.probe.srcPort, dstIp: p.probe.dstIp, dstPort: p.probe.dstPort, proto: p.probe.proto,
      hook: p.probe.entry === ENTRY_HOST ? HOOK_OUTPUT : HOOK_PREROUTING, fromPodInterface: p.probe.entry === ENTRY_POD, rand: 0x55555555,
    });
    const ea = a.explain(pkt);
    const eb = b.explain(pkt);
    const sorted = (c: readonly number[]): string => JSON.stringify([...c].sort((x, y) => x - y));
    if (ea.verdict !== eb.verdict || ea.servicePort !== eb.servicePort || sorted(ea.candidates) !== sorted(eb.candidates) || ea.masquerade !== eb.masquerade) {
      return `explain: compiled ${ea.verdict} ${ea.servicePort} [${ea.candidates}] masq ${ea.masquerade}, parsed ${eb.verdict} ${eb.servicePort} [${eb.candidates}] masq ${eb.masquerade}`;
    }
    b.decide(pkt, db);
    if (kVerdictNames[db.verdict] !== eb.verdict || (db.endpoint >= 0 && !eb.candidates.includes(db.endpoint))) return `decide: ${kVerdictNames[db.verdict]} endpoint ${db.endpoint}, explain ${eb.verdict} [${eb.candidates}]`;
  }
  return '';
}

test('ipvsadm -S -n, ipvsadm -Ln and ipset save: render -> parse -> render is the identity, and the parsed node decides as the compiled one', () => {
  checkProperty(
    'ipvs text round trip',
    scenarioArb(),
    (sc) => {
      // Arrange
      const { cluster, packets } = resolveScenario(sc);
      for (let node = 0; node < cluster.nodes.length; node++) {
        const compiled = compileIpvs(cluster, { node });
        const save = renderIpvsadmSave(compiled);
        const list = renderIpvsadmList(compiled);
        const ipset = renderIpsetSave(compiled);
        const rules = renderIpvsIptablesSave(compiled);
        const mine = packets.filter((p) => p.probe.node === node);
        // Act
        const both = ipvsFromDump(save + ipset, cluster, node);
        const fromList = ipvsFromDump(list + ipset, cluster, node);
        const setsAlone = ipvsFromDump(ipset, cluster, node);
        const saveAlone = ipvsFromDump(save, cluster, node);
        // Assert
        for (const [what, parsed] of [['ipvsadm -S -n + ipset save', both], ['ipvsadm -Ln + ipset save', fromList], ['ipset save alone', setsAlone], ['ipvsadm -S -n alone', saveAlone]] as const) {
          holds(firstLineDiff(save, renderIpvsadmSave(parsed)), `${what}: ipvsadm -S -n, node-${node + 1}`);
          holds(firstLineDiff(list, renderIpvsadmList(parsed)), `${what}: ipvsadm -Ln, node-${node + 1}`);
          holds(firstLineDiff(ipset, renderIpsetSave(parsed)), `${what}: ipset save, node-${node + 1}`);
          holds(firstLineDiff(rules, renderIpvsIptablesSave(parsed)), `${what}: iptables-save, node-${node + 1}`);
          holds(decideAlikeAnyOrder(compiled, parsed, mine), `${what}: node-${node + 1}`);
        }
      }
    },
    { numRuns: kRuns, ...scenarioReport('ipvs') },
  );
});
