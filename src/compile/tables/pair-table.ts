/**
 * A two-word key -> a row of Int32 values, in open addressing: the shape of the kernel's service
 * lookups that are one hash probe whatever the number of Services. IPVS's virtual-service table
 * (ip_vs_svc_hashkey in ip_vs_ctl.c: key (address, port << 8 | protocol), row = the VS index)
 * and nftables' verdict maps (nft_set_hash: key (address, protocol << 16 | port), row = verdict,
 * chain, service port) are plain instances.
 *
 * Layout: slot s is `stride` words of `rows` from s * stride: the key's two words (PairWord.K0,
 * K1, as int32 bits) then its `width` values (from PairWord.VALUE; `at(s)`), the stride the power
 * of two at or above width + 2. A hit reads its key and its values in one cache line, as the
 * kernel's hash element holds key and data together (nft_hash_elem, ip_vs_service): keys and
 * values in two arrays cost a line each, and a first packet at 30k Services missed on both
 * (lines.bench: a line less a decision for IPVS, Cilium and nftables; IPVS's service-nat stage
 * took 264 ns a first packet at 30k Services, not 278: nftables/decide.ts says how measured).
 * A row of 16 bytes or less never straddles a line (table-image.ts starts an array
 * on 16 bytes); a 32-byte one does at most half the time. Linear probing, load <= 1/2. A K1 of 0
 * marks an empty slot, which no real key has (its protocol is never 0).
 * `find`: ~1.4-1.5 probes per hit at 100 to 30k Services (BENCHMARKS.md (b), ipvs "hash steps per
 * decision"), one random read (~180 ns on the benchmark machine) when the table is out of cache;
 * locals, `& mask`, no allocation. With a prefix filter, a key whose first word lies in a /16 that
 * no key's first word is in reads one word of the filter and no slot.
 */
import { InvalidArgumentError } from '../../errors.js';
import { mixPairBits } from '../../net/hash.js';
import { capacityFor, nextPow2 } from './capacity.js';
import { addPrefix, mayHold, newPrefixFilter } from './prefix-filter.js';

/**
 * A (port, protocol) pair as a key's second word: (port << 8 | protocol), never 0 (the protocol is
 * 6, 17 or 132). IPVS's virtual-service key and Cilium's backend key (with the address first).
 */
export function portProtoKey(proto: number, port: number): number {
  return ((port << 8) | (proto & 0xff)) >>> 0;
}

/** The words of a PairTable slot: the key, then the values. */
export const enum PairWord {
  K0 = 0,
  K1 = 1,
  VALUE = 2,
}

/** Words a slot of `width` values takes: the power of two at or above width + 2. */
export function pairStride(width: number): number {
  return nextPow2(width + PairWord.VALUE);
}

export class PairTable {
  readonly capacity: number;
  readonly mask: number;
  /** Int32 values per key. */
  readonly width: number;
  /** Words per slot (pairStride). */
  readonly stride: number;
  /** The slots, `stride` words each: K0, K1, then the values (PairWord). */
  readonly rows: Int32Array;
  /** With `filtered`: the /16s of the keys' first words (prefix-filter.ts), so a lookup outside them reads no slot. */
  readonly prefixes: Uint32Array | null;
  size = 0;
  /** Slots looked at by the last `find` (1 for a hit in its home slot): the caller charges them as work. */
  lastProbes = 0;

  constructor(expected: number, width: number, filtered = false) {
    this.capacity = capacityFor(expected);
    this.mask = this.capacity - 1;
    this.width = width;
    this.stride = pairStride(width);
    this.rows = new Int32Array(this.capacity * this.stride);
    this.prefixes = filtered ? newPrefixFilter() : null;
  }

  /** The word of `rows` where slot `s`'s values start. */
  at(s: number): number {
    return s * this.stride + PairWord.VALUE;
  }

  /** Whether slot `s` holds a key. */
  occupied(s: number): boolean {
    return this.rows[s * this.stride + PairWord.K1] !== 0;
  }

  /** Slot `s`'s key's first word, as a u32. */
  key0(s: number): number {
    return this.rows[s * this.stride + PairWord.K0] >>> 0;
  }

  /** Slot `s`'s key's second word, as a u32 (0: an empty slot). */
  key1(s: number): number {
    return this.rows[s * this.stride + PairWord.K1] >>> 0;
  }

  /** The key's slot, or -1; sets `lastProbes` (0 when the prefix filter rules the key out). */
  find(k0: number, k1: number): number {
    const s = this.home(k0, k1);
    if (s < 0) {
      this.lastProbes = 0;
      return -1;
    }
    return this.findFrom(s, k0, k1);
  }

  /**
   * The key's slot, or -1, probing from its home slot `s` (home()'s, not -1); sets `lastProbes`.
   * A prefetch that read the home slots for a frame finds with it where a key sits past its
   * home, whose row names another key's data (~7 % of nftables' service-ips keys).
   */
  findFrom(s: number, k0: number, k1: number): number {
    const rows = this.rows;
    const mask = this.mask;
    const stride = this.stride;
    const a = k0 | 0;
    const b = k1 | 0;
    let probes = 1;
    for (;;) {
      const o = s * stride;
      const k = rows[o + PairWord.K1];
      if (k === 0) {
        this.lastProbes = probes;
        return -1;
      }
      if (k === b && rows[o + PairWord.K0] === a) {
        this.lastProbes = probes;
        return s;
      }
      s = (s + 1) & mask;
      probes++;
    }
  }

  /**
   * The key's home slot, computed without reading a slot (-1 when the prefix filter rules the key
   * out): where `find` starts, and what a prefetch reads for a frame before the finds.
   */
  home(k0: number, k1: number): number {
    const prefixes = this.prefixes;
    if (prefixes !== null && !mayHold(prefixes, k0 >>> 0)) return -1;
    return mixPairBits(k0 >>> 0, k1 >>> 0) & this.mask;
  }

  /** The key's slot, taking a free one for a new key (`size` tells which); its values are the caller's to write. */
  slotFor(k0: number, k1: number): number {
    const { rows, mask, stride } = this;
    const a = k0 | 0;
    const b = k1 | 0;
    if (b === 0) throw new InvalidArgumentError('PairTable: a key whose second word is 0 cannot be stored (0 marks an empty slot)');
    let s = mixPairBits(a >>> 0, b >>> 0) & mask;
    for (;;) {
      const o = s * stride;
      const k = rows[o + PairWord.K1];
      if (k === 0) {
        if ((this.size + 1) * 2 > this.capacity) throw new InvalidArgumentError(`PairTable: more keys than the ${this.capacity / 2} it was sized for`);
        if (this.prefixes !== null) addPrefix(this.prefixes, a >>> 0);
        rows[o + PairWord.K0] = a;
        rows[o + PairWord.K1] = b;
        this.size++;
        return s;
      }
      if (k === b && rows[o + PairWord.K0] === a) return s;
      s = (s + 1) & mask;
    }
  }

  /**
   * Removes the key, if present, by backward shift (Knuth's Algorithm R for linear probing): each
   * later key of the run moves into the hole when its home slot allows, so no tombstone is left and
   * `find` stays exact. A reader beside it must hold the table's seqlock (table-generation.ts): a key
   * may be between two slots for a moment. Cost: the length of the run after the key (~1.5 slots at load 1/2).
   */
  delete(k0: number, k1: number): boolean {
    const s = this.find(k0, k1);
    if (s < 0) return false;
    const { rows, mask, stride } = this;
    let hole = s;
    for (let j = (s + 1) & mask; rows[j * stride + PairWord.K1] !== 0; j = (j + 1) & mask) {
      const home = mixPairBits(rows[j * stride + PairWord.K0] >>> 0, rows[j * stride + PairWord.K1] >>> 0) & mask;
      // The key at j may fill the hole when the hole lies on its probe path, [home, j).
      if (((j - home) & mask) < ((j - hole) & mask)) continue;
      rows.copyWithin(hole * stride, j * stride, (j + 1) * stride);
      hole = j;
    }
    rows.fill(0, hole * stride, (hole + 1) * stride);
    this.size--;
    return true;
  }

  get bytes(): number {
    return this.rows.byteLength + (this.prefixes?.byteLength ?? 0);
  }
}
