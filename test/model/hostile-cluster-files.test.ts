/**
 * Fuzzed cluster files (issue 21, done-when): the fixture's YAML and JSON, mutated a token, a line
 * or a cut at a time, either load (and then compile for every mode) or are refused with
 * diagnostics or an EngineError, which the CLI prints as one line with exit 2 or 3. Any other
 * exception would be a stack trace and exit 1. A few hundred runs in `npm test`; scale with
 * KDP_PROPERTY_RUNS.
 */
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import fc from 'fast-check';
import { compileDataplane, modeNames } from '../../src/compile/index.js';
import { EngineError } from '../../src/errors.js';
import { hasErrors } from '../../src/model/diagnostics.js';
import { loadCluster } from '../../src/model/load.js';
import type { ModeName } from '../../src/model/types.js';
import { fixturePath } from '../helpers/cluster.js';
import { checkProperty, runs } from '../helpers/nat-assertions.js';

const kTexts = ['small-cluster.yaml', 'small-cluster.json'].map((f) => readFileSync(fixturePath(f), 'utf8'));

/** Values an adversary puts where a field's value was. */
const hostileValue = fc.oneof(
  fc.constantFrom('', '999.1.1.1', '1.2.3', '10.0.0.0/33', '-1', '0', '65536', '99999', '1e400', 'NaN', 'null', '~', '[]', '{}', '"', "'", '&a', '*a', '!!binary', '::1', 'fe80::/10', '1.2.3.4/0', 'x'.repeat(3000)),
  fc.string({ maxLength: 12 }),
  fc.integer().map(String),
);

/** One mutation of a text: a token replaced, a line deleted or duplicated, or the text cut. */
const mutated = fc.tuple(fc.nat(kTexts.length - 1), fc.array(fc.tuple(fc.nat(), fc.nat(3), hostileValue), { minLength: 1, maxLength: 3 })).map(([which, edits]) => {
  let text = kTexts[which]!;
  for (const [at, kind, value] of edits) {
    const lines = text.split('\n');
    const n = at % lines.length;
    if (kind === 0) {
      const tokens = lines[n]!.split(/(\s+|[:,{}[\]"])/);
      const words = tokens.map((t, k) => (/^[\w./-]+$/.test(t) ? k : -1)).filter((k) => k >= 0);
      if (words.length > 0) tokens[words[at % words.length]!] = value;
      lines[n] = tokens.join('');
    } else if (kind === 1) lines.splice(n, 1);
    else if (kind === 2) lines.splice(n, 0, lines[n]!);
    else return lines.join('\n').slice(0, at % (text.length + 1));
    text = lines.join('\n');
  }
  return text;
});

test('a mutated cluster file loads and compiles, or is refused with diagnostics or an EngineError', () => {
  checkProperty(
    'hostile cluster files',
    mutated,
    (text) => {
      try {
        const { cluster, diagnostics } = loadCluster(text, 'fuzz.yaml', { modes: modeNames() });
        if (!cluster) return hasErrors(diagnostics);
        for (const mode of modeNames() as ModeName[]) for (let node = 0; node < cluster.nodes.length; node++) compileDataplane(cluster, mode, node);
        return true;
      } catch (err) {
        if (err instanceof EngineError) return true;
        throw err;
      }
    },
    { numRuns: runs(300), describe: (t) => t },
  );
});
