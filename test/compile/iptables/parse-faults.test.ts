/**
 * iptables-save input kdp must refuse, as iptables-restore does, rather than simulate something
 * else (issue 21, item 2): an address or port that cannot exist used to become 255.255.255.255 or
 * port 99999, and a chain loop was accepted. Each is a RuleParseError naming the line.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RuleParseError } from '../../../src/errors.js';
import { parseIptablesSave } from '../../../src/compile/iptables/index.js';

/** A nat table whose 5th line is `rule` (chains KUBE-A and KUBE-B exist). */
const dump = (...rules: string[]): string =>
  ['*nat', ':PREROUTING ACCEPT [0:0]', ':KUBE-A - [0:0]', ':KUBE-B - [0:0]', ...rules, 'COMMIT', ''].join('\n');

const refused = (text: string, line: number, message: RegExp): void => {
  assert.throws(() => parseIptablesSave(text), (err: unknown) => {
    assert.ok(err instanceof RuleParseError, String(err));
    assert.equal(err.line, line, err.message);
    assert.match(err.message, message);
    return true;
  });
};

test('a well-formed rule with addresses, a prefix and a DNAT target parses', () => {
  const r = parseIptablesSave(dump('-A KUBE-A -s 10.0.0.0/8 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j DNAT --to-destination 10.244.1.5:8080', '-A PREROUTING -j KUBE-A'));
  assert.ok(r.ruleset);
});

test('impossible source and destination addresses are refused with the line', () => {
  refused(dump('-A KUBE-A -s 999.1.1.1 -j ACCEPT'), 5, /999\.1\.1\.1/);
  refused(dump('-A KUBE-A -j ACCEPT', '-A KUBE-A -d 1.2.3 -j ACCEPT'), 6, /1\.2\.3/);
  refused(dump('-A KUBE-A -s 999.1.1.1/32 -j ACCEPT'), 5, /999\.1\.1\.1/);
  refused(dump('-A KUBE-A -d 10.0.0.0/33 -j ACCEPT'), 5, /10\.0\.0\.0\/33/);
  refused(dump('-A KUBE-A -d 10.0.0.0/-1 -j ACCEPT'), 5, /10\.0\.0\.0\/-1/);
});

test('an impossible DNAT address or port is refused with the line', () => {
  refused(dump('-A KUBE-A -p tcp -m tcp -j DNAT --to-destination 999.1.1.1:99999'), 5, /999\.1\.1\.1:99999/);
  refused(dump('-A KUBE-A -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:99999'), 5, /99999/);
  refused(dump('-A KUBE-A -p tcp -m tcp -j DNAT --to-destination 10.244.1.5:0'), 5, /10\.244\.1\.5:0/);
  refused(dump('-A KUBE-A -p tcp -m tcp --dport 65536 -j ACCEPT'), 5, /65536/);
});

test('a chain loop is refused, as iptables-restore refuses it (ELOOP)', () => {
  refused(dump('-A PREROUTING -j KUBE-A', '-A KUBE-A -j KUBE-B', '-A KUBE-B -j KUBE-A'), 7, /loop.*KUBE-A -> KUBE-B -> KUBE-A/);
  refused(dump('-A KUBE-A -j KUBE-A'), 5, /loop.*KUBE-A -> KUBE-A/);
  // Two chains jumping to the same one is no loop.
  assert.ok(parseIptablesSave(dump('-A PREROUTING -j KUBE-A', '-A PREROUTING -j KUBE-B', '-A KUBE-A -j KUBE-B')).ruleset);
});

// iptables(8) options such as -s, -i, -j, --dport and --comment take a value; iptables-restore
// refuses a line whose last option has none ("option requires an argument"). kdp refuses it too,
// naming the option left without its value.
test('a rule whose last option has no value is refused, naming that option', () => {
  const exactly = (rule: string, option: string): void => {
    assert.throws(() => parseIptablesSave(dump(rule)), (err: unknown) => {
      assert.ok(err instanceof RuleParseError, String(err));
      assert.equal(err.line, 5);
      assert.equal(err.message, `line 5: missing value after "${option}"`);
      return true;
    });
  };
  exactly('-A KUBE-A -p tcp -m tcp --dport', '--dport');
  exactly('-A KUBE-A -s', '-s');
  exactly('-A KUBE-A -i', '-i');
  exactly('-A KUBE-A -j', '-j');
  exactly('-A KUBE-A -m comment --comment', '--comment');
  exactly('-A KUBE-A -p tcp -m multiport --dports', '--dports');
});

// iptables-restore reads nothing but a comment or a `*table` line outside a table (its "line N
// failed"); kdp refuses such a line, quoting its first word.
test('a line before any *table is refused, naming its first word', () => {
  const exactly = (text: string, word: string): void => {
    assert.throws(() => parseIptablesSave(text), (err: unknown) => {
      assert.ok(err instanceof RuleParseError, String(err));
      assert.equal(err.line, 1);
      assert.equal(err.message.split('\n')[0], `line 1: unknown token "${word}" outside a table`);
      return true;
    });
  };
  exactly('-A KUBE-A -j ACCEPT\n*nat\nCOMMIT\n', '-A');
  exactly(':KUBE-A - [0:0]\n*nat\nCOMMIT\n', ':KUBE-A');
  exactly('garbage here\n*nat\nCOMMIT\n', 'garbage');
});
