import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  CT_ACCEPT,
  CT_IGNORE,
  CT_INVALID,
  CT_KILLED,
  CT_REOPEN,
  ConntrackTable,
  DIR_ORIGINAL,
  DIR_REPLY,
  INSERT_CLASH,
  INSERT_FULL,
  INSERT_INVALID,
  IPS_ASSURED,
  IPS_CONFIRMED,
  IPS_DST_NAT,
  IPS_SEEN_REPLY,
  IPS_SRC_NAT,
  kernelDefaultConntrackBuckets,
  kubeProxyConntrackMax,
} from '../../src/dataplane/conntrack.js';
import {
  TCPF_ACK,
  TCPF_FIN,
  TCPF_PSH,
  TCPF_RST,
  TCPF_SYN,
  TCP_CLOSE_WAIT,
  TCP_ESTABLISHED,
  TCP_FIN_WAIT,
  TCP_LAST_ACK,
  TCP_STATE_NAMES,
  TCP_SYN_RECV,
  TCP_SYN_SENT,
  TCP_SYN_SENT2,
  TCP_TIME_WAIT,
} from '../../src/dataplane/conntrack-tcp.js';
import { parseIp } from '../../src/net/ipv4.js';
import { PROTO_TCP, PROTO_UDP } from '../../src/net/proto.js';

const CLIENT = parseIp('10.244.1.5');
const VIP = parseIp('10.96.0.10');
const EP = parseIp('10.244.2.7');
const NODE = parseIp('192.168.0.11');
const kubeProxyTimeouts = { tcpEstablishedTimeoutSeconds: 86400, tcpCloseWaitTimeoutSeconds: 3600 };

/** The table with its clock moved to `now` seconds (the table reads its own clock, as the kernel reads jiffies). */
function at(t: ConntrackTable, now: number): ConntrackTable {
  t.now = now;
  return t;
}

/** The kernel's reciprocal_scale(val, ep_ro) (include/linux/math.h): (u32)(((u64)val * ep_ro) >> 32). */
function reciprocalScale(val: number, size: number): number {
  return Number((BigInt(val >>> 0) * BigInt(size)) >> 32n);
}

function serviceFlow(t: ConntrackTable, cport: number, proto: number, flags: number, now: number, masq = false): number {
  // client:cport -> vip:80 DNATed to ep:8080, optionally masqueraded to node:cport+10000.
  return at(t, now).insert(CLIENT, VIP, cport, 80, proto, EP, masq ? NODE : CLIENT, 8080, masq ? cport + 10000 : cport, flags);
}

describe('conntrack table', () => {
  it('finds an entry by its original tuple and by its reply tuple, and reports the direction', () => {
    const t = new ConntrackTable({ maxEntries: 1024 });
    const s = serviceFlow(t, 40000, PROTO_TCP, TCPF_SYN, 0);
    assert.ok(s >= 0);
    assert.equal(at(t, 1).lookup(CLIENT, VIP, 40000, 80, PROTO_TCP), s);
    assert.equal(t.dir, DIR_ORIGINAL);
    assert.equal(at(t, 1).lookup(EP, CLIENT, 8080, 40000, PROTO_TCP), s);
    assert.equal(t.dir, DIR_REPLY);
    // Neither the pre-NAT reply nor another protocol or port matches.
    assert.equal(at(t, 1).lookup(VIP, CLIENT, 80, 40000, PROTO_TCP), -1);
    assert.equal(at(t, 1).lookup(CLIENT, VIP, 40000, 80, PROTO_UDP), -1);
    assert.equal(at(t, 1).lookup(CLIENT, VIP, 40001, 80, PROTO_TCP), -1);
    assert.equal(t.count, 1);
    assert.equal(t.counter('found'), 2);
    assert.equal(t.counter('new'), 1);
  });

  it('keeps the NAT binding in the reply tuple and derives the DNAT/SNAT bits', () => {
    const t = new ConntrackTable({ maxEntries: 64 });
    const dnat = serviceFlow(t, 40000, PROTO_TCP, TCPF_SYN, 0);
    const masq = serviceFlow(t, 40001, PROTO_TCP, TCPF_SYN, 0, true);
    const plain = at(t, 0).insert(CLIENT, EP, 40002, 8080, PROTO_TCP, EP, CLIENT, 8080, 40002, TCPF_SYN);
    assert.equal(t.statusOf(dnat) & (IPS_DST_NAT | IPS_SRC_NAT | IPS_CONFIRMED), IPS_DST_NAT | IPS_CONFIRMED);
    assert.equal(t.statusOf(masq) & (IPS_DST_NAT | IPS_SRC_NAT), IPS_DST_NAT | IPS_SRC_NAT);
    assert.equal(t.statusOf(plain) & (IPS_DST_NAT | IPS_SRC_NAT), 0);
    // nf_nat_setup_info sets the bit when the manipulated half of the tuple changes at all: the
    // address alone (MASQUERADE keeping the source port, as without --random-fully; a Service
    // whose port equals the endpoint's) or the port alone.
    const bits = (sport: number, rSrc: number, rDst: number, rSport: number, rDport: number) =>
      t.statusOf(at(t, 0).insert(CLIENT, VIP, sport, 80, PROTO_TCP, rSrc, rDst, rSport, rDport, TCPF_SYN)) & (IPS_DST_NAT | IPS_SRC_NAT);
    assert.equal(bits(40003, EP, NODE, 80, 40003), IPS_DST_NAT | IPS_SRC_NAT, 'masquerade keeping the port, DNAT keeping the port');
    assert.equal(bits(40004, VIP, CLIENT, 80, 50004), IPS_SRC_NAT, 'source port alone');
    assert.equal(bits(40005, VIP, CLIENT, 8080, 40005), IPS_DST_NAT, 'destination port alone');
    // The reply from the endpoint to the node's masquerade port finds the flow and its binding.
    assert.equal(at(t, 1).lookup(EP, NODE, 8080, 50001, PROTO_TCP), masq);
    assert.equal(t.dir, DIR_REPLY);
    assert.equal(t.natDstIp(masq) >>> 0, EP >>> 0);
    assert.equal(t.natDstPort(masq), 8080);
    assert.equal(t.natSrcIp(masq) >>> 0, NODE >>> 0);
    assert.equal(t.natSrcPort(masq), 50001);
    // Reverse NAT of the reply: source becomes the VIP, destination the client.
    assert.equal(t.origDst(masq) >>> 0, VIP >>> 0);
    assert.equal(t.origDport(masq), 80);
    assert.equal(t.origSrc(masq) >>> 0, CLIENT >>> 0);
    assert.equal(t.origSport(masq), 40001);
    t.endpoint[masq] = 7;
    t.setMark(masq, 0x4000);
    assert.equal(t.endpoint[masq], 7);
    assert.equal(t.endpoint[dnat], -1);
    // The mark shares the entry's record with its tuples: setting it leaves them, and the other entries, alone.
    assert.equal(t.markOf(masq), 0x4000);
    assert.equal(t.markOf(dnat), 0);
    assert.equal(t.natSrcPort(masq), 50001);
    assert.equal(t.origSport(masq), 40001);
    assert.equal(at(t, 1).lookup(EP, NODE, 8080, 50001, PROTO_TCP), masq);
  });

  it('with tcpStateChecks false (Cilium\'s BPF CT), an ACK with no answer seen is accepted in its state; the kernel\'s calls it INVALID', () => {
    // RFC 793 / nf_conntrack_proto_tcp: an original-direction ACK in SYN_SENT is invalid.
    const kernel = new ConntrackTable({ maxEntries: 64 });
    const k = serviceFlow(kernel, 40000, PROTO_TCP, TCPF_SYN, 0);
    assert.equal(at(kernel, 1).update(k, DIR_ORIGINAL, TCPF_ACK), CT_INVALID);
    const bpf = new ConntrackTable({ maxEntries: 64, lru: true, tcpStateChecks: false });
    const b = serviceFlow(bpf, 40000, PROTO_TCP, TCPF_SYN, 0);
    assert.equal(at(bpf, 1).update(b, DIR_ORIGINAL, TCPF_ACK), CT_ACCEPT);
    assert.equal(TCP_STATE_NAMES[bpf.tcpStateOf(b)], TCP_STATE_NAMES[TCP_SYN_SENT]);
    assert.equal(bpf.counter('invalid'), 0);
  });

  it('rejects a flow whose original or reply tuple is already tracked', () => {
    const t = new ConntrackTable({ maxEntries: 64 });
    assert.ok(serviceFlow(t, 40000, PROTO_UDP, 0, 0) >= 0);
    assert.equal(serviceFlow(t, 40000, PROTO_UDP, 0, 0), INSERT_CLASH);
    // Another client port, but NATed onto the same reply tuple (a masquerade port collision).
    assert.equal(at(t, 0).insert(CLIENT, VIP, 40005, 80, PROTO_UDP, EP, CLIENT, 8080, 40000, 0), INSERT_CLASH);
    assert.equal(t.counter('insertFailed'), 2);
    assert.equal(t.count, 1);
  });

  it('walks TCP through SYN, SYN/ACK, ACK, FIN, ACK, FIN, ACK to TIME_WAIT and expires it', () => {
    const t = new ConntrackTable({ maxEntries: 64, timeouts: kubeProxyTimeouts });
    const s = serviceFlow(t, 40000, PROTO_TCP, TCPF_SYN, 0);
    const step = (dir: number, flags: number, now: number, state: number, verdict = CT_ACCEPT): void => {
      assert.equal(at(t, now).update(s, dir, flags), verdict);
      assert.equal(TCP_STATE_NAMES[t.tcpStateOf(s)], TCP_STATE_NAMES[state]);
    };
    assert.equal(t.tcpStateOf(s), TCP_SYN_SENT);
    assert.equal(t.expiresOf(s), 120);
    step(DIR_REPLY, TCPF_SYN | TCPF_ACK, 1, TCP_SYN_RECV);
    assert.equal(t.statusOf(s) & (IPS_SEEN_REPLY | IPS_ASSURED), IPS_SEEN_REPLY);
    assert.equal(t.expiresOf(s), 61);
    step(DIR_ORIGINAL, TCPF_ACK, 2, TCP_ESTABLISHED);
    assert.ok(t.statusOf(s) & IPS_ASSURED);
    assert.equal(t.expiresOf(s), 2 + 86400, 'kube-proxy sets the established timeout to 24 h');
    step(DIR_ORIGINAL, TCPF_ACK | TCPF_PSH, 10, TCP_ESTABLISHED);
    step(DIR_ORIGINAL, TCPF_FIN | TCPF_ACK, 20, TCP_FIN_WAIT);
    assert.equal(t.expiresOf(s), 140);
    step(DIR_REPLY, TCPF_ACK, 21, TCP_CLOSE_WAIT);
    assert.equal(t.expiresOf(s), 21 + 3600, 'kube-proxy sets close-wait to 1 h');
    step(DIR_REPLY, TCPF_FIN | TCPF_ACK, 22, TCP_LAST_ACK);
    assert.equal(t.expiresOf(s), 52);
    step(DIR_ORIGINAL, TCPF_ACK, 23, TCP_TIME_WAIT);
    assert.equal(t.expiresOf(s), 143);
    assert.equal(at(t, 142.9).lookup(CLIENT, VIP, 40000, 80, PROTO_TCP), s);
    assert.equal(at(t, 143).lookup(CLIENT, VIP, 40000, 80, PROTO_TCP), -1);
    assert.equal(t.counter('expired'), 1);
    assert.equal(t.count, 0);
    // The slot's tuples are gone from the index in both directions.
    assert.equal(at(t, 143).lookup(EP, CLIENT, 8080, 40000, PROTO_TCP), -1);
  });

  it('keeps the kernel default timeouts when the config leaves them at zero', () => {
    const t = new ConntrackTable({ maxEntries: 8, timeouts: { tcpEstablishedTimeoutSeconds: 0 } });
    assert.equal(t.timeouts[TCP_ESTABLISHED], 432000);
    assert.throws(() => new ConntrackTable({ maxEntries: 8, timeouts: { udpTimeoutSeconds: -1 } }), { code: 'KDP_ERR_INVALID_ARG' });
  });

  it('tells invalid, ignored, reset and reopened TCP packets apart', () => {
    const t = new ConntrackTable({ maxEntries: 64 });
    assert.equal(serviceFlow(t, 1, PROTO_TCP, TCPF_FIN, 0), INSERT_INVALID, 'a FIN cannot open a connection');
    assert.equal(serviceFlow(t, 1, PROTO_TCP, TCPF_SYN | TCPF_ACK, 0), INSERT_INVALID);
    assert.equal(t.counter('invalid'), 2);
    const picked = serviceFlow(t, 2, PROTO_TCP, TCPF_ACK, 0);
    assert.equal(t.tcpStateOf(picked), TCP_ESTABLISHED, 'loose pick-up of a running connection');
    assert.equal(t.statusOf(picked) & IPS_ASSURED, 0);
    assert.equal(at(t, 1).update(picked, DIR_REPLY, TCPF_ACK), CT_ACCEPT);
    assert.ok(t.statusOf(picked) & IPS_ASSURED, 'assured once the picked-up connection answers');

    const s = serviceFlow(t, 3, PROTO_TCP, TCPF_SYN, 0);
    assert.equal(at(t, 1).update(s, DIR_ORIGINAL, TCPF_ACK), CT_INVALID, 'ACK before any SYN/ACK');
    assert.equal(t.tcpStateOf(s), TCP_SYN_SENT);
    assert.equal(t.expiresOf(s), 120, 'an invalid packet does not refresh the timer');
    assert.equal(at(t, 2).update(s, DIR_REPLY, TCPF_SYN), CT_ACCEPT);
    assert.equal(t.tcpStateOf(s), TCP_SYN_SENT2, 'simultaneous open');
    assert.equal(at(t, 3).update(s, DIR_ORIGINAL, TCPF_SYN | TCPF_ACK), CT_ACCEPT);
    assert.equal(t.tcpStateOf(s), TCP_SYN_RECV);
    assert.equal(at(t, 4).update(s, DIR_REPLY, TCPF_SYN | TCPF_ACK), CT_IGNORE, 'retransmitted SYN/ACK');
    assert.equal(t.counter('ignored'), 1);

    const refused = serviceFlow(t, 4, PROTO_TCP, TCPF_SYN, 0);
    assert.equal(at(t, 1).update(refused, DIR_REPLY, TCPF_RST | TCPF_ACK), CT_KILLED, 'a RST as the only answer frees the entry');
    assert.equal(at(t, 1).lookup(CLIENT, VIP, 4, 80, PROTO_TCP), -1);

    const tw = serviceFlow(t, 5, PROTO_TCP, TCPF_SYN, 0);
    at(t, 0).update(tw, DIR_REPLY, TCPF_SYN | TCPF_ACK);
    at(t, 0).update(tw, DIR_ORIGINAL, TCPF_ACK);
    at(t, 0).update(tw, DIR_ORIGINAL, TCPF_FIN | TCPF_ACK);
    at(t, 0).update(tw, DIR_REPLY, TCPF_FIN | TCPF_ACK);
    assert.equal(t.tcpStateOf(tw), TCP_LAST_ACK);
    at(t, 0).update(tw, DIR_ORIGINAL, TCPF_ACK);
    assert.equal(t.tcpStateOf(tw), TCP_TIME_WAIT);
    assert.equal(at(t, 1).update(tw, DIR_ORIGINAL, TCPF_SYN), CT_REOPEN, 'a SYN in TIME_WAIT reopens the connection');
    assert.equal(at(t, 1).lookup(CLIENT, VIP, 5, 80, PROTO_TCP), -1);
    assert.ok(serviceFlow(t, 5, PROTO_TCP, TCPF_SYN, 1) >= 0);
  });

  it('expires an unreplied UDP flow after 30 s', () => {
    const t = new ConntrackTable({ maxEntries: 64 });
    const s = serviceFlow(t, 5353, PROTO_UDP, 0, 100);
    assert.equal(at(t, 110).update(s, DIR_ORIGINAL, 0), CT_ACCEPT);
    assert.equal(at(t, 139.9).lookup(CLIENT, VIP, 5353, 80, PROTO_UDP), s);
    assert.equal(t.statusOf(s) & (IPS_SEEN_REPLY | IPS_ASSURED), 0);
    assert.equal(at(t, 140).lookup(CLIENT, VIP, 5353, 80, PROTO_UDP), -1);
    assert.equal(t.counter('expired'), 1);
  });

  it('keeps a replied UDP stream for 120 s and marks it ASSURED only once it outlives 2 s', () => {
    const t = new ConntrackTable({ maxEntries: 64 });
    const s = serviceFlow(t, 5353, PROTO_UDP, 0, 0);
    at(t, 0.5).update(s, DIR_REPLY, 0);
    assert.equal(t.statusOf(s) & (IPS_SEEN_REPLY | IPS_ASSURED), IPS_SEEN_REPLY);
    assert.equal(t.expiresOf(s), 30.5, 'the first reply still gets the unreplied timeout');
    at(t, 1.5).update(s, DIR_ORIGINAL, 0);
    assert.equal(t.statusOf(s) & IPS_ASSURED, 0, 'not a stream before 2 s');
    at(t, 3).update(s, DIR_ORIGINAL, 0);
    assert.ok(t.statusOf(s) & IPS_ASSURED);
    assert.equal(t.expiresOf(s), 123);
    assert.equal(at(t, 122.9).lookup(EP, CLIENT, 8080, 5353, PROTO_UDP), s);
    assert.equal(at(t, 123).lookup(EP, CLIENT, 8080, 5353, PROTO_UDP), -1);

    const custom = new ConntrackTable({ maxEntries: 8, timeouts: { udpTimeoutSeconds: 10, udpStreamTimeoutSeconds: 60 } });
    const c = serviceFlow(custom, 1, PROTO_UDP, 0, 0);
    assert.equal(custom.expiresOf(c), 10);
    at(custom, 0).update(c, DIR_REPLY, 0);
    at(custom, 5).update(c, DIR_REPLY, 0);
    assert.equal(custom.expiresOf(c), 65);
  });

  it('when full, early-drops a non-assured entry for a new flow', () => {
    // One bucket spanning the whole index makes early_drop's window cover every entry.
    const t = new ConntrackTable({ maxEntries: 32, buckets: 1 });
    const slots: number[] = [];
    for (let i = 0; i < 32; i++) {
      const s = serviceFlow(t, 1000 + i, PROTO_UDP, 0, 0);
      assert.ok(s >= 0);
      // All but flow 7 become assured streams.
      if (i !== 7) {
        at(t, 0).update(s, DIR_REPLY, 0);
        at(t, 3).update(s, DIR_ORIGINAL, 0);
      }
      slots.push(s);
    }
    assert.equal(t.count, 32);
    const fresh = serviceFlow(t, 2000, PROTO_UDP, 0, 4);
    assert.ok(fresh >= 0, 'the new flow got the evicted slot');
    assert.equal(t.counter('earlyDrop'), 1);
    assert.equal(t.counter('dropFull'), 0);
    assert.equal(at(t, 4).lookup(CLIENT, VIP, 1007, 80, PROTO_UDP), -1, 'the unassured flow was the victim');
    assert.equal(t.count, 32);
  });

  it("as Cilium's two CT maps (tcpMax), a TCP flow past the TCP map's size evicts only TCP entries, least recently used first", () => {
    // 8 TCP + 4 other entries; the whole index is one eviction window, so the scan sees every entry.
    const split = new ConntrackTable({ maxEntries: 12, tcpMax: 8, lru: true, buckets: 1 });
    const pool = new ConntrackTable({ maxEntries: 12, lru: true, buckets: 1 });
    for (const t of [split, pool]) {
      for (let i = 0; i < 4; i++) assert.ok(serviceFlow(t, 1000 + i, PROTO_UDP, 0, 0) >= 0);
      for (let i = 0; i < 8; i++) assert.ok(serviceFlow(t, 2000 + i, PROTO_TCP, TCPF_SYN, 1 + i) >= 0);
      // The TCP map is full: 8 more TCP flows, each a new connection.
      for (let i = 0; i < 8; i++) assert.ok(serviceFlow(t, 3000 + i, PROTO_TCP, TCPF_SYN, 10 + i) >= 0, 'an LRU map never drops a new flow');
    }
    const live = (t: ConntrackTable, base: number, n: number, proto: number): number => {
      let k = 0;
      for (let i = 0; i < n; i++) if (at(t, 20).lookup(CLIENT, VIP, base + i, 80, proto) >= 0) k++;
      return k;
    };
    assert.deepEqual(
      { count: split.count, tcp: split.tcpCount, evicted: split.counter('lruEvicted'), udp: live(split, 1000, 4, PROTO_UDP), oldTcp: live(split, 2000, 8, PROTO_TCP), newTcp: live(split, 3000, 8, PROTO_TCP) },
      { count: 12, tcp: 8, evicted: 8, udp: 4, oldTcp: 0, newTcp: 8 },
    );
    // One pool of 12 (no tcpMax) takes the UDP entries first: they were refreshed longest ago (30 s against TCP's 120 s SYN_SENT).
    assert.equal(live(pool, 1000, 4, PROTO_UDP), 0);
    // And the other map past its size evicts its own: a fifth UDP flow leaves every TCP entry.
    assert.ok(serviceFlow(split, 1004, PROTO_UDP, 0, 21) >= 0);
    assert.deepEqual({ tcp: split.tcpCount, evicted: split.counter('lruEvicted'), udp: live(split, 1000, 5, PROTO_UDP), newTcp: live(split, 3000, 8, PROTO_TCP) }, { tcp: 8, evicted: 9, udp: 4, newTcp: 8 });
    assert.throws(() => new ConntrackTable({ maxEntries: 12, tcpMax: 12, lru: true }), /tcpMax/);
    assert.throws(() => new ConntrackTable({ maxEntries: 12, tcpMax: 8 }), /tcpMax/);
    // Both maps hold at least one entry: tcpMax in [1, maxEntries - 1].
    assert.throws(() => new ConntrackTable({ maxEntries: 12, tcpMax: 0, lru: true }), /options\.tcpMax needs options\.lru and must be an integer in \[1, options\.maxEntries - 1\]/);
    assert.equal(new ConntrackTable({ maxEntries: 12, tcpMax: 1, lru: true }).tcpMax, 1);
    assert.equal(new ConntrackTable({ maxEntries: 12, tcpMax: 11, lru: true }).tcpMax, 11);
  });

  it('when full of assured flows, drops and counts new flows while established flows keep working', () => {
    const t = new ConntrackTable({ maxEntries: 64, timeouts: kubeProxyTimeouts });
    for (let i = 0; i < 64; i++) {
      const s = serviceFlow(t, 1000 + i, PROTO_TCP, TCPF_SYN, 0);
      at(t, 0).update(s, DIR_REPLY, TCPF_SYN | TCPF_ACK);
      at(t, 0).update(s, DIR_ORIGINAL, TCPF_ACK);
      assert.ok(t.statusOf(s) & IPS_ASSURED);
    }
    for (let i = 0; i < 10; i++) assert.equal(serviceFlow(t, 3000 + i, PROTO_TCP, TCPF_SYN, 1), INSERT_FULL);
    assert.equal(t.counter('dropFull'), 10, 'nf_conntrack: table full, dropping packet');
    assert.equal(t.counter('earlyDrop'), 0);
    assert.equal(t.count, 64);
    for (let i = 0; i < 64; i++) {
      const s = at(t, 2).lookup(EP, CLIENT, 8080, 1000 + i, PROTO_TCP);
      assert.ok(s >= 0);
      assert.equal(at(t, 2).update(s, DIR_REPLY, TCPF_ACK | TCPF_PSH), CT_ACCEPT);
    }
    // One flow starts closing; after the drop the gc may evict it (tcp_can_early_drop) to make room.
    const closing = at(t, 3).lookup(CLIENT, VIP, 1005, 80, PROTO_TCP);
    at(t, 3).update(closing, DIR_ORIGINAL, TCPF_FIN | TCPF_ACK);
    assert.equal(at(t, 3).gc(64), 1);
    assert.equal(t.counter('earlyDrop'), 1);
    assert.equal(at(t, 3).lookup(CLIENT, VIP, 1005, 80, PROTO_TCP), -1);
    assert.ok(serviceFlow(t, 3000, PROTO_TCP, TCPF_SYN, 4) >= 0);
  });

  it("scans only the new tuple's buckets, as early_drop does", () => {
    // 1023 assured flows and one unassured flow: most new flows do not hash near it and are dropped.
    const t = new ConntrackTable({ maxEntries: 1024 });
    for (let i = 0; i < 1024; i++) {
      const s = serviceFlow(t, 1000 + i, PROTO_UDP, 0, 0);
      if (i !== 500) {
        at(t, 0).update(s, DIR_REPLY, 0);
        at(t, 3).update(s, DIR_ORIGINAL, 0);
      }
    }
    // Each admitted flow evicts an unassured one and is itself unassured, so an eviction candidate
    // exists at every attempt; a whole-table scan would admit all 100.
    let admitted = 0;
    for (let i = 0; i < 100; i++) if (serviceFlow(t, 20000 + i, PROTO_UDP, 0, 4) >= 0) admitted++;
    assert.ok(admitted < 50, `admitted ${admitted}`);
    assert.equal(t.counter('earlyDrop'), admitted);
    assert.equal(t.counter('dropFull'), 100 - admitted);
    assert.equal(t.count, 1024);
    for (let i = 0; i < 1024; i++) if (i !== 500) assert.ok(at(t, 4).lookup(EP, CLIENT, 8080, 1000 + i, PROTO_UDP) >= 0, 'assured flows survive');
  });

  it('reaps expired entries in early_drop and in expire()', () => {
    const t = new ConntrackTable({ maxEntries: 16, buckets: 1 });
    for (let i = 0; i < 16; i++) {
      const s = serviceFlow(t, 1000 + i, PROTO_UDP, 0, 0);
      at(t, 0).update(s, DIR_REPLY, 0);
      at(t, i < 8 ? 3 : 1.5).update(s, DIR_ORIGINAL, 0); // 8 streams (expire at 123), 8 not yet (expire at 31.5)
    }
    assert.equal(at(t, 40).expire(), 8);
    assert.equal(t.count, 8);
    assert.equal(t.counter('expired'), 8);
    for (let i = 0; i < 8; i++) assert.ok(serviceFlow(t, 5000 + i, PROTO_UDP, 0, 41) >= 0);
    // Full again; all entries alive until 71 or 123. At 100 the new ones are expired and reaped.
    assert.ok(serviceFlow(t, 6000, PROTO_UDP, 0, 100) >= 0);
    assert.equal(t.counter('dropFull'), 0);
  });

  it('rebuilds a view from its buffer without copying', () => {
    const t = new ConntrackTable({ maxEntries: 256, shared: true, timeouts: kubeProxyTimeouts });
    const s = serviceFlow(t, 40000, PROTO_TCP, TCPF_SYN, 0, true);
    t.endpoint[s] = 3;
    const v = ConntrackTable.from(t.buffer);
    assert.equal(v.buffer, t.buffer);
    assert.equal(at(v, 1).lookup(EP, NODE, 8080, 50000, PROTO_TCP), s);
    assert.equal(v.dir, DIR_REPLY);
    assert.equal(v.endpoint[s], 3);
    assert.equal(v.timeouts[TCP_ESTABLISHED], 86400);
    assert.equal(v.count, 1);
    // Writes through one view are seen by the other.
    assert.ok(serviceFlow(v, 40001, PROTO_TCP, TCPF_SYN, 1) >= 0);
    assert.equal(t.count, 2);
    assert.equal(t.counter('new'), 2);
    assert.throws(() => ConntrackTable.from(new ArrayBuffer(1024)), { code: 'KDP_ERR_INVALID_ARG' });
    v.clear();
    assert.equal(t.count, 0);
    assert.equal(at(t, 1).lookup(EP, NODE, 8080, 50000, PROTO_TCP), -1);
    assert.ok(serviceFlow(t, 40000, PROTO_TCP, TCPF_SYN, 2) >= 0);
    assert.throws(() => new ConntrackTable({ maxEntries: 0 }), /options\.maxEntries/);
    assert.throws(() => new ConntrackTable({ maxEntries: 64, indexSlots: 128 }), /options\.indexSlots/);
    // nf_conntrack_buckets is a positive whole number of hash buckets.
    for (const buckets of [0, -4, 2.5, Number.NaN]) assert.throws(() => new ConntrackTable({ maxEntries: 64, buckets }), /options\.buckets must be a positive integer/, String(buckets));
    assert.equal(new ConntrackTable({ maxEntries: 64, buckets: 1 }).maxEntries, 64);
  });

  it('reports its memory honestly, at most 64 bytes an entry with both tuples, NAT binding, state and timer', () => {
    // Issue 14's budget: 64 bytes an entry, index included, for any pool size (the replay's are not powers of two).
    for (const max of [131072, 31232, 300_001]) {
      const t = new ConntrackTable({ maxEntries: max });
      assert.equal(t.bytesPerEntry, t.buffer.byteLength / max);
      assert.ok(t.bytesPerEntry <= 64, `${max} entries: ${t.bytesPerEntry} bytes an entry`);
      // Two tuples an entry must fit, with room to spare for linear probing.
      assert.ok(t.indexSlots > 2 * max && t.indexSlots <= 3 * max, `${t.indexSlots} slots`);
    }
  });

  it('holds a full pool at the default index: every flow by both tuples, and a new one dropped', () => {
    const max = 1000;
    const t = new ConntrackTable({ maxEntries: max, buckets: 1 });
    for (let i = 0; i < max; i++) assert.ok(at(t, 0).insert(CLIENT + i, VIP, 1000 + (i % 50000), 80, PROTO_TCP, EP, NODE, 8080, 20000 + i, TCPF_SYN) >= 0);
    for (let i = 0; i < max; i++) at(t, 1).update(at(t, 1).lookup(EP, NODE, 8080, 20000 + i, PROTO_TCP), DIR_REPLY, TCPF_SYN | TCPF_ACK);
    for (let i = 0; i < max; i++) at(t, 2).update(at(t, 2).lookup(CLIENT + i, VIP, 1000 + (i % 50000), 80, PROTO_TCP), DIR_ORIGINAL, TCPF_ACK);
    for (let i = 0; i < max; i++) {
      const s = at(t, 3).lookup(CLIENT + i, VIP, 1000 + (i % 50000), 80, PROTO_TCP);
      assert.ok(s >= 0 && at(t, 3).lookup(EP, NODE, 8080, 20000 + i, PROTO_TCP) === s, `flow ${i}`);
      assert.equal(t.statusOf(s) & IPS_ASSURED, IPS_ASSURED);
    }
    assert.equal(at(t, 3).insert(CLIENT, VIP, 999, 80, PROTO_TCP, EP, NODE, 8080, 19999, TCPF_SYN), INSERT_FULL, 'every entry is assured: nothing to early-drop');
  });

  it('holds(): a live entry owns its tuple both ways, whatever its slot; an expired one is reaped; no lookup is counted', () => {
    // Oracle: holds()'s contract, the kernel's nf_conntrack_tuple_taken (what connect() asks before
    // it takes a source port): a tuple is taken when a live entry has it as its original or its
    // reply tuple; an expired entry met on the way is reaped (nf_ct_gc_expired), not an owner.
    const t = new ConntrackTable({ maxEntries: 8 });
    // A full pool of 8 fills every slot, the first one included.
    for (let i = 0; i < 8; i++) assert.ok(serviceFlow(t, 1000 + i, PROTO_UDP, 0, i === 7 ? 10 : 0) >= 0);
    for (let i = 0; i < 8; i++) {
      assert.equal(at(t, 1).holds(CLIENT, VIP, 1000 + i, 80, PROTO_UDP), true, `flow ${i}, original tuple`);
      assert.equal(at(t, 1).holds(EP, CLIENT, 8080, 1000 + i, PROTO_UDP), true, `flow ${i}, reply tuple`);
    }
    assert.equal(at(t, 1).holds(VIP, CLIENT, 80, 1000, PROTO_UDP), false, 'the pre-NAT reply is neither tuple');
    assert.equal(at(t, 1).holds(CLIENT, VIP, 1000, 80, PROTO_TCP), false, 'another protocol');
    assert.equal(at(t, 1).holds(CLIENT, VIP, 2000, 80, PROTO_UDP), false, 'another port');
    assert.equal(t.counter('found'), 0);
    // Unreplied UDP lives 30 s: at 30 the first seven have expired, the eighth (created at 10) has not.
    assert.equal(at(t, 30).holds(EP, CLIENT, 8080, 1000, PROTO_UDP), false);
    assert.equal(at(t, 30).holds(CLIENT, VIP, 1007, 80, PROTO_UDP), true);
    assert.deepEqual({ count: t.count, expired: t.counter('expired'), found: t.counter('found') }, { count: 7, expired: 1, found: 0 });
  });

  it('early_drop scans NF_CT_EVICTION_RANGE buckets from the one reciprocal_scale names', () => {
    // Oracle: nf_conntrack_core.c: a tuple's bucket is reciprocal_scale(hash, size), and early_drop
    // scans NF_CT_EVICTION_RANGE (8) buckets from it. Here a bucket is 16 index slots of 400 (25
    // buckets; the scan wraps), and a tuple's bucket its home slot's.
    const max = 100;
    const t = new ConntrackTable({ maxEntries: max, indexSlots: 400, buckets: 25, timeouts: kubeProxyTimeouts });
    const bucketOf = (src: number, dst: number, sport: number, dport: number): number => reciprocalScale(t.hashOf(src, dst, sport, dport, PROTO_TCP), 400) >>> 4;
    // How many buckets `b` lies before bucket `of` (the scan wraps).
    const before = (b: number, of: number): number => (of - b + 25) % 25;
    const original = (cport: number): number => bucketOf(CLIENT, VIP, cport, 80);
    const reply = (cport: number): number => bucketOf(EP, CLIENT, 8080, cport);
    // The victim's entry is filed under both its tuples, so a scan finds it from either one's
    // bucket: a victim whose reply tuple lies outside the eight buckets before its original's.
    const replyInRange = (cport: number): boolean => before(reply(cport), original(cport)) >= 1 && before(reply(cport), original(cport)) <= 8;
    let victim = 40000;
    while (replyInRange(victim)) victim++;
    const filed = original(victim);
    const find = (ahead: number): number => {
      for (let cport = 30000; cport < 40000; cport++) if (before(original(cport), filed) === ahead) return cport;
      throw new Error(`no port homed ${ahead} buckets before the victim's`);
    };
    // Homed eight buckets before the victim: its scan ends a bucket short of it. Seven: the victim's is its eighth.
    const refused = find(8);
    const admitted = find(7);
    for (let k = 0; k < max - 1; k++) {
      const cport = 1000 + k;
      const s = serviceFlow(t, cport, PROTO_TCP, TCPF_SYN, 0);
      t.update(t.lookup(EP, CLIENT, 8080, cport, PROTO_TCP), DIR_REPLY, TCPF_SYN | TCPF_ACK);
      t.update(s, DIR_ORIGINAL, TCPF_ACK);
      assert.equal(t.statusOf(s) & IPS_ASSURED, IPS_ASSURED);
    }
    assert.ok(serviceFlow(t, victim, PROTO_TCP, TCPF_SYN, 0) >= 0);
    assert.equal(serviceFlow(t, refused, PROTO_TCP, TCPF_SYN, 1), INSERT_FULL, 'the victim lies a bucket past the range');
    assert.ok(serviceFlow(t, admitted, PROTO_TCP, TCPF_SYN, 1) >= 0, 'the victim lies in the range');
    assert.equal(at(t, 1).lookup(CLIENT, VIP, victim, 80, PROTO_TCP), -1);
    assert.deepEqual({ count: t.count, earlyDrop: t.counter('earlyDrop'), dropFull: t.counter('dropFull') }, { count: max, earlyDrop: 1, dropFull: 1 });
  });

  // The new tuple's home bucket: the short last one (its scan must stop at the index's end), and
  // the first, a whole one (its scan must cover the bucket before moving on).
  for (const [where, homed] of [['the short last bucket', (h: number) => h >= 272], ['the first bucket', (h: number) => h < 16]] as const) {
    it(`early_drop over an index that is not a multiple of the bucket width evicts from ${where}`, () => {
      // 275 index slots in 25 buckets: the width is 16 (a power of two), so the last bucket is the
      // three slots 272-274. Oracle: the kernel's early_drop (nf_conntrack_core.c): from the new
      // tuple's bucket it evicts only entries that are not ASSURED, in the first bucket holding any;
      // with none in range the packet is dropped (dropFull); every other flow is left alone.
      const max = 100;
      const t = new ConntrackTable({ maxEntries: max, indexSlots: 275, buckets: 25, timeouts: kubeProxyTimeouts });
      const home = (cport: number): number => reciprocalScale(t.hashOf(CLIENT, VIP, cport, 80, PROTO_TCP), t.indexSlots);
      const inBucket: number[] = [];
      for (let cport = 30000; inBucket.length < 3; cport++) if (homed(home(cport))) inBucket.push(cport);
      const [victim, admitted, refused] = inBucket;
      const assure = (cport: number, now: number): void => {
        const s = at(t, now).lookup(CLIENT, VIP, cport, 80, PROTO_TCP);
        at(t, now).update(at(t, now).lookup(EP, CLIENT, 8080, cport, PROTO_TCP), DIR_REPLY, TCPF_SYN | TCPF_ACK);
        at(t, now).update(s, DIR_ORIGINAL, TCPF_ACK);
        assert.equal(t.statusOf(s) & IPS_ASSURED, IPS_ASSURED);
      };
      const others = Array.from({ length: max - 1 }, (_, k) => 1000 + k);
      for (const cport of others) {
        assert.ok(serviceFlow(t, cport, PROTO_TCP, TCPF_SYN, 0) >= 0);
        assure(cport, 0);
      }
      // The only unassured entry: its original tuple is homed in the same bucket.
      assert.ok(serviceFlow(t, victim, PROTO_TCP, TCPF_SYN, 0) >= 0);
      const everyFlowFound = (flows: readonly number[], now: number): void => {
        for (const cport of flows) {
          const s = at(t, now).lookup(CLIENT, VIP, cport, 80, PROTO_TCP);
          assert.ok(s >= 0 && at(t, now).lookup(EP, CLIENT, 8080, cport, PROTO_TCP) === s, `flow from port ${cport}`);
        }
      };
      assert.ok(serviceFlow(t, admitted, PROTO_TCP, TCPF_SYN, 1) >= 0, 'the unassured entry made room');
      assert.equal(at(t, 1).lookup(CLIENT, VIP, victim, 80, PROTO_TCP), -1, 'the unassured flow was the victim');
      everyFlowFound([...others, admitted], 1);
      assert.deepEqual({ count: t.count, tcp: t.tcpCount, earlyDrop: t.counter('earlyDrop'), dropFull: t.counter('dropFull') }, { count: max, tcp: max, earlyDrop: 1, dropFull: 0 });
      // Now every entry is assured: a new flow homed in the same bucket finds nothing to evict.
      assure(admitted, 2);
      assert.equal(serviceFlow(t, refused, PROTO_TCP, TCPF_SYN, 3), INSERT_FULL);
      everyFlowFound([...others, admitted], 3);
      assert.deepEqual({ count: t.count, tcp: t.tcpCount, earlyDrop: t.counter('earlyDrop'), dropFull: t.counter('dropFull') }, { count: max, tcp: max, earlyDrop: 1, dropFull: 1 });
    });
  }

  it("computes kube-proxy's and the kernel's conntrack limits", () => {
    assert.equal(kubeProxyConntrackMax({ maxPerCore: 32768, min: 131072 }, 2), 131072);
    assert.equal(kubeProxyConntrackMax({ maxPerCore: 32768, min: 131072 }, 8), 262144);
    assert.equal(kubeProxyConntrackMax({ maxPerCore: 0, min: 131072 }, 8), 0);
    assert.equal(kernelDefaultConntrackBuckets(8 * 2 ** 30), 262144);
    assert.equal(kernelDefaultConntrackBuckets(2 ** 30), 8192);
    assert.equal(kernelDefaultConntrackBuckets(2 ** 31), 65536);
    assert.equal(kernelDefaultConntrackBuckets(2 ** 20), 1024);
  });
});

// ---- model-based property: the table against a Map keyed by tuple ----

type Op =
  | { readonly op: 'insert'; readonly c: number; readonly cport: number; readonly e: number; readonly masq: boolean; readonly proto: number }
  | { readonly op: 'delete'; readonly k: number }
  | { readonly op: 'tick'; readonly dt: number }
  | { readonly op: 'touch'; readonly k: number; readonly reply: boolean };

interface ModelEntry {
  readonly orig: readonly number[];
  readonly reply: readonly number[];
  expires: number;
  slot: number;
}

const key = (t: readonly number[]): string => t.join(',');

describe('conntrack table vs a Map model', () => {
  it('agrees on every lookup, in both directions, through inserts, deletes, refreshes and expiry', () => {
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      { weight: 5, arbitrary: fc.record({ op: fc.constant('insert' as const), c: fc.integer({ min: 0, max: 3 }), cport: fc.integer({ min: 1000, max: 1011 }), e: fc.integer({ min: 0, max: 2 }), masq: fc.boolean(), proto: fc.constantFrom(PROTO_UDP, 132) }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), k: fc.nat() }) },
      { weight: 2, arbitrary: fc.record({ op: fc.constant('touch' as const), k: fc.nat(), reply: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ op: fc.constant('tick' as const), dt: fc.integer({ min: 1, max: 20 }) }) },
    );
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 250 }), (ops) => {
        // A dense index (up to 192 of 256 slots used) so probe clusters form and wrap around,
        // exercising backward-shift deletion. At most 96 distinct original tuples: never full.
        const t = new ConntrackTable({ maxEntries: 100, indexSlots: 256, timeouts: { udpTimeoutSeconds: 30 } });
        const model = new Map<string, ModelEntry>(); // by original-tuple key
        const byAny = new Map<string, ModelEntry>(); // by either tuple key
        let now = 0;
        const live = (): ModelEntry[] => [...model.values()].filter((m) => m.expires > now);
        const forget = (m: ModelEntry): void => {
          model.delete(key(m.orig));
          byAny.delete(key(m.orig));
          byAny.delete(key(m.reply));
        };
        for (const o of ops) {
          if (o.op === 'insert') {
            const client = 0x0af40100 + o.c;
            const ep = 0x0af40200 + o.e;
            const orig = [client, 0x0a60000a, o.cport, 80, o.proto];
            const reply = [ep, o.masq ? 0xc0a8000b : client, 8080, o.masq ? 20000 + (o.cport % 4) : o.cport, o.proto];
            const slot = at(t, now).insert(orig[0], orig[1], orig[2], orig[3], o.proto, reply[0], reply[1], reply[2], reply[3], 0);
            const clash = [key(orig), key(reply)].some((k) => {
              const m = byAny.get(k);
              return m !== undefined && m.expires > now;
            });
            if (clash) {
              assert.equal(slot, INSERT_CLASH);
            } else {
              assert.ok(slot >= 0, `insert returned ${slot}`);
              for (const k of [key(orig), key(reply)]) {
                const old = byAny.get(k);
                if (old) forget(old); // expired, reaped by the table's clash check
              }
              const m: ModelEntry = { orig, reply, expires: now + (o.proto === PROTO_UDP ? 30 : 600), slot };
              model.set(key(orig), m);
              byAny.set(key(orig), m);
              byAny.set(key(reply), m);
            }
          } else if (o.op === 'delete') {
            const l = live();
            if (l.length === 0) continue;
            const m = l[o.k % l.length];
            t.delete(m.slot);
            forget(m);
          } else if (o.op === 'touch') {
            const l = live();
            if (l.length === 0) continue;
            const m = l[o.k % l.length];
            const tu = o.reply ? m.reply : m.orig;
            const s = at(t, now).lookup(tu[0], tu[1], tu[2], tu[3], tu[4]);
            assert.equal(s, m.slot);
            assert.equal(at(t, now).update(s, o.reply ? DIR_REPLY : DIR_ORIGINAL, 0), CT_ACCEPT);
            m.expires = now + (m.orig[4] === PROTO_UDP ? 30 : 600);
          } else {
            now += o.dt;
          }
          // Every model entry, live or expired, is looked up both ways.
          for (const m of [...model.values()]) {
            for (const [tu, dir] of [[m.orig, DIR_ORIGINAL], [m.reply, DIR_REPLY]] as const) {
              const s = at(t, now).lookup(tu[0], tu[1], tu[2], tu[3], tu[4]);
              if (m.expires > now) {
                assert.equal(s, m.slot);
                assert.equal(t.dir, dir);
              } else {
                assert.equal(s, -1);
              }
            }
            if (m.expires <= now) forget(m);
          }
          assert.equal(t.count, model.size);
        }
      }),
      { seed: 20240611, numRuns: 150 },
    );
  });
});

describe('conntrack table under churn at high index load', () => {
  it('keeps every live tuple reachable through 20k random inserts and deletes (seeded)', () => {
    // mulberry32: a tiny seeded PRNG, so a failure replays exactly.
    let seed = 0x9e3779b9;
    const rand = (): number => {
      seed = (seed + 0x6d2b79f5) | 0;
      let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
      x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
      return ((x ^ (x >>> 14)) >>> 0) / 2 ** 32;
    };
    // 120 entries x 2 tuples in 256 slots: up to 94 % full, long clusters that wrap around.
    const t = new ConntrackTable({ maxEntries: 120, indexSlots: 256 });
    const live = new Map<number, { readonly cport: number; readonly slot: number }>();
    for (let step = 0; step < 20000; step++) {
      const cport = 1 + Math.floor(rand() * 400);
      const existing = live.get(cport);
      if (existing) {
        if (rand() < 0.5) {
          t.delete(existing.slot);
          live.delete(cport);
        } else {
          assert.equal(at(t, 0).lookup(EP, NODE, 8080, 30000 + cport, PROTO_UDP), existing.slot);
        }
      } else if (live.size < 120) {
        const slot = at(t, 0).insert(CLIENT, VIP, cport, 53, PROTO_UDP, EP, NODE, 8080, 30000 + cport, 0);
        assert.ok(slot >= 0);
        live.set(cport, { cport, slot });
      }
      if (step % 50 === 0) {
        assert.equal(t.count, live.size);
        for (const { cport: p, slot } of live.values()) {
          assert.equal(at(t, 0).lookup(CLIENT, VIP, p, 53, PROTO_UDP), slot);
          assert.equal(at(t, 0).lookup(EP, NODE, 8080, 30000 + p, PROTO_UDP), slot);
        }
        for (let p = 1; p <= 400; p += 7) if (!live.has(p)) assert.equal(at(t, 0).lookup(CLIENT, VIP, p, 53, PROTO_UDP), -1);
      }
    }
  });
});
