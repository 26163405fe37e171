/**
 * Rule-sync cost of the userspace proxy. An endpoint change touches only the proxy's in-memory
 * endpoint lists: its portal rules (one per service port) do not change, so the bytes rewritten
 * are the changed lines of its iptables-save, 0 for an endpoint change. The time is the compile
 * of the proxy's next tables.
 */
import type { Cluster } from '../../model/types.js';
import type { OneEndpointSync } from '../mode.js';
import { compileUserspace } from './build.js';
import type { UserspaceDataplane } from './dataplane.js';
import { renderUserspaceIptablesSave } from './render.js';

export function userspaceOneEndpointSync(prev: UserspaceDataplane, next: Cluster, node: number): OneEndpointSync {
  const prevText = renderUserspaceIptablesSave(prev);
  const nextDp = compileUserspace(next, { node });
  const a = new Set(prevText.split('\n'));
  const bLines = renderUserspaceIptablesSave(nextDp).split('\n');
  const b = new Set(bLines);
  let lines = 0;
  let bytes = 0;
  for (const l of bLines) if (!a.has(l)) { lines++; bytes += l.length + 1; }
  for (const l of a) if (!b.has(l)) { lines++; bytes += l.length + 1; }
  const fullLines = bLines.filter((l) => l.startsWith('-A ')).length;
  return { fullBytes: prevText.length, fullRules: fullLines, oneEndpointRewrittenBytes: bytes, oneEndpointRewrittenRules: lines };
}
