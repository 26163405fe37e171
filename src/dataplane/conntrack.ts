/**
 * Connection tracking as Linux keeps it (`net/netfilter/nf_conntrack_core.c`), one table per
 * worker shard, over typed arrays that live in one (Shared)ArrayBuffer.
 *
 * Entries ("slots", the kernel's `struct nf_conn`) sit in a fixed pool of `maxEntries` rows
 * (nf_conntrack_max): a 40-byte record each for what packets touch, two arrays for the rest.
 * Like the kernel, every entry is hashed twice, once by its ORIGINAL tuple and once by its REPLY
 * tuple (`ct->tuplehash[IP_CT_DIR_ORIGINAL|REPLY]`), so a reply packet finds the same entry and
 * learns it travels the reply direction. The reply tuple
 * carries the NAT binding: for a DNATed service flow `client:cport -> vip:vport` it is
 * `endpoint:eport -> client:cport`, and with masquerade `endpoint:eport -> node:nport`.
 *
 * The hash index is open addressing with linear probing over `indexSlots` u32 slots (any count
 * greater than 2 x maxEntries; by default 11/4 x maxEntries, so at most 73 % full when the pool is
 * full, 56 % at the replay's 1.3x headroom), a tuple's home slot the kernel's bucket of its hash,
 * `reciprocal_scale(hash, indexSlots)` (nf_conntrack_core.c): the hash's high bits pick it. A
 * slot packs `ref = (entry << 1 | dir) + 1` (0 = empty) in its low `refBits` bits, the slot's
 * distance from its home above (5 bits, 31 meaning "31 or more"), and the hash's low bits above
 * that as a tag, so a probe reads an entry only when the tag matches (a false match once in 2^tagBits:
 * 1 in 32 to 64 at a million entries, 1 in 2048 at 16k). Deletion is backward-shift (no tombstones), so
 * probe lengths do not degrade under churn; it finds a shifted item's home from its distance.
 *
 * Time is virtual: the table reads its clock (`now`, seconds: any number, monotonic per table),
 * which its owner moves. An entry is alive while `expires > now` (the kernel's `nf_ct_is_expired`). Expired
 * entries are reaped lazily on lookup, by early_drop's scan, and by `gc()` / `expire()`.
 *
 * When the pool is full a new flow triggers `early_drop`: scan the new tuple's hash bucket and the
 * next ones (NF_CT_EVICTION_RANGE = 8 buckets, a bucket being `indexSlots / buckets` index slots,
 * `buckets` defaulting to maxEntries / 4 as kube-proxy sets nf_conntrack_hashsize), evicting every
 * entry that is not ASSURED in the first bucket that has any; if none, the packet is dropped and
 * counted in `dropFull` ("nf_conntrack: table full, dropping packet") and the next `gc()` pass
 * also evicts ASSURED TCP entries that are closing (`gc_worker` with `early_drop` set).
 * Deviation: the kernel counts early_drop success only for evictions; here reaping an expired
 * entry during the scan also makes room (the kernel's gc worker would already have reaped it).
 *
 * Size: 63 bytes an entry with the default index (52 of the entry, 11 of index), plus the 256-byte
 * header: `bytesPerEntry` divides the real allocation. The hot part of an entry (both tuples, the
 * timer, status, protocol, TCP state, mark: everything a known flow's packet reads or writes) is
 * one 40-byte record, so an entry spans one or two cache lines instead of the seven arrays it
 * used to touch (88 bytes an entry, struct-of-arrays).
 * Cost: see lookupHashed.
 *
 * Buffer layout (all offsets 8-byte aligned), after a 256-byte header:
 *   index    Uint32Array(indexSlots)       tag | ref
 *   record   Uint32Array(10 * maxEntries)  per entry: 0 oSrc, 1 oDst, 2 oSport<<16|oDport,
 *                                          3 rSrc, 4 rDst, 5 rSport<<16|rDport, 6-7 expires (f64,
 *                                          virtual seconds), 8 status | proto << 8 | tcpState << 16,
 *                                          9 ct mark. A free row: word 0 links the free list, word 8 is 0.
 *   stamp    Float64Array(maxEntries)      UDP: time after which a replied flow is a stream
 *   endpoint Int32Array(maxEntries)        endpoint-table row chosen by service NAT, -1 none
 * Header u32 words: 0 magic, 1 version, 2 maxEntries, 3 indexSlots, 4 hash seed, 5 count,
 * 6 freeHead (i32), 7 gc cursor, 8 bucket width (index slots), 9 flags, 10 TCP map size (0: one
 * pool), 11 live TCP entries, 16..31 counters,
 * 32..63 timeouts as 16 f64.
 */
import { hashTuple } from '../net/hash.js';
import { nextPow2 } from '../compile/tables/index.js';
import { InvalidArgumentError } from '../errors.js';
import type { ConntrackConfig } from '../model/types.js';
import { PROTO_ICMP, PROTO_TCP, PROTO_UDP } from '../net/proto.js';
import { touchPages } from './pages.js';
import {
  TCP_CLASS_ACK,
  TCP_CLASS_RST,
  TCP_CLOSE,
  TCP_ESTABLISHED,
  TCP_FLAG_CLASS,
  TCP_FLAG_CLASSES,
  TCP_IGNORE,
  TCP_INVALID,
  TCP_NONE,
  TCP_STATE_COUNT,
  TCP_SYN_RECV,
  TCP_SYN_SENT,
  TCP_TIME_WAIT,
  TCP_TRANSITIONS,
  kTcpDefaultTimeouts,
  tcpCanEarlyDrop,
} from './conntrack-tcp.js';

// Status bits: the kernel's IPS_* values (include/uapi/linux/netfilter/nf_conntrack_common.h).
export const IPS_EXPECTED = 1 << 0;
export const IPS_SEEN_REPLY = 1 << 1;
export const IPS_ASSURED = 1 << 2;
export const IPS_CONFIRMED = 1 << 3;
export const IPS_SRC_NAT = 1 << 4;
export const IPS_DST_NAT = 1 << 5;

export const DIR_ORIGINAL = 0;
export const DIR_REPLY = 1;

/** Verdicts of `update()`. */
export const CT_ACCEPT = 0;
/** Invalid for the state machine (counted in `invalid`); the entry is unchanged. */
export const CT_INVALID = 1;
/** Accepted, but the state and timer are left alone (the kernel's "ignore" transitions). */
export const CT_IGNORE = 2;
/** A SYN reopened a closed connection: the entry was deleted, treat the packet as a new flow. */
export const CT_REOPEN = 3;
/** Accepted, and the entry was deleted (a RST as the only answer, as the kernel does). */
export const CT_KILLED = 4;

/** `insert()` results when no slot is returned. */
export const INSERT_FULL = -1;
export const INSERT_INVALID = -2;
export const INSERT_CLASH = -3;

/** Counter names; `CT_COUNTER.found` etc. are their indexes in `counters`. */
export const CT_COUNTER_NAMES = ['found', 'new', 'invalid', 'ignored', 'dropFull', 'earlyDrop', 'expired', 'insertFailed', 'lruEvicted'] as const;
export type ConntrackCounterName = (typeof CT_COUNTER_NAMES)[number];
const C_FOUND = 0;
const C_NEW = 1;
const C_INVALID = 2;
const C_IGNORED = 3;
const C_DROP_FULL = 4;
const C_EARLY_DROP = 5;
const C_EXPIRED = 6;
const C_INSERT_FAILED = 7;
const C_LRU_EVICTED = 8;

// Timeout table indexes: TCP states 0..9, then these.
export const TIMEOUT_UDP_UNREPLIED = 10;
export const TIMEOUT_UDP_STREAM = 11;
export const TIMEOUT_ICMP = 12;
export const TIMEOUT_GENERIC = 13;
const TIMEOUT_COUNT = 16;

/** The kernel's NF_CT_EVICTION_RANGE: buckets early_drop scans. */
export const kEvictionRange = 8;
/** A replied UDP flow becomes a stream (120 s, ASSURED) once it is still active 2 s after creation. */
export const kUdpStreamDelaySeconds = 2;

const MAGIC = 0x5443444b; // 'KDCT'
// 3: homes by reciprocal_scale and tags from the hash's low bits (2: `(hash >>> 1) % indexSlots`, high-bit tags).
const VERSION = 3;
const HEADER_BYTES = 256;
const H_MAGIC = 0;
const H_VERSION = 1;
const H_MAX = 2;
const H_INDEX_SLOTS = 3;
const H_SEED = 4;
const H_COUNT = 5;
const H_FREE_HEAD = 6;
const H_GC_CURSOR = 7;
const H_BUCKET_WIDTH = 8;
const H_FLAGS = 9;
/** TCP's share of the pool when TCP and the rest are two LRU maps (0: one pool), and TCP entries live. */
const H_TCP_MAX = 10;
const H_TCP_COUNT = 11;
const H_COUNTERS = 16;
const H_TIMEOUTS_F64 = 16; // in f64 units: byte 128
const FLAG_GC_EARLY_DROP = 1;
/** Full table: evict the least recently refreshed entry instead (a BPF LRU hash map, as Cilium's CT). */
const FLAG_LRU = 2;
/** TCP flags only time an entry, never make a packet INVALID (Cilium's BPF CT, bpf/lib/conntrack.h `__ct_lookup`). */
const FLAG_NO_TCP_INVALID = 4;
/** Which entries an LRU eviction may take: any, TCP ones (the TCP map), or the others. */
const LRU_ANY = 0;
const LRU_TCP = 1;
const LRU_OTHER = 2;
/** An entry's hot record: 10 u32 words (see the layout above); the f64 timer is at f64 index 5e + 3. */
const REC_WORDS = 10;
const R_EXPIRES_F64 = 3;
const R_META = 8;
const R_MARK = 9;
/** Meta word: status in bits 0-7 (IPS_* bits 0-5), protocol 8-15, TCP state 16-23. */
const META_STATUS = 0xff;
/** The meta bits of a settled TCP connection (update()'s shortcut): ESTABLISHED, SEEN_REPLY and ASSURED. */
const kSettledMask = 0xffff00 | IPS_SEEN_REPLY | IPS_ASSURED;
const kSettledMeta = (TCP_ESTABLISHED << 16) | (PROTO_TCP << 8) | IPS_SEEN_REPLY | IPS_ASSURED;
const kMaxEntriesLimit = 1 << 26;

export interface ConntrackTableOptions {
  /** nf_conntrack_max: the pool size. */
  readonly maxEntries: number;
  /** nf_conntrack_buckets, used for early_drop's scan width; default maxEntries / 4 (kube-proxy). */
  readonly buckets?: number;
  /** Timeouts as kube-proxy configures them; zero or absent fields keep the kernel default. */
  readonly timeouts?: Partial<ConntrackConfig>;
  /**
   * Hash index slots: an integer greater than 2 x maxEntries (two tuples per entry). Default
   * 11/4 x maxEntries (at least 2 x maxEntries + 1), so the index is at most 73 % full.
   */
  readonly indexSlots?: number;
  /** Hash seed (the kernel's random nf_conntrack_hash_rnd); fixed by default for reproducibility. */
  readonly seed?: number;
  /** Allocate a SharedArrayBuffer instead of an ArrayBuffer. */
  readonly shared?: boolean;
  /**
   * The clock the table reads (`now`, one f64 of seconds), shared with whoever moves the time:
   * a node's tables and its pipeline read one cell. Default: a cell of the table's own.
   */
  readonly clock?: Float64Array;
  /**
   * When full, evict the entry whose timer was refreshed longest ago (a BPF_MAP_TYPE_LRU_HASH, as
   * Cilium's CT maps are) instead of early_drop, so a new flow is never dropped (counted in
   * lruEvicted). Default false: the kernel's nf_conntrack.
   */
  readonly lru?: boolean;
  /**
   * With `lru`: TCP and every other protocol are two LRU maps in the pool, TCP at most `tcpMax`
   * entries and the rest at most maxEntries - tcpMax, each full map evicting its own least
   * recently used entry (Cilium's cilium_ct4_global and cilium_ct_any4_global, bpf/lib/conntrack_map.h).
   * Default: one map of maxEntries.
   */
  readonly tcpMax?: number;
  /**
   * False: a TCP packet the kernel's state machine finds INVALID (an ACK before any answer, as on
   * a DSR entry node that never sees the replies) is accepted, its entry kept in its state and
   * timer refreshed, as Cilium's BPF conntrack does (it tracks flags for lifetimes only). Default true.
   */
  readonly tcpStateChecks?: boolean;
}

/**
 * kube-proxy's conntrack limit (cmd/kube-proxy/app/server_linux.go getConntrackMax, Kubernetes
 * v1.31): maxPerCore x cores when that exceeds min, else min; 0 (leave the kernel's) when
 * maxPerCore is 0.
 */
export function kubeProxyConntrackMax(config: Pick<ConntrackConfig, 'maxPerCore' | 'min'>, cores: number): number {
  if (!(config.maxPerCore > 0)) return 0;
  const scaled = config.maxPerCore * cores;
  return scaled > config.min ? scaled : config.min;
}

/**
 * The kernel's default nf_conntrack_buckets, and so nf_conntrack_max (max_factor 1 when the hash
 * size is not given), net/netfilter/nf_conntrack_core.c since Linux 5.15 ("netfilter: conntrack:
 * sanitize table size default settings"), 64-bit: RAM / 16384 / sizeof(struct hlist_head),
 * 262144 above 4 GiB of RAM, 65536 above 1 GiB, at least 1024.
 */
export function kernelDefaultConntrackBuckets(ramBytes: number): number {
  const kGiB = 2 ** 30;
  if (ramBytes > 4 * kGiB) return 262144;
  if (ramBytes > kGiB) return 65536;
  const b = Math.floor(ramBytes / 16384 / 8);
  return b < 1024 ? 1024 : b;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

function resolveTimeouts(t: Partial<ConntrackConfig> | undefined): number[] {
  const out = new Array<number>(TIMEOUT_COUNT).fill(0);
  for (let s = 0; s < TCP_STATE_COUNT; s++) out[s] = kTcpDefaultTimeouts[s];
  out[TIMEOUT_UDP_UNREPLIED] = 30;
  out[TIMEOUT_UDP_STREAM] = 120;
  out[TIMEOUT_ICMP] = 30;
  out[TIMEOUT_GENERIC] = 600;
  const pick = (name: Exclude<keyof ConntrackConfig, 'tcpBeLiberal'>, index: number): void => {
    const v = t?.[name];
    if (v === undefined || v === 0) return;
    if (!(v > 0) || !Number.isFinite(v)) throw new InvalidArgumentError(`options.timeouts.${name} must be a positive number of seconds`);
    out[index] = v;
  };
  pick('tcpEstablishedTimeoutSeconds', TCP_ESTABLISHED);
  pick('tcpCloseWaitTimeoutSeconds', 5 /* CLOSE_WAIT */);
  pick('udpTimeoutSeconds', TIMEOUT_UDP_UNREPLIED);
  pick('udpStreamTimeoutSeconds', TIMEOUT_UDP_STREAM);
  return out;
}

function isBuffer(x: unknown): x is ArrayBuffer | SharedArrayBuffer {
  return x instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && x instanceof SharedArrayBuffer);
}

/** The default index: 11/4 slots an entry, at most 73 % full with the pool full; 11 bytes an entry. */
export function defaultIndexSlots(maxEntries: number): number {
  const slots = Math.ceil((11 * maxEntries) / 4);
  return slots > 2 * maxEntries ? slots : 2 * maxEntries + 1;
}

export class ConntrackTable {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** nf_conntrack_max. */
  readonly maxEntries: number;
  /** Hash index slots (> 2 x maxEntries). */
  readonly indexSlots: number;
  /** Counters, indexed as CT_COUNTER_NAMES. */
  readonly counters: Uint32Array;
  /** Timeouts in seconds: TCP states 0..9, then TIMEOUT_UDP_UNREPLIED, _STREAM, _ICMP, _GENERIC. */
  readonly timeouts: Float64Array;
  /** Index slots: the entry ref in the low refBits bits, the hash's tag above. */
  readonly index: Uint32Array;
  /** Endpoint-table row the flow was bound to, -1 when none. */
  readonly endpoint: Int32Array;
  /** Direction of the packet matched by the last successful `lookup()`: DIR_ORIGINAL or DIR_REPLY. */
  dir = 0;
  /**
   * The table's clock, in seconds: every lookup, refresh, insert and expiry reads it, as the
   * kernel's conntrack reads nfct_time_stamp (jiffies) rather than being handed the time. A cell,
   * not a parameter: a double passed to a call the JIT does not inline is boxed into a heap
   * number, and insert() is such a call on every first packet (test/pipeline/allocation.test.ts).
   */
  readonly clock: Float64Array;

  private readonly header: Int32Array;
  /** Hot records, REC_WORDS u32 words an entry, and the same bytes as f64 for the timer. */
  private readonly rec: Uint32Array;
  private readonly recF64: Float64Array;
  private readonly stamp: Float64Array;
  private readonly refMask: number;
  /** A slot's distance from its home sits above the ref, capped at distCap (then re-hashed from the entry). */
  private readonly refBits: number;
  private readonly distCap: number;
  private readonly tagMask: number;
  /** tagOf()'s shift: a tag is the hash's low bits, moved up to tagMask's (home() takes its high bits). */
  private readonly tagShift: number;
  /** indexSlots / 2^32: home()'s multiplier. */
  private readonly homeScale: number;
  private readonly seed: number;
  private readonly bucketWidth: number;

  /** Builds an empty table, or (given a buffer made by another table) a view over it without copying. */
  constructor(arg: ConntrackTableOptions | ArrayBuffer | SharedArrayBuffer) {
    this.clock = (!isBuffer(arg) && arg.clock) || new Float64Array(1);
    let buffer: ArrayBuffer | SharedArrayBuffer;
    let fresh = false;
    let timeouts: number[] = [];
    if (isBuffer(arg)) {
      buffer = arg;
      if (buffer.byteLength < HEADER_BYTES) throw new InvalidArgumentError('buffer is too small to be a conntrack table');
      const h = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
      if (h[H_MAGIC] !== MAGIC) throw new InvalidArgumentError('buffer is not a conntrack table (bad magic)');
      if (h[H_VERSION] !== VERSION) throw new InvalidArgumentError(`conntrack table version ${h[H_VERSION]} is not supported`);
    } else {
      const max = arg.maxEntries;
      if (!Number.isInteger(max) || max < 1 || max > kMaxEntriesLimit) {
        throw new InvalidArgumentError(`options.maxEntries must be an integer in [1, ${kMaxEntriesLimit}]`);
      }
      const buckets = arg.buckets ?? Math.max(1, max >>> 2);
      if (!Number.isInteger(buckets) || buckets < 1) throw new InvalidArgumentError('options.buckets must be a positive integer');
      timeouts = resolveTimeouts(arg.timeouts);
      const slots = arg.indexSlots ?? defaultIndexSlots(max);
      if (!Number.isInteger(slots) || slots <= 2 * max || slots > 2 ** 30) {
        throw new InvalidArgumentError('options.indexSlots must be an integer greater than 2 x options.maxEntries, at most 2^30');
      }
      const bytes = ConntrackTable.layout(max, slots).total;
      buffer = arg.shared ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes);
      touchPages(buffer);
      const h = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
      h[H_MAGIC] = MAGIC;
      h[H_VERSION] = VERSION;
      h[H_MAX] = max;
      h[H_INDEX_SLOTS] = slots;
      h[H_SEED] = (arg.seed ?? 0x6b647021) >>> 0;
      h[H_COUNT] = 0;
      h[H_FREE_HEAD] = 0;
      h[H_GC_CURSOR] = 0;
      // Bucket width in index slots: a power of two, at least 1.
      const width = nextPow2(Math.ceil(slots / buckets));
      h[H_BUCKET_WIDTH] = width > slots ? slots : width;
      h[H_FLAGS] = (arg.lru ? FLAG_LRU : 0) | (arg.tcpStateChecks === false ? FLAG_NO_TCP_INVALID : 0);
      if (arg.tcpMax !== undefined) {
        if (!arg.lru || !Number.isInteger(arg.tcpMax) || arg.tcpMax < 1 || arg.tcpMax >= max) {
          throw new InvalidArgumentError('options.tcpMax needs options.lru and must be an integer in [1, options.maxEntries - 1]');
        }
        h[H_TCP_MAX] = arg.tcpMax;
      }
      h[H_TCP_COUNT] = 0;
      fresh = true;
    }
    this.buffer = buffer;
    const hdr = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.header = hdr;
    const max = hdr[H_MAX] >>> 0;
    const slots = hdr[H_INDEX_SLOTS] >>> 0;
    const lay = ConntrackTable.layout(max, slots);
    if (buffer.byteLength < lay.total) throw new InvalidArgumentError('buffer is shorter than its header says');
    this.maxEntries = max;
    this.indexSlots = slots;
    // Refs run up to 2 x max: the bits above them carry the tag.
    const refBits = 32 - Math.clz32(2 * max);
    const distBits = 32 - refBits < 5 ? 32 - refBits : 5;
    this.refBits = refBits;
    this.refMask = (1 << refBits) - 1;
    this.distCap = (1 << distBits) - 1;
    this.tagMask = refBits + distBits >= 32 ? 0 : ~((1 << (refBits + distBits)) - 1);
    this.tagShift = refBits + distBits;
    this.homeScale = slots / 4294967296;
    this.seed = hdr[H_SEED] | 0;
    this.bucketWidth = hdr[H_BUCKET_WIDTH];
    this.counters = new Uint32Array(buffer, H_COUNTERS * 4, 16);
    this.timeouts = new Float64Array(buffer, H_TIMEOUTS_F64 * 8, TIMEOUT_COUNT);
    this.index = new Uint32Array(buffer, lay.index, slots);
    this.rec = new Uint32Array(buffer, lay.rec, REC_WORDS * max);
    this.recF64 = new Float64Array(buffer, lay.rec, (REC_WORDS / 2) * max);
    this.stamp = new Float64Array(buffer, lay.stamp, max);
    this.endpoint = new Int32Array(buffer, lay.endpoint, max);
    if (fresh) {
      for (let i = 0; i < TIMEOUT_COUNT; i++) this.timeouts[i] = timeouts[i];
      this.linkFreeList();
      this.endpoint.fill(-1);
    }
  }

  /** Rebuilds a table view over a buffer made by `new ConntrackTable(...)` (e.g. in a worker). */
  static from(buffer: ArrayBuffer | SharedArrayBuffer): ConntrackTable {
    return new ConntrackTable(buffer);
  }

  private static layout(max: number, slots: number) {
    let o = HEADER_BYTES;
    const index = o;
    o = align8(o + 4 * slots);
    const rec = o;
    o = align8(o + 4 * REC_WORDS * max);
    const stamp = o;
    o = align8(o + 8 * max);
    const endpoint = o;
    o = align8(o + 4 * max);
    return { index, rec, stamp, endpoint, total: o };
  }

  /** The clock's time in seconds (`clock[0]`); setting it moves the time for every reader of the cell. */
  get now(): number {
    return this.clock[0];
  }

  set now(seconds: number) {
    this.clock[0] = seconds;
  }

  /** Live entries. */
  get count(): number {
    return this.header[H_COUNT];
  }

  /** Live TCP entries. */
  get tcpCount(): number {
    return this.header[H_TCP_COUNT];
  }

  /** The TCP map's size when TCP and the rest are two LRU maps, else 0 (one pool). */
  get tcpMax(): number {
    return this.header[H_TCP_MAX];
  }

  /** Bytes of the whole buffer (index + entries + header) per entry of capacity. */
  get bytesPerEntry(): number {
    return this.buffer.byteLength / this.maxEntries;
  }

  counter(name: ConntrackCounterName): number {
    return this.counters[CT_COUNTER_NAMES.indexOf(name)];
  }

  /** IPS_* bits of a slot (0: a free row). */
  statusOf(slot: number): number {
    return this.rec[slot * REC_WORDS + R_META] & META_STATUS;
  }
  protoOf(slot: number): number {
    return (this.rec[slot * REC_WORDS + R_META] >>> 8) & 0xff;
  }
  /** TCP_* state of a TCP entry (TCP_NONE otherwise). */
  tcpStateOf(slot: number): number {
    return (this.rec[slot * REC_WORDS + R_META] >>> 16) & 0xff;
  }
  /** Virtual time at which the entry expires. */
  expiresOf(slot: number): number {
    return this.recF64[slot * (REC_WORDS / 2) + R_EXPIRES_F64];
  }
  /** The ct mark (u32). */
  markOf(slot: number): number {
    return this.rec[slot * REC_WORDS + R_MARK];
  }
  setMark(slot: number, mark: number): void {
    this.rec[slot * REC_WORDS + R_MARK] = mark;
  }

  /**
   * Finds the entry a packet belongs to, by either of its tuples. Returns the slot and sets
   * `this.dir`, or returns -1 (an expired entry found on the way is reaped and counted).
   */
  lookup(src: number, dst: number, sport: number, dport: number, proto: number): number {
    return this.lookupHashed(this.hashOf(src, dst, sport, dport, proto), src, dst, sport, dport, proto);
  }

  /** The tuple's hash, as `lookupHashed` takes it. */
  hashOf(src: number, dst: number, sport: number, dport: number, proto: number): number {
    // int32 bits, as hashTuple gives them (every taker masks or shifts them; find() normalises).
    return hashTuple(this.seed, src, dst, ((sport << 16) | dport) >>> 0, proto);
  }

  /**
   * The home index slot of a hash: reciprocal_scale(hash, indexSlots), `(hash * indexSlots) >> 32`,
   * as the kernel picks a tuple's bucket. The product is a double: exact up to 2^21 slots; above,
   * one where rounding crosses a slot boundary lands a slot off (at most one hash in 2^23, at 2^30
   * slots), the same way every time, which is all a home needs. A multiply where `%` was a
   * division: an established packet took 276 ns, not 286, in ipvs at 10k Services, 286 and 276 in
   * nftables at 100 and 10k, not 296 and 293 (ipvs at 100 293 against 295; `kdp bench --services
   * 100,10000 --modes ipvs,nftables --workers 1 --flows 1000000`, three runs of each build
   * alternated, tables on huge pages, 2026-12-07).
   */
  private home(h: number): number {
    return ((h >>> 0) * this.homeScale) | 0;
  }

  /** A hash's tag, as an index slot holds it (its bits outside tagMask 0). */
  private tagOf(h: number): number {
    return (h << this.tagShift) & this.tagMask;
  }

  /**
   * Software prefetch for a batch, in two steps (VPP's lookup pattern, without a prefetch
   * instruction): `touchIndex(h)` reads the tuple's index slots from its home to its own (the first
   * whose tag matches, or an empty one: find's probe, without reading an entry), for every packet
   * of the batch, so that the cache misses overlap instead of queueing one behind the other; then
   * `touchEntry(slot)` reads the hot record that slot points at (one or two lines). Each returns
   * what it read (the caller stores it, so the loads stay); the lookups that follow find the lines
   * in cache. Hints only: a wrong guess (a false tag match, an empty slot) costs nothing but the read.
   */
  // Why the own slot, not the home slot: in a table of a million entries sized as the replay
  // sizes it (index 0.56 full) 28 % of the tuples sit past their home slot, so touchEntry read
  // another entry's record for them and find() met theirs as a dependent miss. The probe runs over
  // the batch in a loop of its own, touchEntry's loads in the next. A script of prerouting's loops
  // over two such tables (the path's two nodes) took ~121 ns a lookup so, ~141 with the probe and
  // the entry's load in one loop (the probe's mispredicted branches cost the loads' overlap), ~145
  // touching the home slot's entry. Over one table of 79 MB, whose misses cost less, the probe
  // costs more than it saves: conntrack.bench.js' batch task (FLOWS=1000000) read 60-63 ns a
  // lookup against 57-60 touching the home slot's, three runs each. The pipeline is the judge: an
  // established packet took 280 ns, not 290, in iptables at 100 Services, 277 not 289 at 10k;
  // ipvs 280 and 266 against 286 and 275; nftables 278 and 268 against 284 and 282 (`kdp bench
  // --services 100,10000 --modes ipvs,nftables,iptables --workers 1 --flows 1000000`, medians of six
  // runs of each build alternated, tables on huge pages, 2026-12-07).
  touchIndex(h: number): number {
    h >>>= 0;
    const index = this.index;
    const n = this.indexSlots;
    const tagMask = this.tagMask;
    const tag = this.tagOf(h);
    let p = this.home(h);
    for (;;) {
      const v = index[p];
      if (v === 0 || (v & tagMask) === tag) return v | 0; // int32 bits, as hashOf's
      p = p + 1 === n ? 0 : p + 1;
    }
  }

  touchEntry(indexSlot: number): number {
    const ref = indexSlot & this.refMask;
    if (ref === 0) return 0;
    const r = ((ref - 1) >>> 1) * REC_WORDS;
    return (this.rec[r] ^ this.rec[r + R_MARK]) | 0;
  }

  /**
   * `lookup` with the hash already computed (hashOf).
   *
   * Cost: ~650-1,000 ns a hit, ~450-580 ns a miss (3.3 slots probed, 7 % of misses read an entry
   * on a tag match) at 1M live entries, 63 MB, random order, misses not overlapped, against
   * ~650-950 and ~190-430 ns for the 110-byte struct-of-arrays layout it replaced, alternated in the
   * same minutes (FLOWS=1000000 TIME=400 node dist/bench/dataplane/conntrack.bench.js, 3 runs each,
   * 2026-12-02, load ~9 on 2 cores: upper bounds, and the two within the noise on hits).
   */
  lookupHashed(h: number, src: number, dst: number, sport: number, dport: number, proto: number): number {
    const e = this.find(h, src, dst, sport, dport, proto);
    if (e >= 0) this.counters[C_FOUND]++;
    return e;
  }

  /**
   * Whether a live entry owns this tuple (either direction), not counted as a lookup: what a
   * local connect() asks before it takes a source port (an expired entry found is reaped).
   */
  holds(src: number, dst: number, sport: number, dport: number, proto: number): boolean {
    return this.find(this.hashOf(src, dst, sport, dport, proto), src, dst, sport, dport, proto) >= 0;
  }

  /** The probe behind lookupHashed and holds: the slot, with `this.dir` set, or -1. */
  private find(h: number, src: number, dst: number, sport: number, dport: number, proto: number): number {
    h >>>= 0;
    const ports = ((sport << 16) | dport) >>> 0;
    const index = this.index;
    const rec = this.rec;
    const n = this.indexSlots;
    const refMask = this.refMask;
    const tagMask = this.tagMask;
    src >>>= 0;
    dst >>>= 0;
    const tag = this.tagOf(h);
    let p = this.home(h);
    for (;;) {
      const v = index[p];
      if (v === 0) return -1;
      if ((v & tagMask) === tag) {
        const ref = (v & refMask) - 1;
        const e = ref >>> 1;
        const d = ref & 1;
        const r = e * REC_WORDS;
        const t = r + d * 3;
        if (rec[t] === src && rec[t + 1] === dst && rec[t + 2] === ports && ((rec[r + R_META] >>> 8) & 0xff) === proto) {
          if (this.recF64[e * (REC_WORDS / 2) + R_EXPIRES_F64] <= this.clock[0]) {
            this.removeEntry(e);
            this.counters[C_EXPIRED]++;
            return -1;
          }
          this.dir = d;
          return e;
        }
      }
      p = p + 1 === n ? 0 : p + 1;
    }
  }

  /**
   * Confirms a new flow from its first packet (the kernel's alloc + l4 `new` + confirm in one):
   * the original tuple is the packet's, the reply tuple is its inverse after NAT. DNAT/SNAT status
   * bits are derived from the difference. For TCP only a SYN (or, as nf_conntrack_tcp_loose, an
   * ACK) may create an entry. Returns the slot, or INSERT_FULL (counted in dropFull),
   * INSERT_INVALID, or INSERT_CLASH (a live entry already owns either tuple; insertFailed).
   */
  insert(
    oSrc: number,
    oDst: number,
    oSport: number,
    oDport: number,
    proto: number,
    rSrc: number,
    rDst: number,
    rSport: number,
    rDport: number,
    tcpFlags: number,
  ): number {
    let state = TCP_NONE;
    if (proto === PROTO_TCP) {
      state = TCP_TRANSITIONS[TCP_FLAG_CLASS[tcpFlags & 0x1f] * TCP_STATE_COUNT + TCP_NONE];
      if (state >= TCP_STATE_COUNT) {
        this.counters[C_INVALID]++;
        return INSERT_INVALID;
      }
    }
    const savedDir = this.dir;
    if (this.lookupQuiet(oSrc, oDst, oSport, oDport, proto) >= 0 || this.lookupQuiet(rSrc, rDst, rSport, rDport, proto) >= 0) {
      this.dir = savedDir;
      this.counters[C_INSERT_FAILED]++;
      return INSERT_CLASH;
    }
    const oPorts = ((oSport << 16) | oDport) >>> 0;
    const rPorts = ((rSport << 16) | rDport) >>> 0;
    const hOrig = hashTuple(this.seed, oSrc, oDst, oPorts, proto);
    const hdr = this.header;
    const tcpMax = hdr[H_TCP_MAX];
    const tcp = proto === PROTO_TCP;
    if (tcpMax !== 0) {
      // Two LRU maps: a full one evicts one of its own (a TCP flow never pushes out a UDP entry).
      const full = tcp ? hdr[H_TCP_COUNT] >= tcpMax : hdr[H_COUNT] - hdr[H_TCP_COUNT] >= this.maxEntries - tcpMax;
      if (full && !this.evictLru(hOrig, tcp ? LRU_TCP : LRU_OTHER)) {
        this.counters[C_DROP_FULL]++;
        return INSERT_FULL;
      }
    } else if (hdr[H_COUNT] >= this.maxEntries && (hdr[H_FLAGS] & FLAG_LRU) !== 0) this.evictLru(hOrig, LRU_ANY);
    if (hdr[H_COUNT] >= this.maxEntries && !this.earlyDrop(hOrig)) {
      hdr[H_FLAGS] |= FLAG_GC_EARLY_DROP;
      this.counters[C_DROP_FULL]++;
      return INSERT_FULL;
    }
    const e = hdr[H_FREE_HEAD];
    const rec = this.rec;
    const r = e * REC_WORDS;
    hdr[H_FREE_HEAD] = rec[r] | 0;
    hdr[H_COUNT]++;
    if (tcp) hdr[H_TCP_COUNT]++;
    rec[r] = oSrc;
    rec[r + 1] = oDst;
    rec[r + 2] = oPorts;
    rec[r + 3] = rSrc;
    rec[r + 4] = rDst;
    rec[r + 5] = rPorts;
    rec[r + R_MARK] = 0;
    this.endpoint[e] = -1;
    let st = IPS_CONFIRMED;
    // Reply source differs from original destination: destination NAT; reply destination differs
    // from original source: source NAT (masquerade).
    if (rSrc >>> 0 !== oDst >>> 0 || rSport !== oDport) st |= IPS_DST_NAT;
    if (rDst >>> 0 !== oSrc >>> 0 || rDport !== oSport) st |= IPS_SRC_NAT;
    rec[r + R_META] = st | (proto << 8) | (state << 16);
    const to = this.timeouts;
    const now = this.clock[0];
    this.stamp[e] = now + kUdpStreamDelaySeconds;
    this.recF64[e * (REC_WORDS / 2) + R_EXPIRES_F64] =
      now + (proto === PROTO_TCP ? to[state] : proto === PROTO_UDP ? to[TIMEOUT_UDP_UNREPLIED] : proto === PROTO_ICMP ? to[TIMEOUT_ICMP] : to[TIMEOUT_GENERIC]);
    this.indexAdd(hOrig, (e << 1) + 1);
    this.indexAdd(hashTuple(this.seed, rSrc, rDst, rPorts, proto), (e << 1) + 2);
    this.counters[C_NEW]++;
    return e;
  }

  /**
   * Accounts one packet of an existing entry (the l4 `packet` handler): advances the TCP state,
   * refreshes the timer, sets SEEN_REPLY and ASSURED. Returns a CT_* verdict.
   *
   * Nearly every packet a benchmark sends is an ACK of an ASSURED connection in ESTABLISHED, which
   * the state machine keeps in ESTABLISHED in either direction with nothing to set (sES -> sES):
   * only its timer moves. That case is answered here, small enough for the JIT to inline into the
   * stage's loop; every other goes through the state machine (updateState).
   * Cost: see prerouting.
   */
  update(slot: number, dir: number, tcpFlags: number): number {
    if ((this.rec[slot * REC_WORDS + R_META] & kSettledMask) === kSettledMeta && TCP_FLAG_CLASS[tcpFlags & 0x1f] === TCP_CLASS_ACK) {
      this.recF64[slot * (REC_WORDS / 2) + R_EXPIRES_F64] = this.clock[0] + this.timeouts[TCP_ESTABLISHED];
      return CT_ACCEPT;
    }
    return this.updateState(slot, dir, tcpFlags);
  }

  /** update() through the state machine. */
  private updateState(slot: number, dir: number, tcpFlags: number): number {
    const now = this.clock[0];
    const rec = this.rec;
    const m = slot * REC_WORDS + R_META;
    const meta = rec[m];
    const proto = (meta >>> 8) & 0xff;
    let st = meta & META_STATUS;
    const x = slot * (REC_WORDS / 2) + R_EXPIRES_F64;
    const to = this.timeouts;
    let state = (meta >>> 16) & 0xff;
    if (proto === PROTO_TCP) {
      const cls = TCP_FLAG_CLASS[tcpFlags & 0x1f];
      const old = state;
      const next = TCP_TRANSITIONS[(dir * TCP_FLAG_CLASSES + cls) * TCP_STATE_COUNT + old];
      if (next === TCP_INVALID) {
        if ((this.header[H_FLAGS] & FLAG_NO_TCP_INVALID) === 0) {
          this.counters[C_INVALID]++;
          return CT_INVALID;
        }
        this.recF64[x] = now + to[old];
        if (dir === DIR_REPLY) rec[m] = meta | IPS_SEEN_REPLY;
        return CT_ACCEPT;
      }
      if (next === TCP_IGNORE) {
        this.counters[C_IGNORED]++;
        return CT_IGNORE;
      }
      // A RST as the only answer: no connection was ever established, free the entry now.
      if (dir === DIR_REPLY && cls === TCP_CLASS_RST && (st & IPS_SEEN_REPLY) === 0) {
        this.removeEntry(slot);
        return CT_KILLED;
      }
      // A SYN on a closed connection reopens it: the kernel kills the entry and looks up again.
      if (next === TCP_SYN_SENT && (old === TCP_TIME_WAIT || old === TCP_CLOSE)) {
        this.removeEntry(slot);
        return CT_REOPEN;
      }
      // ASSURED once the handshake completes, or a picked-up connection got an answer.
      if (
        next === TCP_ESTABLISHED &&
        (old === TCP_SYN_RECV || (old === TCP_ESTABLISHED && ((st & IPS_SEEN_REPLY) !== 0 || dir === DIR_REPLY)))
      ) {
        st |= IPS_ASSURED;
      }
      state = next;
      this.recF64[x] = now + to[next];
    } else if (proto === PROTO_UDP) {
      // The kernel runs this before marking SEEN_REPLY, so the first reply still gets 30 s.
      if ((st & IPS_SEEN_REPLY) !== 0 && now > this.stamp[slot]) {
        st |= IPS_ASSURED;
        this.recF64[x] = now + to[TIMEOUT_UDP_STREAM];
      } else {
        this.recF64[x] = now + to[TIMEOUT_UDP_UNREPLIED];
      }
    } else {
      this.recF64[x] = now + (proto === PROTO_ICMP ? to[TIMEOUT_ICMP] : to[TIMEOUT_GENERIC]);
    }
    if (dir === DIR_REPLY) st |= IPS_SEEN_REPLY;
    rec[m] = st | (proto << 8) | (state << 16);
    return CT_ACCEPT;
  }

  /** Deletes a live entry (conntrack -D). */
  delete(slot: number): void {
    if (slot >= 0 && slot < this.maxEntries && (this.statusOf(slot) & IPS_CONFIRMED) !== 0) this.removeEntry(slot);
  }

  /**
   * Incremental garbage collection (the kernel's gc_worker): visits up to `budget` pool rows from
   * a cursor, reaping expired entries; after a dropFull, while the table is above 95 % it also
   * evicts entries that may be early-dropped (not ASSURED, or TCP closing). Returns entries freed.
   */
  gc(budget: number): number {
    const now = this.clock[0];
    const hdr = this.header;
    const max = this.maxEntries;
    const rec = this.rec;
    const recF64 = this.recF64;
    let cursor = hdr[H_GC_CURSOR] >>> 0;
    let freed = 0;
    const n = budget < max ? budget : max;
    const highWater = Math.floor(max * 0.95);
    for (let i = 0; i < n; i++) {
      const e = cursor;
      cursor = cursor + 1 === max ? 0 : cursor + 1;
      const meta = rec[e * REC_WORDS + R_META];
      const st = meta & META_STATUS;
      if ((st & IPS_CONFIRMED) === 0) continue;
      if (recF64[e * (REC_WORDS / 2) + R_EXPIRES_F64] <= now) {
        this.removeEntry(e);
        this.counters[C_EXPIRED]++;
        freed++;
      } else if (
        (hdr[H_FLAGS] & FLAG_GC_EARLY_DROP) !== 0 &&
        hdr[H_COUNT] > highWater &&
        ((st & IPS_ASSURED) === 0 || (((meta >>> 8) & 0xff) === PROTO_TCP && tcpCanEarlyDrop((meta >>> 16) & 0xff)))
      ) {
        this.removeEntry(e);
        this.counters[C_EARLY_DROP]++;
        freed++;
      }
      if (cursor === 0) hdr[H_FLAGS] &= ~FLAG_GC_EARLY_DROP;
    }
    hdr[H_GC_CURSOR] = cursor;
    return freed;
  }

  /** Reaps every expired entry now. Returns how many. */
  expire(): number {
    const now = this.clock[0];
    const rec = this.rec;
    const recF64 = this.recF64;
    let freed = 0;
    for (let e = 0; e < this.maxEntries; e++) {
      if ((rec[e * REC_WORDS + R_META] & IPS_CONFIRMED) !== 0 && recF64[e * (REC_WORDS / 2) + R_EXPIRES_F64] <= now) {
        this.removeEntry(e);
        freed++;
      }
    }
    this.counters[C_EXPIRED] += freed;
    return freed;
  }

  /** Empties the table (counters are kept). */
  clear(): void {
    this.index.fill(0);
    this.linkFreeList();
    this.header[H_FREE_HEAD] = 0;
    this.header[H_COUNT] = 0;
    this.header[H_TCP_COUNT] = 0;
  }

  // NAT accessors. For a reply-direction packet, rewrite src to origDst and dst to origSrc (and
  // ports alike); for an original-direction packet, dst to replySrc (DNAT) and src to replyDst (SNAT).
  // Addresses as int32 bits (`>>> 0` gives the u32): the established path rewrites with them at
  // every packet, and a u32 above 2^31 returned from a call the JIT does not inline is boxed.
  origSrc(slot: number): number {
    return this.rec[slot * REC_WORDS] | 0;
  }
  origDst(slot: number): number {
    return this.rec[slot * REC_WORDS + 1] | 0;
  }
  origSport(slot: number): number {
    return this.rec[slot * REC_WORDS + 2] >>> 16;
  }
  origDport(slot: number): number {
    return this.rec[slot * REC_WORDS + 2] & 0xffff;
  }
  replySrc(slot: number): number {
    return this.rec[slot * REC_WORDS + 3] | 0;
  }
  replyDst(slot: number): number {
    return this.rec[slot * REC_WORDS + 4] | 0;
  }
  replySport(slot: number): number {
    return this.rec[slot * REC_WORDS + 5] >>> 16;
  }
  replyDport(slot: number): number {
    return this.rec[slot * REC_WORDS + 5] & 0xffff;
  }
  /** DNAT target (endpoint address): the reply tuple's source. */
  natDstIp(slot: number): number {
    return this.replySrc(slot);
  }
  natDstPort(slot: number): number {
    return this.replySport(slot);
  }
  /** SNAT address (node address when masqueraded, else the client): the reply tuple's destination. */
  natSrcIp(slot: number): number {
    return this.replyDst(slot);
  }
  natSrcPort(slot: number): number {
    return this.replyDport(slot);
  }

  // ---- internals ----

  /** Every row free (meta 0), each linking the next through its word 0; -1 ends the list. */
  private linkFreeList(): void {
    const rec = this.rec;
    const max = this.maxEntries;
    for (let e = 0; e < max; e++) {
      rec[e * REC_WORDS] = e + 1 < max ? e + 1 : -1;
      rec[e * REC_WORDS + R_META] = 0;
    }
  }

  /** Lookup without touching counters or `dir` semantics (used by insert's clash check). */
  private lookupQuiet(src: number, dst: number, sport: number, dport: number, proto: number): number {
    const found = this.counters[C_FOUND];
    const r = this.lookup(src, dst, sport, dport, proto);
    this.counters[C_FOUND] = found;
    return r;
  }

  /** Files `ref` under hash `h`: the first empty slot from its home. */
  private indexAdd(h: number, ref: number): void {
    const index = this.index;
    const n = this.indexSlots;
    const home = this.home(h);
    let p = home;
    while (index[p] !== 0) p = p + 1 === n ? 0 : p + 1;
    index[p] = (this.tagOf(h) | this.distBitsOf(p, home) | ref) >>> 0;
  }

  /** The distance field for an item at slot p whose home is `home`. */
  private distBitsOf(p: number, home: number): number {
    const d = p >= home ? p - home : p + this.indexSlots - home;
    return (d < this.distCap ? d : this.distCap) << this.refBits;
  }

  /** The home slot of the item `v` at slot p: from its distance, or re-hashed from its entry when that is capped. */
  private homeAt(v: number, p: number): number {
    const d = (v >>> this.refBits) & this.distCap;
    if (d !== this.distCap) return p >= d ? p - d : p + this.indexSlots - d;
    const ref = (v & this.refMask) - 1;
    const e = ref >>> 1;
    const t = e * REC_WORDS + (ref & 1) * 3;
    const rec = this.rec;
    return this.home(hashTuple(this.seed, rec[t], rec[t + 1], rec[t + 2], (rec[e * REC_WORDS + R_META] >>> 8) & 0xff));
  }

  /**
   * Removes `ref` filed under hash `h`, by backward shift: later items of the same run move back
   * unless their home lies cyclically in (hole, their slot]. No tombstones, so a lookup's probe run
   * never grows with churn. O(run length) slots; an item's home comes from its distance field, so
   * only an item displaced 31 slots or more costs a read of its entry.
   */
  private indexRemove(h: number, ref: number): void {
    const index = this.index;
    const n = this.indexSlots;
    const refMask = this.refMask;
    let i = this.home(h);
    while ((index[i] & refMask) !== ref) {
      if (index[i] === 0) return;
      i = i + 1 === n ? 0 : i + 1;
    }
    let j = i;
    for (;;) {
      j = j + 1 === n ? 0 : j + 1;
      const v = index[j];
      if (v === 0) break;
      const home = this.homeAt(v, j);
      const stays = i <= j ? i < home && home <= j : i < home || home <= j;
      if (stays) continue;
      index[i] = ((v & ~(this.distCap << this.refBits)) | this.distBitsOf(i, home)) >>> 0;
      i = j;
    }
    index[i] = 0;
  }

  private removeEntry(e: number): void {
    const rec = this.rec;
    const r = e * REC_WORDS;
    const proto = (rec[r + R_META] >>> 8) & 0xff;
    this.indexRemove(hashTuple(this.seed, rec[r], rec[r + 1], rec[r + 2], proto), (e << 1) + 1);
    this.indexRemove(hashTuple(this.seed, rec[r + 3], rec[r + 4], rec[r + 5], proto), (e << 1) + 2);
    rec[r + R_META] = 0;
    this.endpoint[e] = -1;
    const hdr = this.header;
    rec[r] = hdr[H_FREE_HEAD];
    hdr[H_FREE_HEAD] = e;
    hdr[H_COUNT]--;
    if (proto === PROTO_TCP) hdr[H_TCP_COUNT]--;
  }

  /**
   * A full LRU map: from the new tuple's bucket, scan the eviction range and evict the entry
   * refreshed longest ago (lowest expiry; the kernel's BPF LRU keeps per-CPU lists, an
   * approximation of the same order), among the entries of `which` map (LRU_ANY, LRU_TCP,
   * LRU_OTHER). A map that has no entry in the range scans on until it finds one (the kernel's
   * LRU always has a victim): O(indexSlots / entries of that map) more slots. Returns whether one
   * was evicted. No allocation.
   */
  private evictLru(h: number, which: number): boolean {
    const index = this.index;
    const rec = this.rec;
    const recF64 = this.recF64;
    const n = this.indexSlots;
    const width = this.bucketWidth;
    const range = kEvictionRange * width;
    const home = this.home(h);
    let p = home - (home & (width - 1));
    let victim = -1;
    for (let k = 0; k < range || (victim < 0 && k < n); k++, p = p + 1 === n ? 0 : p + 1) {
      const v = index[p];
      if (v === 0) continue;
      const e = ((v & this.refMask) - 1) >>> 1;
      if (which !== LRU_ANY && (((rec[e * REC_WORDS + R_META] >>> 8) & 0xff) === PROTO_TCP) !== (which === LRU_TCP)) continue;
      if (victim < 0 || recF64[e * (REC_WORDS / 2) + R_EXPIRES_F64] < recF64[victim * (REC_WORDS / 2) + R_EXPIRES_F64]) victim = e;
    }
    if (victim < 0) return false;
    this.removeEntry(victim);
    this.counters[C_LRU_EVICTED]++;
    return true;
  }

  /**
   * The kernel's early_drop: from the new tuple's bucket, scan up to kEvictionRange buckets; in
   * each, reap expired entries and evict every entry that is not ASSURED; stop at the first bucket
   * that evicted anything. Returns whether room was made.
   */
  private earlyDrop(h: number): boolean {
    const now = this.clock[0];
    const index = this.index;
    const rec = this.rec;
    const recF64 = this.recF64;
    const n = this.indexSlots;
    const width = this.bucketWidth;
    const home = this.home(h);
    let start = home - (home & (width - 1));
    let reaped = false;
    for (let b = 0; b < kEvictionRange; b++) {
      let dropped = 0;
      // The last bucket may be short: the index need not be a multiple of the width.
      const end = start + width < n ? start + width : n;
      let p = start;
      while (p < end) {
        const v = index[p];
        if (v === 0) {
          p++;
          continue;
        }
        const e = ((v & this.refMask) - 1) >>> 1;
        if (recF64[e * (REC_WORDS / 2) + R_EXPIRES_F64] <= now) {
          // Removing may shift another item into p: look at p again.
          this.removeEntry(e);
          this.counters[C_EXPIRED]++;
          reaped = true;
        } else if ((rec[e * REC_WORDS + R_META] & IPS_ASSURED) === 0) {
          this.removeEntry(e);
          dropped++;
        } else {
          p++;
        }
      }
      if (dropped > 0) {
        this.counters[C_EARLY_DROP] += dropped;
        return true;
      }
      start = end === n ? 0 : end;
    }
    return reaped;
  }
}
