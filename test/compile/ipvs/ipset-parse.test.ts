/**
 * `ipset save` read back (issue 13): every set and entry kdp renders for an IPVS node parses, and
 * each entry is a member of its set by the kernel's test (ip_set_test's dimension and protocol
 * rules), while the same address on another port or protocol is not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderRules } from '../../../src/compile/index.js';
import { ipsetContains, kIpvsIpsets, parseIpsetSave } from '../../../src/compile/ipvs/index.js';
import { RuleParseErrors } from '../../../src/errors.js';
import { parseCidr, parseIp } from '../../../src/net/ipv4.js';
import { parseProto } from '../../../src/net/proto.js';
import { everyShapeCluster } from '../../helpers/every-shape.js';

test('kdp\'s ipset save for every node parses back, every entry a member of its set', () => {
  const cluster = everyShapeCluster();
  for (const node of [0, 1]) {
    const text = renderRules(cluster, 'ipvs', node, 'ipset');
    const sets = parseIpsetSave(text);
    assert.deepEqual([...sets.keys()].sort(), kIpvsIpsets.map((s) => s.name).sort());
    let entries = 0;
    for (const line of text.split('\n').filter((l) => l.startsWith('add '))) {
      const [, name, entry] = line.split(' ');
      const set = sets.get(name)!;
      const parts = entry.split(',');
      let proto = 6;
      const values = parts.map((p, d) => {
        if (set.dimensions[d] === 'port') {
          const [pr, port] = p.includes(':') ? p.split(':') : ['', p];
          if (pr) proto = parseProto(pr)!;
          return Number(port);
        }
        return p.includes('/') ? parseCidr(p)!.base : parseIp(p) >>> 0;
      });
      assert.equal(ipsetContains(set, values, proto), true, line);
      const swapped = line.replace(/,tcp:/, ',@:').replace(/,udp:/, ',tcp:').replace(/,@:/, ',udp:');
      if (set.dimensions.includes('port') && set.type.startsWith('hash:') && !text.includes(`${swapped}\n`)) {
        assert.equal(ipsetContains(set, values, proto === 6 ? 17 : 6), false, `${line} with the other protocol`);
      }
      assert.equal(ipsetContains(set, values.slice(0, set.dimensions.length - 1), proto), false, `${line} with fewer flags`);
      entries++;
    }
    assert.ok(entries >= 10, `${entries} entries`);
  }
});

test('nomatch entries, ranges, an IPv6 set, and every bad line listed', () => {
  const sets = parseIpsetSave([
    'create n hash:net family inet', 'add n 10.0.0.0/8', 'add n 10.1.0.0/16 nomatch',
    'create r hash:ip family inet', 'add r 192.0.2.1-192.0.2.9',
    'create v6 hash:ip family inet6', 'add v6 2001:db8::1',
    'create p bitmap:port range 0-65535', 'add p 30000-30010', '',
  ].join('\n'));
  assert.equal(ipsetContains(sets.get('n')!, [parseIp('10.2.3.4') >>> 0], 6), true);
  assert.equal(ipsetContains(sets.get('n')!, [parseIp('10.1.3.4') >>> 0], 6), false);
  assert.equal(ipsetContains(sets.get('r')!, [parseIp('192.0.2.5') >>> 0], 6), true);
  assert.equal(ipsetContains(sets.get('r')!, [parseIp('192.0.2.10') >>> 0], 6), false);
  assert.equal(ipsetContains(sets.get('v6')!, [parseIp('192.0.2.5') >>> 0], 6), false);
  assert.equal(ipsetContains(sets.get('p')!, [30005], 17), true);
  assert.throws(() => parseIpsetSave('create a hash:ip\nadd a 10.0.0.300\nadd b 10.0.0.1\nflush a\n'), (e: unknown) => {
    assert.ok(e instanceof RuleParseErrors);
    assert.deepEqual(e.problems.map((p) => p.line), [2, 3, 4]);
    return true;
  });
});
