/**
 * Fuzzed iptables-save dumps (issue 21, done-when; item 2's fault came from 400 such dumps): the
 * fixture's rules, mutated a token, a line or a cut at a time, either load as a dataplane or are
 * refused with a RuleParseError or another EngineError (the CLI's exit 2 with file and line),
 * never any other exception. A few hundred runs in `npm test`; scale with KDP_PROPERTY_RUNS.
 */
import { test } from 'node:test';
import fc from 'fast-check';
import { compileRuleset, dataplaneFromIptablesSave, renderIptablesSave } from '../../../src/compile/iptables/index.js';
import { EngineError } from '../../../src/errors.js';
import { loadFixture } from '../../helpers/cluster.js';
import { checkProperty, runs } from '../../helpers/nat-assertions.js';

const kDump = renderIptablesSave(compileRuleset(loadFixture('small-cluster.yaml'), { node: 0 }));

const hostileToken = fc.oneof(
  fc.constantFrom('', '999.1.1.1', '1.2.3', '10.0.0.0/33', '10.0.0.1/24', '1.2.3.4:99999', '1.2.3.4:0', '-1', '65536', '0x', '!', '-j', '-A', 'KUBE-SERVICES', 'PREROUTING', '"', '--dport', 'x'.repeat(3000)),
  fc.string({ maxLength: 10 }),
  fc.integer().map(String),
);

const mutated = fc.array(fc.tuple(fc.nat(), fc.nat(3), hostileToken), { minLength: 1, maxLength: 3 }).map((edits) => {
  let text = kDump;
  for (const [at, kind, token] of edits) {
    const lines = text.split('\n');
    const n = at % lines.length;
    if (kind === 0) {
      const words = lines[n]!.split(' ');
      words[at % words.length] = token;
      lines[n] = words.join(' ');
    } else if (kind === 1) lines.splice(n, 1);
    else if (kind === 2) lines.splice(n, 0, lines[(at >> 3) % lines.length]!);
    else return lines.join('\n').slice(0, at % (text.length + 1));
    text = lines.join('\n');
  }
  return text;
});

test('a mutated iptables-save dump loads or is refused with an EngineError', () => {
  checkProperty(
    'hostile iptables dumps',
    mutated,
    (text) => {
      try {
        dataplaneFromIptablesSave(text, {}).stats();
      } catch (err) {
        if (!(err instanceof EngineError)) throw err;
      }
    },
    { numRuns: runs(300), describe: (t) => t },
  );
});
