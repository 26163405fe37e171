/**
 * The connected sockets of one node's pods and host, for a mode that balances at the socket
 * (Cilium's socket LB): each remembers the destination its application asked for and the backend
 * connect() (or the first sendmsg()) gave it. The kernel keeps this in the socket itself (its
 * peer address) and, for UDP, in Cilium's `cilium_lb4_reverse_sk` LRU map (socket cookie and
 * backend -> service address); kdp keeps it keyed by the packets' tuples, both ways: the
 * application's tuple (to rewrite what it sends) and the backend's answer (to show the
 * application the service address again).
 *
 * The same shape serves Cilium's DSR entries on a backend's node (NodeWorld.dsrReplies): the
 * client's tuple to the frontend it asked for, the backend that answers, and the answer shown
 * from the frontend again, there as the reply leaves the node.
 *
 * Open addressing over `[hash, ref]` pairs, `ref = (entry << 1 | dir) + 1`, backward-shift
 * deletion, entries reused round-robin when all are taken (the oldest socket goes, as an LRU map
 * would drop it). lookup: one hash and ~1 probe, no allocation.
 */
import { hashTuple } from '../net/hash.js';
import { nextPow2, refIndexAdd, refIndexRemove } from '../compile/tables/index.js';
import { touchPages } from './pages.js';

const kSeed = 0x50434b54;

export class SocketTable {
  readonly capacity: number;
  private readonly mask: number;
  private readonly index: Uint32Array;
  /** Per entry: the application's tuple (src, dst, sport << 16 | dport), the backend, the endpoint row. */
  readonly src: Uint32Array;
  readonly dst: Uint32Array;
  readonly ports: Uint32Array;
  readonly proto: Uint8Array;
  readonly backendIp: Uint32Array;
  readonly backendPort: Uint16Array;
  readonly endpoint: Int32Array;
  private readonly used: Uint8Array;
  private nextEntry = 0;

  constructor(maxSockets: number) {
    this.capacity = nextPow2(Math.max(16, maxSockets));
    const slots = this.capacity * 4;
    this.mask = slots - 1;
    this.index = new Uint32Array(slots * 2);
    this.src = new Uint32Array(this.capacity);
    this.dst = new Uint32Array(this.capacity);
    this.ports = new Uint32Array(this.capacity);
    this.proto = new Uint8Array(this.capacity);
    this.backendIp = new Uint32Array(this.capacity);
    this.backendPort = new Uint16Array(this.capacity);
    this.endpoint = new Int32Array(this.capacity);
    this.used = new Uint8Array(this.capacity);
    for (const a of [this.index, this.src, this.dst, this.ports, this.proto, this.backendIp, this.backendPort, this.endpoint, this.used]) touchPages(a.buffer);
  }

  /** The entry whose application tuple (`dir` 0) or backend answer (`dir` 1) this packet is, or -1. */
  lookup(src: number, dst: number, sport: number, dport: number, proto: number, dir: number): number {
    const ports = ((sport << 16) | dport) >>> 0;
    const h = hashTuple(kSeed, src, dst, ports, proto);
    const index = this.index;
    const mask = this.mask;
    for (let p = h & mask; ; p = (p + 1) & mask) {
      const ref = index[2 * p + 1];
      if (ref === 0) return -1;
      if (index[2 * p] !== h) continue;
      const e = (ref - 1) >>> 1;
      if (((ref - 1) & 1) !== dir || this.proto[e] !== proto) continue;
      if (dir === 0 ? this.src[e] === src && this.dst[e] === dst && this.ports[e] === ports
        : this.backendIp[e] === src && this.src[e] === dst && ((this.backendPort[e] << 16) | (this.ports[e] >>> 16)) >>> 0 === ports) {
        return e;
      }
    }
  }

  /** Remembers a socket; endpoint -1 for a destination no service translated. */
  insert(src: number, dst: number, sport: number, dport: number, proto: number, backendIp: number, backendPort: number, endpoint: number): number {
    const e = this.nextEntry;
    this.nextEntry = (e + 1) & (this.capacity - 1);
    if (this.used[e]) this.remove(e);
    this.src[e] = src >>> 0;
    this.dst[e] = dst >>> 0;
    this.ports[e] = ((sport << 16) | dport) >>> 0;
    this.proto[e] = proto;
    this.backendIp[e] = backendIp >>> 0;
    this.backendPort[e] = backendPort;
    this.endpoint[e] = endpoint;
    this.used[e] = 1;
    refIndexAdd(this.index, this.mask, hashTuple(kSeed, this.src[e], this.dst[e], this.ports[e], proto), (e << 1) + 1);
    refIndexAdd(this.index, this.mask, hashTuple(kSeed, this.backendIp[e], this.src[e], ((backendPort << 16) | sport) >>> 0, proto), (e << 1) + 2);
    return e;
  }

  clear(): void {
    this.index.fill(0);
    this.used.fill(0);
    this.nextEntry = 0;
  }

  get bytes(): number {
    return this.index.byteLength + this.capacity * (4 * 4 + 1 + 2 + 4 + 1);
  }

  private remove(e: number): void {
    const sport = this.ports[e] >>> 16;
    refIndexRemove(this.index, this.mask, hashTuple(kSeed, this.src[e], this.dst[e], this.ports[e], this.proto[e]), (e << 1) + 1);
    refIndexRemove(this.index, this.mask, hashTuple(kSeed, this.backendIp[e], this.src[e], ((this.backendPort[e] << 16) | sport) >>> 0, this.proto[e]), (e << 1) + 2);
    this.used[e] = 0;
  }
}
