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
import { portsOf, type OneEndpointSync } from '../mode.js';
import type { CiliumDataplane } from './dataplane.js';
import { compileCilium } from './build.js';
import { frontendText, slotText } from './render.js';
import {
  beIp, bePort, beState, feAffinity, feCount, feFlags, feMaglev, feQCount, feRevNat, feServicePort, feSlotStart, slotBackend,
  type CiliumTables,
} from './tables.js';
import { PairTable, portProtoKey } from '../tables/index.js';

const kServiceEntryBytes = 24;
const kBackendEntryBytes = 16;
const kRevNatEntryBytes = 8;

function backend(t: CiliumTables, id: number): string {
  return `${beIp(t, id)}:${bePort(t, id)}/${t.beProto[id]}`;
}

/** Backend addresses, as text and, to pass over the rest without making theirs, as ip * 65536 + port. */
interface BackendNames {
  readonly text: Set<string>;
  readonly ipPort: Set<number>;
}

/**
 * Each map entry as "key value" text, for the diff; Maglev tables as one entry of M * 4 bytes.
 * With `ports`, only the entries of those Service ports' frontends, and the backend entries of the
 * addresses in `backends` (which the caller gathers from both sides' frontends: `referenced`).
 */
function entries(t: CiliumTables, ports?: ReadonlySet<number>, backends?: BackendNames): Map<string, { value: string; bytes: number }> {
  const out = new Map<string, { value: string; bytes: number }>();
  for (let f = 0; f < t.frontends; f++) {
    if (feRevNat(t, f) === 0 || (ports !== undefined && !ports.has(feServicePort(t, f)))) continue;
    const key = frontendText(t, f);
    out.set(`svc ${key} 0`, { value: `${feRevNat(t, f)} ${feFlags(t, f)} ${feCount(t, f)} ${feQCount(t, f)} ${feAffinity(t, f)}`, bytes: kServiceEntryBytes });
    const n = feCount(t, f) + feQCount(t, f);
    for (let k = 0; k < n; k++) out.set(`svc ${key} ${k + 1}`, { value: slotText(t, f, feSlotStart(t, f) + k), bytes: kServiceEntryBytes });
    out.set(`rev ${feRevNat(t, f)}`, { value: key, bytes: kRevNatEntryBytes });
    if (feMaglev(t, f) >= 0) {
      const lut = t.maglev.subarray(feMaglev(t, f), feMaglev(t, f) + t.maglevSize);
      out.set(`maglev ${feRevNat(t, f)}`, { value: Array.from(lut, (id) => backend(t, id)).join(','), bytes: 4 * t.maglevSize });
    }
  }
  for (let id = 1; id <= t.backends; id++) {
    // Most backends are not wanted: an address's text is made only when its ip and port are.
    if (backends !== undefined && (!backends.ipPort.has(beIp(t, id) * 65536 + bePort(t, id)) || !backends.text.has(backend(t, id)))) continue;
    out.set(`be ${backend(t, id)}`, { value: String(beState(t, id)), bytes: kBackendEntryBytes });
  }
  return out;
}

/** The backend addresses the frontends of `ports` name in their slots (a Maglev table holds only slots' backends). */
function referenced(t: CiliumTables, ports: ReadonlySet<number>, into: BackendNames): void {
  const add = (id: number): void => {
    into.text.add(backend(t, id));
    into.ipPort.add(beIp(t, id) * 65536 + bePort(t, id));
  };
  for (let f = 0; f < t.frontends; f++) {
    if (feRevNat(t, f) === 0 || !ports.has(feServicePort(t, f))) continue;
    for (let s = feSlotStart(t, f), end = s + feCount(t, f) + feQCount(t, f); s < end; s++) add(slotBackend(t, s));
  }
}

/** Bytes and entries written going from `before` to `after` (each changed, new or gone entry once). */
function writes(before: Map<string, { value: string; bytes: number }>, after: Map<string, { value: string; bytes: number }>): { bytes: number; writes: number } {
  let bytes = 0;
  let n = 0;
  for (const [k, e] of after) {
    if (before.get(k)?.value === e.value) continue;
    bytes += e.bytes;
    n++;
  }
  for (const [k, e] of before) {
    if (after.has(k)) continue;
    bytes += e.bytes;
    n++;
  }
  return { bytes, writes: n };
}

/**
 * The one-endpoint sync: what the agent writes going from `prev`'s maps to `next`'s, which differ
 * only in the Services `changed` (the ProxyMode.syncOneEndpoint contract). Only their frontends'
 * entries and the backends those name (on either side) are compared: a backend no changed
 * frontend names keeps its entry, since its state comes from rows that did not change. The whole
 * diff is the law's oracle (test/compile/cilium/sync.test.ts). The full sync is every entry of `prev` (fullSync).
 */
export function ciliumOneEndpointSync(prev: CiliumDataplane, next: Cluster, node: number, changed: readonly number[]): OneEndpointSync {
  const full = fullSync(prev.tables);
  const nextTables = compileCilium(next, node).tables;
  const ports = portsOf(next, changed);
  const names: BackendNames = { text: new Set(), ipPort: new Set() };
  referenced(prev.tables, ports, names);
  referenced(nextTables, ports, names);
  const w = writes(entries(prev.tables, ports, names), entries(nextTables, ports, names));
  return { fullBytes: full.bytes, fullRules: full.writes, oneEndpointRewrittenBytes: w.bytes, oneEndpointRewrittenRules: w.writes };
}

/**
 * What a full sync writes: every entry `entries` makes of `t`, counted without making its text
 * (an internal-scope twin shares its frontend's rev-NAT entry, and two IDs of one address, which
 * an in-place update can give (update.ts rowBackendId), are one backend entry, as there).
 * Cost: O(frontends + backends), numbers only; with the entries' text and Map the one-endpoint
 * sync took 3.09 s at 30,000 Services, 1.24 s with this (/work/notes/s33/allsw.mjs, 2026-12-06).
 */
function fullSync(t: CiliumTables): { bytes: number; writes: number } {
  const revNat = new Uint8Array(65536);
  let bytes = 0;
  let n = 0;
  for (let f = 0; f < t.frontends; f++) {
    const rev = feRevNat(t, f);
    if (rev === 0) continue;
    const slots = 1 + feCount(t, f) + feQCount(t, f);
    n += slots;
    bytes += slots * kServiceEntryBytes;
    if (revNat[rev] === 0) {
      revNat[rev] = 1;
      n++;
      bytes += kRevNatEntryBytes;
    }
    // Only the external-scope frontend of a twin has a Maglev table (build.ts portFrontends).
    if (feMaglev(t, f) >= 0) {
      n++;
      bytes += 4 * t.maglevSize;
    }
  }
  // A backend entry per (address, port, protocol): the key build.ts gives IDs by.
  const seen = new PairTable(t.backends, 0);
  for (let id = 1; id <= t.backends; id++) seen.slotFor(beIp(t, id), portProtoKey(t.beProto[id], bePort(t, id)));
  n += seen.size;
  bytes += seen.size * kBackendEntryBytes;
  return { bytes, writes: n };
}

/**
 * The oracles of the sync's laws, from every entry's text: the whole diff of `prev`'s maps against
 * `next`'s, and a full sync of `prev`'s (every entry).
 */
export function ciliumWholeDiff(prev: CiliumDataplane, next: Cluster, node: number): { bytes: number; writes: number; full: { bytes: number; writes: number } } {
  const before = entries(prev.tables);
  return { ...writes(before, entries(compileCilium(next, node).tables)), full: writes(new Map(), before) };
}
