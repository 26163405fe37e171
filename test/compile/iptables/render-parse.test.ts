import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { RuleParseError, RuleParseErrors } from '../../../src/errors.js';
import { newNatDecision } from '../../../src/compile/dataplane.js';
import {
  compileIptables, compileRuleset, dataplaneFromIptablesSave, iptablesSync, parseIptablesSave, renderIptablesRestore, renderIptablesSave,
} from '../../../src/compile/iptables/index.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { clusterOf, loadFixture, node, proxyConfig } from '../../helpers/cluster.js';
import { firstPacket } from '../../helpers/packet-flow.js';
import { unshareSkipReason } from '../../helpers/unshare.js';

test('golden: notable rules of the small fixture (node-1)', () => {
  const text = renderIptablesSave(compileRuleset(loadFixture('small-cluster.yaml'), { node: 0 }));
  const lines = text.split('\n');
  for (const want of [
    '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-SVC-CDGGSHYLG3RE2FKL',
    '-A KUBE-SVC-CDGGSHYLG3RE2FKL ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http cluster IP" -m tcp --dport 80 -j KUBE-MARK-MASQ',
    '-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.1.5:8080" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-AFGSLHOD2HFNCBX4',
    '-A KUBE-SVC-CDGGSHYLG3RE2FKL -m comment --comment "default/web:http -> 10.244.2.7:8080" -j KUBE-SEP-2RIJ5GIYXEFH6G4D',
    '-A KUBE-SEP-AFGSLHOD2HFNCBX4 -s 10.244.1.5/32 -m comment --comment "default/web:http" -j KUBE-MARK-MASQ',
    '-A KUBE-EXTERNAL-SERVICES -d 192.0.2.10/32 -p tcp -m comment --comment "store/shop:https has no local endpoints" -m tcp --dport 443 -j DROP',
    '-A KUBE-FW-K4YRTLSDDMBNDSR7 -s 198.51.100.0/24 -m comment --comment "store/shop:https loadbalancer IP" -j KUBE-EXT-K4YRTLSDDMBNDSR7',
    '-A KUBE-NODEPORTS -p tcp -m comment --comment "store/shop:https health check node port" -m tcp --dport 31999 -j ACCEPT',
    '-A KUBE-SEP-BX3SRQHK3DLK6AD2 -p udp -m comment --comment "kube-system/dns:dns" -m recent --set --name KUBE-SEP-BX3SRQHK3DLK6AD2 --mask 255.255.255.255 --rsource -m udp -j DNAT --to-destination 10.244.1.3:53',
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
  ]) assert.ok(lines.includes(want), `missing: ${want}`);
  // The terminating endpoint 10.244.2.8 is not used while ready ones exist.
  assert.ok(!text.includes('10.244.2.8'));
  // The jump to KUBE-NODEPORTS is the last rule of nat KUBE-SERVICES.
  const ks = lines.filter((l) => l.startsWith('-A KUBE-SERVICES ') && !l.includes('REJECT') && !l.includes('has no'));
  assert.match(ks[ks.length - 1], /-m addrtype --dst-type LOCAL -j KUBE-NODEPORTS$/);
});

test('nodePortAddresses: a zero CIDR is match-all (`--dst-type LOCAL`), CIDRs and "primary" give one `-d` per node IP', () => {
  // pkg/proxy/util/nodeport_addresses.go NewNodePortAddresses: a zero CIDR sets matchAll ("Ignore
  // everything else"); syncProxyRules then writes the addrtype tail call, else one per GetNodeIPs IP.
  const tail = (npa?: string[]): string[] => {
    const c = clusterOf(proxyConfig(npa ? { nodePortAddresses: npa } : {}), node('node-1', '10.244.1.0/24', '192.168.0.11'));
    return renderIptablesSave(compileRuleset(c, { node: 0 })).split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES ') && l.endsWith('-j KUBE-NODEPORTS'));
  };
  const matchAll = '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS';
  assert.deepEqual(tail(), [matchAll]);
  assert.deepEqual(tail(['0.0.0.0/0']), [matchAll]);
  assert.deepEqual(tail(['10.0.0.0/8', '0.0.0.0/0']), [matchAll]);
  const one = '-A KUBE-SERVICES -d 192.168.0.11/32 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS';
  assert.deepEqual(tail(['192.168.0.0/24']), [one]);
  assert.deepEqual(tail(['primary']), [one]);
  assert.deepEqual(tail(['10.99.0.0/16']), []);
});

test('rule counts of the small fixture', () => {
  const dp = compileIptables(loadFixture('small-cluster.yaml'), { node: 0 });
  const s = dp.stats();
  const text = renderIptablesSave(dp.rules);
  assert.equal(s.rules, text.split('\n').filter((l) => l.startsWith('-A ')).length);
  assert.equal(s.chains, text.split('\n').filter((l) => l.startsWith(':')).length);
  assert.equal(s.kubeServicesRules, 6);
  assert.ok(s.tableBytes > 0);
  const restore = renderIptablesRestore(dp.rules);
  assert.equal(restore.rules, restore.text.split('\n').filter((l) => l.startsWith('-A ')).length);
  // kube-proxy's restore input holds no built-in chain jumps.
  assert.ok(!/^-A (PREROUTING|OUTPUT|INPUT|FORWARD|POSTROUTING) /m.test(restore.text));
  assert.match(restore.text, /--probability 0\.5000000000 /);
  assert.match(restore.text, /-j MARK --or-mark 0x004000/);
});

test('render -> parse -> render is byte-identical (iptables-save and restore forms)', () => {
  for (const c of [loadFixture('small-cluster.yaml'), generateCluster({ services: 60, endpoints: 3, nodes: 3, seed: 7 })]) {
    for (const node of [0, 1]) {
      const rs = compileRuleset(c, { node });
      const save = renderIptablesSave(rs);
      assert.equal(renderIptablesSave(parseIptablesSave(save).ruleset), save);
      const restore = renderIptablesRestore(rs).text;
      assert.equal(renderIptablesRestore(parseIptablesSave(restore).ruleset).text, restore);
    }
  }
});

test('a dataplane built from a parsed dump decides like the compiled one', () => {
  const c = generateCluster({ services: 40, endpoints: 4, nodes: 2, seed: 3 });
  const compiled = compileIptables(c, { node: 0 });
  const imported = dataplaneFromIptablesSave(renderIptablesSave(compiled.rules), { cluster: c, node: 0 });
  const a = newNatDecision();
  const b = newNatDecision();
  for (const p of c.ports.slice(0, 40)) {
    const svc = c.services[p.service];
    if (svc.clusterIPs.length === 0) continue;
    const ip = svc.clusterIPs[0];
    const pk = firstPacket({ src: '10.200.0.1', dst: `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`, port: p.port, proto: p.protocol }, p.index * 7919);
    compiled.decide(pk, a);
    imported.decide(pk, b);
    assert.deepEqual({ ...b }, { ...a });
    assert.deepEqual(imported.explain(pk).candidates, compiled.explain(pk).candidates);
  }
  // Without a cluster DNAT targets keep their address.
  const bare = dataplaneFromIptablesSave(renderIptablesSave(compiled.rules));
  assert.equal(bare.stats().rules, compiled.stats().rules);
});

test('parse errors name the line and the unknown token', () => {
  const cases: [string, number, RegExp][] = [
    ['*nat\n:X - [0:0]\n-A X -j RETURN\n-A X --bogus\nCOMMIT\n', 4, /--bogus outside any match module/],
    ['*broute\nCOMMIT\n', 1, /unknown table "broute"/],
    ['*nat\n-A NOPE -j RETURN\nCOMMIT\n', 2, /unknown chain "NOPE"/],
    ['*nat\n:X - [0:0]\n-A X -j KUBE-MISSING\nCOMMIT\n', 3, /unknown token "KUBE-MISSING"/],
    ['*nat\n:X - [0:0]\n', 3, /missing COMMIT/],
  ];
  for (const [text, line, re] of cases) {
    assert.throws(() => parseIptablesSave(text), (e: unknown) => e instanceof RuleParseError && e.line === line && re.test(e.message), `${re}`);
  }
});

test('every problem of a dump is listed, not only the first', () => {
  const text = '*nat\n:X - [0:0]\n-A X -s 999.1.1.1 -j RETURN\n-A NOPE -j RETURN\n-A X -d 1.2.3 -j RETURN\nCOMMIT\n';
  assert.throws(() => parseIptablesSave(text), (e: unknown) => {
    assert.ok(e instanceof RuleParseErrors);
    assert.deepEqual(e.problems.map((p) => p.line), [3, 4, 5]);
    assert.equal(e.message.split('\n').length, 3);
    return true;
  });
});

test('constructs kube-proxy never writes are read, not refused (issue 13: raw table, owner, icmp, DNAT without a port)', () => {
  const text = [
    '*raw', ':PREROUTING ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', '-A PREROUTING -d 169.254.20.10/32 -p udp -m udp --dport 53 -j NOTRACK', 'COMMIT',
    '*nat', ':PREROUTING ACCEPT [0:0]', ':X - [0:0]', '[5:300] -A X -m owner --uid-owner 0 -j RETURN', '-A X -p icmp -j DNAT --to-destination 10.0.0.1', 'COMMIT', '',
  ].join('\n');
  const rs = parseIptablesSave(text).ruleset;
  assert.equal(rs.ruleCount, 3);
  assert.equal(rs.foreign.length, 3);
  assert.deepEqual(rs.foreign[1].matches.map((m) => m.k), ['opaque']);
});

test('partial sync rewrites only changed services plus the shared chains', () => {
  const prev = generateCluster({ services: 200, endpoints: 3, nodes: 2, seed: 11 });
  const full = iptablesSync(prev, prev, 0);
  const part = iptablesSync(prev, prev, 0, [5]);
  assert.equal(full.kind, 'full');
  assert.equal(part.kind, 'partial');
  assert.ok(part.bytes < full.bytes / 2, `partial ${part.bytes} < full ${full.bytes}`);
  assert.equal(part.fullBytes, full.bytes);
  const svcChains = (t: string): string[] => t.split('\n').filter((l) => /^:KUBE-(SVC|SEP|SVL|EXT|FW)-/.test(l));
  const changedName = `${prev.services[5].namespace}/${prev.services[5].name}`;
  // Every service-chain rule in the partial input belongs to the changed service (the
  // partial input may jump to chains it does not restate: they already exist, --noflush).
  const svcRules = part.text.split('\n').filter((l) => /^-A KUBE-(SVC|SEP|SVL|EXT|FW)-/.test(l));
  assert.ok(svcRules.length > 0);
  for (const l of svcRules) assert.ok(l.includes(changedName), l);
  assert.ok(svcChains(part.text).length > 0 && svcChains(part.text).length < svcChains(full.text).length);
  // KUBE-SERVICES is always complete.
  const ksRules = (t: string): number => t.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES ') && !l.includes('REJECT')).length;
  assert.equal(ksRules(part.text), ksRules(full.text));
  // A removed service's chains are flushed and deleted.
  const next = generateCluster({ services: 199, endpoints: 3, nodes: 2, seed: 11 });
  const del = iptablesSync(prev, next, 0, []);
  assert.ok(del.deletedChains > 0 || prev.services[199].name !== next.services[198]?.name);
  assert.equal(del.text.split('\n').filter((l) => l.startsWith('-X ')).length, del.deletedChains);
});

// The real tool, only inside a throw-away network namespace (no host rules are touched).
function kernelAvailable(): string | undefined {
  return unshareSkipReason('iptables-restore');
}

test('iptables-restore --test accepts the rendering of a 1,000-service cluster', (t) => {
  const why = kernelAvailable();
  if (why) return t.skip(why);
  const c = generateCluster({ services: 1000, endpoints: 3, nodes: 3, seed: 5 });
  const rs = compileRuleset(c, { node: 0 });
  const save = renderIptablesSave(rs);
  const res = spawnSync('unshare', ['-n', 'iptables-restore', '--test'], { input: save, encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const restore = renderIptablesRestore(rs).text;
  const res2 = spawnSync('unshare', ['-n', 'iptables-restore', '--noflush', '--test'], { input: restore, encoding: 'utf8' });
  assert.equal(res2.status, 0, res2.stderr);
});

test('the kernel round-trip: iptables-save prints exactly what kdp renders', (t) => {
  const why = kernelAvailable();
  if (why) return t.skip(why);
  // nfacct counters do not exist in a fresh namespace; kube-proxy then omits -m nfacct too.
  for (const c of [loadFixture('small-cluster.yaml'), generateCluster({ services: 50, endpoints: 3, nodes: 2, seed: 9 })]) {
    const save = renderIptablesSave(compileRuleset(c, { node: 0, nfacct: false }));
    const real = execFileSync('unshare', ['-n', 'sh', '-c', 'iptables-restore && iptables-save'], { input: save, encoding: 'utf8' });
    const strip = (s: string): string => s.split('\n').filter((l) => !l.startsWith('#')).join('\n');
    assert.equal(strip(real), strip(save));
  }
});
