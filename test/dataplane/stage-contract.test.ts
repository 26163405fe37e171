/**
 * The stage table's declarations are checked facts: many varied packets (synthetic flows of every
 * kind with their replies, in every proxy mode and several CNIs, traced and untraced, plus
 * packets built to fail: TTL 1, oversized, non-SYN first packets, a full conntrack table) run
 * through the pipeline with every stage wrapped, and each stage may write only the next stages,
 * drop reasons and ends its record declares (src/dataplane/stages.ts). The checker itself is
 * shown to catch a wrong declaration.
 */
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { describe, it } from 'node:test';
import { PipelineContext } from '../../src/dataplane/context.js';
import { DROP_LOOP, END_DROPPED, END_REJECTED, kDropNames, kEndNames, kStageNames, NEXT_DONE, NEXT_POSTROUTING, NEXT_PREROUTING, NEXT_ROUTE, NEXT_SERVICE_NAT, DROP_SERVICE_REJECT, END_HOST, END_POD } from '../../src/dataplane/next.js';
import { ENTRY_EXTERNAL, ENTRY_HOST, ENTRY_POD, inject, runBatch } from '../../src/dataplane/pipeline.js';
import { resolveProbe, type ProbeSpec } from '../../src/dataplane/resolve.js';
import { kStages, type Stage } from '../../src/dataplane/stages.js';
import { TraceRecorder } from '../../src/dataplane/trace-recorder.js';
import type { Cni, ModeName } from '../../src/model/types.js';
import { modeNames } from '../../src/compile/index.js';
import { PROTO_TCP } from '../../src/net/proto.js';
import { kBatchSize, PacketBatch } from '../../src/net/batch.js';
import { TCP_ACK, TCP_FIN, TCP_SYN } from '../../src/net/l4.js';
import { FlowChunk } from '../../src/replay/flows.js';
import { ReplaySetup } from '../../src/replay/replay.js';
import { twoNodeObjects, twoNodes } from '../helpers/two-nodes.js';
import { clusterOf, loadFixture } from '../helpers/cluster.js';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { tracePacket } from '../../src/dataplane/trace.js';

const kCnis: readonly Cni[] = ['calico-vxlan', 'calico-ipip', 'kubenet', 'flannel-vxlan'];

/** What the wrapped stages saw: contract violations, and every (stage, outcome) that happened. */
interface Audit {
  readonly violations: string[];
  /** "stage -> next", "stage drop reason", "stage end name". */
  readonly seen: Set<string>;
}

const newAudit = (): Audit => ({ violations: [], seen: new Set() });

/**
 * The stage table with every stage's run wrapped: before it, the batch's `next` column and the
 * drop counters are copied; after it, every packet the stage took must have a declared next id,
 * a packet it ended a declared drop reason or end, and no other packet may have moved.
 */
function checked(stages: readonly Stage[], audit: Audit): Stage[] {
  return stages.map((s) => ({
    ...s,
    run(ctx: PipelineContext, batch: PacketBatch): void {
      const before = batch.next.slice(0, batch.count);
      const drops = ctx.counters.drops.slice();
      s.run(ctx, batch);
      const flag = (what: string): void => {
        if (audit.violations.length < 20) audit.violations.push(`${s.name}: ${what}`);
      };
      for (let i = 0; i < batch.count; i++) {
        const after = batch.next[i];
        if (before[i] !== s.id) {
          if (after !== before[i]) flag(`moved packet ${i} it does not own (${kStageNames[before[i]]} -> ${kStageNames[after]})`);
          continue;
        }
        audit.seen.add(`${s.name} -> ${kStageNames[after]}`);
        if (!s.next.includes(after)) flag(`wrote undeclared next ${kStageNames[after]}`);
        if (after !== NEXT_DONE) continue;
        const end = batch.verdict[i];
        const reason = batch.drop[i];
        if (reason !== 0) {
          audit.seen.add(`${s.name} drop ${kDropNames[reason]}`);
          if (!s.drops.includes(reason)) flag(`dropped for undeclared reason ${kDropNames[reason]}`);
          const expected = reason === DROP_SERVICE_REJECT ? END_REJECTED : END_DROPPED;
          if (end !== expected) flag(`dropped for ${kDropNames[reason]} with end ${kEndNames[end]}`);
        } else {
          audit.seen.add(`${s.name} end ${kEndNames[end]}`);
          if (!s.ends.includes(end)) flag(`ended a packet undeclared as ${kEndNames[end]}`);
        }
      }
      for (let r = 0; r < drops.length; r++) {
        if (ctx.counters.drops[r] !== drops[r] && !s.drops.includes(r)) flag(`counted undeclared drop ${kDropNames[r]}`);
      }
    },
  }));
}

/**
 * Replays `flows` synthetic flows of every kind through checked stages, in two waves: first
 * packets, then each delivered flow's reply and a few more packets both ways, as the replay
 * does, with tracing on for the first packet of some batches. Returns how many packets were sent.
 */
function replayChecked(mode: ModeName, cni: Cni, flows: number, stages: readonly Stage[], conntrackMax = 1 << 14): number {
  const setup = new ReplaySetup({ mode, services: 12, endpointsPerService: 3, cni, seed: 7, zipf: 0 });
  const ctx = new PipelineContext(setup.compiledCluster, { seed: 7, conntrackMax });
  const chunk = new FlowChunk(flows);
  setup.flowSet.fillShard(0, flows, 0, 1, chunk);
  const batch = new PacketBatch({ capacity: kBatchSize });
  const back = new Array<{ src: number; sport: number; dst: number; dport: number; node: number; entry: number } | null>(chunk.count).fill(null);
  let sent = 0;
  const run = (traced: number): void => {
    if (traced >= 0) ctx.recorder = new TraceRecorder(traced, (n) => setup.cluster.nodes[n].name, false);
    runBatch(ctx, batch, stages);
    ctx.recorder = null;
    sent += batch.count;
  };
  // Two waves: the second's new flows meet the first's established entries (a small table fills).
  for (const [lo, hi] of [[0, chunk.count >> 1], [chunk.count >> 1, chunk.count]]) {
    for (let j0 = lo; j0 < hi; j0 += kBatchSize) {
      const j1 = Math.min(hi, j0 + kBatchSize);
      batch.reset();
      for (let j = j0; j < j1; j++) {
        // Every 17th flow starts with a bare ACK (no SYN: conntrack cannot start it), every 29th is
        // oversized (too big for the overlay with DF set), every 31st arrives with TTL 1.
        const tcp = chunk.proto[j] === PROTO_TCP;
        batch.ttl = j % 31 === 0 ? 1 : 64;
        const i = batch.push(chunk.proto[j], chunk.srcIp[j], chunk.srcPort[j], chunk.dstIp[j], chunk.dstPort[j], j % 29 === 0 ? 1480 : 100, tcp ? (j % 17 === 0 ? TCP_ACK : TCP_SYN) : 0);
        inject(ctx, batch, i, chunk.node[j], chunk.entry[j]);
      }
      batch.ttl = 64;
      run(0);
      for (let i = 0; i < batch.count; i++) {
        const end = batch.verdict[i];
        if (end === END_DROPPED || end === END_REJECTED) continue;
        const entry = end === END_POD ? ENTRY_POD : end === END_HOST ? ENTRY_HOST : ENTRY_EXTERNAL;
        back[j0 + i] = { src: batch.dstIp[i], sport: batch.dstPort[i], dst: batch.srcIp[i], dport: batch.srcPort[i], node: batch.node[i], entry };
      }
    }
    // The established packets: reply, forward, reply, forward FIN.
    for (let p = 0; p < 4; p++) {
      batch.reset();
      for (let j = lo; j < hi; j++) {
        const b = back[j];
        if (!b) continue;
        const tcp = chunk.proto[j] === PROTO_TCP;
        const flags = !tcp ? 0 : p === 0 ? TCP_SYN | TCP_ACK : p === 3 ? TCP_FIN | TCP_ACK : TCP_ACK;
        const i =
          p % 2 === 0
            ? batch.push(chunk.proto[j], b.src, b.sport, b.dst, b.dport, 200, flags)
            : batch.push(chunk.proto[j], chunk.srcIp[j], chunk.srcPort[j], chunk.dstIp[j], chunk.dstPort[j], 200, flags);
        if (p % 2 === 0) inject(ctx, batch, i, b.node, b.entry);
        else inject(ctx, batch, i, chunk.node[j], chunk.entry[j]);
        if (batch.count === kBatchSize) {
          run(p === 0 ? 0 : -1);
          batch.reset();
        }
      }
      if (batch.count > 0) run(-1);
    }
  }
  return sent;
}

/** The two-node cluster's hand-picked paths (host network, NodePorts, hairpin, no endpoints), traced. */
function probesChecked(mode: ModeName, cni: Cni, stages: readonly Stage[]): void {
  const compiled = twoNodes(cni, mode);
  const probes: [string, string, string?][] = [
    ['10.244.1.5:40000', '10.96.0.10:80'],
    ['10.244.2.7:40000', '10.96.0.10:80'],
    ['10.244.1.5:40000', '10.244.2.7:8080'],
    ['10.244.1.5:40000', '10.96.0.40:80'],
    ['192.168.0.11:40000', '10.96.0.10:80'],
    ['192.168.0.11:40000', '192.168.0.12:22'],
    ['10.244.1.5:40000', '192.168.0.11:10250'],
    ['203.0.113.9:5555', '192.168.0.11:30081', 'node-1'],
    ['203.0.113.9:5555', '192.168.0.11:30080', 'node-1'],
    ['203.0.113.9:5555', '192.168.0.12:30080', 'node-2'],
    ['10.244.1.5:40000', '8.8.8.8:53'],
  ];
  probeBothWays(compiled, stages, probes.map(([src, dst, node]) => ({ src, dst, ...(node ? { node } : {}) })));
}

/** Each probe traced through checked stages, then its answer back when it was delivered, in one context. */
function probeBothWays(compiled: CompiledCluster, stages: readonly Stage[], specs: readonly ProbeSpec[]): void {
  const ctx = new PipelineContext(compiled);
  for (const spec of specs) {
    let p: ReturnType<typeof resolveProbe> | undefined = resolveProbe(compiled.cluster, compiled.plan, spec);
    let flags = TCP_SYN;
    for (let k = 0; k < 2 && p; k++) {
      const batch = new PacketBatch({ capacity: 2 });
      const i = batch.push(p.proto, p.srcIp, p.srcPort, p.dstIp, p.dstPort, 64, flags);
      ctx.recorder = new TraceRecorder(i, (n) => compiled.cluster.nodes[n].name, true);
      inject(ctx, batch, i, p.node, p.entry);
      runBatch(ctx, batch, stages);
      ctx.recorder = null;
      const end = batch.verdict[i];
      if (end === END_DROPPED || end === END_REJECTED) break;
      const entry = end === END_POD ? ENTRY_POD : end === END_HOST ? ENTRY_HOST : ENTRY_EXTERNAL;
      p = { ...p, srcIp: batch.dstIp[i], srcPort: batch.dstPort[i], dstIp: batch.srcIp[i], dstPort: batch.srcPort[i], node: batch.node[i], entry };
      flags = TCP_SYN | TCP_ACK;
    }
  }
}

/** NodeLocal DNSCache's raw-table NOTRACK: DNS to the cache and back, and traffic the raw table passes on to conntrack. */
function nodeLocalChecked(mode: ModeName, stages: readonly Stage[]): void {
  const probes: [string, string, string][] = [
    ['10.244.1.10:50000', '10.96.0.10:53', 'udp'],
    ['10.244.1.10:50001', '169.254.20.10:53', 'tcp'],
    ['10.244.1.10:40000', '10.96.0.20:80', 'tcp'],
    ['192.168.0.11:45000', '10.96.0.11:53', 'tcp'],
  ];
  probeBothWays(new CompiledCluster(loadFixture('dns-nodelocal.yaml'), mode), stages, probes.map(([src, dst, proto]) => ({ src, dst, proto })));
}

describe('stage contract: every stage writes only what its record declares', () => {
  const seen = new Set<string>();
  for (const mode of modeNames()) {
    for (const cni of kCnis) {
      it(`${mode}, ${cni}: synthetic flows and their replies, and the two-node paths`, () => {
        const audit = newAudit();
        const stages = checked(kStages, audit);
        const sent = replayChecked(mode, cni, 700, stages);
        probesChecked(mode, cni, stages);
        assert.deepEqual(audit.violations, []);
        assert.ok(sent > 1000, `${sent} packets sent`);
        for (const s of audit.seen) seen.add(s);
      });
    }
  }

  it('NodeLocal DNSCache: the raw stage sends DNS for the cache to routing and the rest to conntrack, in every mode', () => {
    const audit = newAudit();
    for (const mode of modeNames()) nodeLocalChecked(mode, checked(kStages, audit));
    assert.deepEqual(audit.violations, []);
    assert.ok(audit.seen.has('raw -> route') && audit.seen.has('raw -> prerouting'), [...audit.seen].join(', '));
    for (const s of audit.seen) seen.add(s);
  });

  it('a full conntrack table: confirm drops new flows at POSTROUTING and LOCAL_IN', () => {
    const audit = newAudit();
    for (const mode of modeNames()) replayChecked(mode, 'calico-vxlan', 400, checked(kStages, audit), 64);
    assert.deepEqual(audit.violations, []);
    for (const s of audit.seen) seen.add(s);
    assert.ok(audit.seen.has('postrouting drop conntrack-full'), [...audit.seen].join(', '));
  });

  it('cilium with bpf-lb-mode dsr: NodePort from outside and its reply, and a header with no room for the DSR option', () => {
    const audit = newAudit();
    const stages = checked(kStages, audit);
    const dsrConfig = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'cilium-config' }, data: { 'kube-proxy-replacement': 'true', 'bpf-lb-mode': 'dsr' } };
    for (const cni of kCnis) {
      const compiled = new CompiledCluster(clusterOf(...twoNodeObjects(cni, 'cilium'), dsrConfig), 'cilium');
      const ctx = new PipelineContext(compiled);
      const probe = resolveProbe(compiled.cluster, compiled.plan, { src: '203.0.113.9:5555', dst: '192.168.0.11:30081', node: 'node-1' });
      const out = tracePacket(ctx, probe, { reply: true });
      assert.equal(out.result.reply?.hops.at(-1)?.src, '192.168.0.11:30081', cni);
      // Five NOP words fill the header (IHL 15): Cilium drops such a packet (DROP_CT_INVALID_HDR).
      const batch = new PacketBatch({ capacity: 2 });
      const i = batch.push(PROTO_TCP, probe.srcIp, 5556, probe.dstIp, probe.dstPort, 64, TCP_SYN);
      for (let k = 0; k < 5; k++) batch.addIpv4Option(i, 0x01010101, 0x01010101);
      inject(ctx, batch, i, probe.node, probe.entry);
      runBatch(ctx, batch, stages);
      assert.equal(kDropNames[batch.drop[i]], 'conntrack-invalid');
    }
    assert.deepEqual(audit.violations, []);
    for (const s of audit.seen) seen.add(s);
  });

  it('Calico policy: allowed, denied at egress and at ingress, and to the node itself', () => {
    const audit = newAudit();
    const stages = checked(kStages, audit);
    const compiled = new CompiledCluster(loadFixture('policy-cluster.yaml'), 'iptables');
    const ctx = new PipelineContext(compiled);
    const probes: [string, string][] = [
      ['pod/prod/frontend', '10.96.0.80:80'], // allowed from the same namespace
      ['pod/dev/client', '8.8.8.8:53'], // egress: outside the ipBlock
      ['pod/monitoring/prometheus', '10.244.2.10:8080'], // ingress: default deny
      ['pod/ops/toolbox', '192.168.0.11:10250'], // no policy: to the node's own address
    ];
    for (const [src, dst] of probes) {
      const p = resolveProbe(compiled.cluster, compiled.plan, { src, dst });
      const batch = new PacketBatch({ capacity: 2 });
      const i = batch.push(p.proto, p.srcIp, p.srcPort, p.dstIp, p.dstPort, 64, TCP_SYN);
      inject(ctx, batch, i, p.node, p.entry);
      runBatch(ctx, batch, stages);
    }
    assert.deepEqual(audit.violations, []);
    for (const k of ['policy -> postrouting', 'policy -> local-in', 'policy drop policy', 'route -> policy']) assert.ok(audit.seen.has(k), k);
    for (const s of audit.seen) seen.add(s);
  });

  it('the packets above reach every stage and most of what the stages declare', () => {
    for (const s of kStages) assert.ok([...seen].some((k) => k.startsWith(`${s.name} `)), `stage ${s.name} never ran`);
    const declared: string[] = [];
    for (const s of kStages) {
      for (const n of s.next) declared.push(`${s.name} -> ${kStageNames[n]}`);
      for (const d of s.drops) declared.push(`${s.name} drop ${kDropNames[d]}`);
      for (const e of s.ends) declared.push(`${s.name} end ${kEndNames[e]}`);
    }
    // Not reached by these packets: a routing loop, a blackhole route, malformed outer headers,
    // and a full table at LOCAL_IN.
    const unreached = new Set(['prerouting drop loop', 'route drop no-route', 'decap -> done', 'decap drop unparsable', 'local-in drop conntrack-full']);
    const missing = declared.filter((d) => !seen.has(d) && !unreached.has(d));
    assert.deepEqual(missing, [], 'declared outcomes no packet produced');
  });

  it('every stage that drops or ends packets declares done among its next stages, and no other does', () => {
    for (const s of kStages) assert.equal(s.next.includes(NEXT_DONE), s.drops.length + s.ends.length > 0, s.name);
    assert.deepEqual(kStages.map((s) => s.id), kStageNames.slice(1).map((_, k) => k + 1), 'the table runs the stages in the order of kStageNames');
  });
});

describe('stage contract: the checker catches a wrong declaration', () => {
  const wrong = (name: string, change: Partial<Stage>): Stage[] => kStages.map((s) => (s.name === name ? { ...s, ...change } : s));
  const violationsOf = (stages: readonly Stage[], cni: Cni = 'calico-vxlan', mode: ModeName = 'userspace'): string[] => {
    const audit = newAudit();
    replayChecked(mode, cni, 300, checked(stages, audit));
    probesChecked(mode, cni, checked(stages, audit));
    return audit.violations;
  };

  it('an undeclared next id', () => {
    const v = violationsOf(wrong('prerouting', { next: kStages[0].next.filter((n) => n !== NEXT_SERVICE_NAT) }));
    assert.ok(v.includes('prerouting: wrote undeclared next service-nat'), v.join('\n'));
  });

  it('an undeclared drop reason', () => {
    const v = violationsOf(wrong('service-nat', { drops: [] }), 'calico-vxlan', 'iptables');
    assert.ok(v.some((x) => x.startsWith('service-nat: dropped for undeclared reason')), v.join('\n'));
  });

  it('an undeclared end', () => {
    const v = violationsOf(wrong('postrouting', { ends: [] }));
    assert.ok(v.includes('postrouting: ended a packet undeclared as delivered-pod'), v.join('\n'));
  });

  it('a stage that moves packets it does not own', () => {
    // The driver runs a stage only over a frame of its own packets, so the greedy stage must be one
    // that runs while others wait: with userspace's proxy on calico-vxlan, decap takes the packets
    // that crossed to the other node while the proxy's own connections wait for prerouting.
    const decap = kStages.find((x) => x.name === 'decap')!;
    const greedy: Stage = {
      ...decap,
      run(ctx, batch) {
        for (let i = 0; i < batch.count; i++) if (batch.next[i] === NEXT_PREROUTING) batch.next[i] = NEXT_DONE;
        decap.run(ctx, batch);
      },
    };
    const v = violationsOf(kStages.map((x) => (x === decap ? greedy : x)));
    assert.ok(v.some((x) => x.startsWith('decap: moved packet')), v.join('\n'));
  });
});

describe('runBatch frames', () => {
  it("a stage's frame holds only the slots whose next still names it, even after another stage moved one", () => {
    // Oracle: runBatch's doc comment: "a slot whose `next` no longer names the stage is left out of
    // its frame all the same" (what a stage table breaking the contract gets from the driver).
    const ctx = new PipelineContext(twoNodes('calico-vxlan'));
    const batch = new PacketBatch({ capacity: 4 });
    for (let k = 0; k < 3; k++) batch.push(PROTO_TCP, 0x0af40105, 40000 + k, 0x0af40207, 8080, 64, TCP_SYN);
    batch.next[0] = NEXT_ROUTE;
    batch.next[1] = NEXT_POSTROUTING;
    batch.next[2] = NEXT_POSTROUTING;
    const frames: { route?: number[]; postrouting?: number[] } = {};
    const frame = (): number[] => Array.from(ctx.frame.subarray(0, ctx.frameCount));
    const endAll = (b: PacketBatch, slots: readonly number[]): void => {
      for (const i of slots) b.next[i] = NEXT_DONE;
    };
    // route runs first: it ends its own packet and, breaking the contract, slot 1, queued for postrouting.
    const route: Stage = { id: NEXT_ROUTE, name: 'route', next: [NEXT_DONE], drops: [], ends: [], run: (_c, b) => endAll(b, [...(frames.route = frame()), 1]) };
    const postrouting: Stage = { id: NEXT_POSTROUTING, name: 'postrouting', next: [NEXT_DONE], drops: [], ends: [], run: (_c, b) => endAll(b, (frames.postrouting = frame())) };
    runBatch(ctx, batch, [route, postrouting]);
    assert.deepEqual(frames, { route: [0], postrouting: [2] });
  });

  it('gives every stage the frame a gather of its slots would, whatever the stages send on (carried frames included)', () => {
    // Oracle: the dispatch as runBatch's doc states it, written plainly: pass after pass (at most
    // kMaxPasses, 8), each stage in table order runs over the slots whose next names it, in slot
    // order, if any; then whatever is still in flight is dropped as a loop. Stages here send each
    // packet of their frame on by a seeded draw, most of a frame alike (what lets runBatch carry it
    // whole to the next stage), some apart, some done.
    const ids = kStages.map((x) => x.id);
    const mix = (...v: number[]): number => v.reduce((h, x) => Math.imul(h ^ x, 0x9e3779b1) ^ (Math.imul(h ^ x, 0x85ebca6b) >>> 15), 0x27d4eb2f) >>> 0;
    const drive = (seed: number, n: number, start: readonly number[], reference: boolean): { trace: string[]; next: number[]; drop: number[] } => {
      const ctx = new PipelineContext(twoNodes('calico-vxlan'));
      const batch = new PacketBatch({ capacity: 128 });
      for (let k = 0; k < n; k++) batch.push(PROTO_TCP, 0x0af40105, 40000 + k, 0x0af40207, 8080, 64, TCP_SYN);
      for (let k = 0; k < n; k++) batch.next[k] = start[k];
      const visits = new Uint32Array(n);
      const trace: string[] = [];
      const stages: Stage[] = kStages.map((st) => ({
        ...st,
        run: (c, b) => {
          const frame = Array.from(c.frame.subarray(0, c.frameCount));
          trace.push(`${st.name} ${frame.join(',')}`);
          for (const i of frame) {
            const v = visits[i]++;
            const alike = mix(seed, st.id, v) % (ids.length + 2);
            const own = mix(seed, st.id, v, i);
            const to = (own & 7) === 0 ? own % (ids.length + 1) : alike;
            b.next[i] = to >= ids.length ? NEXT_DONE : ids[to];
          }
        },
      }));
      if (reference) {
        const inFlight = (): boolean => Array.from(batch.next.subarray(0, n)).some((x) => x !== NEXT_DONE);
        for (let pass = 0; pass < 8 && inFlight(); pass++) {
          for (const st of stages) {
            let count = 0;
            for (let i = 0; i < n; i++) if (batch.next[i] === st.id) ctx.frame[count++] = i;
            if (count === 0) continue;
            ctx.frameCount = count;
            st.run(ctx, batch);
          }
        }
        for (let i = 0; i < n; i++) if (batch.next[i] !== NEXT_DONE) ctx.drop(batch, i, DROP_LOOP);
      } else {
        runBatch(ctx, batch, stages);
      }
      return { trace, next: Array.from(batch.next.subarray(0, n)), drop: Array.from(batch.drop.subarray(0, n)) };
    };
    let carriedAlike = 0;
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.integer({ min: 1, max: 80 }), fc.integer({ min: 0, max: 3 }), (seed, n, spread) => {
        const start = Array.from({ length: n }, (_, k) => ids[mix(seed, 99, k % (spread + 1)) % ids.length]);
        const want = drive(seed, n, start, true);
        const got = drive(seed, n, start, false);
        assert.deepEqual(got, want);
        // The premise: some frames went on whole to one stage.
        for (let t = 1; t < want.trace.length; t++) if (want.trace[t].split(' ')[1] === want.trace[t - 1].split(' ')[1]) carriedAlike++;
      }),
      { numRuns: 300, seed: 45 },
    );
    assert.ok(carriedAlike > 100, `${carriedAlike} frames went on whole`);
  });
});
