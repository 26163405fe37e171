/**
 * Laws of SocketTable's two-step insert (open, then fileAnswer), which socket LB uses so that a
 * frame's new sockets read their answer slots together: a socket is found by the application's
 * tuple as soon as it is opened and by the backend's answer once filed; an entry a later open()
 * took over before its first was filed (the table wrapped within a frame) is filed once, for
 * the socket it now holds.
 *
 * Oracle: the definition of the two keys (socket-table.ts's header: the application's tuple, and
 * the backend's answer to it), written out per socket below, not read from the table.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { SocketTable } from '../../src/dataplane/socket-table.js';
import { PROTO_UDP } from '../../src/net/proto.js';

const SEND = 0;
const ANSWER = 1;

/** Socket k: pod 10.0.0.1 port 20000+k to service 10.96.0.10:53, given backend 10.1.0.k:5353. */
const app = (k: number) => ({ src: 0x0a000001, dst: 0x0a60000a, sport: 20000 + k, dport: 53, backend: 0x0a010000 + k, bport: 5353 });
const send = (t: SocketTable, k: number) => {
  const s = app(k);
  return t.lookup(s.src, s.dst, s.sport, s.dport, PROTO_UDP, SEND);
};
const answer = (t: SocketTable, k: number) => {
  const s = app(k);
  return t.lookup(s.backend, s.src, s.bport, s.sport, PROTO_UDP, ANSWER);
};
const open = (t: SocketTable, k: number) => {
  const s = app(k);
  return t.open(s.src, s.dst, s.sport, s.dport, PROTO_UDP, s.backend, s.bport, k);
};

describe('SocketTable: open, then fileAnswer', () => {
  it('finds a socket by its tuple once opened, by its answer once filed', () => {
    const t = new SocketTable(64);
    const e = open(t, 1);
    assert.equal(send(t, 1), e);
    assert.equal(answer(t, 1), -1, 'not yet filed under the answer');
    t.fileAnswer(e);
    assert.equal(answer(t, 1), e);
    assert.equal(t.backendIp(e), app(1).backend);
  });

  it('files an entry taken over within the frame once, for the socket it now holds', () => {
    const t = new SocketTable(16);
    // A frame opening one more socket than the table holds: the last takes the first's entry.
    const entries = Array.from({ length: t.capacity + 1 }, (_, k) => open(t, k));
    assert.equal(entries[t.capacity], entries[0]);
    for (const e of entries) t.fileAnswer(e);
    assert.equal(send(t, 0), -1, 'the oldest socket went');
    assert.equal(answer(t, 0), -1);
    for (let k = 1; k <= t.capacity; k++) {
      assert.equal(send(t, k), entries[k], `socket ${k} by its tuple`);
      assert.equal(answer(t, k), entries[k], `socket ${k} by its answer`);
    }
    // More frames like it: an entry filed twice would leave an index slot behind each time (which
    // no lookup shows: it compares the record, which holds another socket by then).
    for (let round = 0; round < 3; round++) {
      const base = 100 + round * (t.capacity + 1);
      const es = Array.from({ length: t.capacity + 1 }, (_, k) => open(t, base + k));
      for (const e of es) t.fileAnswer(e);
      assert.equal(answer(t, base + t.capacity), es[t.capacity], `round ${round}`);
    }
    assert.equal(t.indexSlotsUsed(), 2 * t.capacity, 'each live socket filed under its two keys, nothing left behind');
  });
});
