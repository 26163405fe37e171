/**
 * The route table's lookup (RouteTable.lookup) for random pod addresses, on a node table of
 * BLOCKS pod blocks of /PREFIX (default 160 x /26, Calico's: four blocks to a /24, every block in
 * one directory bucket) beside a default route and the node's own address; BLOCKS=2 PREFIX=19 is
 * a synthetic cluster's node table (every /24 in one interval).
 * Run: node dist/bench/dataplane/route-table.bench.js   (knobs: BLOCKS, PREFIX, SEED, TIME)
 */
import { RK_LOCAL, RK_UNDERLAY, RK_VETH, RK_VXLAN, RouteTable, type RouteSpec } from '../../src/dataplane/route-table.js';
import { mix32 } from '../../src/net/hash.js';
import { envInt, knobs, newBench, report, sink } from '../common.js';

const blocks = envInt('BLOCKS', 160);
const prefix = envInt('PREFIX', 26);
if (prefix < 8 || prefix > 32) throw new RangeError(`PREFIX must be 8 to 32, not ${prefix}`);
const size = 2 ** (32 - prefix);
const podBase = 0x0af40000;
const routes: RouteSpec[] = [
  { cidr: { base: 0, prefix: 0 }, kind: RK_UNDERLAY },
  { cidr: { base: 0xc0a80001, prefix: 32 }, kind: RK_LOCAL },
];
for (let b = 0; b < blocks; b++) routes.push({ cidr: { base: (podBase + b * size) >>> 0, prefix }, kind: b % 2 ? RK_VXLAN : RK_VETH, node: b % 2 });
const table = RouteTable.build(routes);
const n = 1 << 16;
const addrs = new Uint32Array(n);
for (let i = 0; i < n; i++) addrs[i] = (podBase + (mix32(knobs.seed, i) % (blocks * size))) >>> 0;
let cursor = 0;
const bench = newBench(`route lookup, ${blocks} x /${prefix} pod blocks (${table.intervalCount} intervals, dirBits ${table.dirBits}, dense ${table.dense})`);
bench.add('lookup of a random pod address (x256)', () => {
  let s = 0;
  for (let k = 0; k < 256; k++) {
    s += table.lookup(addrs[cursor]);
    cursor = (cursor + 1) & (n - 1);
  }
  sink.value ^= s;
});
await bench.run();
report(bench);
