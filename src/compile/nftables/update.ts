/**
 * An endpoint change written into a compiled nftables program in place: what kube-proxy's
 * partial sync writes for a changed Service port (its chains flushed and refilled, its elements of
 * service-ips, service-nodeports and the no-endpoint maps added or deleted), as kdp's arrays hold
 * it. compileProgram gave each port room for anything its endpoints can come to need (chains,
 * rules, matches, CIDRs, numgen targets, affinity sets, map keys), so the port's objects, built
 * alone by build.ts (buildServicePortObjects), are written over its room and nothing else moves.
 * decide.ts reads the same arrays, so no closure goes stale; writes happen under the program's
 * seqlock (table-generation.ts), which readers in other threads check.
 *
 * What it does not carry over: an affinity set dropped and made again keeps this instance's
 * entries (the kernel's new set starts empty), and a reader attached to the shared image knows only
 * the rule comments the compile saw (NftProgram.ruleStrings; explain only).
 * Cost: O(rows of the changed ports) to build and write; nothing per Service. Names are read back
 * from the port's room (roomPortNames), not hashed again: a SHA-256 per endpoint chain, numgen
 * target and affinity set was three quarters of the update (profile of 2026-12-03). Measured
 * (src/replay/sync-cost.ts's median of 7, cells of 10, 100 and 30,000 Services in one process):
 * ~119 µs at 100 and ~59 µs at 30,000, from ~173 and ~279 µs; the first calls run unoptimised.
 */
import { InvalidArgumentError } from '../../errors.js';
import type { Cluster } from '../../model/types.js';
import type { TableUpdate } from '../mode.js';
import { beginUpdate, endUpdate } from '../table-generation.js';
import { buildServicePortObjects } from './build.js';
import type { NftablesDataplane } from './dataplane.js';
import {
  ActionOp, ChainWord, clearMapValue, ROOM_CHAIN, ROOM_CHAINS, ROOM_CIDR, ROOM_CIDR_CAP, ROOM_CODE, ROOM_CODE_CAP, ROOM_RULE, ROOM_RULE_CAP, ROOM_SET, ROOM_SETS, RuleEncoder, checkRoom, kRoomPortChains, kRoomStride, linkTargets, roomKeys, roomPortNames, ruleWords, writeMapVerdict, type NftProgram,
} from './program.js';
import type { MapElement, Rule } from './ruleset.js';

export type Objects = ReturnType<typeof buildServicePortObjects>;

export function updateNftablesEndpoints(dp: NftablesDataplane, next: Cluster, changedServices: readonly number[]): TableUpdate {
  const p = dp.program;
  const room = p.room;
  if (!room) throw new InvalidArgumentError('nftables: this dataplane was read from a ruleset dump, which has no room for in-place updates; compile it from the cluster instead');
  // Built before the write window opens, so that readers only ever wait for the stores.
  const work: [number, Objects][] = [];
  for (const s of changedServices) {
    for (const sp of next.services[s].ports) {
      if (room[sp * kRoomStride + ROOM_CHAINS] >= 0) work.push([sp, buildServicePortObjects(next, dp.node, next.ports[sp], roomPortNames(p, next, sp))]);
    }
  }
  let written = 0;
  beginUpdate(p.generation);
  try {
    for (const [sp, objects] of work) written += writeRoom(p, next, sp, objects);
  } finally {
    endUpdate(p.generation);
  }
  dp.cluster = next;
  return { entriesWritten: written };
}

/**
 * The port's objects over its room: every chain slot rewritten (spare ones emptied), then its map
 * keys (each reserved: update-services.ts reserves a new port's before it writes).
 */
export function writeRoom(p: NftProgram, cluster: Cluster, sp: number, objects: Objects): number {
  const room = p.room!;
  const w = sp * kRoomStride;
  const chain0 = room[w + ROOM_CHAIN];
  const nChains = room[w + ROOM_CHAINS];
  const local = new Map<string, number>();
  for (let c = chain0; c < chain0 + nChains; c++) local.set(p.chainNames[c], c);
  const chainId = (name: string): number => {
    const c = local.get(name);
    if (c !== undefined) return c;
    // The fixed chains a port's rules name (mark-for-masquerade, reject-chain): a few dozen.
    for (let f = 0; f < p.fixedChains; f++) if (p.chainNames[f] === name) return f;
    throw new InvalidArgumentError(`nftables: Service port ${sp}'s rules name chain "${name}", which has no slot`);
  };
  const set0 = room[w + ROOM_SET];
  const nSets = room[w + ROOM_SETS];
  const setId = (name: string): number => {
    for (let s = set0; s < set0 + nSets; s++) if (p.setNames[s] === name) return s;
    throw new InvalidArgumentError(`nftables: Service port ${sp}'s rules name set "${name}", which has no slot`);
  };
  const mapId = (name: string): number => p.mapNames.indexOf(name);
  for (const name of objects.chains.keys()) chainId(name); // every chain has its slot, before anything is written
  const enc = new RuleEncoder(p, cluster, chainId, setId, mapId);
  const at = { ri: room[w + ROOM_RULE], pc: room[w + ROOM_CODE], ci: room[w + ROOM_CIDR] };
  checkFits(objects.chains.values(), room[w + ROOM_RULE_CAP], room[w + ROOM_CODE_CAP], room[w + ROOM_CIDR_CAP], sp);
  let written = 0;
  for (let c = chain0; c < chain0 + nChains; c++) {
    const rules = objects.chains.get(p.chainNames[c]);
    const row = c * ChainWord.STRIDE;
    p.chainRows[row + ChainWord.START] = at.pc;
    p.chainRows[row + ChainWord.RULE_COUNT] = rules ? rules.length : 0;
    p.chainLive[c] = rules ? 1 : 0;
    if (rules) for (const r of rules) enc.rule(r, c, sp, at);
    p.chainRows[row + ChainWord.END] = at.pc;
    written++;
  }
  checkRoom(room, sp, at);
  linkTargets(p, chain0, chain0 + nChains);
  written += at.ri - room[w + ROOM_RULE];
  // An affinity set lives with its endpoint chain (roomNames lists them in the same order, after
  // the port's own chains).
  for (let k = 0; k < nSets; k++) p.setLive[set0 + k] = p.chainLive[chain0 + kRoomPortChains + k];

  for (let m = 0; m < p.maps.length; m++) {
    const t = p.maps[m];
    const name = p.mapNames[m];
    roomKeys(cluster, name, sp, (k0, k1) => {
      clearMapValue(t, t.find(k0, k1));
    });
    const elements: readonly MapElement[] = objects.elements.get(name) ?? [];
    for (const e of elements) {
      const s = t.find(e.ip, (e.proto << 16) | e.port); // a proto . port element's ip is 0
      if (s < 0) throw new InvalidArgumentError(`nftables: Service port ${sp}'s element ${e.ip}:${e.port} in @${name} has no reserved key`);
      const [op, arg] = enc.verdictOp(e.verdict);
      // As compileProgram: the port of the chain it goes to, else the one its comment names (this one).
      const port = op === ActionOp.GOTO || op === ActionOp.JUMP ? p.chainRows[arg * ChainWord.STRIDE + ChainWord.SERVICE_PORT] : -1;
      writeMapVerdict(t, s, op, arg, port < 0 && e.comment !== undefined ? sp : port, p);
      written++;
    }
  }
  return written;
}

/** Throws before any write when the port's rules would not fit its room (a wrong bound in roomCaps). */
function checkFits(chains: Iterable<readonly Rule[]>, rules: number, words: number, cidrs: number, sp: number): void {
  let r = 0;
  let k = 0;
  let c = 0;
  for (const list of chains) {
    for (const rule of list) {
      r++;
      k += ruleWords(rule);
      for (const x of rule.matches) if (x.k === 'addr' && x.cidrs.length > 1) c += x.cidrs.length; // one is inline (MatchOp.ADDR1)
    }
  }
  if (r > rules || k > words || c > cidrs) throw new InvalidArgumentError(`nftables: Service port ${sp}'s rules outgrew the room compileProgram sized for them (a bug in roomCaps)`);
}
