/**
 * Calico's selector language, table-driven from Calico's documentation of the grammar
 * (reference/resources/networkpolicy "Selectors"): each operator on a label map, the absent-label
 * cases (`!=` and `not in` hold, the others do not), precedence (&& binds tighter than ||), and
 * the syntax errors a policy file can carry.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { formatSelector, parseSelector, selectorMatches, SelectorSyntaxError } from '../../src/model/calico-selector.js';

const labels = { app: 'web', tier: 'frontend', 'k8s.io/role': 'edge' };

const kCases: [string, boolean][] = [
  ['', true],
  ['all()', true],
  ["app == 'web'", true],
  ['app == "db"', false],
  ["app != 'db'", true],
  ["missing != 'x'", true],
  ["missing == 'x'", false],
  ["app in {'web', 'db'}", true],
  ["app in {}", false],
  ["app not in {'web'}", false],
  ["missing not in {'x'}", true],
  ['has(app)', true],
  ['!has(app)', false],
  ['has(k8s.io/role)', true],
  ["app contains 'e'", true],
  ["tier starts with 'front'", true],
  ["tier ends with 'end'", true],
  ["missing starts with ''", false],
  ["app == 'db' || tier == 'frontend' && has(app)", true],
  ["(app == 'db' || tier == 'frontend') && !has(app)", false],
  ["!(app == 'db')", true],
  // Cases whose meaning changes if the printed form loses its brackets ('!' and '&&' bind tighter).
  ["!(app == 'db' || tier == 'frontend')", false],
  ["!(app == 'web' && tier == 'backend')", true],
  ["(app == 'web' || tier == 'x') && has(missing)", false],
  ['global()', false],
];

describe('Calico selectors', () => {
  for (const [text, expected] of kCases) {
    it(`${JSON.stringify(text)} -> ${expected}`, () => {
      const s = parseSelector(text);
      assert.equal(selectorMatches(s, labels), expected);
      // Printing and parsing again keeps the meaning.
      assert.equal(selectorMatches(parseSelector(formatSelector(s)), labels), expected);
    });
  }
  for (const bad of ["app == web", "app ==", "has(app", "app in {'a'", "app not {'a'}", "app == 'a' &&", "(app == 'a'", "app ~= 'a'", "'a' == app"]) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseSelector(bad), SelectorSyntaxError));
  }
});
