/**
 * IPv4 longest-prefix-match route table with per-route next-hop data, built once from a list of
 * (CIDR, next hop) entries, looked up without allocation, shareable as one buffer.
 *
 * Structure: the prefixes are flattened into disjoint address intervals (the "elementary
 * intervals" of the nested prefix set), each owned by the longest prefix covering it, stored as
 * a sorted `starts: Uint32Array` plus `owner: Int32Array` (route index, -1 = no route). A lookup
 * is "the last interval starting at or before ip", found by a binary search narrowed by a
 * direct-indexed table on the top `dirBits` bits of the address (`dir[k]` = first interval whose
 * start is >= k << (32 - dirBits)). A bucket holding more interval starts than the table's
 * `dense` count is narrowed once more, to the /24: `dir[k]` is then `~g`, and `fine[g + j]` the
 * first interval starting at or after the bucket's j-th /24 (a group of 2^(24 - dirBits) + 1
 * entries). So where a /24 lies in one interval (inside a pod block of /24 or wider) a lookup is
 * two table reads and no search, and Calico's /26 blocks leave at most four intervals to a /24 (a
 * two-step search): a cluster's pod CIDR otherwise puts every block in one bucket, and its binary
 * search's mispredicted steps were most of the lookup (see its cost note).
 *
 * `dirBits` and `dense` are chosen at build: the fewest entries of directory and groups with
 * `dense` 1 (every bucket with more than one interval narrowed), doubling `dense` only while
 * that would exceed max(2^16, n) entries, so the directory and groups cost at most 4 bytes an
 * interval beyond 256 KB.
 *
 * Why not DIR-24-8 (Gupta et al., the DPDK LPM): its 2^24-entry first level costs 32-64 MB before
 * the first route, and every /24 holding /32 pod routes costs a 256-entry second-level group, so
 * 1M /32s spread over 100k /24s need ~100 MB more. The interval form costs 8 bytes per interval,
 * at most 2 intervals per route, plus 22 bytes of next-hop data per route and the directory
 * above; lookups stay O(log n) in the densest /24 (a multibit trie would take fewer memory reads
 * there, at several times the memory).
 *
 * Buffer layout (8-byte aligned sections after a 64-byte header):
 *   dir Int32Array(2^dirBits + 1), fine Int32Array(f), starts Uint32Array(n), owner Int32Array(n),
 *   base Uint32Array(R), gateway Uint32Array(R), node Int32Array(R), oif Int32Array(R),
 *   meta Uint32Array(R), prefix Uint8Array(R), kind Uint8Array(R)
 * Header u32 words: 0 magic, 1 version, 2 routes R, 3 intervals n, 4 dirBits, 5 fine entries f,
 * 6 dense.
 */
import { InvalidArgumentError } from '../errors.js';
import type { Cidr } from '../net/ipv4.js';
import { prefixMask } from '../net/ipv4.js';

/** Output interface kinds, as small integer codes: `ROUTE_KIND_NAMES[code]`. */
export const ROUTE_KIND_NAMES = ['none', 'veth', 'cbr0', 'vxlan.calico', 'tunl0', 'flannel.1', 'eth0', 'local', 'blackhole'] as const;
export type RouteKindName = (typeof ROUTE_KIND_NAMES)[number];
export const RK_NONE = 0;
/** A pod's veth on this node (Calico: `cali*`, routed /32). */
export const RK_VETH = 1;
/** The node's pod bridge (kubenet `cbr0`, flannel `cni0`: pod-network.ts bridgeName). */
export const RK_BRIDGE = 2;
/** Calico VXLAN overlay (`vxlan.calico`). */
export const RK_VXLAN = 3;
/** Calico IP-in-IP overlay (`tunl0`). */
export const RK_IPIP = 4;
/** Flannel VXLAN overlay (`flannel.1`). */
export const RK_FLANNEL = 5;
/** The underlay NIC (`eth0`): direct or via a gateway. */
export const RK_UNDERLAY = 6;
/** Addresses of this node (the `local` table). */
export const RK_LOCAL = 7;
/** Unreachable (Calico installs blackhole routes for its own blocks). */
export const RK_BLACKHOLE = 8;

export interface RouteSpec {
  readonly cidr: Cidr;
  /** RK_* code. */
  readonly kind: number;
  /** Next-hop node index, -1 (default) when the route does not leave through a node. */
  readonly node?: number;
  /** Gateway / next-hop address as u32, 0 (default) for a directly connected route. */
  readonly gateway?: number;
  /** Output interface number (e.g. the veth's pod row), -1 by default. */
  readonly oif?: number;
  /** Free route metadata (protocol, scope, flags), 0 by default. */
  readonly meta?: number;
}

const MAGIC = 0x5452444b; // 'KDRT'
const VERSION = 2;
const HEADER_BYTES = 64;

function align8(n: number): number {
  return (n + 7) & ~7;
}

function layout(routes: number, intervals: number, dirBits: number, fineEntries: number) {
  let o = HEADER_BYTES;
  const dir = o;
  o = align8(o + 4 * ((1 << dirBits) + 1));
  const fine = o;
  o = align8(o + 4 * fineEntries);
  const starts = o;
  o = align8(o + 4 * intervals);
  const owner = o;
  o = align8(o + 4 * intervals);
  const base = o;
  o = align8(o + 4 * routes);
  const gateway = o;
  o = align8(o + 4 * routes);
  const node = o;
  o = align8(o + 4 * routes);
  const oif = o;
  o = align8(o + 4 * routes);
  const meta = o;
  o = align8(o + 4 * routes);
  const prefix = o;
  o = align8(o + routes);
  const kind = o;
  o = align8(o + routes);
  return { dir, fine, starts, owner, base, gateway, node, oif, meta, prefix, kind, total: o };
}

export class RouteTable {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  readonly routeCount: number;
  readonly intervalCount: number;
  readonly dirBits: number;
  /** Buckets with more interval starts than this have a /24 group in `fine`. */
  readonly dense: number;
  readonly dir: Int32Array;
  readonly fine: Int32Array;
  readonly starts: Uint32Array;
  readonly owner: Int32Array;
  readonly base: Uint32Array;
  readonly prefix: Uint8Array;
  readonly kind: Uint8Array;
  readonly node: Int32Array;
  readonly gateway: Uint32Array;
  readonly oif: Int32Array;
  readonly meta: Uint32Array;
  private readonly shift: number;
  /** A dense bucket's /24 of an address: (ip >>> 8) & fineMask. */
  private readonly fineMask: number;

  /** A view over a buffer made by `RouteTable.build` (use `RouteTable.from`). */
  constructor(buffer: ArrayBuffer | SharedArrayBuffer) {
    if (buffer.byteLength < HEADER_BYTES) throw new InvalidArgumentError('buffer is too small to be a route table');
    const h = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
    if (h[0] !== MAGIC) throw new InvalidArgumentError('buffer is not a route table (bad magic)');
    if (h[1] !== VERSION) throw new InvalidArgumentError(`route table version ${h[1]} is not supported`);
    const routes = h[2];
    const intervals = h[3];
    const dirBits = h[4];
    const fineEntries = h[5];
    const lay = layout(routes, intervals, dirBits, fineEntries);
    if (buffer.byteLength < lay.total) throw new InvalidArgumentError('buffer is shorter than its header says');
    this.buffer = buffer;
    this.routeCount = routes;
    this.intervalCount = intervals;
    this.dirBits = dirBits;
    this.dense = h[6];
    this.shift = 32 - dirBits;
    this.fineMask = (1 << (24 - dirBits)) - 1;
    this.dir = new Int32Array(buffer, lay.dir, (1 << dirBits) + 1);
    this.fine = new Int32Array(buffer, lay.fine, fineEntries);
    this.starts = new Uint32Array(buffer, lay.starts, intervals);
    this.owner = new Int32Array(buffer, lay.owner, intervals);
    this.base = new Uint32Array(buffer, lay.base, routes);
    this.gateway = new Uint32Array(buffer, lay.gateway, routes);
    this.node = new Int32Array(buffer, lay.node, routes);
    this.oif = new Int32Array(buffer, lay.oif, routes);
    this.meta = new Uint32Array(buffer, lay.meta, routes);
    this.prefix = new Uint8Array(buffer, lay.prefix, routes);
    this.kind = new Uint8Array(buffer, lay.kind, routes);
  }

  static from(buffer: ArrayBuffer | SharedArrayBuffer): RouteTable {
    return new RouteTable(buffer);
  }

  /**
   * Compiles routes. Route indexes in lookups are positions in `routes`; when the same CIDR is
   * listed twice the later entry wins (the earlier one never matches).
   */
  static build(routes: readonly RouteSpec[], options: { readonly shared?: boolean } = {}): RouteTable {
    const R = routes.length;
    for (let i = 0; i < R; i++) {
      const r = routes[i];
      const p = r.cidr.prefix;
      if (!Number.isInteger(p) || p < 0 || p > 32) throw new InvalidArgumentError(`routes[${i}].cidr.prefix must be an integer in [0, 32]`);
      if (!Number.isInteger(r.cidr.base) || r.cidr.base < 0 || r.cidr.base > 0xffffffff || ((r.cidr.base & prefixMask(p)) >>> 0) !== r.cidr.base) {
        throw new InvalidArgumentError(`routes[${i}].cidr.base must be a u32 network address with no host bits set`);
      }
      if (!Number.isInteger(r.kind) || r.kind < 0 || r.kind >= ROUTE_KIND_NAMES.length) {
        throw new InvalidArgumentError(`routes[${i}].kind must be an RK_* code`);
      }
    }
    // Containing prefixes before contained ones; among duplicates the later entry sorts last.
    const order = Array.from({ length: R }, (_, i) => i);
    order.sort((a, b) => routes[a].cidr.base - routes[b].cidr.base || routes[a].cidr.prefix - routes[b].cidr.prefix || a - b);
    const uniq: number[] = [];
    for (const i of order) {
      const n = uniq.length;
      if (n > 0 && routes[uniq[n - 1]].cidr.base === routes[i].cidr.base && routes[uniq[n - 1]].cidr.prefix === routes[i].cidr.prefix) uniq[n - 1] = i;
      else uniq.push(i);
    }

    // Sweep: a stack of open prefixes (each nested in the one below); every prefix start and every
    // prefix end + 1 starts a new interval owned by the innermost open prefix.
    const starts: number[] = [];
    const owner: number[] = [];
    const emit = (start: number, route: number): void => {
      const n = starts.length;
      if (n > 0 && starts[n - 1] === start) {
        owner[n - 1] = route;
        if (n > 1 && owner[n - 2] === route) {
          starts.pop();
          owner.pop();
        }
        return;
      }
      if (n > 0 && owner[n - 1] === route) return;
      starts.push(start);
      owner.push(route);
    };
    const last = (i: number): number => routes[i].cidr.base + 2 ** (32 - routes[i].cidr.prefix) - 1;
    const stack: number[] = [];
    const closeUntil = (addr: number): void => {
      while (stack.length > 0 && last(stack[stack.length - 1]) < addr) {
        const end = last(stack.pop()!);
        if (end < 0xffffffff) emit(end + 1, stack.length > 0 ? stack[stack.length - 1] : -1);
      }
    };
    emit(0, -1);
    for (const i of uniq) {
      closeUntil(routes[i].cidr.base);
      emit(routes[i].cidr.base, i);
      stack.push(i);
    }
    closeUntil(2 ** 32);

    const n = starts.length;
    // First interval starting at or after `addr`, for ascending addresses (starts[0] = 0).
    let j = 0;
    const firstFrom = (addr: number): number => {
      while (j < n && starts[j] < addr) j++;
      return j;
    };
    // Every /16's first interval; a coarser bucket's is its first /16's.
    const lo16 = new Int32Array((1 << 16) + 1);
    for (let k = 0; k <= 1 << 16; k++) lo16[k] = firstFrom(k * 2 ** 16);
    const groupsAt = (bits: number, dense: number): number => {
      const step = 1 << (16 - bits);
      let groups = 0;
      for (let k = 0; k < 1 << bits; k++) if (lo16[(k + 1) * step] - lo16[k * step] > dense) groups++;
      return groups;
    };
    const budget = Math.max(1 << 16, n);
    let dirBits = 16;
    let dense = 1;
    let entries = Infinity;
    for (;; dense *= 2) {
      for (let bits = 8; bits <= 16; bits++) {
        const e = (1 << bits) + 1 + groupsAt(bits, dense) * ((1 << (24 - bits)) + 1);
        if (e < entries) {
          entries = e;
          dirBits = bits;
        }
      }
      if (entries <= budget) break;
    }
    const step = 1 << (16 - dirBits);
    const buckets = 1 << dirBits;
    const groupSize = (1 << (24 - dirBits)) + 1;
    const fineEntries = entries - (buckets + 1);
    const lay = layout(R, n, dirBits, fineEntries);
    const buffer = options.shared ? new SharedArrayBuffer(lay.total) : new ArrayBuffer(lay.total);
    const h = new Uint32Array(buffer, 0, HEADER_BYTES / 4);
    h[0] = MAGIC;
    h[1] = VERSION;
    h[2] = R;
    h[3] = n;
    h[4] = dirBits;
    h[5] = fineEntries;
    h[6] = dense;
    const t = new RouteTable(buffer);
    for (let i = 0; i < n; i++) {
      t.starts[i] = starts[i];
      t.owner[i] = owner[i];
    }
    j = 0;
    for (let k = 0, g = 0; k <= buckets; k++) {
      const lo = lo16[k * step];
      if (k === buckets || lo16[(k + 1) * step] - lo <= dense) {
        t.dir[k] = lo;
        continue;
      }
      t.dir[k] = ~g;
      for (let s = 0; s < groupSize; s++) t.fine[g + s] = firstFrom(k * 2 ** (32 - dirBits) + s * 256);
      g += groupSize;
    }
    for (let i = 0; i < R; i++) {
      const r = routes[i];
      t.base[i] = r.cidr.base;
      t.prefix[i] = r.cidr.prefix;
      t.kind[i] = r.kind;
      t.node[i] = r.node ?? -1;
      t.gateway[i] = r.gateway ?? 0;
      t.oif[i] = r.oif ?? -1;
      t.meta[i] = r.meta ?? 0;
    }
    return t;
  }

  /** Index of the longest prefix containing `ip` (a u32, or its int32 bits), or -1. */
  // Cost: ~5.1 ns a lookup on a synthetic cluster's node table (its /19 blocks: every /24 in one
  // interval; `BLOCKS=2 PREFIX=19 TIME=1500 node dist/bench/dataplane/route-table.bench.js`),
  // ~18 ns over 160 /26 blocks in one bucket (four to a /24; the bench's default), random pod
  // addresses, 2026-12-05; when 8070c85 added the /24 level, a script of the same lookups measured
  // ~10-11 and ~38-44 ns for the binary search alone. The route stage's time in the pipeline, two
  // lookups a packet, is route.ts's cost note.
  lookup(ip: number): number {
    ip >>>= 0;
    const starts = this.starts;
    const k = ip >>> this.shift;
    let lo = this.dir[k];
    let hi: number;
    if (lo < 0) {
      // A dense bucket: the intervals of the address's /24 only.
      const f = ~lo + ((ip >>> 8) & this.fineMask);
      lo = this.fine[f];
      hi = this.fine[f + 1];
    } else {
      hi = this.dir[k + 1];
      if (hi < 0) hi = this.fine[~hi];
    }
    // Find the first interval starting after ip; the answer is the one before it. starts[0] = 0,
    // so where lo is 0 (the first bucket, or its first /24) the loop moves it to at least 1, and
    // elsewhere lo >= 1 already.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (starts[mid] <= ip) lo = mid + 1;
      else hi = mid;
    }
    return this.owner[lo - 1];
  }

  /** Bytes of the whole buffer. */
  get byteLength(): number {
    return this.buffer.byteLength;
  }
}
