/**
 * Client-IP affinity memory shared by IPVS persistence templates and the userspace proxy's
 * affinity map: (owner, client IP) -> chosen slot, with an expiry time.
 *
 * IPVS keeps one persistence template per (virtual service, client) (ip_vs_sched_persist in
 * ip_vs_core.c); the userspace proxy keeps one per (service port, client) (affinityMap in
 * pkg/proxy/userspace/roundrobin.go). Either way an entry is refreshed by each new connection.
 * The table is fixed-size open addressing; expired entries are reused, and when a probe window is
 * full the oldest entry in it is evicted (a real node would run out of memory instead; kdp counts it).
 */
import { fmix32 } from '../../net/hash.js';

const kWindow = 16;

export class AffinityTable {
  readonly mask: number;
  readonly owner: Int32Array;
  readonly client: Uint32Array;
  readonly slot: Int32Array;
  readonly expires: Float64Array;
  evictions = 0;

  constructor(capacityPow2: number) {
    if (capacityPow2 < 16 || (capacityPow2 & (capacityPow2 - 1)) !== 0) throw new RangeError('options.affinityCapacity must be a power of two >= 16');
    this.mask = capacityPow2 - 1;
    this.owner = new Int32Array(capacityPow2).fill(-1);
    this.client = new Uint32Array(capacityPow2);
    this.slot = new Int32Array(capacityPow2);
    this.expires = new Float64Array(capacityPow2);
  }

  private home(owner: number, client: number): number {
    return fmix32((Math.imul(owner + 1, 0x9e3779b1) ^ client) >>> 0) & this.mask;
  }

  /** The remembered slot if live at `now` (and refreshes it to `now + ttl`), else -1. */
  lookup(owner: number, client: number, now: number, ttl: number): number {
    let i = this.home(owner, client);
    for (let n = 0; n < kWindow; n++) {
      if (this.owner[i] === owner && this.client[i] === client >>> 0) {
        if (now < this.expires[i]) {
          this.expires[i] = now + ttl;
          return this.slot[i];
        }
        return -1;
      }
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  remember(owner: number, client: number, slot: number, now: number, ttl: number): void {
    let i = this.home(owner, client);
    let free = -1;
    let oldest = i;
    for (let n = 0; n < kWindow; n++) {
      if (this.owner[i] === owner && this.client[i] === client >>> 0) {
        free = i;
        break;
      }
      if (free < 0 && (this.owner[i] === -1 || this.expires[i] <= now)) free = i;
      if (this.expires[i] < this.expires[oldest]) oldest = i;
      i = (i + 1) & this.mask;
    }
    if (free < 0) {
      free = oldest;
      this.evictions++;
    }
    this.owner[free] = owner;
    this.client[free] = client >>> 0;
    this.slot[free] = slot;
    this.expires[free] = now + ttl;
  }

  clear(): void {
    this.owner.fill(-1);
  }

  get bytes(): number {
    return this.owner.byteLength + this.client.byteLength + this.slot.byteLength + this.expires.byteLength;
  }
}
