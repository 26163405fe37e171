/**
 * Conntrack: lookups that hit (both directions) and miss, and insert + delete, in a table holding
 * FLOWS live entries (default 100,000; the sweep's cells hold up to ~1M per node), random order.
 * Run: node dist/bench/dataplane/conntrack.bench.js   (knobs: FLOWS, BATCH, SEED, TIME)
 */
import { ConntrackTable, DIR_ORIGINAL } from '../../src/dataplane/conntrack.js';
import { mix32 } from '../../src/net/hash.js';
import { knobs, newBench, report, sink } from '../common.js';
import { PROTO_TCP } from '../../src/net/proto.js';

const n = knobs.flows;
const ct = new ConntrackTable({ maxEntries: Math.ceil(n * 1.25) + 1024 });
const src = new Uint32Array(n);
const dst = new Uint32Array(n);
const sport = new Uint16Array(n);
const ep = new Uint32Array(n);
for (let i = 0; i < n; i++) {
  src[i] = (0x0a800000 + (mix32(knobs.seed, i) & 0xfffff)) >>> 0;
  dst[i] = (0x0a600000 + (mix32(knobs.seed, i + n) & 0xffff)) >>> 0;
  sport[i] = 1024 + (i % 64000);
  ep[i] = (0x0a810000 + (mix32(knobs.seed ^ 1, i) & 0xffff)) >>> 0;
  ct.insert(src[i], dst[i], sport[i], 80, PROTO_TCP, ep[i], src[i], 8080, sport[i], 0x02);
}
ct.now = 1;
const batch = knobs.batch;
const order = new Uint32Array(batch * 64);
for (let i = 0; i < order.length; i++) order[i] = mix32(knobs.seed ^ 7, i) % n;
let cursor = 0;
const next = (): number => {
  const k = order[cursor];
  cursor = (cursor + 1) % order.length;
  return k;
};

// A batch's packets as PREROUTING holds them (their tuples in the batch, in cache), for the task below.
const bSrc = new Uint32Array(batch);
const bDst = new Uint32Array(batch);
const bSport = new Uint16Array(batch);
const bHash = new Int32Array(batch);
const bWarm = new Int32Array(batch);

const bench = newBench(`conntrack, ${n.toLocaleString('en-US')} live entries (${(ct.buffer.byteLength / 1e6).toFixed(0)} MB, ${ct.bytesPerEntry.toFixed(0)} B/entry)`);
bench
  .add('lookup hit, original direction', () => {
    let s = 0;
    for (let b = 0; b < batch; b++) {
      const k = next();
      s += ct.lookup(src[k], dst[k], sport[k], 80, PROTO_TCP);
    }
    sink.value ^= s;
  })
  .add('lookup hit, reply direction', () => {
    let s = 0;
    for (let b = 0; b < batch; b++) {
      const k = next();
      s += ct.lookup(ep[k], src[k], 8080, sport[k], PROTO_TCP) + (ct.dir === DIR_ORIGINAL ? 1 : 0);
    }
    sink.value ^= s;
  })
  .add('lookup hit, a batch as PREROUTING takes it (hash all, touchIndex all, touchEntry all, then look up)', () => {
    for (let b = 0; b < batch; b++) {
      const k = next();
      bSrc[b] = src[k];
      bDst[b] = dst[k];
      bSport[b] = sport[k];
    }
    for (let b = 0; b < batch; b++) bHash[b] = ct.hashOf(bSrc[b], bDst[b], bSport[b], 80, PROTO_TCP);
    for (let b = 0; b < batch; b++) bWarm[b] = ct.touchIndex(bHash[b]);
    for (let b = 0; b < batch; b++) bWarm[b] = ct.touchEntry(bWarm[b]);
    let s = 0;
    for (let b = 0; b < batch; b++) s += ct.lookupHashed(bHash[b], bSrc[b], bDst[b], bSport[b], 80, PROTO_TCP);
    sink.value ^= s;
  })
  .add('lookup miss', () => {
    let s = 0;
    for (let b = 0; b < batch; b++) {
      const k = next();
      s += ct.lookup(src[k], dst[k], sport[k], 81, PROTO_TCP);
    }
    sink.value ^= s;
  })
  .add('insert + delete (a new flow that closes)', () => {
    let s = 0;
    for (let b = 0; b < batch; b++) {
      const k = next();
      const slot = ct.insert(src[k], dst[k], sport[k], 443, PROTO_TCP, ep[k], src[k], 8443, sport[k], 0x02);
      if (slot >= 0) ct.delete(slot);
      s += slot;
    }
    sink.value ^= s;
  });
await bench.run();
const per = Object.fromEntries(bench.tasks.map((t) => [t.name, batch]));
report(bench, per);
// ~100-250 ns/lookup at 100k entries (random probes over ~9 MB; this sandbox, loaded).
