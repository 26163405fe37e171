/**
 * Overlay encapsulation and decapsulation in place (VXLAN, IP-in-IP), a batch of BATCH packets
 * of mixed lengths through one tunnel: what the pipeline's encap and decap stages pay per packet.
 * Run: node dist/bench/net/encap.bench.js   (knobs: BATCH, SEED, TIME)
 */
import { PacketBatch } from '../../src/net/batch.js';
import { ipipDecap, ipipEncap, ipipTunnel } from '../../src/net/ipip.js';
import { mix32 } from '../../src/net/hash.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { vxlanDecap, vxlanEncap, vxlanTunnel } from '../../src/net/vxlan.js';
import { knobs, newBench, report, sink } from '../common.js';

const n = knobs.batch;
const batch = new PacketBatch({ capacity: n });
for (let k = 0; k < n; k++) batch.push(PROTO_TCP, (0x0a800000 + k) >>> 0, 1024 + k, 0x0a600001, 80, mix32(knobs.seed, k) % 1400);
const vxlan = vxlanTunnel({ srcIp: 0xc0a8010a, dstIp: 0xc0a80114 });
const ipip = ipipTunnel({ srcIp: 0xc0a8010a, dstIp: 0xc0a80114 });

const bench = newBench(`overlay headers, a batch of ${n} packets`);
bench
  .add('VXLAN encap + decap', () => {
    let ok = 0;
    for (let i = 0; i < n; i++) ok += vxlanEncap(batch, i, vxlan) ? 1 : 0;
    for (let i = 0; i < n; i++) ok += vxlanDecap(batch, i) ? 1 : 0;
    sink.value ^= ok;
  })
  .add('IP-in-IP encap + decap', () => {
    let ok = 0;
    for (let i = 0; i < n; i++) ok += ipipEncap(batch, i, ipip) ? 1 : 0;
    for (let i = 0; i < n; i++) ok += ipipDecap(batch, i) ? 1 : 0;
    sink.value ^= ok;
  });
await bench.run();
report(bench, Object.fromEntries(bench.tasks.map((t) => [t.name, n])));
