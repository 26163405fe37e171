/**
 * The `nft list table ip kube-proxy` text: golden rendering of the small fixture (checked
 * byte for byte against `nft -f` + `nft list table` of nft 1.0.6 in a throw-away namespace,
 * minus the `ct state` / `reject` lines that kernel could not load), kube-proxy's own chain
 * hashes, render -> parse -> render identity, parse errors with line numbers, and a dataplane
 * built from parsed text deciding exactly as the compiled one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import {
  base32,
  buildRuleset,
  compileNftables,
  dataplaneFromNftText,
  hashAndTruncate,
  parseRuleset,
  renderRuleset,
  sha256,
} from '../../../src/compile/nftables/index.js';
import { newFirstPacket, newNatDecision } from '../../../src/compile/dataplane.js';
import { RuleParseError } from '../../../src/errors.js';
import { loadFixture } from '../../helpers/cluster.js';
import { flowCluster } from './flow-cluster.js';

const golden = (name: string): string => readFileSync(fileURLToPath(new URL(`../../../../test/compile/nftables/${name}`, import.meta.url)), 'utf8');

test('sha256 and base32 match the standard vectors', () => {
  const hex = (b: Uint8Array): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  assert.equal(hex(sha256(new TextEncoder().encode('abc'))), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  assert.equal(hex(sha256(new Uint8Array(0))), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(hex(sha256(new Uint8Array(200).fill(0x61))).length, 64);
  assert.equal(base32(new TextEncoder().encode('foobar')), 'MZXW6YTBOI======');
});

test("chain names carry kube-proxy's hashes (from its proxier_test.go)", () => {
  assert.equal(hashAndTruncate('ns1/svc1/tcp/p80'), 'ULMVA6XW-ns1/svc1/tcp/p80');
  assert.equal(hashAndTruncate('ns2/svc2/tcp/p80'), '42NFTM6N-ns2/svc2/tcp/p80');
  assert.equal(hashAndTruncate('ns1/svc1/tcp/p80__10.180.0.1/80'), '5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80');
  assert.equal(hashAndTruncate('ns5/svc5/tcp/p80__10.180.0.3/80'), 'GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80');
  assert.ok(hashAndTruncate('x'.repeat(300)).endsWith('...'));
  assert.equal(hashAndTruncate('x'.repeat(300)).length, 240);
});

test('the small fixture renders as the golden nft listing', () => {
  const cluster = loadFixture('small-cluster.yaml');
  assert.equal(renderRuleset(buildRuleset(cluster, { node: 0 })), golden('small-cluster.golden.nft'));
});

test('render -> parse -> render is the identity (fixture and flow cluster, every node)', () => {
  for (const cluster of [loadFixture('small-cluster.yaml'), flowCluster(), flowCluster({ nodePortAddresses: ['0.0.0.0/0'], masqueradeAll: true })]) {
    for (let node = 0; node < cluster.nodes.length; node++) {
      const text = renderRuleset(buildRuleset(cluster, { node }));
      assert.equal(renderRuleset(parseRuleset(text)), text);
    }
  }
});

test("the parser also reads kube-proxy's input spellings", () => {
  const text = [
    'table ip kube-proxy {',
    '\tchain mark-for-masquerade {',
    '\t\tmark set mark or 0x4000',
    '\t}',
    '\tchain masquerading {',
    '\t\tmark and 0x4000 == 0 return',
    '\t\tip daddr { 172.30.0.0/16 } drop',
    '\t}',
    '}',
  ].join('\n');
  const rs = parseRuleset(text);
  assert.deepEqual(rs.chains[0].rules[0].action, { k: 'mark-or', mask: 0x4000 });
  assert.deepEqual(rs.chains[1].rules[0].matches, [{ k: 'mark-zero', mask: 0x4000 }]);
  assert.ok(renderRuleset(rs).includes('\t\tip daddr 172.30.0.0/16 drop\n'));
});

test('parse errors name the line', () => {
  const ok = renderRuleset(buildRuleset(loadFixture('small-cluster.yaml'), { node: 0 })).split('\n');
  const expectError = (lines: string[], line: number, re: RegExp): void => {
    assert.throws(
      () => parseRuleset(lines.join('\n')),
      (e: unknown) => e instanceof RuleParseError && e.line === line && re.test(e.message),
    );
  };
  const at = (needle: string): number => ok.findIndex((l) => l.includes(needle));
  const swap = (i: number, text: string): string[] => ok.map((l, j) => (j === i ? text : l));
  const svc = at('jump services');
  expectError(swap(svc, '\t\tjump services counter'), svc + 1, /unexpected "counter"/);
  expectError(swap(svc, '\t\tlog prefix "x" jump services'), svc + 1, /unsupported rule expression "log"/);
  expectError(swap(svc, '\t\tjump no-such-chain'), svc + 1, /unknown chain "no-such-chain"/);
  const np = at('numgen random mod 2');
  expectError(swap(np, ok[np].replace('mod 2', 'mod 3')), np + 1, /numgen mod 3 has 2 branches/);
  const dn = at('dnat to 10.244.1.5:8080');
  expectError(swap(dn, '\t\tmeta l4proto tcp dnat to 10.244.1.500:8080'), dn + 1, /invalid dnat target/);
  const ty = at('type ipv4_addr . inet_proto');
  expectError(swap(ty, '\t\ttype ipv6_addr . inet_proto . inet_service : verdict'), ty + 1, /unsupported map type/);
  expectError(['table ip kube-proxy {', '\tchain a {', '\t\tdrop'], 2, /chain a is not closed/);
  expectError(['table inet kube-proxy {', '}'], 1, /expected "ip"/);
  expectError([...ok.slice(0, -2), 'stray'], ok.length - 1, /table is not closed|expected set, map or chain/);
});

test('a dataplane built from parsed text decides exactly as the compiled one', () => {
  const cluster = flowCluster();
  const compiled = compileNftables(cluster, { node: 0 });
  const parsed = dataplaneFromNftText(renderRuleset(buildRuleset(cluster, { node: 0 })), cluster, { node: 0 });
  // Counts alike; bytes not: kdp's own compile also holds each Service port's room for in-place updates.
  const { tableBytes: parsedBytes, ...parsedCounts } = parsed.stats();
  const { tableBytes: compiledBytes, ...compiledCounts } = compiled.stats();
  assert.deepEqual(parsedCounts, compiledCounts);
  assert.ok(parsedBytes < compiledBytes, `a parsed dump (no room) ${parsedBytes} B, kdp's compile ${compiledBytes} B`);
  const pkt = newFirstPacket();
  const a = newNatDecision();
  const b = newNatDecision();
  const dsts = ['172.30.0.41', '172.30.0.47', '1.2.3.4', '192.168.0.2', '192.168.99.11', '5.6.7.8', '172.30.0.48', '172.30.0.99', '9.9.9.9'];
  const srcs = ['10.0.1.99', '10.0.1.1', '203.0.113.2', '203.0.113.130', '192.168.0.2'];
  let n = 0;
  for (const dst of dsts) {
    for (const src of srcs) {
      for (const port of [80, 81, 30080, 30081, 30085]) {
        for (const hook of [0, 1]) {
          pkt.srcIp = ipOf(src);
          pkt.dstIp = ipOf(dst);
          pkt.dstPort = port;
          pkt.proto = 6;
          pkt.hook = hook;
          pkt.rand = (n * 0x9e3779b9) >>> 0;
          pkt.now = n;
          compiled.decide(pkt, a);
          parsed.decide(pkt, b);
          assert.deepEqual(b, a, `${src} -> ${dst}:${port} hook ${hook}`);
          n++;
        }
      }
    }
  }
});

function ipOf(text: string): number {
  return text.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) >>> 0;
}

test('`nft -a list` text (a `# handle N` after each object and rule, as nft 1.0.6 prints it) reads as the listing without', () => {
  const cluster = flowCluster({ nodePortAddresses: ['0.0.0.0/0'] });
  const text = renderRuleset(buildRuleset(cluster, { node: 0 }));
  let handle = 1;
  const annotated = text
    .split('\n')
    .map((l) => (/\{$/.test(l) || /^\t\t(?!type |comment |elements |size |flags |timeout |policy )\S/.test(l) && !/^\t\t\t/.test(l) && !l.includes('elements') ? `${l} # handle ${handle++}` : l))
    .join('\n');
  assert.ok(handle > 50, 'the tables, chains and rules got handles');
  assert.equal(renderRuleset(parseRuleset(annotated)), text);
});
