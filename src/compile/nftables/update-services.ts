/**
 * Services added and removed, written into a compiled nftables program in place: what kube-proxy's
 * partial sync (Kubernetes v1.33 pkg/proxy/nftables/proxier.go syncProxyRules; sync.ts plans the
 * same transaction as `nft -f` text) writes for a new Service (its service-, local-, external-,
 * firewall- and endpoint- chains added and filled, its affinity sets added, its elements of
 * service-ips, service-nodeports, no-endpoint-services, no-endpoint-nodeports, firewall-ips and
 * cluster-ips added) and for a deleted one (its elements deleted, nftElementStorage's
 * cleanupLeftoverKeys; its chains flushed as stale, deleted a sync later, so that no element can
 * still point at them; its affinity sets deleted).
 *
 * A new port gets a room as compileProgram gives one (roomNames, roomCaps), taken from the spare
 * slots compileProgram left past every port's (withRoom; NftProgram.used counts what is taken),
 * with its map keys reserved, and its objects are written over it by update.ts's writeRoom, as for
 * an endpoint change. A removed port's chains are emptied and no longer live, its keys leave the
 * maps, and its room is dropped (room words -1, a port kube-proxy does not proxy); its slots stay
 * unused until the next compile. New chain and set names live in this instance's name lists: a
 * reader attached to the shared image keeps the names it decoded (explain only).
 *
 * Gives up (undefined, nothing written) when the spare room is spent, when a new port's key or
 * ClusterIP is already another Service's, or when the compile found keys two ports share (then a
 * removal could not tell whose element stays).
 *
 * Cost: O(rows of the changed Services' ports), names hashed for new ones only (about a third of
 * an add: kube-proxy hashes them too); nothing per other Service. Measured
 * (bench/compile/service-update.bench.js, 10 endpoints, shared 2-core machine, 2026-12-03): a
 * Service added ~385 µs at 100 Services and ~144 µs at 30,000, removed ~36 and ~15 µs, against a
 * full build of 53 ms and 12.3 s.
 */
import { InvalidArgumentError } from '../../errors.js';
import { shouldSkipService, type Cluster } from '../../model/types.js';
import { localDetector } from '../local-detector.js';
import type { TableUpdate } from '../mode.js';
import { beginUpdate, endUpdate } from '../table-generation.js';
import type { AddressSet, PairTable } from '../tables/index.js';
import { buildServicePortObjects } from './build.js';
import type { NftablesDataplane } from './dataplane.js';
import { hashedPortNames } from './names.js';
import {
  ChainWord, clearMapValue, ROOM_CHAIN, ROOM_CHAINS, ROOM_SET, ROOM_SETS, U_CHAINS, U_CIDRS, U_CLUSTER_IPS_SET, U_CODE, U_EXCLUSIVE_KEYS, U_PORTS, U_RULES, U_SETS, kRoomStride, portKeys, roomCaps, roomNames,
} from './program.js';
import { writeRoom, type Objects } from './update.js';

interface NewPort {
  readonly sp: number;
  readonly chains: readonly string[];
  readonly sets: readonly string[];
  /** Room words, ROOM_* order. */
  readonly words: readonly number[];
  readonly objects: Objects;
}

export function updateNftablesServices(dp: NftablesDataplane, next: Cluster, added: readonly number[], removed: readonly number[]): TableUpdate | undefined {
  const p = dp.program;
  const { room, used } = p;
  const prev = dp.cluster;
  if (!room || !used || !prev) throw new InvalidArgumentError('nftables: this dataplane was read from a ruleset dump, which has no room for in-place updates; compile it from the cluster instead');
  if (used[U_EXCLUSIVE_KEYS] === 0) return undefined;
  const mapOf = new Map<string, PairTable>();
  p.mapNames.forEach((name, m) => mapOf.set(name, p.maps[m]));
  const clusterIps = used[U_CLUSTER_IPS_SET] >= 0 ? (p.sets[used[U_CLUSTER_IPS_SET]] as AddressSet) : undefined;

  // Plan before the write window opens (names, rules and elements allocate), checking every room.
  // Keys and ClusterIPs a Service removed in this same sync held are free for one added.
  const freed = new Set<string>();
  for (const s of removed) {
    const svc = prev.services[s];
    if (svc === undefined) continue;
    if (svc.clusterIPs.length > 0) freed.add(`ip/${svc.clusterIPs[0]}`);
    for (const sp of svc.ports) {
      portKeys(prev, sp, (maps, k0, k1) => {
        for (const m of maps) freed.add(`${m}/${k0}/${k1}`);
      });
    }
  }
  const det = localDetector(next, dp.node);
  const detectorCidrs = det.byInterface ? 0 : det.cidrs.length;
  const taken = new Set<string>();
  const newKeys = new Map<string, number>();
  const plans: NewPort[] = [];
  let port = used[U_PORTS];
  let chains = used[U_CHAINS];
  let sets = used[U_SETS];
  let rules = used[U_RULES];
  let code = used[U_CODE];
  let cidrs = used[U_CIDRS];
  let newIps = 0;
  for (const s of added) {
    const svc = next.services[s];
    if (svc.clusterIPs.length > 0) {
      const ip = svc.clusterIPs[0];
      const key = `ip/${ip}`;
      if (taken.has(key) || (clusterIps?.has(ip) === true && !freed.has(key))) return undefined;
      taken.add(key);
      newIps++;
    }
    for (const sp of svc.ports) {
      // Appended past every port the tables know (service-change.ts), each within the room words.
      if (sp !== port++ || port * kRoomStride > room.length) return undefined;
      if (shouldSkipService(svc)) continue; // kube-proxy writes nothing for it, as compileProgram gives it no room
      let clash = false;
      portKeys(next, sp, (maps, k0, k1) => {
        for (const m of maps) {
          const key = `${m}/${k0}/${k1}`;
          if (taken.has(key) || (mapOf.get(m)!.find(k0, k1) >= 0 && !freed.has(key))) clash = true;
          taken.add(key);
          newKeys.set(m, (newKeys.get(m) ?? 0) + 1);
        }
      });
      if (clash) return undefined;
      const sport = next.ports[sp];
      const names = hashedPortNames(next, sport);
      const slots = roomNames(next, sport);
      const [r, c, k] = roomCaps(next, sport, detectorCidrs);
      plans.push({
        sp,
        chains: slots.chains,
        sets: slots.sets,
        words: [chains, slots.chains.length, rules, r, code, c, cidrs, k, sets, slots.sets.length],
        objects: buildServicePortObjects(next, dp.node, sport, names),
      });
      chains += slots.chains.length;
      sets += slots.sets.length;
      rules += r;
      code += c;
      cidrs += k;
    }
  }
  let fits = chains <= p.chainLive.length && sets <= p.setLive.length && rules <= p.ruleChain.length && code <= p.code.length && cidrs * 2 <= p.cidrs.length;
  for (const [m, n] of newKeys) fits &&= (mapOf.get(m)!.size + n) * 2 <= mapOf.get(m)!.capacity;
  if (clusterIps && (clusterIps.size + newIps) * 2 > clusterIps.keys.length) fits = false;
  if (!fits) return undefined;

  let written = 0;
  beginUpdate(p.generation);
  try {
    // Removals first: a key a gone Service held is free for a Service added in the same sync.
    for (const s of removed) {
      const svc = prev.services[s];
      if (svc === undefined) continue;
      for (const sp of svc.ports) {
        const w = sp * kRoomStride;
        if (sp >= used[U_PORTS] || room[w + ROOM_CHAINS] < 0) continue;
        for (let c = room[w + ROOM_CHAIN]; c < room[w + ROOM_CHAIN] + room[w + ROOM_CHAINS]; c++) {
          const row = c * ChainWord.STRIDE;
          if (p.chainLive[c] !== 0) written++;
          p.chainLive[c] = 0;
          p.chainRows[row + ChainWord.RULE_COUNT] = 0;
          p.chainRows[row + ChainWord.END] = p.chainRows[row + ChainWord.START];
        }
        p.setLive.fill(0, room[w + ROOM_SET], room[w + ROOM_SET] + room[w + ROOM_SETS]);
        portKeys(prev, sp, (maps, k0, k1) => {
          for (const m of maps) if (mapOf.get(m)!.delete(k0, k1)) written++;
        });
        room.fill(-1, w, w + kRoomStride);
      }
      if (svc.clusterIPs.length > 0 && clusterIps?.delete(svc.clusterIPs[0])) written++;
    }
    for (const { sp, chains: chainNames, sets: setNames, words, objects } of plans) {
      const w = sp * kRoomStride;
      for (let k = 0; k < kRoomStride; k++) room[w + k] = words[k];
      const chain0 = words[ROOM_CHAIN];
      for (let k = 0; k < chainNames.length; k++) {
        (p.chainNames as string[])[chain0 + k] = chainNames[k];
        p.chainRows[(chain0 + k) * ChainWord.STRIDE + ChainWord.SERVICE_PORT] = sp;
      }
      const timeout = next.services[next.ports[sp].service].affinity.timeoutSeconds;
      for (let k = 0; k < setNames.length; k++) {
        (p.setNames as string[])[words[ROOM_SET] + k] = setNames[k];
        p.setTimeout[words[ROOM_SET] + k] = timeout;
      }
      // Reserved, absent (op 0) until writeRoom writes the port's elements, as compileProgram reserves them.
      portKeys(next, sp, (maps, k0, k1) => {
        for (const m of maps) {
          const t = mapOf.get(m)!;
          clearMapValue(t, t.slotFor(k0, k1));
        }
      });
      written += writeRoom(p, next, sp, objects);
    }
    for (const s of added) {
      const svc = next.services[s];
      if (svc.clusterIPs.length > 0 && clusterIps?.add(svc.clusterIPs[0])) written++;
    }
    used[U_PORTS] = port;
    used[U_CHAINS] = chains;
    used[U_SETS] = sets;
    used[U_RULES] = rules;
    used[U_CODE] = code;
    used[U_CIDRS] = cidrs;
  } finally {
    endUpdate(p.generation);
  }
  dp.cluster = next;
  return { entriesWritten: written };
}

