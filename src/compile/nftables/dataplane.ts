/**
 * The nftables dataplane: a first packet walks the compiled `ip kube-proxy` table hook by hook
 * as the kernel would (prerouting or output base chains in priority order, routing, then input
 * or forward, then postrouting), with jump/goto/return over a fixed call stack, verdict-map
 * lookups in O(1) and `numgen random mod N` drawn from FirstPacket.rand.
 *
 * decide() is the specialised walk of decide.ts (createDecide, built once per program); this file
 * keeps the flag-driven walker it is checked against (decideGeneric, and
 * test/compile/nftables/walker-equivalence.test.ts) and that explain() uses, re-running the walk
 * with each numgen branch forced in turn. decide() reads pkt, writes out; it allocates nothing and
 * never throws. Affinity sets are this instance's state, shared by both walkers.
 */
import {
  HOOK_OUTPUT,
  VERDICT_DNAT,
  VERDICT_DROP,
  VERDICT_NONE,
  VERDICT_REJECT,
  kPrefetchMinBytes,
  kVerdictNames,
  type DataplaneStats,
  type Explanation,
  type FirstPacket,
  type NatDecision,
  type ServiceDataplane,
  type TraceStep,
} from '../dataplane.js';
import { ExpiringTable, nextPow2, PairWord } from '../tables/index.js';
import { ActionOp, ChainWord, DnatWord, HintBits, kBranchWords, kServiceHead, MapWord, MatchFlag, MatchOp, numgenBranch, RuleWord, VerdictBits, VerdictWord, type NftProgram } from './program.js';
import { ruleText, verdictText } from './rule-text.js';
import { ruleAt } from './rule-at.js';
import type { Cluster } from '../../model/types.js';

import { createDecide, H_FORWARD, H_INPUT, H_OUTPUT, H_POSTROUTING, H_PREROUTING, kMaxDepth, R_CONTINUE, R_DROP, R_REJECT } from './decide.js';
import { isLocalAddress } from '../node-addresses.js';
import { kMapServiceIps, kMapServiceNodePorts } from './build.js';
import { kBatchSize } from '../../net/batch.js';
import { mix32 } from '../../net/hash.js';

/** Rules prefetch() follows in a chain to its last rule or its numgen (kube-proxy's have a few). */
const kRulesRead = 8;

/** Reads a chain's code from `a` to `e` (its last word) a line at a time, up to five: a hint only. */
function readChain(K: Int32Array, a: number, e: number): number {
  const z = e < a ? a : e;
  return K[a] ^ K[a + 16 < z ? a + 16 : z] ^ K[a + 32 < z ? a + 32 : z] ^ K[a + 48 < z ? a + 48 : z] ^ K[a + 64 < z ? a + 64 : z];
}

export interface NftDataplaneOptions {
  readonly node: number;
  /** Local addresses of the node (`fib ... type local`, routing to INPUT); 127/8 always is. */
  readonly localAddresses: readonly number[];
  /** Slots for affinity entries across all affinity sets of this instance. */
  readonly affinityCapacity?: number;
}

export class NftablesDataplane implements ServiceDataplane {
  readonly mode = 'nftables' as const;
  readonly node: number;
  readonly program: NftProgram;
  readonly local: Uint32Array;
  readonly affinityCapacity: number;
  /** The program's seqlock word, which update.ts writes under (decideConsistent reads it per first packet). */
  readonly generation: Int32Array;
  /**
   * The cluster the tables hold now (kdp's own compile and an attach to its image; in-place updates
   * move it on): a Service removed in place finds its keys in it. Absent for a parsed dump.
   */
  cluster?: Cluster;
  private readonly affinity: ExpiringTable;
  private readonly stackPc = new Int32Array(kMaxDepth);
  private readonly stackEnd = new Int32Array(kMaxDepth);
  /** service-ips' and service-nodeports' indices in program.maps (-1 in a dump without them): prefetch() reads their elements. */
  private readonly serviceIps: number;
  private readonly serviceNodePorts: number;
  /**
   * The specialised walk (decide.ts), the function createDecide() wrote, held as the field itself
   * rather than called from a method: the generated function is too large for V8 to inline, and a
   * method around it was a second call a first packet, on whose line `--cpu-prof` put 18 % of
   * decide()'s ticks in a replay (the service-nat stage took 210-221 ns a first packet at 100
   * Services with the field, 223-228 with the method: `kdp bench --services 100 --modes nftables
   * --workers 1 --flows 1000000`, three runs of each alternated, 2026-12-05).
   */
  readonly decide: (pkt: FirstPacket, out: NatDecision) => void;

  // Per-walk packet state (fields, not objects: nothing is allocated per packet).
  private saddr = 0;
  private daddr = 0;
  private dport = 0;
  private proto = 0;
  private fromPod = false;
  private mark = 0;
  private rand = 0;
  private work = 0;
  private dnatted = false;
  private endpoint = -1;
  private servicePort = -1;
  private masq = false;
  // explain only
  private tracing = false;
  private steps: TraceStep[] = [];
  private forced: number[] = [];
  private choiceAt = 0;
  private branchN = 0;
  private branchStep = 0;

  constructor(program: NftProgram, options: NftDataplaneOptions) {
    this.program = program;
    this.generation = program.generation;
    this.node = options.node;
    this.local = Uint32Array.from(options.localAddresses);
    this.affinityCapacity = options.affinityCapacity ?? 1 << 16;
    // A dynamic set: an entry expires, a lookup does not refresh it; a full window evicts the one closest to expiry.
    this.affinity = new ExpiringTable({ capacity: nextPow2(Math.max(8, this.affinityCapacity)), hash: 'murmur-block' });
    this.decide = createDecide(program, this.local, this.affinity);
    this.serviceIps = program.mapNames.indexOf(kMapServiceIps);
    this.serviceNodePorts = program.mapNames.indexOf(kMapServiceNodePorts);
  }

  /** prefetch() reads nothing below this span of tables (kPrefetchMinBytes); a test lowers it to run over small ones. */
  prefetchMinBytes = kPrefetchMinBytes;
  /**
   * prefetch()'s vectors, one entry a packet: the element's home slot (service-nodeports' as -2 -
   * slot), the entered chain's span, the numgen's random and the hinted endpoint chain, and for an
   * element whose hint is through an external chain the words from its policy chain's end to the
   * packet's branch's rows; then, for the packets whose element enters an external chain, the packet
   * (its index in the vectors above) and the chain the external chain's last rule goes to; and
   * each packet's index in the batch.
   */
  private slotVec = new Int32Array(kBatchSize);
  private chainVec = new Int32Array(kBatchSize);
  private endVec = new Int32Array(kBatchSize);
  private randVec = new Int32Array(kBatchSize);
  private branchVec = new Int32Array(kBatchSize);
  private outPacketVec = new Int32Array(kBatchSize);
  private outChainVec = new Int32Array(kBatchSize);
  private outStartVec = new Int32Array(kBatchSize);
  private rowVec = new Int32Array(kBatchSize);
  private headVec = new Int32Array(kBatchSize);
  private branchEndVec = new Int32Array(kBatchSize);
  private tailVec = new Int32Array(kBatchSize);
  private packetVec = new Int32Array(kBatchSize);

  // decide()'s out-of-cache reads for a Service's first packet, level by level over the frame's
  // packets for this node (the rule ipvs/dataplane.ts' prefetch states: short loops over typed
  // arrays, no store of a value that missed): the verdict map's element (its key and its MapWord
  // row: service-ips', or service-nodeports' for a packet to one of the node's addresses), then the
  // entered chain's code from the row's START, and the endpoint chain the packet's numgen branch
  // names by the element's hint (h0 + hk * hs, decide.ts), to its last word, unless the element
  // is flagged as entering kube-proxy's Service chain (program.ts VerdictBits.SERVICE_CHAIN), whose
  // branches' DNAT rows hold their endpoint chains' DNATs (DnatWord), which decide() reads in their
  // place. Of a Service chain of kube-proxy's usual shape (a masquerade rule, then the numgen:
  // kServiceHead words and two rows a branch) it reads the lines decide() reads, the head's and
  // the packet's branch's verdict and DNAT rows (the DNAT row alone where the element is
  // flagged); of another (an affinity Service's, a rule an endpoint more), up to five lines from
  // its start, and the DNAT row. Against five lines from the start and the endpoint chain's first two, the
  // service-nat stage took 472 ns a first packet at 10k Services, not 487, and 496 at 30k, not 509
  // (`kdp bench --services 10000,30000 --modes nftables --workers 1 --flows 1000000`, three runs of
  // each build alternated, tables on huge pages, 2026-12-07): an 88-byte endpoint chain that starts
  // past a line's 40th byte ends on a third line, which decide() met as a dependent miss. An
  // element of a NodePort, a LoadBalancer IP or an external IP enters an external chain
  // (kube-proxy's externalTrafficChain: no numgen) whose last rule is `goto` its policy's chain,
  // which walkChain() walks with a dependent miss a level (the chain's row, its code, the endpoint
  // chain's) at 10k Services and more: for those packets two more levels read the target chain's
  // row, then its head and the branch's rows (or five lines from its start). With those levels the
  // service-nat stage took 537 ns a first packet at 30k Services against 577 (walkChain's self time
  // in `--cpu-prof` 34 ms against 104), 481 against 504 at 10k, 338 against 350 at 1k (`kdp bench
  // --services 1000,10000,30000 --modes nftables --workers 1 --flows 1000000`, three runs of each
  // build alternated at 30k, five at 1k and 10k, 2026-12-06). Their element's hint is the policy
  // chain's numgen's (a negative count, MapWord), so their endpoint chain is read with the external
  // chain rather than a level after the policy chain: the service-nat stage took 447 ns a first
  // packet at 10k Services, not 484, and 519 at 30k, not 539 (`kdp bench --services 10000,30000
  // --modes nftables --workers 1 --flows 1000000`, three runs of each build alternated, tables on
  // huge pages, 2026-12-07); at 1k 383 against 375, within the noise (IPVS's, unchanged, 252
  // against 241 in the same runs). Reading the policy chain's code a level sooner, from a copy of
  // its span in the goto rule, was within the noise too (532 against 541 at 30k, medians of seven
  // runs each over two A/Bs; 421 against 436 at 10k, three each). A stale hint, a key off its home
  // slot or a chain of another shape reads other lines: a hint only. The prefetch before them, against
  // none: the service-nat stage took 324 ns a first packet at 1k Services against 336, 461 against
  // 578 at 10k, 532 against 729 at 30k; a new flow at 30k 1,078 ns against 1,276 (1.27x its cost at
  // 100, 1.56x without); at 100 the gate (kPrefetchMinBytes) keeps it off (`kdp bench --services
  // 100,1000,10000,30000 --modes nftables --workers 1 --flows 500000`, medians of three runs of
  // each build alternated, 2026-12-06).
  prefetch(frame: Int32Array, count: number, node: Uint16Array, dstIp: Uint32Array, dstPort: Uint16Array, proto: Uint8Array, flowHash: Uint32Array, seed: number): number {
    const p = this.program;
    const ips = this.serviceIps < 0 ? null : p.maps[this.serviceIps];
    if (ips === null || ips.bytes + p.code.byteLength < this.prefetchMinBytes) return 0;
    const ports = this.serviceNodePorts < 0 ? null : p.maps[this.serviceNodePorts];
    if (this.slotVec.length < count) {
      this.slotVec = new Int32Array(count);
      this.chainVec = new Int32Array(count);
      this.endVec = new Int32Array(count);
      this.randVec = new Int32Array(count);
      this.branchVec = new Int32Array(count);
      this.outPacketVec = new Int32Array(count);
      this.outChainVec = new Int32Array(count);
      this.outStartVec = new Int32Array(count);
      this.rowVec = new Int32Array(count);
      this.headVec = new Int32Array(count);
      this.branchEndVec = new Int32Array(count);
      this.tailVec = new Int32Array(count);
      this.packetVec = new Int32Array(count);
    }
    const sv = this.slotVec;
    const cv = this.chainVec;
    const ev = this.endVec;
    const rv = this.randVec;
    const bv = this.branchVec;
    const pv = this.packetVec;
    const me = this.node;
    const local = this.local;
    let c = 0;
    for (let k = 0; k < count; k++) {
      const i = frame[k];
      if (node[i] !== me) continue;
      const key = (proto[i] << 16) | dstPort[i];
      let s = ips.home(dstIp[i], key);
      if (s < 0) {
        // Not a Service address (service-ips' prefix filter says so without a read): a NodePort's
        // when the node holds it (decide.ts: nodeport-ips, then service-nodeports' (l4proto, dport)).
        if (ports === null || !isLocalAddress(local, dstIp[i] | 0)) continue;
        const t = ports.home(0, key);
        if (t < 0) continue;
        s = -2 - t;
      }
      sv[c] = s;
      pv[c] = i;
      // The numgen's random (decide.ts: floor(rand * n / 2^32)).
      rv[c++] = mix32(flowHash[i], seed);
    }
    let acc = 0;
    const ipsR = ips.rows;
    const npR = ports === null ? ipsR : ports.rows;
    // Both maps' rows are MapWord.STRIDE values (one stride): program.ts.
    const w = ips.stride;
    for (let k = 0; k < c; k++) {
      const s = sv[k];
      // The slot's first and last words: its key and values straddle two lines where a row starts
      // past a line's 24th byte. Reading the last one too took the service-nat stage from 475 ns a
      // first packet to 446 at 10k Services, 501 to 488 at 30k (three runs of each build
      // alternated, as below, 2026-12-07, when the keys were an array of their own).
      const o = (s >= 0 ? s : -2 - s) * w;
      const R = s >= 0 ? ipsR : npR;
      acc ^= R[o + PairWord.K1] ^ R[o + PairWord.VALUE + MapWord.STRIDE - 1];
    }
    // The key's own slot (PairTable.findFrom: its probe from the home slot, over the lines just
    // read) and, where that is past the home slot, its row: ~7 % of service-ips' and
    // service-nodeports' keys sit past their home slot at 1k and at 30k Services, whose row names
    // another Service's chains, which the loops below read in vain before this loop was added.
    // With it the service-nat stage took 451 ns a first packet at 10k Services, not 470, and 517
    // at 30k, not 532 (`kdp bench --services 10000,30000 --modes nftables --workers 1 --flows
    // 1000000`, three runs of each build alternated, 2026-12-07; a second A/B with IPVS's and
    // Cilium's the same: 460 -> 451, 547 -> 516).
    for (let k = 0; k < c; k++) {
      const s = sv[k];
      const i = pv[k];
      const home = s >= 0 ? s : -2 - s;
      const t = (s >= 0 ? ips : ports!).findFrom(home, s >= 0 ? dstIp[i] : 0, (proto[i] << 16) | dstPort[i]);
      if (t < 0 || t === home) continue;
      const R = s >= 0 ? ipsR : npR;
      acc ^= R[t * w + PairWord.VALUE + MapWord.STRIDE - 1];
      sv[k] = s >= 0 ? t : -2 - t;
    }
    const rowv = this.rowVec;
    const headv = this.headVec;
    const gev = this.branchEndVec;
    const tv = this.tailVec;
    for (let k = 0; k < c; k++) {
      const s = sv[k];
      const V = s >= 0 ? ipsR : npR;
      const o = (s >= 0 ? s : -2 - s) * w + PairWord.VALUE;
      const start = V[o + VerdictWord.START];
      const end = V[o + VerdictWord.END];
      const n = V[o + MapWord.HINT] >> HintBits.COUNT_SHIFT;
      const stride = V[o + MapWord.HINT] & HintBits.STRIDE_MASK;
      // A negative count hints the numgen of the chain an external chain goes to (MapWord).
      const pick = numgenBranch(rv[k], n < 0 ? -n : n);
      cv[k] = start;
      ev[k] = end - 1;
      bv[k] = V[o + MapWord.HINT_START] + stride * pick;
      gev[k] = bv[k] + stride - 1;
      // A hinted element's numgen is its chain's last rule: branch `pick`'s DNAT row is n - pick rows
      // before the chain's end; and the chain is kube-proxy's masquerade rule and that numgen alone
      // when their words add up to its length (an affinity Service's has a rule an endpoint more).
      rowv[k] = n > 0 ? end - DnatWord.STRIDE * (n - pick) : -1;
      tv[k] = n < 0 ? DnatWord.STRIDE * (-n - pick) : -1;
      // Into kube-proxy's Service chain (VerdictBits.SERVICE_CHAIN), decide() reads the branch's
      // DNAT row alone for a packet from a pod: no head, no verdict row.
      headv[k] = (V[o + VerdictWord.VERDICT] & VerdictBits.SERVICE_CHAIN) !== 0 ? -2 : n > 0 && end - kBranchWords * n === start + kServiceHead ? start + kServiceHead - 1 : -1;
    }
    const K = p.code;
    const CR = p.chainRows;
    const last = K.length - 1;
    for (let k = 0; k < c; k++) {
      const a = cv[k];
      const h = headv[k];
      const r = rowv[k];
      // The head's lines (26 words: three lines at most, the second one a line past the first), and
      // the branch's verdict row, as many rows before its DNAT row as the numgen has branches.
      if (h >= 0 && r >= 0 && ev[k] <= last) acc ^= K[a] ^ K[a + 16] ^ K[h] ^ K[r - VerdictWord.STRIDE * ((ev[k] + 1 - a - kServiceHead) / kBranchWords)];
      else if (h !== -2) acc ^= readChain(K, a, ev[k]);
      if (r >= 0 && r + DnatWord.STRIDE <= last) acc ^= K[r] ^ K[r + DnatWord.STRIDE - 1];
    }
    const xp = this.outPacketVec;
    const xc = this.outChainVec;
    let x = 0;
    for (let k = 0; k < c; k++) {
      const g = bv[k];
      // Into kube-proxy's Service chain, whose endpoint chains' DNATs their branches' DNAT rows
      // hold (DnatWord), decide() reads no endpoint chain unless the packet is the endpoint's own:
      // the flag (headv -2) says so without waiting for the DNAT row's line.
      if (headv[k] === -2) continue;
      if (g >= 0) {
        // The endpoint chain, its last word too (88 bytes: a third line when it starts past a line's 40th byte).
        const z = gev[k] > last || gev[k] < g ? last : gev[k];
        const a = g > z ? z : g;
        acc ^= K[a] ^ K[a + 16 > z ? z : a + 16] ^ K[z];
        // A hint of the entered chain's own numgen (a branch's DNAT row, rowv) ends here; one through an
        // external chain goes on to the chain that numgen is in.
        if (rowv[k] >= 0) continue;
      }
      // An external chain: its last rule, found by the rules' NEXT words over the lines just read.
      let pc = cv[k];
      const end = ev[k] + 1;
      for (let r = 0; r < kRulesRead && pc < end && K[pc + RuleWord.NEXT] < end; r++) pc = K[pc + RuleWord.NEXT];
      if (pc >= end || K[pc + RuleWord.OP] !== ActionOp.GOTO) continue;
      const t = K[pc + RuleWord.A];
      acc ^= CR[t * ChainWord.STRIDE];
      xp[x] = k;
      xc[x++] = t;
    }
    const xs = this.outStartVec;
    for (let j = 0; j < x; j++) {
      const row = xc[j] * ChainWord.STRIDE;
      const a = CR[row + ChainWord.START];
      const e = CR[row + ChainWord.END];
      xs[j] = a;
      // With the element's hint, the lines decide() reads of a Service chain: its head, and the
      // packet's branch's DNAT row, `tail` words before its end, and verdict row, as many rows
      // before that as the numgen has branches where the chain is the masquerade rule and the
      // numgen (an index that is not an integer would take V8's slow path: a local-policy chain,
      // its numgen alone, made the stage ~35 % slower at 30k Services); else up to five lines from
      // its start.
      const r = e - tv[xp[j]];
      const words = e - a - kServiceHead;
      if (tv[xp[j]] >= 0 && r >= a + kServiceHead && e <= last) {
        acc ^= K[a] ^ K[a + 16] ^ K[a + kServiceHead - 1] ^ K[r] ^ K[r + DnatWord.STRIDE - 1];
        if (words % kBranchWords === 0) acc ^= K[r - VerdictWord.STRIDE * (words / kBranchWords)];
      } else acc ^= readChain(K, a, e - 1);
    }
    for (let j = 0; j < x; j++) {
      // The target's numgen, its branch k's endpoint chain (VerdictWord.START, a copy of its row's),
      // unless the element's hint named it and it was read above.
      if (bv[xp[j]] >= 0) continue;
      let pc = xs[j];
      const end = CR[xc[j] * ChainWord.STRIDE + ChainWord.END];
      for (let r = 0; r < kRulesRead && pc < end && K[pc + RuleWord.OP] !== ActionOp.NUMGEN; r++) pc = K[pc + RuleWord.NEXT];
      if (pc >= end || K[pc + RuleWord.OP] !== ActionOp.NUMGEN) continue;
      const o = pc + RuleWord.HEADER + RuleWord.MATCH_STRIDE * K[pc + RuleWord.MATCHES] + VerdictWord.STRIDE * numgenBranch(rv[xp[j]], K[pc + RuleWord.B]);
      if (o + VerdictWord.START > last) continue;
      const a = K[o + VerdictWord.START];
      if (a > 0 && a + 16 <= last) acc ^= K[a] ^ K[a + 16];
    }
    return acc | 0;
  }

  /** Forget every affinity entry (as a fresh node would start). */
  reset(): void {
    this.affinity.clear();
  }

  private isLocal(ip: number): boolean {
    return isLocalAddress(this.local, ip);
  }

  /** Whether every match of the rule at code word `pc` holds. */
  private matchRule(pc: number): boolean {
    const p = this.program;
    const M = p.code;
    const count = M[pc + RuleWord.MATCHES];
    for (let k = 0; k < count; k++) {
      const o = pc + RuleWord.HEADER + k * RuleWord.MATCH_STRIDE;
      const op = M[o];
      const c = M[o + 3];
      if (op === MatchOp.CT_NEW) continue; // every packet decide() sees is a first packet
      if (op === MatchOp.ADDR) {
        const addr = (c & MatchFlag.DADDR) !== 0 ? this.daddr : this.saddr;
        const C = p.cidrs;
        let hit = false;
        for (let j = M[o + 1], end = j + M[o + 2]; j < end; j++) {
          if (((addr & C[j * 2 + 1]) >>> 0) === C[j * 2]) {
            hit = true;
            break;
          }
        }
        if (hit === ((c & MatchFlag.NEG) !== 0)) return false;
      } else if (op === MatchOp.ADDR1) {
        const addr = (c & MatchFlag.DADDR) !== 0 ? this.daddr : this.saddr;
        if (((addr & M[o + 2]) === M[o + 1]) === ((c & MatchFlag.NEG) !== 0)) return false;
      } else if (op === MatchOp.ADDR_SET) {
        const addr = (c & MatchFlag.DADDR) !== 0 ? this.daddr : this.saddr;
        const set = p.sets[M[o + 1]];
        this.work++;
        if (set !== null) {
          if (!set.has(addr)) return false;
        } else if (this.tracing || this.affinity.lookup(M[o + 1], addr, 0) < 0) {
          // explain() answers for a packet without affinity history, so that every endpoint is a
          // candidate (as iptables mode's explain treats `-m recent`), whatever decide() stored.
          return false;
        }
      } else if (op === MatchOp.FIB_LOCAL) {
        if (!this.isLocal((c & MatchFlag.DADDR) !== 0 ? this.daddr : this.saddr)) return false;
      } else if (op === MatchOp.L4PROTO) {
        if (this.proto !== M[o + 1]) return false;
      } else if (op === MatchOp.DPORT) {
        if (this.proto !== M[o + 1] || this.dport !== M[o + 2]) return false;
      } else if (op === MatchOp.IIF) {
        if (this.fromPod === ((c & MatchFlag.NEG) !== 0)) return false;
      } else if (op === MatchOp.MARK_ZERO) {
        if ((this.mark & M[o + 1]) !== 0) return false;
      }
    }
    return true;
  }

  /** The rule at code word `pc` as an explain step. */
  private step(pc: number, action: string): void {
    const p = this.program;
    this.steps.push({ where: `ip kube-proxy/${p.chainNames[p.ruleChain[p.code[pc + RuleWord.ID]]]}`, rule: ruleText(ruleAt(p, pc)), action });
  }

  /** Walks one base chain. */
  private run(base: number): number {
    const p = this.program;
    const K = p.code;
    let pc = p.chainRows[base * ChainWord.STRIDE + ChainWord.START];
    let end = p.chainRows[base * ChainWord.STRIDE + ChainWord.END];
    let sp = 0;
    for (;;) {
      if (pc >= end) {
        if (sp === 0) return R_CONTINUE;
        sp--;
        pc = this.stackPc[sp];
        end = this.stackEnd[sp];
        continue;
      }
      const next = K[pc + RuleWord.NEXT];
      this.work++;
      if (!this.matchRule(pc)) {
        pc = next;
        continue;
      }
      let op = K[pc + RuleWord.OP];
      let arg = K[pc + RuleWord.A];
      if (this.tracing) this.step(pc, describe(p, op, arg, K[pc + RuleWord.B]));
      if (op === ActionOp.VMAP3 || op === ActionOp.VMAP2) {
        const table = p.maps[arg];
        this.work++;
        const slot = table.find(op === ActionOp.VMAP3 ? this.daddr : 0, (this.proto << 16) | this.dport);
        if (slot < 0) {
          if (this.tracing) this.steps[this.steps.length - 1] = { ...this.steps[this.steps.length - 1], action: `no element in @${p.mapNames[arg]}` };
          pc = next;
          continue;
        }
        const o = table.at(slot);
        op = table.rows[o + VerdictWord.VERDICT] & VerdictBits.OP_MASK;
        arg = table.rows[o + VerdictWord.VERDICT] >> VerdictBits.ARG_SHIFT;
        const port = table.rows[o + VerdictWord.PORT];
        if (port >= 0) this.servicePort = port;
        if (this.tracing) this.steps[this.steps.length - 1] = { ...this.steps[this.steps.length - 1], action: verdictName(p, op, arg) };
      } else if (op === ActionOp.NUMGEN) {
        const n = K[pc + RuleWord.B];
        let k: number;
        if (this.tracing && this.choiceAt < this.forced.length) {
          k = this.forced[this.choiceAt];
        } else {
          k = numgenBranch(this.rand, n);
          if (this.tracing && this.branchN === 0) {
            this.branchN = n;
            this.branchStep = this.steps.length;
            k = 0;
          }
        }
        this.choiceAt++;
        const word = K[arg + VerdictWord.STRIDE * k + VerdictWord.VERDICT];
        op = word & VerdictBits.OP_MASK;
        arg = word >> VerdictBits.ARG_SHIFT;
        if (this.tracing) this.steps[this.steps.length - 1] = { ...this.steps[this.steps.length - 1], action: `branch ${k}: ${verdictName(p, op, arg)}` };
      }
      // Verdicts (from the rule itself, a map element or a numgen branch).
      if (op === ActionOp.JUMP || op === ActionOp.GOTO) {
        const row = arg * ChainWord.STRIDE;
        const port = p.chainRows[row + ChainWord.SERVICE_PORT];
        if (port >= 0) this.servicePort = port;
        if (op === ActionOp.JUMP) {
          if (sp === kMaxDepth) return R_DROP; // the kernel refuses such rulesets; never reached
          this.stackPc[sp] = next;
          this.stackEnd[sp] = end;
          sp++;
        }
        pc = p.chainRows[row + ChainWord.START];
        end = p.chainRows[row + ChainWord.END];
        continue;
      }
      switch (op) {
        case ActionOp.RETURN:
          if (sp === 0) return R_CONTINUE;
          sp--;
          pc = this.stackPc[sp];
          end = this.stackEnd[sp];
          continue;
        case ActionOp.ACCEPT:
          return R_CONTINUE;
        case ActionOp.DROP:
          return R_DROP;
        case ActionOp.REJECT:
          return R_REJECT;
        case ActionOp.MARK_OR:
          this.mark = (this.mark | arg) >>> 0;
          break;
        case ActionOp.MARK_XOR:
          this.mark = (this.mark ^ arg) >>> 0;
          break;
        case ActionOp.MASQ:
          this.masq = true;
          return R_CONTINUE; // NAT statements end the chain
        case ActionOp.DNAT:
          this.daddr = arg >>> 0;
          this.dport = K[pc + RuleWord.B];
          this.dnatted = true;
          this.endpoint = K[pc + RuleWord.C];
          return R_CONTINUE;
        case ActionOp.UPDATE:
          if (!this.tracing) this.affinity.remember(arg, this.saddr, 0, p.setTimeout[arg]);
          break;
        default:
          break;
      }
      pc = next;
    }
  }

  private runHook(h: number): number {
    const chains = this.program.hookChains[h];
    for (let i = 0; i < chains.length; i++) {
      const res = this.run(chains[i]);
      if (res !== R_CONTINUE) return res;
    }
    return R_CONTINUE;
  }

  private walk(pkt: FirstPacket): number {
    this.saddr = pkt.srcIp >>> 0;
    this.daddr = pkt.dstIp >>> 0;
    this.dport = pkt.dstPort;
    this.proto = pkt.proto;
    this.fromPod = pkt.fromPodInterface;
    this.rand = pkt.rand;
    this.affinity.now = pkt.now;
    this.mark = 0;
    this.work = 0;
    this.dnatted = false;
    this.endpoint = -1;
    this.servicePort = -1;
    this.masq = false;
    let res: number;
    if (pkt.hook === HOOK_OUTPUT) {
      res = this.runHook(H_OUTPUT);
      if (res === R_CONTINUE) res = this.runHook(H_POSTROUTING);
    } else {
      res = this.runHook(H_PREROUTING);
      if (res === R_CONTINUE) {
        // Routing after DNAT: to this node (INPUT) or through it (FORWARD, then POSTROUTING).
        if (this.isLocal(this.daddr)) {
          res = this.runHook(H_INPUT);
        } else {
          res = this.runHook(H_FORWARD);
          if (res === R_CONTINUE) res = this.runHook(H_POSTROUTING);
        }
      }
    }
    return res;
  }

  /** The flag-driven reference walk: what decide() must equal, field for field (work included). */
  decideGeneric(pkt: FirstPacket, out: NatDecision): void {
    const res = this.walk(pkt);
    out.verdict = res === R_DROP ? VERDICT_DROP : res === R_REJECT ? VERDICT_REJECT : this.dnatted ? VERDICT_DNAT : VERDICT_NONE;
    out.servicePort = this.servicePort;
    out.endpoint = res === R_CONTINUE && this.dnatted ? this.endpoint : -1;
    out.dnatIp = res === R_CONTINUE && this.dnatted ? this.daddr : 0;
    out.dnatPort = res === R_CONTINUE && this.dnatted ? this.dport : 0;
    out.masquerade = res === R_CONTINUE && this.masq;
    out.work = this.work;
  }

  explain(pkt: FirstPacket): Explanation {
    interface Leaf {
      verdict: number;
      servicePort: number;
      endpoint: number;
      masq: boolean;
      steps: TraceStep[];
    }
    const leaves: Leaf[] = [];
    const explore = (forced: number[]): void => {
      this.tracing = true;
      this.steps = [];
      this.forced = forced;
      this.choiceAt = 0;
      this.branchN = 0;
      const res = this.walk(pkt);
      const n = this.branchN;
      const at = this.branchStep;
      const leaf: Leaf = {
        verdict: res === R_DROP ? VERDICT_DROP : res === R_REJECT ? VERDICT_REJECT : this.dnatted ? VERDICT_DNAT : VERDICT_NONE,
        servicePort: this.servicePort,
        endpoint: res === R_CONTINUE && this.dnatted ? this.endpoint : -1,
        masq: res === R_CONTINUE && this.masq,
        steps: this.steps,
      };
      this.tracing = false;
      if (n === 0) {
        leaves.push(leaf);
        return;
      }
      // A numgen met past the forced prefix: walk every branch of it (branch 0 is this walk).
      leaves.push(leaf);
      for (let k = 1; k < n; k++) {
        const before = leaves.length;
        explore([...forced, k]);
        // Its own full walk repeats the common prefix; keep from the numgen rule on. (Deeper
        // branches were already cut relative to it.)
        leaves[before].steps = leaves[before].steps.slice(at - 1);
      }
    };
    explore([]);
    const candidates: number[] = [];
    for (const l of leaves) if (l.endpoint >= 0 && !candidates.includes(l.endpoint)) candidates.push(l.endpoint);
    const first = leaves[0];
    const dnatLeaf = leaves.find((l) => l.verdict === VERDICT_DNAT);
    const verdict = dnatLeaf ? VERDICT_DNAT : first.verdict;
    return {
      verdict: kVerdictNames[verdict],
      servicePort: (dnatLeaf ?? first).servicePort,
      candidates,
      masquerade: leaves.some((l) => l.masq),
      steps: leaves.flatMap((l) => l.steps),
    };
  }

  stats(): DataplaneStats {
    // What the ruleset holds now: a port's spare room and reserved (op 0) map keys are not in it.
    // Cost: O(chains + sets + map slots), once per call; stats are never on the packet path.
    const p = this.program;
    let rules = 0;
    let chains = 0;
    for (let c = 0; c < p.chainLive.length; c++) {
      if (p.chainLive[c] === 0) continue;
      chains++;
      rules += p.chainRows[c * ChainWord.STRIDE + ChainWord.RULE_COUNT];
    }
    let mapElements = 0;
    for (const m of p.maps) for (let s = 0; s < m.capacity; s++) if (m.occupied(s) && m.rows[m.at(s) + VerdictWord.VERDICT] !== 0) mapElements++;
    let sets = 0;
    let setElements = 0;
    for (let i = 0; i < p.setLive.length; i++) {
      if (p.setLive[i] === 0) continue;
      sets++;
      setElements += p.sets[i]?.size ?? 0;
    }
    return {
      mode: 'nftables',
      rules,
      chains,
      tableBytes: p.tableBytes + this.affinity.bytes,
      mapElements,
      setElements,
      maps: p.mapNames.length,
      sets,
    };
  }
}

function verdictName(p: NftProgram, op: number, arg: number): string {
  switch (op) {
    case ActionOp.GOTO:
      return verdictText({ k: 'goto', chain: p.chainNames[arg] });
    case ActionOp.JUMP:
      return verdictText({ k: 'jump', chain: p.chainNames[arg] });
    case ActionOp.DROP:
      return 'drop';
    case ActionOp.ACCEPT:
      return 'accept';
    default:
      return 'return';
  }
}

function describe(p: NftProgram, op: number, arg: number, b: number): string {
  switch (op) {
    case ActionOp.VMAP3:
    case ActionOp.VMAP2:
      return `lookup @${p.mapNames[arg]}`;
    case ActionOp.NUMGEN:
      return `numgen over ${b} branches`;
    case ActionOp.REJECT:
      return 'reject';
    case ActionOp.MARK_OR:
      return 'mark for masquerade';
    case ActionOp.MARK_XOR:
      return 'clear masquerade mark';
    case ActionOp.MASQ:
      return 'masquerade';
    case ActionOp.DNAT: {
      const ip = arg >>> 0;
      return `dnat to ${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}:${b}`;
    }
    case ActionOp.UPDATE:
      return `update @${p.setNames[arg]}`;
    default:
      return verdictName(p, op, arg);
  }
}

