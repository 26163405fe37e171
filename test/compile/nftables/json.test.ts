/**
 * `nft -j` JSON (src/compile/nftables/json.ts): kdp's rendering equals what the real nft lists
 * after loading kdp's text into a throw-away network namespace (`unshare -n`; skipped, with the
 * reason, without nft or root), object for object, less the kernel's handles and nft's version;
 * the real listing reads back to a ruleset that decides as the compiled one; a listing of every
 * owner's tables reads only `ip kube-proxy`; errors name the object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRuleset, compileNftables, dataplaneFromRuleset, parseRulesetJson, renderRuleset, renderRulesetJson, rulesetJsonObjects } from '../../../src/compile/nftables/index.js';
import { newFirstPacket, newNatDecision, HOOK_OUTPUT, HOOK_PREROUTING } from '../../../src/compile/dataplane.js';
import { RuleParseError } from '../../../src/errors.js';
import { parseIp } from '../../../src/net/ipv4.js';
import { PROTO_TCP } from '../../../src/net/proto.js';
import { loadFixture } from '../../helpers/cluster.js';
import { flowCluster } from './flow-cluster.js';
import { unshareSkipReason } from '../../helpers/unshare.js';

function skipReason(): string | undefined {
  return unshareSkipReason('nft');
}
const reason = skipReason();

/** Loads `text` into a fresh namespace and returns `nft -j list table ip kube-proxy` there. */
function realJson(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kdp-nftjson-'));
  try {
    const file = join(dir, 'ruleset.nft');
    writeFileSync(file, text);
    return execFileSync('unshare', ['-n', 'sh', '-c', `nft -f ${file} && nft -j list table ip kube-proxy`], { encoding: 'utf8' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The objects without the kernel's handles and without metainfo (nft's own version). */
function comparable(json: string): unknown[] {
  const objs = (JSON.parse(json) as { nftables: Record<string, Record<string, unknown>>[] }).nftables;
  return objs.filter((o) => !('metainfo' in o)).map((o) => {
    const [k] = Object.keys(o);
    const { handle: _h, ...rest } = o[k];
    return { [k]: rest };
  });
}

const clusters = () => [
  ['the small fixture', loadFixture('small-cluster.yaml')],
  ['the flow cluster', flowCluster()],
  ['the flow cluster, every address a NodePort address, interface-based local detection', flowCluster({ nodePortAddresses: ['0.0.0.0/0'], detectLocalMode: 'InterfaceNamePrefix' })],
] as const;

test('nft-json is what nft 1.0.6 lists for the same table, object for object (less handles)', { skip: reason }, () => {
  for (const [what, cluster] of clusters()) {
    for (let node = 0; node < cluster.nodes.length; node++) {
      const rs = buildRuleset(cluster, { node });
      assert.deepEqual(comparable(renderRulesetJson(rs)), comparable(realJson(renderRuleset(rs))), `${what}, node ${node}`);
    }
  }
});

test("the real nft's JSON reads back: the same JSON, and a ruleset that decides as the compiled one", { skip: reason }, () => {
  const cluster = flowCluster();
  const real = realJson(renderRuleset(buildRuleset(cluster, { node: 0 })));
  const parsed = parseRulesetJson(real);
  assert.deepEqual(comparable(renderRulesetJson(parsed)), comparable(real));
  const a = compileNftables(cluster, { node: 0 });
  const b = dataplaneFromRuleset(parsed, cluster, { node: 0 });
  const pkt = newFirstPacket();
  const da = newNatDecision();
  const db = newNatDecision();
  for (const [src, dst, port, hook] of [['10.0.1.99', '172.30.0.41', 80, HOOK_PREROUTING], ['203.0.113.2', '1.2.3.4', 80, HOOK_PREROUTING], ['203.0.113.200', '1.2.3.4', 80, HOOK_PREROUTING], ['192.168.0.2', '5.6.7.8', 80, HOOK_OUTPUT], ['10.0.1.99', '172.30.0.41', 81, HOOK_PREROUTING]] as const) {
    Object.assign(pkt, { srcIp: parseIp(src), srcPort: 40000, dstIp: parseIp(dst), dstPort: port, proto: PROTO_TCP, hook, fromPodInterface: src.startsWith('10.'), rand: 0x55555555 });
    a.decide(pkt, da);
    b.decide(pkt, db);
    assert.deepEqual({ ...db, work: 0 }, { ...da, work: 0 }, `${src} -> ${dst}:${port}`);
  }
});

test('nft -j list ruleset: only ip kube-proxy is read, other owners are left alone', () => {
  const rs = buildRuleset(flowCluster(), { node: 0 });
  const ours = rulesetJsonObjects(rs);
  const others = [
    { table: { family: 'inet', name: 'firewalld' } },
    { chain: { family: 'inet', table: 'firewalld', name: 'filter_INPUT', type: 'filter', hook: 'input', prio: 10, policy: 'accept' } },
    { rule: { family: 'inet', table: 'firewalld', chain: 'filter_INPUT', expr: [{ counter: { packets: 0, bytes: 0 } }, { accept: null }] } },
  ];
  const text = JSON.stringify({ nftables: [ours[0], ...others, ...ours.slice(1)] });
  assert.equal(renderRulesetJson(parseRulesetJson(text)), renderRulesetJson(rs));
});

test('a JSON the reader cannot use is refused with the object named', () => {
  const objs = rulesetJsonObjects(buildRuleset(flowCluster(), { node: 0 }));
  const i = objs.findIndex((o) => typeof o === 'object' && o !== null && 'rule' in o);
  const broken = [...objs];
  broken[i] = { rule: { family: 'ip', table: 'kube-proxy', chain: 'filter-input', expr: [{ match: { op: '==', left: { meta: { key: 'cgroup' } }, right: 5 } }, { accept: null }] } };
  assert.throws(() => parseRulesetJson(JSON.stringify({ nftables: broken })), (e: unknown) => e instanceof RuleParseError && e.message.includes(`nftables[${i}]`) && e.message.includes('cgroup'));
  assert.throws(() => parseRulesetJson('{"nftables": [{"table": {"family": "ip", "name": "other"}}]}'), /no table ip kube-proxy/);
  assert.throws(() => parseRulesetJson('table ip kube-proxy {'), /not JSON/);
});

test('a rule without a comment has no "comment" member (libnftables-json(5): RULE\'s comment is optional; nft -j omits it)', () => {
  const rs = buildRuleset(flowCluster(), { node: 0 });
  const rules = (rulesetJsonObjects(rs) as unknown as Record<string, Record<string, unknown>>[]).filter((o) => 'rule' in o).map((o) => o.rule);
  const expected = rs.chains.flatMap((c) => c.rules.map((r) => r.comment));
  assert.equal(rules.length, expected.length);
  assert.ok(expected.includes(undefined) && expected.some((c) => c !== undefined), 'both kinds of rule are present');
  rules.forEach((r, i) => {
    if (expected[i] === undefined) assert.ok(!('comment' in r), `rule ${i} (${String(r.chain)}) has a comment member`);
    else assert.equal(r.comment, expected[i]);
  });
});

test('a numgen vmap other than `numgen random mod N vmap { 0 : …, … }` is refused as an unknown numgen', () => {
  // kube-proxy writes only `numgen random mod N vmap { 0 : goto …, … }`; nft -j lists that as
  // {"vmap": {"key": {"numgen": {"mode": "random", "mod": N, "offset": 0}}, "data": {"set": [[0, VERDICT], …]}}}
  // (libnftables-json(5): NUMGEN { "mode": "inc" | "random", "mod": NUMBER, "offset": NUMBER }).
  const objs = rulesetJsonObjects(buildRuleset(flowCluster(), { node: 0 })) as unknown[];
  const i = objs.findIndex((o) => JSON.stringify(o).includes('"numgen"'));
  const rule = (objs[i] as { rule: { expr: { vmap: { key: { numgen: Record<string, unknown> }; data: unknown } }[] } }).rule;
  const vmap = rule.expr.at(-1)!.vmap;
  assert.deepEqual(vmap.key.numgen, { mode: 'random', mod: 2, offset: 0 });
  const variants: [string, unknown][] = [
    ['numgen inc', { ...vmap, key: { numgen: { ...vmap.key.numgen, mode: 'inc' } } }],
    ['an offset of 1', { ...vmap, key: { numgen: { ...vmap.key.numgen, offset: 1 } } }],
    ['data a named map', { ...vmap, data: '@somemap' }],
    ['data null', { ...vmap, data: null }],
    ['data an object without a set', { ...vmap, data: {} }],
    ['data a set that is no array', { ...vmap, data: { set: 'x' } }],
  ];
  for (const [what, v] of variants) {
    const broken = [...objs];
    broken[i] = { rule: { ...rule, expr: [...rule.expr.slice(0, -1), { vmap: v }] } };
    assert.throws(
      () => parseRulesetJson(JSON.stringify({ nftables: broken })),
      (e: unknown) => e instanceof RuleParseError && e.message.includes(`unknown numgen ${JSON.stringify(v)}`) && e.message.includes(`nftables[${i}]`),
      what,
    );
  }
  // The unmodified rule reads.
  assert.doesNotThrow(() => parseRulesetJson(JSON.stringify({ nftables: objs })));
});
