/**
 * Socket LB (Cilium) in the replay: what the kernel does per packet for a socket whose Service
 * address became a backend at connect() or sendmsg(). The cgroup hooks that run per packet are
 * UDP's alone (BPF_CGROUP_UDP4_SENDMSG for an unconnected send, BPF_CGROUP_UDP4_RECVMSG at a
 * receive that asks for the sender); a TCP socket meets cil_sock4_connect once and
 * cil_sock4_getpeername only when the application asks. So a connected TCP socket's later
 * packets leave already addressed to its backend and its answers are never looked up, while every
 * UDP datagram is, both ways. The oracle is the socket table's own lookups, counted by a spy.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { performance } from 'node:perf_hooks';
import { NodeWorld } from '../../src/dataplane/node-world.js';
import { SocketTable } from '../../src/dataplane/socket-table.js';
import { PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';
import { mergeShards, ReplaySetup, replayShard, type SetupKey } from '../../src/replay/replay.js';

const SEND = 0; // socket-lb.ts's directions: 0 the application's send, 1 a backend's answer

test('socket LB: a TCP socket is looked up once, at connect(); its later packets and answers never; a UDP datagram at every send and answer', () => {
  // Arrange: a spy on the socket table's lookups (lookup() goes through lookupHashed()), but for
  // the replay's untimed bookkeeping of which endpoint each flow got (flowEndpoint()).
  const key: SetupKey = { mode: 'cilium', services: 30, endpointsPerService: 4, cni: 'calico-vxlan', seed: 4, zipf: 0 };
  const setup = new ReplaySetup(key);
  const sockets = { [PROTO_TCP]: new Set<string>(), [PROTO_UDP]: new Set<string>() } as Record<number, Set<string>>;
  const calls: Record<string, number> = {};
  const udpSends = new Map<string, { sends: number; found: number }>(); // by the application's tuple
  const real = SocketTable.prototype.lookupHashed;
  const realEndpoint = NodeWorld.prototype.flowEndpoint;
  let bookkeeping = false;
  NodeWorld.prototype.flowEndpoint = function (this: NodeWorld, ...args) {
    bookkeeping = true;
    try {
      return realEndpoint.apply(this, args);
    } finally {
      bookkeeping = false;
    }
  };
  SocketTable.prototype.lookupHashed = function (this: SocketTable, h, src, dst, sport, dport, proto, dir) {
    if (bookkeeping) return real.call(this, h, src, dst, sport, dport, proto, dir);
    const k = `${proto === PROTO_TCP ? 'tcp' : 'udp'} ${dir === SEND ? 'send' : 'answer'}`;
    calls[k] = (calls[k] ?? 0) + 1;
    if (dir === SEND) sockets[proto]?.add(`${src}:${sport}`);
    const e = real.call(this, h, src, dst, sport, dport, proto, dir);
    if (proto === PROTO_UDP && dir === SEND) {
      const t = `${src}:${sport}>${dst}:${dport}`;
      const u = udpSends.get(t) ?? { sends: 0, found: 0 };
      u.sends++;
      if (e >= 0) u.found++;
      udpSends.set(t, u);
    }
    return e;
  };
  let r;
  try {
    // Act
    r = mergeShards([replayShard(setup, { ...key, flows: 4000, shard: 0, shards: 1 }, () => performance.now())]);
  } finally {
    SocketTable.prototype.lookupHashed = real;
    NodeWorld.prototype.flowEndpoint = realEndpoint;
  }
  // Assert: every TCP socket looked up once (its SYN: connect()), every UDP socket at each send.
  const tcp = sockets[PROTO_TCP]!.size;
  const udp = sockets[PROTO_UDP]!.size;
  assert.ok(tcp > 500 && udp > 100, `${tcp} TCP and ${udp} UDP sockets sent to`);
  assert.equal(calls['tcp send'], tcp, 'one lookup a TCP socket');
  assert.equal(calls['tcp answer'] ?? 0, 0, 'no TCP answer is looked up');
  assert.ok(calls['udp send']! > 1.5 * udp, `${calls['udp send']} UDP sends for ${udp} sockets`);
  // A UDP socket sending to a Service finds itself at every send after its first, which made it:
  // each datagram leaves for the Service address and is translated again.
  const translated = [...udpSends.values()].filter((u) => u.found > 0);
  assert.ok(translated.length > 50, `${translated.length} UDP sockets sent to a Service more than once`);
  for (const u of translated) assert.equal(u.found, u.sends - 1, `${JSON.stringify(u)}`);
  assert.ok(calls['udp answer']! > udp, `${calls['udp answer']} UDP answers for ${udp} sockets`);
  // And the connections still work: their later packets and answers are delivered.
  assert.equal(r.conntrack.invalid, 0);
  assert.ok(r.failedFlows < 0.1 * r.flows, `${r.failedFlows} failed flows`);
  assert.ok(r.establishedPackets > 3 * r.flows && r.ends['delivered-pod']! > r.establishedPackets * 0.9, JSON.stringify(r.ends));
});
