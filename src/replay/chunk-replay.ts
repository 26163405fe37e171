/**
 * One shard's replay of a chunk of flows in its two timed phases (replay.ts says what each phase
 * sends), with everything that lives across chunks (the per-flow arrays, the timers and the
 * decision checksum) as the fields of one object.
 *
 * Why a class and not the loops inline in replayShard(): one function holding every loop of a
 * run was optimised by on-stack replacement, with the run's own closures (the batch timer, the
 * progress callback) inlined into it; the next run's closures are other functions, so that code
 * deoptimised ("wrong call target") and was compiled again, 136-335 ms of TurboFan on a
 * background thread each time, six to eight times in a timed run of 1,000,000 flows. On two
 * workers that compiling took 0.82 s of CPU from the 3.03 s the shards ran, on the two cores the
 * shards need (`node --trace-opt --trace-deopt`, `kdp bench --services 100 --modes nftables
 * --workers 2 --flows 1000000`, 2026-12-06). Methods of one class, called once a chunk, call
 * only module functions and the fields' own: the warm-up compiles them once and no later run
 * invalidates them.
 */
import type { ProxyMode } from '../compile/mode.js';
import type { Cluster } from '../model/types.js';
import type { PipelineContext } from '../dataplane/context.js';
import { END_EXTERNAL, END_HOST, END_POD } from '../dataplane/next.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD, inject, runBatch } from '../dataplane/pipeline.js';
import { mix32 } from '../net/hash.js';
import { kBatchSize, PacketBatch } from '../net/batch.js';
import { DIR_FORWARD, FlowChunk, LOOKUP_NONE, LOOKUP_UPSTREAM, newPacketSpec, packetAt, packetCount, type PacketSpec } from './flows.js';

const PHASE_NEW = 0;
const PHASE_ESTABLISHED = 1;
const PHASE_LOOKUP = 2;

export class ChunkReplay {
  readonly chunk: FlowChunk;
  // Per flow of the chunk: where the first packet arrived (the reply starts there), whether it
  // did, its packet count, and sequence numbers.
  private readonly aSrc: Uint32Array;
  private readonly aDst: Uint32Array;
  private readonly aSport: Uint16Array;
  private readonly aDport: Uint16Array;
  private readonly aNode: Uint16Array;
  private readonly aEntry: Uint8Array;
  // Per flow a socket-LB node's socket stage connected (TCP): the backend its socket holds (0 none).
  private readonly peer: Uint32Array;
  private readonly peerPort: Uint16Array;
  private readonly alive: Uint8Array;
  private readonly pkts: Uint8Array;
  private readonly seqF: Uint32Array;
  private readonly seqR: Uint32Array;
  private readonly sending: Int32Array;
  private readonly flowOfSlot = new Int32Array(kBatchSize);
  private readonly spec: PacketSpec = newPacketSpec();
  private readonly batch = new PacketBatch({ capacity: kBatchSize });
  /** Service ports whose decision depends on the order of flows (ProxyMode.orderDependent), asked once each. */
  private readonly orderDep = new Map<number, boolean>();
  // The established phase's share of the stage timers, which runBatch adds into for every phase:
  // what its batches added, taken as a difference around each (a dozen adds a batch of 256).
  private readonly stageMsBefore: Float64Array;
  readonly estStageMs: Float64Array;

  nFlows = 0;
  failed = 0;
  failedLookups = 0;
  lookupConnections = 0;
  lookupNames = 0;
  upstreamConnections = 0;
  lookupPackets = 0;
  lookupNs = 0;
  lookupFlows = 0;
  firstPackets = 0;
  estPackets = 0;
  newNs = 0;
  estNs = 0;
  rxNs = 0;
  /** The decision checksum's two sums (replay.ts), and the decisions checked exactly, by candidate set, outside it. */
  lo = 0;
  hi = 0;
  exact = 0;
  candidate = 0;
  foreign = 0;

  /** `capacity`: flows a chunk can hold (replayShard sizes it); `clock` returns milliseconds. */
  constructor(
    private readonly c: PipelineContext,
    private readonly mode: ProxyMode,
    private readonly cluster: Cluster,
    private readonly podMtu: number,
    private readonly clock: () => number,
    capacity: number,
  ) {
    this.chunk = new FlowChunk(capacity);
    const cap = this.chunk.capacity;
    this.aSrc = new Uint32Array(cap);
    this.aDst = new Uint32Array(cap);
    this.aSport = new Uint16Array(cap);
    this.aDport = new Uint16Array(cap);
    this.aNode = new Uint16Array(cap);
    this.aEntry = new Uint8Array(cap);
    this.peer = new Uint32Array(cap);
    this.peerPort = new Uint16Array(cap);
    this.alive = new Uint8Array(cap);
    this.pkts = new Uint8Array(cap);
    this.seqF = new Uint32Array(cap);
    this.seqR = new Uint32Array(cap);
    this.sending = new Int32Array(cap);
    this.stageMsBefore = new Float64Array(c.counters.stageMs.length);
    this.estStageMs = new Float64Array(c.counters.stageMs.length);
  }

  /**
   * Replays the chunk's flows (this.chunk, filled by the caller): first packets, the decisions, then the later packets.
   * Cost: runBatch's, and outside it (writing each packet's headers, as a NIC's DMA would, and
   * scheduling it; timed apart as rxNs, never in the figures) ~145-173 ns a packet at 100, 1k and
   * 30k Services in every mode (`counters.rxNsPerPacket`, 1 worker, 1,000,000 flows, the benchmark
   * of record of 2026-12-07 at 46e2266, BENCHMARKS.md; ~135-149 at a0abb32, ~136-155 at 24ab012, ~142-173 at 82f25e6, ~139-161 at ef98d70, ~149-173 at 54c2d23).
   */
  replay(): void {
    const n = this.chunk.count;
    this.firstPass(n, true);
    this.firstPass(n, false);
    this.checksum(n);
    this.laterPass(n, true);
    this.laterPass(n, false);
  }

  /** runBatch over the batch, timed into the phase's sum. */
  private timed(phase: number): void {
    const stageMs = this.c.counters.stageMs;
    if (phase === PHASE_ESTABLISHED) this.stageMsBefore.set(stageMs);
    const t0 = this.clock();
    runBatch(this.c, this.batch);
    const dt = (this.clock() - t0) * 1e6;
    if (phase === PHASE_NEW) this.newNs += dt;
    else if (phase === PHASE_ESTABLISHED) {
      this.estNs += dt;
      const est = this.estStageMs;
      const before = this.stageMsBefore;
      for (let k = 0; k < stageMs.length; k++) est[k] += stageMs[k] - before[k];
    } else this.lookupNs += dt;
  }

  /**
   * Phase 1: the first packet of every flow of the pass, in batches of kBatchSize: the lookups'
   * flows (`lookups`; none without --dns), then the connections', each timed on its own (a name
   * is resolved before its connection opens). Records where each first packet ended.
   */
  private firstPass(n: number, lookups: boolean): void {
    const { chunk, batch, spec, c, seqF, seqR, pkts, flowOfSlot, podMtu } = this;
    let tRx = this.clock();
    for (let j0 = 0; j0 < n; ) {
      batch.reset();
      let j = j0;
      for (; j < n && batch.count < kBatchSize; j++) {
        if ((chunk.lookup[j] !== LOOKUP_NONE) !== lookups) continue;
        const r = chunk.rand[j];
        seqF[j] = r;
        seqR[j] = mix32(r, 0x53594e41);
        pkts[j] = packetCount(chunk, j);
        packetAt(chunk, j, 0, podMtu, spec);
        const i = batch.push(chunk.proto[j], chunk.srcIp[j] | 0, chunk.srcPort[j], chunk.dstIp[j] | 0, chunk.dstPort[j], spec.payload, spec.flags, seqF[j] | 0, 0);
        inject(c, batch, i, chunk.node[j], chunk.entry[j]);
        seqF[j] = (seqF[j] + (spec.payload || 1)) >>> 0;
        flowOfSlot[i] = j;
      }
      j0 = j;
      if (batch.count === 0) continue;
      this.rxNs += (this.clock() - tRx) * 1e6;
      this.timed(lookups ? PHASE_LOOKUP : PHASE_NEW);
      tRx = this.clock();
      if (lookups) this.lookupPackets += batch.count;
      else this.firstPackets += batch.count;
      this.arrived(lookups);
    }
    this.rxNs += (this.clock() - tRx) * 1e6;
  }

  /** Where each first packet of the batch ended, for its flow's later packets; a flow whose first packet was lost sends none. */
  private arrived(lookups: boolean): void {
    const { batch, flowOfSlot, aSrc, aDst, aSport, aDport, aNode, aEntry, peer, peerPort, alive } = this;
    const meta = this.c.meta;
    for (let i = 0; i < batch.count; i++) {
      const k = flowOfSlot[i];
      const end = batch.verdict[i];
      aSrc[k] = batch.srcIp[i];
      aDst[k] = batch.dstIp[i];
      aSport[k] = batch.srcPort[i];
      aDport[k] = batch.dstPort[i];
      aNode[k] = batch.node[i];
      aEntry[k] = end === END_POD ? ENTRY_POD : end === END_HOST ? ENTRY_HOST : ENTRY_EXTERNAL;
      peer[k] = meta.peerIp[i];
      peerPort[k] = meta.peerPort[i];
      const ok = end === END_POD || end === END_HOST || end === END_EXTERNAL;
      alive[k] = ok ? 1 : 0;
      if (!ok) {
        if (lookups) this.failedLookups++;
        else this.failed++;
      }
    }
  }

  /** The decisions, from the entry node's conntrack (untimed; lookups are not counted as hits), into the checksum. */
  private checksum(n: number): void {
    const { chunk, alive } = this;
    const world = this.c.world;
    const eps = this.cluster.endpoints;
    let lo = this.lo;
    let hi = this.hi;
    for (let j = 0; j < n; j++) {
      if (chunk.lookup[j] === LOOKUP_NONE) {
        this.nFlows++;
        if (chunk.names[j] > 0) {
          this.lookupConnections++;
          this.lookupNames += chunk.names[j];
        }
      } else {
        this.lookupFlows++;
        if (chunk.lookup[j] === LOOKUP_UPSTREAM) this.upstreamConnections++;
      }
      const ep = world.flowEndpoint(chunk.node[j], chunk.srcIp[j], chunk.dstIp[j], chunk.srcPort[j], chunk.dstPort[j], chunk.proto[j]);
      const sp = chunk.servicePort[j];
      const id = chunk.id[j] >>> 0;
      let v: number;
      if (sp >= 0 && this.isOrderDependent(sp)) {
        this.candidate++;
        if (ep >= 0 && eps.servicePort[ep] !== sp) this.foreign++;
        v = mix32(id, ep >= 0 ? (0x80000000 | eps.servicePort[ep]) >>> 0 : 0x7fffffff);
      } else {
        this.exact++;
        v = mix32(id, (ep + 1) >>> 0);
      }
      v = mix32(v, alive[j]);
      lo = (lo + v) >>> 0;
      hi = (hi + mix32(v, 0x9e3779b9)) >>> 0;
    }
    this.lo = lo;
    this.hi = hi;
  }

  private isOrderDependent(sp: number): boolean {
    let v = this.orderDep.get(sp);
    if (v === undefined) {
      v = this.mode.orderDependent(this.cluster, sp);
      this.orderDep.set(sp, v);
    }
    return v;
  }

  /**
   * Phase 2: the later packets of the pass's live flows (the lookups', or the connections'),
   * interleaved: each round sends one packet of every flow still sending and keeps those with
   * more, so no round walks finished flows.
   */
  private laterPass(n: number, lookups: boolean): void {
    const { chunk, batch, spec, c, seqF, seqR, pkts, alive, sending, peer, peerPort, aSrc, aDst, aSport, aDport, aNode, aEntry, podMtu } = this;
    const phase = lookups ? PHASE_LOOKUP : PHASE_ESTABLISHED;
    // Addresses and sequence numbers go to push() `| 0`: no boxed double a packet (PacketBatch.push).
    let live = 0;
    for (let j = 0; j < n; j++) if (alive[j] !== 0 && (chunk.lookup[j] !== LOOKUP_NONE) === lookups && pkts[j] > 1) sending[live++] = j;
    let tRx = this.clock();
    batch.reset();
    for (let p = 1; live > 0; p++) {
      let kept = 0;
      for (let q = 0; q < live; q++) {
        const j = sending[q];
        if (p + 1 < pkts[j]) sending[kept++] = j;
        packetAt(chunk, j, p, podMtu, spec);
        let i: number;
        if (spec.dir === DIR_FORWARD) {
          // A connected TCP socket sends to the backend it was given at connect() (socket LB).
          const to = peer[j] | 0;
          i = batch.push(chunk.proto[j], chunk.srcIp[j] | 0, chunk.srcPort[j], to !== 0 ? to : chunk.dstIp[j] | 0, to !== 0 ? peerPort[j] : chunk.dstPort[j], spec.payload, spec.flags, seqF[j] | 0, seqR[j] | 0);
          inject(c, batch, i, chunk.node[j], chunk.entry[j]);
          seqF[j] = (seqF[j] + spec.payload + (spec.flags & 0x03 ? 1 : 0)) >>> 0;
        } else {
          i = batch.push(chunk.proto[j], aDst[j] | 0, aDport[j], aSrc[j] | 0, aSport[j], spec.payload, spec.flags, seqR[j] | 0, seqF[j] | 0);
          inject(c, batch, i, aNode[j], aEntry[j]);
          seqR[j] = (seqR[j] + spec.payload + (spec.flags & 0x03 ? 1 : 0)) >>> 0;
        }
        if (batch.count === kBatchSize) {
          this.rxNs += (this.clock() - tRx) * 1e6;
          this.sent(phase, lookups);
          tRx = this.clock();
        }
      }
      live = kept;
    }
    this.rxNs += (this.clock() - tRx) * 1e6;
    if (batch.count > 0) this.sent(phase, lookups);
  }

  /** Runs the later packets' batch (timed) and counts it. */
  private sent(phase: number, lookups: boolean): void {
    this.timed(phase);
    if (lookups) this.lookupPackets += this.batch.count;
    else this.estPackets += this.batch.count;
    this.batch.reset();
  }
}
