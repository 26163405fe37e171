/**
 * Open-addressing hash tables over typed arrays (power-of-two capacity, linear probing, load
 * factor <= 1/2), the shape of the kernel's nft_set_hash for kube-proxy's verdict maps: one
 * probe sequence per packet whatever the number of services.
 */

/** Mixes a two-word key to a slot (murmur3 finaliser over a multiplicative combine). */
function mix(k0: number, k1: number): number {
  let h = Math.imul(k0 ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(k1 + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

function capacityFor(n: number): number {
  let c = 8;
  while (c < n * 2) c <<= 1;
  return c;
}

/**
 * Verdict map: key (word0, word1) -> (op, arg, servicePort). For `ipv4_addr . inet_proto .
 * inet_service` word0 is the address and word1 `proto << 16 | port`; for `inet_proto .
 * inet_service` word0 is 0.
 */
export class VerdictTable {
  readonly mask: number;
  readonly keys: Uint32Array;
  readonly values: Int32Array;
  readonly used: Uint8Array;
  size = 0;

  constructor(expected: number) {
    const cap = capacityFor(expected);
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap * 2);
    this.values = new Int32Array(cap * 3);
    this.used = new Uint8Array(cap);
  }

  set(k0: number, k1: number, op: number, arg: number, servicePort: number): void {
    const { mask, keys, used, values } = this;
    let s = mix(k0, k1) & mask;
    while (used[s] !== 0 && (keys[s * 2] !== k0 >>> 0 || keys[s * 2 + 1] !== k1 >>> 0)) s = (s + 1) & mask;
    if (used[s] === 0) this.size++;
    used[s] = 1;
    keys[s * 2] = k0;
    keys[s * 2 + 1] = k1;
    values[s * 3] = op;
    values[s * 3 + 1] = arg;
    values[s * 3 + 2] = servicePort;
  }

  /** Slot index, or -1. `probes` (if given) counts slots looked at. */
  find(k0: number, k1: number): number {
    const { mask, keys, used } = this;
    let s = mix(k0, k1) & mask;
    while (used[s] !== 0) {
      if (keys[s * 2] === k0 && keys[s * 2 + 1] === k1) return s;
      s = (s + 1) & mask;
    }
    return -1;
  }

  get bytes(): number {
    return this.keys.byteLength + this.values.byteLength + this.used.byteLength;
  }
}

/** A static set of u32 addresses (cluster-ips, nodeport-ips). */
export class AddressSet {
  readonly mask: number;
  readonly keys: Uint32Array;
  readonly used: Uint8Array;

  constructor(elements: readonly number[]) {
    const cap = capacityFor(elements.length);
    this.mask = cap - 1;
    this.keys = new Uint32Array(cap);
    this.used = new Uint8Array(cap);
    for (const e of elements) {
      let s = mix(e, 0) & this.mask;
      while (this.used[s] !== 0 && this.keys[s] !== e >>> 0) s = (s + 1) & this.mask;
      this.used[s] = 1;
      this.keys[s] = e;
    }
  }

  has(ip: number): boolean {
    const { mask, keys, used } = this;
    let s = mix(ip, 0) & mask;
    while (used[s] !== 0) {
      if (keys[s] === ip) return true;
      s = (s + 1) & mask;
    }
    return false;
  }

  get bytes(): number {
    return this.keys.byteLength + this.used.byteLength;
  }
}

const kAffinityProbe = 16;

/**
 * Every affinity set of one dataplane (`affinity-…` sets with `flags dynamic,timeout`) in one
 * fixed-capacity table keyed by (set, source address), so `update @set { ip saddr }` never
 * allocates. An entry is live while `now < expiry`. When the probe window is full, the entry
 * closest to expiry is evicted, as a full dynamic set would refuse a new entry either way.
 */
export class AffinityTable {
  readonly mask: number;
  readonly set: Int32Array;
  readonly ip: Uint32Array;
  readonly expiry: Float64Array;

  constructor(capacity: number) {
    const cap = capacityFor(capacity / 2);
    this.mask = cap - 1;
    this.set = new Int32Array(cap).fill(-1);
    this.ip = new Uint32Array(cap);
    this.expiry = new Float64Array(cap);
  }

  has(setId: number, ip: number, now: number): boolean {
    const { mask, set, expiry } = this;
    let s = mix(ip, setId) & mask;
    for (let i = 0; i < kAffinityProbe; i++, s = (s + 1) & mask) {
      if (set[s] === -1) return false;
      if (set[s] === setId && this.ip[s] === ip) return now < expiry[s];
    }
    return false;
  }

  update(setId: number, ip: number, now: number, timeout: number): void {
    const { mask, set, expiry } = this;
    let s = mix(ip, setId) & mask;
    let victim = s;
    for (let i = 0; i < kAffinityProbe; i++, s = (s + 1) & mask) {
      if (set[s] === -1 || (set[s] === setId && this.ip[s] === ip)) {
        victim = s;
        break;
      }
      if (expiry[s] < expiry[victim]) victim = s;
    }
    set[victim] = setId;
    this.ip[victim] = ip;
    expiry[victim] = now + timeout;
  }

  clear(): void {
    this.set.fill(-1);
  }

  get bytes(): number {
    return this.set.byteLength + this.ip.byteLength + this.expiry.byteLength;
  }
}
