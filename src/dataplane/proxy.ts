/**
 * kube-proxy's userspace mode, the oldest: a packet redirected to the proxy's port is read by
 * the proxy process, which writes the payload into its own connection to the endpoint (from the
 * node's address), and copies replies back the same way. Every packet of the flow crosses user
 * space: the payload is copied twice (socket to proxy buffer, buffer to the other socket), which
 * is the real cost of this mode and is done here for real, byte for byte.
 *
 * Reads:  batch.ctSlot, conntrack mark (client or server side of the proxy)
 * Writes: batch src/dst and TTL (the packet becomes the proxy's own), meta hook (OUTPUT), proxyClientSlot
 * Next:   prerouting (the proxy's packet leaves through OUTPUT) | done (no endpoint)
 * Counts: proxyCopiedBytes; drops service-reject (no endpoint to connect to)
 */
import { HOOK_OUTPUT } from '../compile/dataplane.js';
import { mix32 } from '../net/hash.js';
import type { PacketBatch } from '../net/batch.js';
import type { ConntrackTable } from './conntrack.js';
import { formatIp } from '../net/ipv4.js';
import { ipv4SetTtl } from '../net/ipv4-header.js';
import type { PipelineContext } from './context.js';
import { DROP_SERVICE_REJECT, NEXT_PREROUTING } from './next.js';
import { kProxyPortMin, kProxyPortSpan, MARK_PORT_MASK, MARK_PROXY_CLIENT, MARK_PROXY_SERVER, MARK_SLOT_MASK } from './proxy-marks.js';

/** The proxy's socket buffers: receive, user-space, send; 64 KiB each, enough for any segment. */
const kBufferBytes = 65536;


// Cost: nothing outside userspace mode (runBatch skips a stage with no packet bound for it); ~76 ns per established packet of a userspace cell at batch 256, 100 Services (~96 per packet of the cell), ~135 at 30k (~188) (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md: a result's establishedStages and stages, 1 worker, 1,000,000 flows).
export function proxy(ctx: PipelineContext, batch: PacketBatch): void {
  const next = batch.next;
  const rec = ctx.recorder;
  const buf = ctx.proxyBuffer;
  const world = ctx.world;
  const eps = world.cluster.endpoints;
  const nodes = world.plan.nodes;
  const counters = ctx.counters;
  const { proxyClientSlot, hook, fromPod, dnatted, redirected } = ctx.meta;
  // The frame: only the packets bound for this stage (runBatch), never a pass over the batch.
  const frame = ctx.frame;
  const m = ctx.frameCount;
  for (let k = 0; k < m; k++) {
    const i = frame[k];
    const node = batch.node[i];
    const ct = world.conntrack(node);
    const slot = batch.ctSlot[i];
    const mark = ct.markOf(slot);
    const payload = batch.wireLen[i] - batch.hdrLen[i];
    const len = payload < kBufferBytes ? payload : kBufferBytes;
    buf.copyWithin(kBufferBytes, 0, len); // read(): socket buffer -> proxy
    buf.copyWithin(2 * kBufferBytes, kBufferBytes, kBufferBytes + len); // write(): proxy -> socket
    counters.proxyCopiedBytes += 2 * len;
    if ((mark & MARK_PROXY_CLIENT) !== 0) {
      const row = ct.endpoint[slot];
      if (row < 0) {
        ctx.drop(batch, i, DROP_SERVICE_REJECT);
        continue;
      }
      // The first packet's connect() starts from a port derived from the client flow, the same on
      // every shard, and skips the ports whose 4-tuple to this endpoint is still held, as
      // __inet_hash_connect skips a busy one (a live conntrack entry standing for the old socket;
      // confirm() still moves on past a clash within the batch); later packets reuse the one chosen.
      const chosen = mark & MARK_PORT_MASK;
      const port = chosen !== 0 ? chosen : connectPort(ct, nodes[node].primaryIp, eps.ip[row], eps.port[row], batch.proto[i], mix32(batch.flowHash[i], ctx.seed) % kProxyPortSpan);
      // The node's address as int32 bits (natSrc takes either; conntrack's getters give them): above
      // 2^31, a u32 passed to a call the JIT does not inline is boxed, once a packet.
      batch.natSrc(i, nodes[node].primaryIp | 0, port);
      batch.natDst(i, eps.ip[row] | 0, eps.port[row]);
      proxyClientSlot[i] = slot;
      if (rec) rec.record(batch, i, 'kube-proxy (userspace)', `proxy copied ${len} payload bytes into its own connection to ${formatIp(eps.ip[row])}:${eps.port[row]}`);
    } else if ((mark & MARK_PROXY_SERVER) !== 0) {
      // A reply from the endpoint: written back on the client's connection, from the proxy's port.
      const client = mark & MARK_SLOT_MASK;
      batch.natSrc(i, ct.replySrc(client), ct.replySport(client));
      batch.natDst(i, ct.origSrc(client), ct.origSport(client));
      proxyClientSlot[i] = -1;
      if (rec) rec.record(batch, i, 'kube-proxy (userspace)', `proxy copied ${len} reply bytes back to the client connection`);
    }
    // The proxy's write() is a new packet from its own socket: the TTL starts again at
    // ip_default_ttl, whatever routers the packet it read had passed.
    ipv4SetTtl(batch.bytes, batch.l3Off[i], batch.ttl);
    hook[i] = HOOK_OUTPUT;
    fromPod[i] = 0;
    dnatted[i] = 0;
    redirected[i] = 0;
    next[i] = NEXT_PREROUTING;
  }
}

/**
 * The proxy's source port for a new connection to an endpoint: from `start` (an offset into the
 * ephemeral range), the first port whose tuple no live conntrack entry holds; the range is walked
 * at most once (a range with every port held keeps the start, and confirm() sorts out the clash).
 *
 * Cost: one conntrack probe a port tried, on a proxied connection's first packet only; one in
 * nearly every case (the range is 28,232 ports).
 */
function connectPort(ct: ConntrackTable, src: number, dst: number, dport: number, proto: number, start: number): number {
  for (let k = 0; k < kProxyPortSpan; k++) {
    const port = kProxyPortMin + ((start + k) % kProxyPortSpan);
    if (!ct.holds(src, dst, port, dport, proto)) return port;
  }
  return kProxyPortMin + start;
}
