/**
 * (owner, client address) -> a remembered value and a time stamp, in a fixed-capacity table that
 * never allocates: the per-client memory of a proxy mode, kept apart from the compiled (shared,
 * read-only) tables because every dataplane instance has its own.
 *
 * - IPVS persistence templates (ip_vs_sched_persist in ip_vs_core.c: one per (virtual service,
 *   client)) and the userspace proxy's affinity map (affinityMap in
 *   pkg/proxy/userspace/roundrobin.go: one per (service port, client)): value = the chosen real
 *   server, stamp = expiry, refreshed by each new connection; expired entries are reused.
 * - nftables' `affinity-…` sets (`flags dynamic,timeout`, `update @set { ip saddr }`): no value,
 *   stamp = expiry, not refreshed by a lookup.
 * - iptables' `-m recent` lists (xt_recent): no value, stamp = last seen; each rule brings its own
 *   `--seconds`, so liveness is the caller's test.
 *
 * Linear probing inside a window of `window` slots from the key's home slot. When the window is
 * full, the entry with the lowest stamp goes (closest to expiry, or least recently seen: what
 * xt_recent evicts; a real node would run out of memory or refuse instead, and kdp counts
 * `evictions`). Entries are never deleted one by one, so no key sits past an empty slot in its
 * window and a probe stops at the first empty one.
 *
 * Where a key lands is part of each mode's behaviour (which entry a full window evicts), so each
 * keeps its own placement hash (`hash`, net/hash.ts).
 * Time is the table's clock (`now`, one f64 cell of seconds, as ConntrackTable's), which its owner
 * moves to the packet's time before asking: a double passed as an argument to a call the JIT does
 * not inline is boxed into a heap number, once per first packet that met an affinity rule.
 * `lookup`/`claim`: one home-slot probe in the common case, no allocation.
 */
import { fibonacciPair16, mixPairBits, murmurPair } from '../../net/hash.js';

export interface ExpiringTableOptions {
  /** Slots, a power of two. */
  readonly capacity: number;
  /** Slots probed from a key's home slot (default 16). */
  readonly window?: number;
  /**
   * Where a key lands: mixPair(client, owner + 1) (IPVS, userspace), murmurPair(client, owner >>> 4)
   * + (owner & 15) (nftables: a client's keys in 16 consecutive owners, as a Service port's
   * affinity sets are numbered (program.ts, a port's room), take consecutive slots, so the run of
   * set lookups kube-proxy's affinity rules make reads one or two lines, not one line a set) or
   * fibonacciPair16(client, owner + 1) (xt_recent).
   */
  readonly hash: 'mix-pair' | 'murmur-block' | 'fibonacci-16';
  /** A lookup hit pushes the stamp to `now + ttl` (default false). */
  readonly refreshOnHit?: boolean;
  /** A new key may take an expired entry (stamp <= now) before an eviction is needed (default false). */
  readonly reuseExpired?: boolean;
  /** Keep a value per entry (default false: a set). */
  readonly values?: boolean;
}

export class ExpiringTable {
  readonly mask: number;
  readonly window: number;
  readonly hash: ExpiringTableOptions['hash'];
  readonly refreshOnHit: boolean;
  readonly reuseExpired: boolean;
  /** -1 marks an empty slot. */
  readonly owner: Int32Array;
  readonly client: Uint32Array;
  readonly value: Int32Array;
  readonly stamp: Float64Array;
  /** The table's clock, one f64 of seconds: lookup, claim and remember read it; hot callers write `clock[0]`. */
  readonly clock: Float64Array;
  evictions = 0;

  constructor(options: ExpiringTableOptions) {
    const { capacity } = options;
    const window = options.window ?? 16;
    if (!Number.isInteger(window) || window < 1) throw new RangeError(`options.window must be a positive integer, got ${window}`);
    if (!Number.isInteger(capacity) || capacity < window || (capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`options.capacity must be a power of two >= the probe window (${window}), got ${capacity}`);
    }
    this.mask = capacity - 1;
    this.window = window;
    this.hash = options.hash;
    this.refreshOnHit = options.refreshOnHit ?? false;
    this.reuseExpired = options.reuseExpired ?? false;
    this.owner = new Int32Array(capacity).fill(-1);
    this.client = new Uint32Array(capacity);
    this.value = new Int32Array(options.values ? capacity : 0);
    this.stamp = new Float64Array(capacity);
    this.clock = new Float64Array(1);
  }

  /** The clock's time in seconds (`clock[0]`). */
  get now(): number {
    return this.clock[0];
  }

  set now(seconds: number) {
    this.clock[0] = seconds;
  }

  get capacity(): number {
    return this.mask + 1;
  }

  private home(owner: number, client: number): number {
    switch (this.hash) {
      case 'mix-pair':
        return mixPairBits(client, owner + 1) & this.mask;
      case 'murmur-block':
        return (murmurPair(client, owner >>> 4) + (owner & 15)) & this.mask;
      default:
        return fibonacciPair16(client, owner + 1) & this.mask;
    }
  }

  /** The key's slot, live or not, or -1. */
  find(owner: number, client: number): number {
    const { mask, window } = this;
    const owners = this.owner;
    const clients = this.client;
    const c = client >>> 0;
    let s = this.home(owner, c);
    for (let n = 0; n < window; n++) {
      const o = owners[s];
      if (o === owner && clients[s] === c) return s;
      if (o === -1) return -1;
      s = (s + 1) & mask;
    }
    return -1;
  }

  /** The key's slot if its stamp is an expiry later than `now` (pushed to `now + ttl` when refreshOnHit), else -1. */
  lookup(owner: number, client: number, ttl: number): number {
    const s = this.find(owner, client);
    if (s < 0) return -1;
    const now = this.clock[0];
    if (!(now < this.stamp[s])) return -1;
    if (this.refreshOnHit) this.stamp[s] = now + ttl;
    return s;
  }

  /**
   * The slot for the key: its own, else the first empty one (or expired one, with reuseExpired),
   * else the lowest stamp in the window (an eviction). Owner and client are written; the stamp
   * and value are the caller's to write.
   */
  claim(owner: number, client: number): number {
    const { mask, window, reuseExpired } = this;
    const now = this.clock[0];
    const owners = this.owner;
    const clients = this.client;
    const stamp = this.stamp;
    const c = client >>> 0;
    let s = this.home(owner, c);
    let free = -1;
    let oldest = s;
    for (let n = 0; n < window; n++) {
      const o = owners[s];
      if (o === owner && clients[s] === c) return s;
      if (o === -1) {
        if (free < 0) free = s;
        break;
      }
      if (free < 0 && reuseExpired && stamp[s] <= now) free = s;
      if (stamp[s] < stamp[oldest]) oldest = s;
      s = (s + 1) & mask;
    }
    if (free < 0) {
      free = oldest;
      this.evictions++;
    }
    owners[free] = owner;
    clients[free] = c;
    return free;
  }

  /** Remembers `value` for the key until `now + ttl`. */
  remember(owner: number, client: number, value: number, ttl: number): void {
    const s = this.claim(owner, client);
    if (this.value.length > 0) this.value[s] = value;
    this.stamp[s] = this.clock[0] + ttl;
  }

  clear(): void {
    this.owner.fill(-1);
  }

  get bytes(): number {
    return this.owner.byteLength + this.client.byteLength + this.value.byteLength + this.stamp.byteLength;
  }
}
