/**
 * A static set of IPv4 addresses: ipset's hash:ip as IPVS mode uses it (KUBE-IPVS-IPS, the node
 * port addresses), nftables' `type ipv4_addr` sets (cluster-ips, nodeport-ips) and the userspace
 * proxy's local addresses. Built once when rules are compiled, then only read (shared zero-copy by
 * replay workers, see table-image.ts).
 *
 * Layout: `keys` (u32) beside a `used` byte per slot (0.0.0.0 may be a member), linear probing,
 * load <= 1/2. 5 bytes per slot, 10-20 per address.
 * `has`: ~1.5 probes per hit, one cache line in the common case, no allocation; with a prefix
 * filter, an address of a /16 no member is in reads one word of it and no slot.
 */
import { fmix32Bits } from '../../net/hash.js';
import { capacityFor } from './capacity.js';
import { addPrefix, mayHold, newPrefixFilter } from './prefix-filter.js';

export class AddressSet {
  readonly mask: number;
  readonly keys: Uint32Array;
  readonly used: Uint8Array;
  /** With `filtered`: the /16s of the members (prefix-filter.ts), so a lookup outside them reads no slot. */
  readonly prefixes: Uint32Array | null;
  size = 0;

  constructor(expected: number, filtered = false) {
    const cap = capacityFor(expected);
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap);
    this.used = new Uint8Array(cap);
    this.prefixes = filtered ? newPrefixFilter() : null;
  }

  static of(addresses: readonly number[]): AddressSet {
    const set = new AddressSet(addresses.length);
    for (const ip of addresses) set.add(ip);
    return set;
  }

  /** Adds `ip`; false when it was a member already. */
  add(ip: number): boolean {
    const { mask, keys, used } = this;
    const key = ip >>> 0;
    let s = fmix32Bits(key) & mask;
    while (used[s] === 1) {
      if (keys[s] === key) return false;
      s = (s + 1) & mask;
    }
    if (this.prefixes !== null) addPrefix(this.prefixes, key);
    used[s] = 1;
    keys[s] = key;
    this.size++;
    return true;
  }

  has(ip: number): boolean {
    const { mask, keys, used, prefixes } = this;
    const key = ip >>> 0;
    if (prefixes !== null && !mayHold(prefixes, key)) return false;
    let s = fmix32Bits(key) & mask;
    while (used[s] === 1) {
      if (keys[s] === key) return true;
      s = (s + 1) & mask;
    }
    return false;
  }

  /**
   * Removes `ip`, if a member, by backward shift (as PairTable.delete): no tombstone is left. A
   * reader beside it holds the table's seqlock. Cost: the run after the address (~1.5 slots).
   */
  delete(ip: number): boolean {
    const { mask, keys, used } = this;
    const key = ip >>> 0;
    let s = fmix32Bits(key) & mask;
    while (used[s] === 1 && keys[s] !== key) s = (s + 1) & mask;
    if (used[s] === 0) return false;
    let hole = s;
    for (let j = (s + 1) & mask; used[j] === 1; j = (j + 1) & mask) {
      const home = fmix32Bits(keys[j]) & mask;
      // The address at j may fill the hole when the hole lies on its probe path, [home, j).
      if (((j - home) & mask) < ((j - hole) & mask)) continue;
      keys[hole] = keys[j];
      hole = j;
    }
    used[hole] = 0;
    keys[hole] = 0;
    this.size--;
    return true;
  }

  get bytes(): number {
    return this.keys.byteLength + this.used.byteLength + (this.prefixes?.byteLength ?? 0);
  }
}
