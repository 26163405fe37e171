/**
 * `kdp diff` beyond iptables mode (issue 13, item 4): an nftables node's `nft list table` and an
 * IPVS node's ipvsadm (+ ipset save, + iptables-save) against the cluster. Each planted fault is
 * written as kube-proxy would leave it after a failed sync, named by kube-proxy's own rules
 * (nftables: pkg/proxy/nftables/proxier.go chain names `service-HASH-ns/svc/proto/port` and
 * `endpoint-HASH-...__ip/port`; IPVS: a virtual service and its real servers as `ipvsadm -S -n`
 * prints them); the expectations are the planted facts, not kdp's output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HOOK_PREROUTING } from '../../src/compile/dataplane.js';
import { renderRules } from '../../src/compile/index.js';
import { diffIpvsNode } from '../../src/compile/ipvs/diff.js';
import { loadNodeState } from '../../src/compile/node-state.js';
import { IpvsNodeDataplane } from '../../src/compile/ipvs/node-state.js';
import { buildRuleset } from '../../src/compile/nftables/build.js';
import { diffNftNode } from '../../src/compile/nftables/diff.js';
import { parseRulesetJson, renderRulesetJson } from '../../src/compile/nftables/json.js';
import { hashAndTruncate } from '../../src/compile/nftables/names.js';
import { parseRuleset } from '../../src/compile/nftables/parse.js';
import { renderRuleset } from '../../src/compile/nftables/render.js';
import type { Chain, Ruleset } from '../../src/compile/nftables/ruleset.js';
import { traceNodeState } from '../../src/dataplane/node-trace.js';
import { parseIp } from '../../src/net/ipv4.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { fixturePath, loadFixture } from '../helpers/cluster.js';

const cluster = loadFixture('small-cluster.yaml');
const inSync = (mode: string) => ({ node: 'node-1', mode, inSync: true, missingServices: [], staleServices: [], endpoints: [], orphanChains: [] });

/** kdp's own nftables ruleset for node-1 with the faults planted. */
function plantedNft(): Ruleset {
  const own = buildRuleset(cluster, { node: 0 });
  const dnsTcp = 'kube-system/dns/tcp/dns-tcp';
  const web = `service-${hashAndTruncate('default/web/tcp/http')}`;
  const staleEp = `endpoint-${hashAndTruncate('default/web/tcp/http__10.244.1.99/8080')}`;
  const oldSvc = `service-${hashAndTruncate('default/old/tcp/http')}`;
  const oldEp = `endpoint-${hashAndTruncate('default/old/tcp/http__10.244.1.77/80')}`;
  const dnat = (ip: string, port: number): Chain => ({ name: '', rules: [{ matches: [], action: { k: 'dnat', ip: parseIp(ip) >>> 0, port } }] });
  const chains: Chain[] = own.chains
    .filter((c) => !c.name.includes(dnsTcp)) // the Service whose sync failed: none of its chains
    .map((c) => (c.name === web
      ? { ...c, rules: c.rules.map((r) => (r.action.k === 'numgen' ? { ...r, action: { k: 'numgen', targets: [...r.action.targets, { k: 'goto', chain: staleEp }] } } : r)) }
      : c));
  chains.push({ ...dnat('10.244.1.99', 8080), name: staleEp });
  chains.push({ name: oldSvc, rules: [{ matches: [], action: { k: 'numgen', targets: [{ k: 'goto', chain: oldEp }] } }] });
  chains.push({ ...dnat('10.244.1.77', 80), name: oldEp });
  const maps = own.maps.map((m) => (m.name !== 'service-ips' ? m : {
    ...m,
    elements: [
      ...m.elements.filter((e) => !(e.verdict.k === 'goto' && e.verdict.chain.includes(dnsTcp))),
      { ip: parseIp('10.96.0.99') >>> 0, proto: PROTO_TCP, port: 80, verdict: { k: 'goto', chain: oldSvc } },
    ],
  })) as Ruleset['maps'];
  assert.ok(chains.some((c) => c.name === web), 'the planted service chain exists in kdp\'s rendering');
  return { ...own, chains, maps };
}

test('nftables: kdp\'s own rendering is in sync (text and JSON read back)', () => {
  assert.deepEqual(diffNftNode(cluster, 0, parseRuleset(renderRules(cluster, 'nftables', 0, 'nft'))), inSync('nftables'));
  assert.deepEqual(diffNftNode(cluster, 0, parseRulesetJson(renderRules(cluster, 'nftables', 0, 'nft-json'))), inSync('nftables'));
});

test('nftables: a missing Service, a stale endpoint, a stale Service and its orphan chains are all found', () => {
  for (const rs of [parseRuleset(renderRuleset(plantedNft())), parseRulesetJson(renderRulesetJson(plantedNft()))]) {
    const d = diffNftNode(cluster, 0, rs);
    assert.equal(d.inSync, false);
    assert.deepEqual(d.missingServices, ['kube-system/dns:dns-tcp']);
    assert.deepEqual(d.endpoints, [{ service: 'default/web:http', missing: [], stale: ['10.244.1.99:8080'] }]);
    assert.deepEqual(d.staleServices, ['default/old:http']);
    assert.deepEqual(d.orphanChains, [`endpoint-${hashAndTruncate('default/old/tcp/http__10.244.1.77/80')}`, `service-${hashAndTruncate('default/old/tcp/http')}`].sort());
  }
});

/** kdp's own `ipvsadm -S -n` for node-1 with the faults planted. */
function plantedIpvsadm(): string {
  const own = renderRules(cluster, 'ipvs', 0, 'ipvsadm');
  const lines = own.split('\n').filter((l) => !/^-[Aa] -t 10\.96\.0\.53:53 /.test(l)); // kube-system/dns:dns-tcp's virtual service
  const web = lines.findIndex((l) => l.startsWith('-a -t 10.96.0.10:80 '));
  lines.splice(web, 0, '-a -t 10.96.0.10:80 -r 10.244.1.99:8080 -m -w 1');
  lines.push('-A -t 10.96.0.99:80 -s rr', '-a -t 10.96.0.99:80 -r 10.244.1.77:80 -m -w 1', '');
  return lines.join('\n');
}

const ipvsFiles = (ipvsadm: string) => [
  { path: 'node-1.ipvsadm', text: ipvsadm },
  { path: 'node-1.ipset', text: renderRules(cluster, 'ipvs', 0, 'ipset') },
  { path: 'node-1.iptables-save', text: renderRules(cluster, 'ipvs', 0, 'iptables-save') },
];

test('IPVS: kdp\'s own rendering is in sync', () => {
  const dp = loadNodeState(ipvsFiles(renderRules(cluster, 'ipvs', 0, 'ipvsadm')), cluster, 0);
  assert.ok(dp instanceof IpvsNodeDataplane);
  assert.deepEqual(diffIpvsNode(cluster, 0, dp.ipvs), inSync('ipvs'));
});

test('IPVS: a missing Service, a stale real server and a stale virtual service are all found', () => {
  const dp = loadNodeState(ipvsFiles(plantedIpvsadm()), cluster, 0) as IpvsNodeDataplane;
  const d = diffIpvsNode(cluster, 0, dp.ipvs);
  assert.equal(d.inSync, false);
  assert.deepEqual(d.missingServices, ['kube-system/dns:dns-tcp']);
  assert.deepEqual(d.endpoints, [{ service: 'default/web:http', missing: [], stale: ['10.244.1.99:8080'] }]);
  assert.deepEqual(d.staleServices, ['TCP 10.96.0.99:80']);
  assert.deepEqual(d.orphanChains, []);
});

test('IPVS: a trace through the planted node reaches the stale real server too, named by its address', () => {
  const dp = loadNodeState(ipvsFiles(plantedIpvsadm()), cluster, 0);
  const r = traceNodeState(dp, { proto: PROTO_TCP, srcIp: parseIp('10.244.1.9') >>> 0, srcPort: 40000, dstIp: parseIp('10.96.0.10') >>> 0, dstPort: 80, hook: HOOK_PREROUTING, fromPodInterface: true }, { cluster, nodeName: 'node-1', rand: 1 });
  assert.equal(r.decision, 'dnat');
  assert.equal(r.service, 'default/web:http');
  assert.deepEqual([...r.candidates].sort(), ['10.244.1.5:8080', '10.244.1.99:8080', '10.244.2.7:8080']);
});

test('kdp diff CLI: exit 0 on kdp\'s own nft and IPVS renderings, exit 1 with the planted faults', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kdp-diff-modes-'));
  const write = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const run = (...files: string[]) => spawnSync(process.execPath, ['dist/src/cli/main.js', 'diff', fixturePath('small-cluster.yaml'), ...files.flatMap((f) => ['--node-state', f]), '--json'], { encoding: 'utf8' });
  const ok = run(write('own.nft', renderRules(cluster, 'nftables', 0, 'nft')));
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).mode, 'nftables');
  const bad = run(write('bad.json', renderRulesetJson(plantedNft())));
  assert.equal(bad.status, 1, bad.stderr);
  assert.deepEqual(JSON.parse(bad.stdout).staleServices, ['default/old:http']);
  const [ipset, save] = [write('n.ipset', renderRules(cluster, 'ipvs', 0, 'ipset')), write('n.save', renderRules(cluster, 'ipvs', 0, 'iptables-save'))];
  const ipvsOk = run(write('own.ipvsadm', renderRules(cluster, 'ipvs', 0, 'ipvsadm')), ipset, save);
  assert.equal(ipvsOk.status, 0, ipvsOk.stderr);
  const ipvsBad = run(write('bad.ipvsadm', plantedIpvsadm()), ipset);
  assert.equal(ipvsBad.status, 1, ipvsBad.stderr);
  assert.deepEqual(JSON.parse(ipvsBad.stdout).missingServices, ['kube-system/dns:dns-tcp']);
});
