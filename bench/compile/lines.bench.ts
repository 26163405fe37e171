/**
 * The cache lines a first packet's decision reads, table by table: what a lookup costs when its
 * tables are out of cache, where a line is one random read (BENCHMARKS.md's limits) and the
 * lines of a batch's decisions are all the misses its prefetch can overlap. A count, not a time:
 * the same on every run and machine, so an encoding change can be judged by it before the
 * pipeline's noisy timings.
 *
 * Each mode's dataplane is built as a replay worker builds it, over its shared image (image.ts);
 * every typed array of that image, and of the per-instance state attach() adds, is wrapped in a
 * proxy that notes the bytes a decision reads. Lines are 64 bytes, counted with the image's
 * buffer at a line's start and 16 bytes past one (where glibc's malloc puts a large buffer), for
 * ClusterIP first packets from pods, as lookup.bench.ts sends them (at the socket where the mode
 * balances there: Cilium). Also the decisions' working set: the distinct lines all of them read
 * (buffer at a line's start), which the caches must hold for a mode's lookups to hit them; with
 * DECISIONS several times the ports times their endpoints, about every line a first packet can read.
 * Run: SERVICES=30000 MODES=nftables,ipvs node dist/bench/compile/lines.bench.js   (knobs: SERVICES,
 * ENDPOINTS, MODES, SEED, DECISIONS)
 */
import { newFirstPacket, newNatDecision } from '../../src/compile/dataplane.js';
import { dataplaneImage } from '../../src/compile/image.js';
import { compileDataplane, modeNamed } from '../../src/compile/index.js';
import { unpackTables } from '../../src/compile/table-image.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { clusterIpTraffic, envInt, knobs, loadPacket, podDecisionHook } from '../common.js';

const kDecisions = envInt('DECISIONS', 2000);
const kLine = 64;
// Where glibc's malloc puts a buffer of a large image: 16 bytes (its chunk header) past a page.
const kMallocPhase = 16;

type Reads = Map<string, Set<number>>;
type Typed = Uint8Array | Uint16Array | Uint32Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** The decision's reads so far (null between decisions): byte offsets in each array's buffer, by the array's path. */
let reads: Reads | null = null;
const wrapped = new WeakSet<object>();
/** Each wrapped array's size in bytes, by its path. */
const sizes = new Map<string, number>();

function isTyped(v: unknown): v is Typed {
  return ArrayBuffer.isView(v) && !(v instanceof DataView);
}

/** `arr` behind a proxy that notes every element read while a decision runs. */
function noting(arr: Typed, path: string): Typed {
  const proxy = new Proxy(arr, {
    get(t, k) {
      if (typeof k === 'string') {
        const c = k.charCodeAt(0);
        if (c >= 48 && c <= 57) {
          if (reads !== null) {
            let s = reads.get(path);
            if (s === undefined) reads.set(path, (s = new Set()));
            s.add(t.byteOffset + Number(k) * t.BYTES_PER_ELEMENT);
          }
          return t[Number(k)];
        }
      }
      const v: unknown = Reflect.get(t, k, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
    set(t, k, v) {
      return Reflect.set(t, k, v, t);
    },
  });
  wrapped.add(proxy);
  sizes.set(path, arr.byteLength);
  return proxy;
}

/** Wraps every typed array held by `o` and the objects and arrays it holds, to `depth` levels. */
function wrapAll(o: unknown, path: string, depth: number, seen: Set<object>): void {
  if (o === null || typeof o !== 'object' || seen.has(o) || wrapped.has(o) || depth < 0 || o instanceof Map || o instanceof Set) return;
  seen.add(o);
  const rec = o as Record<string, unknown>;
  for (const k of Object.keys(rec)) {
    const v = rec[k];
    if (isTyped(v) && !wrapped.has(v)) Object.defineProperty(rec, k, { value: noting(v, `${path}.${k}`), writable: true, configurable: true, enumerable: true });
    else if (Array.isArray(v)) v.forEach((x, j) => wrapAll(x, `${path}.${k}[${j}]`, depth - 1, seen));
    else wrapAll(v, `${path}.${k}`, depth - 1, seen);
  }
}

console.log(`cache lines a decision reads, ${knobs.services.toLocaleString('en-US')} Services x ${knobs.endpoints} endpoints, ${kDecisions.toLocaleString('en-US')} ClusterIP first packets from pods (lines: the image's buffer at a line's start / ${kMallocPhase} bytes past one)`);
for (const name of knobs.modes) {
  const mode = modeNamed(name);
  // Each mode's own cluster, as `kdp bench` makes a cell's: Cilium's sizes its service map (synthetic.ts).
  const cluster = generateCluster({ services: knobs.services, endpoints: knobs.endpoints, nodes: 2, cni: 'calico-vxlan', seed: knobs.seed, mode: name });
  const traffic = clusterIpTraffic(cluster, cluster.ports.filter((p) => cluster.services[p.service].clusterIPs.length > 0), kDecisions);
  const image = dataplaneImage(compileDataplane(cluster, name, 0));
  const tables = unpackTables<unknown>(image.tables, mode.sharedClasses);
  wrapAll(tables, name, 6, new Set());
  const dp = mode.attach(cluster, tables);
  wrapAll(dp, name, 6, new Set());
  const pkt = newFirstPacket();
  pkt.hook = podDecisionHook(dp);
  pkt.fromPodInterface = true;
  pkt.now = 0;
  const out = newNatDecision();
  const byArray = new Map<string, { lines: number; malloc: number; words: number }>();
  const workingSet = new Set<string>();
  for (let i = 0; i < kDecisions; i++) {
    loadPacket(pkt, traffic, i);
    reads = new Map();
    dp.decide(pkt, out);
    const these: Reads = reads;
    reads = null;
    for (const [path, offsets] of these) {
      const e = byArray.get(path) ?? { lines: 0, malloc: 0, words: 0 };
      const lines = new Set([...offsets].map((b) => Math.floor(b / kLine)));
      for (const line of lines) workingSet.add(`${path}:${line}`);
      e.lines += lines.size;
      e.malloc += new Set([...offsets].map((b) => Math.floor((b + kMallocPhase) / kLine))).size;
      e.words += offsets.size;
      byArray.set(path, e);
    }
  }
  const rows = [...byArray].sort((a, b) => b[1].malloc - a[1].malloc);
  const sum = (f: (e: { lines: number; malloc: number }) => number): string => (rows.reduce((s, [, e]) => s + f(e), 0) / kDecisions).toFixed(2);
  console.log(`\n${name}: ${sum((e) => e.lines)} / ${sum((e) => e.malloc)} lines a decision; working set ${formatBytes(workingSet.size * kLine)} (${workingSet.size.toLocaleString('en-US')} lines)`);
  for (const [path, e] of rows) {
    console.log(`  ${(e.lines / kDecisions).toFixed(2).padStart(6)} / ${(e.malloc / kDecisions).toFixed(2).padStart(5)} lines, ${(e.words / kDecisions).toFixed(1).padStart(6)} words of ${formatBytes(sizes.get(path) ?? 0).padStart(9)}  ${path}`);
  }
}

function formatBytes(n: number): string {
  return n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(0)} KiB` : `${n} B`;
}
