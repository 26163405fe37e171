/**
 * The line `kdp bench` prints per finished cell never shows a figure the cell did not measure as
 * 0: a kernel cell whose one-endpoint apply was not measured (its backend did not finish) says so.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { summaryLine } from '../../src/cli/bench.js';
import { syntheticCell } from '../report/synthetic.js';

test('a kernel cell: its apply and payload when measured, "not measured" and no bytes when not', () => {
  const sync = { fullMs: 22552, oneEndpointMs: 54.6, oneEndpointRewrittenBytes: 28138 };
  const measured = syntheticCell({ mode: 'kernel-iptables', services: 100, sync, counters: { measuredOneEndpointSync: 1, measuredEstablished: 0 } });
  assert.match(summaryLine(measured), /one endpoint: 54\.6 ms kernel apply, kube-proxy writes 28,138 B; checksum/);
  assert.match(summaryLine(measured), /established not measured/);
  const missing = syntheticCell({ mode: 'kernel-iptables', services: 10000, sync: { ...sync, oneEndpointMs: 0, oneEndpointRewrittenBytes: 0 }, counters: { measuredOneEndpointSync: 0 } });
  const line = summaryLine(missing);
  assert.match(line, /one endpoint: kernel apply not measured; checksum/);
  assert.doesNotMatch(line, / 0 ms| 0 B/);
});

test('a kdp cell: its in-place update in µs, or the recompile it fell back to', () => {
  const sync = { fullMs: 39, oneEndpointMs: 0.043, oneEndpointRewrittenBytes: 2313 };
  assert.match(summaryLine(syntheticCell({ mode: 'iptables', services: 100, sync })), /one endpoint: 43 µs table update, kube-proxy writes 2,313 B/);
  const recompiled = syntheticCell({ mode: 'iptables', services: 100, sync: { ...sync, oneEndpointMs: 37 }, counters: { oneEndpointRecompiled: 1 } });
  assert.match(summaryLine(recompiled), /one endpoint: 37 ms recompile \(not in place\)/);
  assert.match(summaryLine(syntheticCell({ mode: 'userspace', services: 100, sync, counters: { measuredOneEndpointUpdate: 0 } })), /one endpoint: no in-place update/);
});
