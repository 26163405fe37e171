/**
 * What the agent writes to the BPF maps when one endpoint of a Service changes: every service-map
 * entry (a 12-byte `lb4_key` and a 12-byte `lb4_service`, one map update each) whose value
 * changes, appears or goes, the backend-map entries (4-byte key, 12-byte value), and for a
 * frontend with Maglev the whole inner table again (M backend IDs of 4 bytes: lbmap's
 * UpsertMaglevLookupTable writes the table in one update). A full sync writes everything.
 *
 * The agent allocates backend IDs once per backend and keeps them (pkg/loadbalancer's backend ID
 * allocator), while kdp numbers backends by first use in each compile, so one new endpoint would
 * renumber every later backend. The diff therefore names each backend by its address: an entry is
 * rewritten when what it says changes, not when kdp's numbering moves.
 */
import type { Cluster } from '../../model/types.js';
import type { OneEndpointSync } from '../mode.js';
import type { CiliumDataplane } from './dataplane.js';
import { compileCilium } from './build.js';
import { frontendText, slotText } from './render.js';
import type { CiliumTables } from './tables.js';

const kServiceEntryBytes = 24;
const kBackendEntryBytes = 16;
const kRevNatEntryBytes = 8;

function backend(t: CiliumTables, id: number): string {
  return `${t.beIp[id]}:${t.bePort[id]}/${t.beProto[id]}`;
}

/** Each map entry as "key value" text, for the diff; Maglev tables as one entry of M * 4 bytes. */
function entries(t: CiliumTables): Map<string, { value: string; bytes: number }> {
  const out = new Map<string, { value: string; bytes: number }>();
  for (let f = 0; f < t.frontends; f++) {
    if (t.feRevNat[f] === 0) continue;
    const key = frontendText(t, f);
    out.set(`svc ${key} 0`, { value: `${t.feRevNat[f]} ${t.feFlags[f]} ${t.feCount[f]} ${t.feQCount[f]} ${t.feAffinity[f]}`, bytes: kServiceEntryBytes });
    const n = t.feCount[f] + t.feQCount[f];
    for (let k = 0; k < n; k++) out.set(`svc ${key} ${k + 1}`, { value: slotText(t, f, t.feSlotStart[f] + k), bytes: kServiceEntryBytes });
    out.set(`rev ${t.feRevNat[f]}`, { value: key, bytes: kRevNatEntryBytes });
    if (t.feMaglev[f] >= 0) {
      const lut = t.maglev.subarray(t.feMaglev[f], t.feMaglev[f] + t.maglevSize);
      out.set(`maglev ${t.feRevNat[f]}`, { value: Array.from(lut, (id) => backend(t, id)).join(','), bytes: 4 * t.maglevSize });
    }
  }
  for (let id = 1; id <= t.backends; id++) out.set(`be ${backend(t, id)}`, { value: String(t.beState[id]), bytes: kBackendEntryBytes });
  return out;
}

export function ciliumOneEndpointSync(prev: CiliumDataplane, next: Cluster, node: number): OneEndpointSync {
  const before = entries(prev.tables);
  let fullBytes = 0;
  for (const e of before.values()) fullBytes += e.bytes;
  const after = entries(compileCilium(next, node).tables);
  let bytes = 0;
  let writes = 0;
  for (const [k, e] of after) {
    if (before.get(k)?.value === e.value) continue;
    bytes += e.bytes;
    writes++;
  }
  for (const [k, e] of before) {
    if (after.has(k)) continue;
    bytes += e.bytes;
    writes++;
  }
  return { fullBytes, fullRules: before.size, oneEndpointRewrittenBytes: bytes, oneEndpointRewrittenRules: writes };
}
