/**
 * Services added and removed, written into Cilium's maps in place, as the agent's reconciler
 * (Cilium v1.17 pkg/loadbalancer/reconciler) upserts a new Service's frontends and deletes a gone
 * one's: master entries and backend slots in `cilium_lb4_services_v2`, rev-NAT entries, Maglev
 * tables, new backend IDs in `cilium_lb4_backends_v3`. Every other Service's entries stay as they
 * are; IDs already given are kept (the agent's allocators keep them), so a removal renumbers
 * nothing, where a fresh compile would.
 *
 * A new Service's frontends go into the room packCiliumTables left past every table (withRoom):
 * rows, slots, source ranges, Maglev tables, rev-NAT indexes, backend IDs, spFe; a removed one's
 * master entries leave the hash table (PairTable.delete) and its rows are dead (feRevNat 0), their
 * slots and tables unused until the next compile. Gives up (undefined, nothing written) when the
 * room is spent, when bpf-lb-map-max would refuse part of an add, or when a frontend was already
 * left out by it (a removal could let it in, which only the agent's full pass in port order tells).
 *
 * Cost: O(frontends, slots and rows of the changed Services' ports), plus M per Maglev table;
 * nothing per other Service. Measured (bench/compile/service-update.bench.js, 10 endpoints, shared
 * 2-core machine): a Service added ~27 µs at 100 Services and ~41 µs at 30,000, removed ~7-9 µs,
 * against a full build of 5.3 ms and 1.5 s.
 */
import { rowsOfPorts } from '../../model/service-change.js';
import type { Cluster } from '../../model/types.js';
import { maglevSeeds } from './maglev.js';
import type { TableUpdate } from '../mode.js';
import { beginUpdate, endUpdate } from '../table-generation.js';
import { portFrontends, programFrontend, slotRoom, type FrontendEntry, type MutableTables } from './build.js';
import type { CiliumDataplane } from './dataplane.js';
import { rowBackendId } from './update.js';
import {
  BeWord, FeWord, SCOPE_EXT, SlotWord, feCount, feQCount, feRevNat, serviceKeyWord,
} from './tables.js';

export function updateCiliumServices(dp: CiliumDataplane, next: Cluster, added: readonly number[], removed: readonly number[]): TableUpdate | undefined {
  const t = dp.tables as MutableTables;
  if (t.lbMapUnprogrammed > 0) return undefined;
  const seeds = maglevSeeds(dp.config.maglevHashSeed);
  if (typeof seeds === 'string') return undefined;

  // Plan the adds before the write window opens (entries allocate), checking every room.
  const adds: { sp: number; entries: FrontendEntry[] }[] = [];
  let port = t.ports;
  let revNat = t.revNats;
  let frontends = 0;
  let slots = 0;
  let srcs = 0;
  let luts = 0;
  let mapEntries = 0;
  for (const s of added) {
    for (const sp of next.services[s].ports) {
      if (sp !== port++) return undefined; // not appended past every known port (service-change.ts)
      const entries = portFrontends(next, next.ports[sp], dp.node, dp.config, t.hostAddrs, revNat + 1);
      for (const e of entries) {
        if (e.scope === SCOPE_EXT) revNat++;
        slots += slotRoom(next, e);
        srcs += e.srcRanges.length;
        if (e.maglev) luts++;
        mapEntries += 1 + e.active.length + e.extra.length;
      }
      frontends += entries.length;
      adds.push({ sp, entries });
    }
  }
  const rows = next.endpoints.ip.length;
  const fits = t.frontends + frontends <= t.feIp.length
    && (t.services.size + frontends) * 2 <= t.services.capacity
    && (t.slotsUsed + slots) * SlotWord.STRIDE <= t.slots.length
    && t.srcUsed + srcs <= t.srcBase.length
    && t.maglevUsed + luts * t.maglevSize <= t.maglev.length
    && port + 1 <= t.spFeStart.length
    && t.spFeStart[t.ports] + frontends <= t.spFe.length
    && rows <= t.rowBackend.length
    && (t.backends + 1 + (rows - rowsOfPorts(next, t.ports))) * BeWord.STRIDE <= t.be.length
    && revNat < t.rnIp.length
    && t.lbMapUsed + mapEntries <= t.lbMapMax;
  if (!fits) return undefined;

  const written = { n: 0 };
  const idOf = (row: number, proto: number): number => rowBackendId(t, next, dp.node, row, proto, written);
  beginUpdate(t.generation);
  // Removals first: a key a gone Service held is free for a Service added in the same sync.
  for (const s of removed) {
    for (const sp of next.services[s].ports) {
      if (sp >= t.ports) continue;
      for (let k = t.spFeStart[sp]; k < t.spFeStart[sp + 1]; k++) {
        const f = t.spFe[k];
        if (feRevNat(t, f) === 0) continue;
        t.services.delete(t.feIp[f], serviceKeyWord(t.fePort[f], t.feProto[f], t.feScope[f]));
        const size = 1 + feCount(t, f) + feQCount(t, f);
        t.lbMapUsed -= size;
        t.lbMapEntries -= size;
        t.rnIp[feRevNat(t, f)] = 0;
        t.rnPort[feRevNat(t, f)] = 0;
        t.fe[f * FeWord.STRIDE + FeWord.REV_NAT] = 0;
        t.frontendsGone++;
        written.n += 2;
      }
    }
  }
  for (const { sp, entries } of adds) {
    let end = t.spFeStart[sp];
    for (const e of entries) {
      if (e.scope === SCOPE_EXT) {
        t.rnIp[e.revNat] = e.ip;
        t.rnPort[e.revNat] = e.port;
        t.revNats = e.revNat;
      }
      const i = t.frontends++;
      if (programFrontend(t, next, i, e, idOf, seeds.murmur)) {
        t.spFe[end++] = i;
        written.n += 2 + e.active.length + e.extra.length + (e.maglev ? t.maglevSize : 0);
      }
    }
    t.spFeStart[sp + 1] = end;
    t.ports = sp + 1;
  }
  endUpdate(t.generation);
  dp.cluster = next;
  return { entriesWritten: written.n };
}
