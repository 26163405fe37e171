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
 * would drop it). An entry is one record of REC_WORDS words (every field a lookup compares or
 * returns: one cache line, rarely two, where separate arrays cost a miss each).
 * lookup: one hash and ~1 probe, no allocation.
 */
import { hashTuple } from '../net/hash.js';
import { nextPow2, refIndexAdd, refIndexRemove } from '../compile/tables/index.js';
import { touchPages } from './pages.js';

const kSeed = 0x50434b54;

// A record's words: the application's tuple (src, dst, sport << 16 | dport), the backend, the
// backend's port with the protocol above it, the endpoint row.
const R_SRC = 0;
const R_DST = 1;
const R_PORTS = 2;
const R_BACKEND_IP = 3;
const R_BACKEND_PORT_PROTO = 4;
const R_ENDPOINT = 5;
const REC_WORDS = 6;

// `used`: a free entry, one filed under the application's tuple only (open), or both (fileAnswer).
const USED_OPEN = 1;
const USED_FILED = 2;

export class SocketTable {
  readonly capacity: number;
  private readonly mask: number;
  private readonly index: Uint32Array;
  private readonly rec: Uint32Array;
  private readonly used: Uint8Array;
  private nextEntry = 0;

  constructor(maxSockets: number) {
    this.capacity = nextPow2(Math.max(16, maxSockets));
    const slots = this.capacity * 4;
    this.mask = slots - 1;
    this.index = new Uint32Array(slots * 2);
    this.rec = new Uint32Array(this.capacity * REC_WORDS);
    this.used = new Uint8Array(this.capacity);
    for (const a of [this.index, this.rec, this.used]) touchPages(a.buffer);
  }

  /** Entry `e`'s application tuple, its backend and endpoint row (-1: no service translated it). */
  src(e: number): number {
    return this.rec[e * REC_WORDS + R_SRC];
  }

  dst(e: number): number {
    return this.rec[e * REC_WORDS + R_DST];
  }

  /** sport << 16 | dport, as a u32. */
  ports(e: number): number {
    return this.rec[e * REC_WORDS + R_PORTS];
  }

  backendIp(e: number): number {
    return this.rec[e * REC_WORDS + R_BACKEND_IP];
  }

  backendPort(e: number): number {
    return this.rec[e * REC_WORDS + R_BACKEND_PORT_PROTO] & 0xffff;
  }

  endpoint(e: number): number {
    return this.rec[e * REC_WORDS + R_ENDPOINT] | 0;
  }

  /** The entry whose application tuple (`dir` 0) or backend answer (`dir` 1) this packet is, or -1. */
  lookup(src: number, dst: number, sport: number, dport: number, proto: number, dir: number): number {
    return this.lookupHashed(this.hashOf(src, dst, sport, dport, proto), src, dst, sport, dport, proto, dir);
  }

  /** The tuple's hash, as `lookupHashed` takes it. */
  hashOf(src: number, dst: number, sport: number, dport: number, proto: number): number {
    return hashTuple(kSeed, src, dst, ((sport << 16) | dport) >>> 0, proto);
  }

  /**
   * Software prefetch for a batch, as ConntrackTable.touchIndex and touchEntry: the hash's slots
   * from its home to its own (the first holding that hash, or an empty one), then the record it
   * names. Each returns what it read; hints only, a wrong guess costs the read.
   */
  // Against the home slot's ref: within the noise (cilium's established packet 300 and 291 ns
  // against 300 and 297 at 100 and 10k Services, its new flow 980 and 1,122 against 1,000 and
  // 1,155; `kdp bench --services 100,10000 --modes cilium --workers 1 --flows 1000000`, three runs
  // of each build alternated, 2026-12-07): kept so that both tables' touches read what their
  // lookups will.
  touchIndex(h: number): number {
    h >>>= 0;
    const index = this.index;
    const mask = this.mask;
    for (let p = h & mask; ; p = (p + 1) & mask) {
      const ref = index[2 * p + 1];
      if (ref === 0 || index[2 * p] === h) return ref;
    }
  }

  touchEntry(ref: number): number {
    if (ref === 0) return 0;
    const r = ((ref - 1) >>> 1) * REC_WORDS;
    return (this.rec[r] ^ this.rec[r + R_ENDPOINT]) | 0;
  }

  /** `lookup` with the hash already computed (hashOf). */
  lookupHashed(h: number, src: number, dst: number, sport: number, dport: number, proto: number, dir: number): number {
    h >>>= 0; // int32 bits, as hashOf gives them and PacketMeta.lookupHash keeps them
    const ports = ((sport << 16) | dport) >>> 0;
    const index = this.index;
    const rec = this.rec;
    const mask = this.mask;
    src >>>= 0;
    dst >>>= 0;
    for (let p = h & mask; ; p = (p + 1) & mask) {
      const ref = index[2 * p + 1];
      if (ref === 0) return -1;
      if (index[2 * p] !== h) continue;
      const e = (ref - 1) >>> 1;
      const r = e * REC_WORDS;
      const bp = rec[r + R_BACKEND_PORT_PROTO];
      if (((ref - 1) & 1) !== dir || bp >>> 16 !== proto) continue;
      if (dir === 0 ? rec[r + R_SRC] === src && rec[r + R_DST] === dst && rec[r + R_PORTS] === ports
        : rec[r + R_BACKEND_IP] === src && rec[r + R_SRC] === dst && (((bp & 0xffff) << 16) | (rec[r + R_PORTS] >>> 16)) >>> 0 === ports) {
        return e;
      }
    }
  }

  /** Remembers a socket; endpoint -1 for a destination no service translated. */
  insert(src: number, dst: number, sport: number, dport: number, proto: number, backendIp: number, backendPort: number, endpoint: number): number {
    const e = this.open(src, dst, sport, dport, proto, backendIp, backendPort, endpoint);
    this.fileAnswer(e);
    return e;
  }

  /**
   * insert() in two steps, for a stage that opens a frame's sockets together: `open` files the
   * socket under the application's tuple (a later packet of the frame finds it), `fileAnswer`
   * under the backend's answer, once `touchAnswer` has read that slot for every socket of the
   * frame, so that those misses overlap. Until then an answer is not matched to the socket.
   */
  open(src: number, dst: number, sport: number, dport: number, proto: number, backendIp: number, backendPort: number, endpoint: number): number {
    const e = this.nextEntry;
    this.nextEntry = (e + 1) & (this.capacity - 1);
    if (this.used[e] !== 0) this.remove(e);
    const r = e * REC_WORDS;
    const rec = this.rec;
    rec[r + R_SRC] = src;
    rec[r + R_DST] = dst;
    rec[r + R_PORTS] = (sport << 16) | dport;
    rec[r + R_BACKEND_IP] = backendIp;
    rec[r + R_BACKEND_PORT_PROTO] = (proto << 16) | backendPort;
    rec[r + R_ENDPOINT] = endpoint;
    this.used[e] = USED_OPEN;
    refIndexAdd(this.index, this.mask, this.keyHash(e, 0), (e << 1) + 1);
    return e;
  }

  /** Software prefetch for fileAnswer: reads the home slot of entry `e`'s answer tuple. */
  touchAnswer(e: number): number {
    return this.touchIndex(this.keyHash(e, 1));
  }

  /**
   * Files entry `e` under its backend's answer, once: an entry a later open() of the same frame
   * took over (the table wrapped) is filed for its new socket by the first call only.
   */
  fileAnswer(e: number): void {
    if (this.used[e] !== USED_OPEN) return;
    this.used[e] = USED_FILED;
    refIndexAdd(this.index, this.mask, this.keyHash(e, 1), (e << 1) + 2);
  }

  clear(): void {
    this.index.fill(0);
    this.used.fill(0);
    this.nextEntry = 0;
  }

  /** Index slots in use: two a socket (its tuple and its answer), one while only opened. */
  indexSlotsUsed(): number {
    let n = 0;
    for (let p = 1; p < this.index.length; p += 2) if (this.index[p] !== 0) n++;
    return n;
  }

  get bytes(): number {
    return this.index.byteLength + this.rec.byteLength + this.used.byteLength;
  }

  private remove(e: number): void {
    refIndexRemove(this.index, this.mask, this.keyHash(e, 0), (e << 1) + 1);
    refIndexRemove(this.index, this.mask, this.keyHash(e, 1), (e << 1) + 2);
    this.used[e] = 0;
  }

  /** Entry `e`'s index hash, from its record: the application's tuple (`dir` 0) or the backend's answer (1). */
  private keyHash(e: number, dir: number): number {
    const r = e * REC_WORDS;
    const rec = this.rec;
    const ports = rec[r + R_PORTS];
    const bp = rec[r + R_BACKEND_PORT_PROTO];
    return dir === 0
      ? this.hashOf(rec[r + R_SRC], rec[r + R_DST], ports >>> 16, ports & 0xffff, bp >>> 16)
      : this.hashOf(rec[r + R_BACKEND_IP], rec[r + R_SRC], bp & 0xffff, ports >>> 16, bp >>> 16);
  }
}
