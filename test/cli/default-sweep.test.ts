/**
 * Which `kdp bench` run is the default sweep, whose wall time issue 14's target (h) judges: the
 * grid `kdp bench` plans with no grid flag on this machine's cores, whatever flags spell it out.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { isDefaultGrid, planFromFlags } from '../../src/cli/bench.js';

test('the default grid is the default sweep, spelled out or not, and no other grid is', () => {
  const plan = (values: Parameters<typeof planFromFlags>[0], cores = 2) => planFromFlags(values, cores, () => {});
  assert.equal(isDefaultGrid(plan({}), 2), true);
  assert.equal(isDefaultGrid(plan({ flows: '1000000', services: '10,100,1000,10000,30000', seed: '1' }), 2), true);
  assert.equal(isDefaultGrid(plan({ services: '100' }), 2), false);
  assert.equal(isDefaultGrid(plan({ repeats: '3' }), 2), false);
  assert.equal(isDefaultGrid(plan({ flows: '999999' }), 2), false);
  assert.equal(isDefaultGrid(plan({}, 4), 2), false, 'a workers sweep past the machine\'s cores (--cores 4)');
  assert.equal(isDefaultGrid(plan({}).slice(1), 2), false);
});
