/**
 * The nftables decide() hot path, specialised to a program by createDecide() (its source compiled
 * once a thread for every program that writes the same: factoryOf): decide-only,
 * allocation-free. dataplane.ts keeps the flag-driven walker it is checked against
 * (test/compile/nftables/walker-equivalence.test.ts) and that explain() uses.
 *
 * Three parts, one walk. kube-proxy's fixed chains (every hook's base chains and the helpers they
 * jump to: firewall-check, services, service-endpoints-check, cluster-ips-check, masquerading)
 * are written into decide()'s own source, rule by rule, their constants in the code and their
 * jumps inlined, so 15 of the 19 rules a ClusterIP packet meets cost a compare or two each. The
 * interpreter's step (a dispatch on the rule's op and on each match's from one branch site for
 * every rule, and the loads of its words) was ~19 ns. The chains a verdict map or numgen reaches
 * (a Service port's and its endpoints': up to hundreds of thousands, rewritten in place by an
 * endpoint change, update.ts) cannot be copied so: their operands change. But they come in a few
 * shapes (which ops, which flags), so decide()'s source also writes out, at each verdict map's
 * goto and at the numgen branches of the chains it enters, the shape most of those chains have
 * (commonShapes: a Service chain's masquerade rule and numgen, an endpoint chain's hairpin rule
 * and DNAT), its operands read from the code behind a guard on each rule's ops (shaped()). A
 * numgen branch to kube-proxy's endpoint chain has that chain's DNAT in its DNAT row (program.ts
 * DnatWord): a packet from any source but the endpoint itself is DNATed from there, and none of
 * the chain's lines is read. A service-ips element flagged as entering kube-proxy's Service
 * chain for its own key (program.ts VerdictBits.SERVICE_CHAIN) takes a packet from inside the
 * local CIDR (a pod's: the chain's masquerade rule does not match it) straight to its branch's
 * DNAT row, whose place follows from the element's span: of that chain, only the 16-byte row is
 * read.
 * For the others (a hairpin packet, an affinity Service's endpoint chains), a map element's hint
 * (program.ts MapWord) names where its numgen's branches' chains lie, so the endpoint chain's
 * lines are read beside the Service chain's, behind a compare with the branch's verdict row (a stale hint
 * costs a walk of the branch's own chain). A ClientIP affinity Service's
 * chain has one `ip saddr @affinity-… goto` rule an endpoint before its numgen, and its endpoint
 * chains an `update` before their DNAT: no shape holds a run whose length is the endpoints', so
 * shaped() writes out such a run as a loop, each rule behind its own guard. A
 * rule the guard refuses, and every chain of another shape, is walked by walkChain(), the
 * interpreter over the program's own arrays, which decide() calls with the packet's state in a
 * small Int32Array. The fixed chains are never rewritten after the compile (update.ts and
 * update-services.ts write a port's room only), so their code can be copied into source; a
 * program without room (a parsed dump) has no fixed part and is walked whole by walkChain().
 * The walk, its order and its `work` count are the walker's exactly. The verdict maps are one
 * hash probe of (daddr, l4proto << 16 | dport), as nft_set_hash looks up the concatenated key
 * (PairTable.find).
 *
 * Cost: ~145 ns per ClusterIP first packet at 100 Services (~170 with the Service and endpoint
 * chains walked by walkChain(), 548 interpreted whole), ~180-200 at 1k (~206-218), ~390-400 at 30k
 * (~425-437), where IPVS takes ~105-125, 110-125 and ~225-250 (`SERVICES=N MODES=ipvs,nftables
 * TIME=1500 node dist/bench/compile/lookup.bench.js`, runs of each build alternated, 2026-12-04).
 * In the pipeline (`kdp bench --services N --modes nftables --workers 1 --flows 500000`, three
 * runs of each build alternated, 2026-12-04) the service-nat stage took 300 ns a first packet at
 * 100 Services (324 walked), 484 at 1k (499) and ~1.2 µs at 30k either way: at scale the misses
 * of the map probes and of the chains' code lines are the stage, not the walk. In the benchmark
 * of record of 2026-12-07 at 46e2266 (BENCHMARKS.md, batch 256, an Intel Xeon): 210, 236, 328, 407
 * and 469 ns at 10, 100, 1k, 10k and 30k Services, 1.39-1.69x IPVS's in the same run, with the
 * prefetch (dataplane.ts) from 1k on, and IPVS's from 10k (what it reads at 1k, 451 KiB, is under
 * kPrefetchMinBytes), its tables on 2 MiB pages (replay/huge-pages.ts) and each mode's cells on
 * threads of their own (replay/pool.ts), one decide() compiled for both nodes (factoryOf), hints
 * through external chains (program.ts MapWord) and prefetches that follow each key's own slot
 * (PairTable.findFrom), a map element's key in its row and its verdict and hint in fewer words
 * (PairTable, program.ts VerdictWord), on a slower hour than the record before (IPVS's new flow at
 * 100 Services 698 ns against 639, its lookup at 1k 224 ns against 164, with the same prefetch
 * gate; the A/Bs above compare the builds); at a0abb32, before that change, 188, 192, 275, 374
 * and 433 ns, 1.37-1.69x; at 24ab012, the same nftables and IPVS code before conntrack's and the
 * driver's changes of a0abb32 (its IPVS at 1k 213 ns against 164), 205, 220, 316, 377 and 421 ns,
 * 1.37-1.63x; at 82f25e6, before hints and own slots, 192, 211, 318, 432 and 498 ns, 1.29-1.57x; at
 * ef98d70, before factoryOf, 212, 239, 328, 449 and 492 ns, 1.30-1.64x; at 54c2d23, before those and before the prefetch read
 * the lines decide() reads of a Service chain (dataplane.ts), 216, 265, 375, 556 and 571 ns,
 * 1.30-1.88x; at f003c25, the same nftables and IPVS code an hour before that, 226, 250, 398,
 * 516 and 595 ns, 1.48-1.80x; at 5f23350, before IPVS's rows (ipvs/tables.ts VsWord, RsWord) and
 * nftables' read-ahead of external chains, 211, 262, 371, 518 and 618 ns, 1.33-1.62x; at 8b685ad,
 * the same code on a faster hour, 194, 245, 342, 497 and 570 ns,
 * 1.41-1.59x; at b2f2b35 (an AMD EPYC), 221, 275, 377, 707 and 716 ns, 1.24-1.62x
 * IPVS's, where IPVS's own lookup got faster (its prefix filter: ipvs/build.ts); at 0392e2b, 220, 274, 368, 752 and 732 ns,
 * 0.98-1.42x IPVS's before that filter (at 0c599b2, the
 * same walk on a slower hour, a dependent read 218 ns against 187: 309, 296, 538, 790 and 888 ns,
 * 1.02-1.57x; at 37e2b7a, the same walk: 214, 288, 417, 681 and 693
 * ns, 0.88-1.49x; at 2ff15af,
 * an Intel Xeon: 215, 275, 414, 683 and 754 ns, 1.03-1.67x; at d2d9b66, the same
 * code, a slower machine that hour: 224, 288, 411, 700 and 835 ns, 1.03-1.68x; at 5ec50e9, the
 * same code: 203, 254, 356, 661 and 748 ns, 1.02-1.54x; at 6c54c71, the same code: 199, 250, 274,
 * 504 and 689 ns, 1.04-1.63x; at cae0446: 225, 285,
 * 388, 650 and 839 ns, 1.17-1.66x; at 2adadd9, the same code: 219, 280, 398, 673 and 803 ns,
 * 1.18-1.66x; at 01ef3c1, before affinity was written out: 241, 242, 351, 723 and 795 ns,
 * 1.14-1.70x; at 17e7100, before the
 * map elements' hints: 276, 281, 422, 726 and 838 ns, 1.29-1.79x; at 79543cf, before FORWARD's
 * checks of the DNATed address were answered by the tables' prefix filters: 233, 299, 472, 882
 * and 1,127 ns, 1.58-2.02x). At 1k Services, before the hints, half of decide()'s samples were on
 * the first reads of the Service chain's and the endpoint chain's lines (line ticks of `node
 * --cpu-prof`, 2026-12-05): ~1.2 KB of code a port, 1.5 MB at 1k, where L2 is 2 MB a core and
 * IPVS's tables ~0.3 MB.
 * A ClusterIP first packet from a pod now reads ~7.0-7.6 distinct cache lines at 30k Services, as
 * many as IPVS's decide() (7.2, three or four of them in tables that grow with the Services): 1.8
 * of them code (its numgen branch's 16-byte DNAT row, and for the few Services of another shape
 * their chains), 1.04-1.54 its service-ips element (key and row in 32 bytes), four words of 8 KiB
 * prefix filters; the lines all decisions read at 30k Services (400,000 of them) come to 11.9 MiB
 * against IPVS's 9.6 (`SERVICES=N MODES=nftables,ipvs DECISIONS=D node
 * dist/bench/compile/lines.bench.js`, 2026-12-07). With a branch's verdict and DNAT in one 32-byte
 * row (program.ts DnatWord), a Service chain's DNATs spread over twice the lines: 7.2-7.7 lines a
 * decision, 1.9 of them code, 15.8 MiB, and the service-nat stage took 561 ns a first packet at
 * 30k Services, not 498 (each run's ratio to IPVS's 1.58-1.64, not 1.28-1.46), and as much at 1k
 * and 10k (347 and 450, against 355 and 459: noise) (`kdp bench --services 1000,10000,30000
 * --modes ipvs,nftables --workers 1 --flows 1000000`, three runs of each build alternated,
 * 2026-12-07). With the
 * Service chain's head read (no SERVICE_CHAIN flag), 9.2-9.8 lines, 4.0 of them code, 19.1 MiB,
 * and the service-nat stage took 349 ns a first packet at 1k Services, not 328, 454 at 10k, not
 * 424, and 524 at 30k, not 503 (IPVS's 253/246, 309/317, 339/324; the command below, three runs
 * of each build alternated, 2026-12-07). With the endpoint chain read instead of a DNAT in its
 * branch's row, 11.0-11.5 lines a decision, 5.7 of them code (38.5 words in three
 * places), 35.7 MiB at 30k, and the service-nat stage took 367 ns a first packet at 1k Services,
 * not 351, 470 at 10k, not 441, and 558 at 30k, not 519, where IPVS's, unchanged, took 265/240,
 * 297/304 and 325/329 on that slow hour (`kdp bench --services 1000,10000,30000 --modes
 * ipvs,nftables --workers 1 --flows 1000000`, medians of three runs of each build alternated,
 * 2026-12-07). Before the element's key moved into its row
 * (PairTable) and its verdict's op and argument into one word (program.ts VerdictWord), they were
 * 12.1-12.6 and 8.1, and the service-nat stage took 408 ns a first packet at 10k Services and 473
 * at 30k, not 375 and 434 (IPVS's 258 and 278, not 246 and 264), 219 and 319 at 100 and 1k, not
 * 207 and 307 (`kdp bench --services 10000,30000 --modes ipvs,nftables --workers 1 --flows
 * 1000000`, and --services 100,1000 with cilium, medians of three runs of each build alternated,
 * 2026-12-07). One line more out of cache, a read of a 128 MB
 * array beside the service-ips row in the prefetch, cost the service-nat stage 21-44 ns a first
 * packet at 30k Services and 44-54 at 1k (`kdp bench --services 1000,30000 --modes nftables
 * --workers 1 --flows 1000000`, two runs against the median of three of the build without it,
 * alternated, 2026-12-07): the lines of a decision, not its rules, are what (b) in BENCHMARKS.md
 * measures. Not every line costs that much: trusting the element's hint without the numgen
 * branch's row (its line not read, here or in the prefetch: a build for measuring only) took the
 * stage from 363 to 354 ns at 10k Services and from 421 to 405 at 30k, and nothing at 1k (medians
 * of three runs of each build alternated, the same command with --services 1000,10000,30000).
 * With the caches as the pipeline leaves them (a 64 MB sweep before each batch of 256), a decision
 * took 204-255 ns at 100 Services against IPVS's 131-150, of which its tables' lines were 62-115
 * against 20-32 and the rest (machine code, predictors, the JS objects) about alike, 61-78
 * against 55-66; warm, 71-80 against 51-55 (`SERVICES=100 node dist/bench/compile/cold.bench.js`,
 * four runs, 2026-12-07): at 100 Services too the gap is the tables' lines (the code array: 252 KiB).
 * ClientIP affinity (5 % of the synthetic Services; 2 of 11 ports at 10 Services): a first
 * packet to such a port took ~161-175 ns at 10 Services and ~206 at 1k with its affinity rules
 * written out (1.65-1.73x and 1.40x IPVS's), against ~219-231 and ~242-249 (2.07-2.20x, 1.70x)
 * with them, the numgen and the endpoint chain walked (`AFFINITY=only SERVICES=N
 * MODES=ipvs,nftables TIME=1500 node dist/bench/compile/lookup.bench.js`, two runs of each build
 * alternated, 2026-12-05). In the pipeline the service-nat stage at 10 Services took 214-220 ns
 * a first packet, not 237-247 (three runs of each build alternated, `kdp bench --services 10
 * --modes nftables --workers 1 --flows 1000000`, with the affinity table's placement by blocks of
 * sets, expiring-table.ts); at 100 and 1k, where 5 % of the ports have affinity, within the runs' noise.
 */
import { HOOK_OUTPUT, VERDICT_DNAT, VERDICT_DROP, VERDICT_NONE, VERDICT_REJECT, type FirstPacket, type NatDecision } from '../dataplane.js';
import { PairWord, type ExpiringTable } from '../tables/index.js';
import { ActionOp, ChainWord, DnatWord, HintBits, kBranchWords, kServiceHead, MapWord, MatchFlag, MatchOp, numgenBranch, RuleWord, VerdictBits, VerdictWord, type NftProgram } from './program.js';
import { isLocalAddress } from '../node-addresses.js';

// Hooks, in kHooks order (ruleset.ts): the index of each in NftProgram.hookChains.
export const H_PREROUTING = 0;
export const H_INPUT = 1;
export const H_FORWARD = 2;
export const H_OUTPUT = 3;
export const H_POSTROUTING = 4;

/** What a base chain's walk ended in. */
export const R_CONTINUE = 0; // fell off the end, accept, or a NAT statement: the next base chain sees the packet
export const R_DROP = 1;
export const R_REJECT = 2;

/** The kernel's NFT_JUMP_STACK_SIZE. */
export const kMaxDepth = 16;

/**
 * Whether `addr` is in one of the `count` (base, mask) pairs of `C` from pair `first` (MatchOp.ADDR).
 * `addr` is a u32 or its int32 bits; the walks pass the bits, as to every call they make with an
 * address: a u32 above 2^31 (a node's or an external client's) passed to a call the JIT leaves out
 * of line is boxed into a heap number.
 */
export function inCidrs(C: Uint32Array, first: number, count: number, addr: number): boolean {
  for (let j = first, jEnd = first + count; j < jEnd; j++) if (((addr & C[j * 2 + 1]) >>> 0) === C[j * 2]) return true;
  return false;
}

/** Whether `addr` (a u32 or its int32 bits) is in set `id` (MatchOp.ADDR_SET): a static set, or an affinity set's live entries at the table's clock. */
export function inSet(sets: NftProgram['sets'], affinity: ExpiringTable, id: number, addr: number): boolean {
  const set = sets[id];
  return set !== null ? set.has(addr) : affinity.lookup(id, addr, 0) >= 0;
}

// The packet's state as decide() hands it to walkChain() and takes it back (an Int32Array: the
// addresses and the mark as their int32 bits).
const S_SADDR = 0;
const S_DADDR = 1;
const S_DPORT = 2;
const S_PROTO = 3;
const S_FROM_POD = 4;
const S_RAND = 5;
const S_MARK = 6;
const S_WORK = 7;
const S_DNATTED = 8;
const S_ENDPOINT = 9;
const S_SERVICE_PORT = 10;
const S_MASQ = 11;
const kStateWords = 12;
// The time is the affinity table's clock, which decide() sets to the packet's: a double passed as
// an argument to a call the JIT does not inline is boxed into a heap number, on every first packet
// that meets walkChain() or an affinity set.

// What walkChain()'s chain ended in: it returned to its caller, or the base chain ends (accept,
// a NAT statement), or the packet is dropped or rejected.
const W_RETURN = 0;
const W_STOP = 1;
const W_DROP = 2;
const W_REJECT = 3;

type Factory = (...deps: unknown[]) => (pkt: FirstPacket, out: NatDecision) => void;

/**
 * The factories of the decide() sources this thread compiled last, by source. The nodes of a
 * cluster write one source where their fixed chains hold the cluster's constants only (the
 * synthetic clusters' do; a rule with a node's own address or pod CIDR makes that node's its own),
 * and decide() closures made by one factory share one feedback vector, so V8 optimises decide()
 * once for them all: one copy of its machine code (~35 KB of bytecode) in the caches rather than
 * one a node. Against a factory a node, the service-nat stage took 210 ns a first packet at 100
 * Services, not 221, and 516 at 30k, not 525 (`kdp bench --services 100,30000 --modes nftables
 * --workers 1 --flows 1000000`, medians of four runs of each build alternated, 2026-12-07). A few
 * are kept: a sweep's cells and a test's clusters each write their own.
 */
const kFactories = new Map<string, Factory>();
const kFactoriesKept = 4;

/** The factory of `source`: the one this thread made last for it, or a new one. */
function factoryOf(source: string): Factory {
  let factory = kFactories.get(source);
  if (factory !== undefined) return factory;
  factory = new Function('K', 'C', 'CR', 'S', 'clock', 'maps', 'sets', 'local', 'affinity', 'setTimeout', 'walkChain', 'isLocalAddress', 'inCidrs', 'inSet', source) as Factory;
  if (kFactories.size === kFactoriesKept) kFactories.delete(kFactories.keys().next().value!);
  kFactories.set(source, factory);
  return factory;
}

/**
 * Builds decide() for one program: the factory of its source (factoryOf) bound to its own tables.
 * `affinity` is the dataplane's own dynamic-set state, shared with the reference walker.
 */
export function createDecide(p: NftProgram, local: Uint32Array, affinity: ExpiringTable): (pkt: FirstPacket, out: NatDecision) => void {
  const S = new Int32Array(kStateWords);
  const walkChain = chainWalker(p, local, affinity, S);
  return factoryOf(decideSource(p))(p.code, p.cidrs, p.chainRows, S, affinity.clock, p.maps, p.sets, local, affinity, p.setTimeout, walkChain, isLocalAddress, inCidrs, inSet);
}

/**
 * The interpreter for the chains decide() does not inline: walks the chain whose code is
 * [start, end) entered at jump depth `depth`, over the state in S, and says how it ended (W_*).
 * Jumps go over a preallocated Int32Array stack of (next rule, chain end) code offsets, as
 * nft_do_chain keeps them; op and match dispatch are `switch`es over the code words.
 * Cost: ~70 ns in cache for a ClusterIP packet's Service and endpoint chains (4 rules; --cpu-prof
 * of 5M decide() calls at 100 Services, 2026-12-04).
 */
function chainWalker(p: NftProgram, local: Uint32Array, affinity: ExpiringTable, S: Int32Array): (start: number, end: number, depth: number) => number {
  const K = p.code;
  const C = p.cidrs;
  const maps = p.maps;
  const sets = p.sets;
  const setTimeout = p.setTimeout;
  // The program's own arrays, never a derived copy: update.ts rewrites code and chainRows in place.
  const CR = p.chainRows;
  const stackPc = new Int32Array(kMaxDepth);
  const stackEnd = new Int32Array(kMaxDepth);
  return function walkChain(start: number, end: number, depth: number): number {
    const saddr = S[S_SADDR] >>> 0;
    let daddr = S[S_DADDR] >>> 0;
    let dport = S[S_DPORT];
    const proto = S[S_PROTO];
    const fromPod = S[S_FROM_POD] !== 0;
    const rand = S[S_RAND] >>> 0;
    let mark = S[S_MARK] >>> 0;
    let work = S[S_WORK];
    let dnatted = S[S_DNATTED];
    let endpoint = S[S_ENDPOINT];
    let servicePort = S[S_SERVICE_PORT];
    let masq = S[S_MASQ];
    let ended = W_RETURN;
    let pc = start;
    let sp = depth;
    walk: for (;;) {
      if (pc >= end) {
        if (sp === depth) break walk;
        sp--;
        pc = stackPc[sp];
        end = stackEnd[sp];
        continue;
      }
      work++;
      const next = K[pc + RuleWord.NEXT];
      // Matches: every one must hold.
      let matched = true;
      for (let n = K[pc + RuleWord.MATCHES], o = pc + RuleWord.HEADER, oEnd = o + n * RuleWord.MATCH_STRIDE; o < oEnd; o += RuleWord.MATCH_STRIDE) {
        const c = K[o + 3];
        switch (K[o]) {
          case MatchOp.CT_NEW:
            continue; // every packet decide() sees is a first packet
          case MatchOp.ADDR1:
            matched = ((((c & MatchFlag.DADDR) !== 0 ? daddr : saddr) & K[o + 2]) === K[o + 1]) !== ((c & MatchFlag.NEG) !== 0);
            break;
          case MatchOp.ADDR:
            matched = inCidrs(C, K[o + 1], K[o + 2], ((c & MatchFlag.DADDR) !== 0 ? daddr : saddr) | 0) !== ((c & MatchFlag.NEG) !== 0);
            break;
          case MatchOp.ADDR_SET:
            work++;
            matched = inSet(sets, affinity, K[o + 1], ((c & MatchFlag.DADDR) !== 0 ? daddr : saddr) | 0);
            break;
          case MatchOp.FIB_LOCAL:
            matched = isLocalAddress(local, ((c & MatchFlag.DADDR) !== 0 ? daddr : saddr) | 0);
            break;
          case MatchOp.L4PROTO:
            matched = proto === K[o + 1];
            break;
          case MatchOp.DPORT:
            matched = proto === K[o + 1] && dport === K[o + 2];
            break;
          case MatchOp.IIF:
            matched = fromPod !== ((c & MatchFlag.NEG) !== 0);
            break;
          case MatchOp.MARK_ZERO:
            matched = (mark & K[o + 1]) === 0;
            break;
          default:
            break;
        }
        if (!matched) break;
      }
      if (!matched) {
        pc = next;
        continue;
      }
      let op = K[pc + RuleWord.OP];
      let arg = K[pc + RuleWord.A];
      // A map element's or numgen branch's verdict row (VerdictWord): `V` at `o`, or -1 for the rule's
      // own action. It holds a goto's or jump's target span and Service port: no chain row is read.
      let V = K;
      let o = -1;
      if (op === ActionOp.VMAP3 || op === ActionOp.VMAP2) {
        const table = maps[arg];
        work++;
        const slot = table.find(op === ActionOp.VMAP3 ? daddr | 0 : 0, (proto << 16) | dport);
        if (slot < 0) {
          pc = next;
          continue;
        }
        V = table.rows;
        o = table.at(slot);
      } else if (op === ActionOp.NUMGEN) {
        // Its branches' verdict rows follow the rule.
        o = arg + VerdictWord.STRIDE * numgenBranch(rand, K[pc + RuleWord.B]);
      }
      let toStart = -1;
      let toEnd = 0;
      if (o >= 0) {
        op = V[o + VerdictWord.VERDICT] & VerdictBits.OP_MASK;
        arg = V[o + VerdictWord.VERDICT] >> VerdictBits.ARG_SHIFT;
        if (V[o + VerdictWord.PORT] >= 0) servicePort = V[o + VerdictWord.PORT];
        toStart = V[o + VerdictWord.START];
        toEnd = V[o + VerdictWord.END];
      }
      // Verdicts and statements (from the rule itself, a map element or a numgen branch).
      switch (op) {
        case ActionOp.JUMP:
        case ActionOp.GOTO: {
          if (toStart < 0) {
            const to = arg * ChainWord.STRIDE;
            if (CR[to + ChainWord.SERVICE_PORT] >= 0) servicePort = CR[to + ChainWord.SERVICE_PORT];
            toStart = CR[to + ChainWord.START];
            toEnd = CR[to + ChainWord.END];
          }
          if (op === ActionOp.JUMP) {
            if (sp === kMaxDepth) {
              ended = W_DROP; // the kernel refuses such rulesets; never reached
              break walk;
            }
            stackPc[sp] = next;
            stackEnd[sp] = end;
            sp++;
          }
          pc = toStart;
          end = toEnd;
          continue;
        }
        case ActionOp.RETURN:
          if (sp === depth) break walk;
          sp--;
          pc = stackPc[sp];
          end = stackEnd[sp];
          continue;
        case ActionOp.ACCEPT:
          ended = W_STOP;
          break walk;
        case ActionOp.DROP:
          ended = W_DROP;
          break walk;
        case ActionOp.REJECT:
          ended = W_REJECT;
          break walk;
        case ActionOp.MARK_OR:
          mark = (mark | arg) >>> 0;
          break;
        case ActionOp.MARK_XOR:
          mark = (mark ^ arg) >>> 0;
          break;
        case ActionOp.MASQ:
          masq = 1;
          ended = W_STOP;
          break walk; // NAT statements end the chain
        case ActionOp.DNAT:
          daddr = arg >>> 0;
          dport = K[pc + RuleWord.B];
          dnatted = 1;
          endpoint = K[pc + RuleWord.C];
          ended = W_STOP;
          break walk;
        case ActionOp.UPDATE:
          affinity.remember(arg, saddr | 0, 0, setTimeout[arg]);
          break;
        default:
          break;
      }
      pc = next;
    }
    S[S_DADDR] = daddr;
    S[S_DPORT] = dport;
    S[S_MARK] = mark;
    S[S_WORK] = work;
    S[S_DNATTED] = dnatted;
    S[S_ENDPOINT] = endpoint;
    S[S_SERVICE_PORT] = servicePort;
    S[S_MASQ] = masq;
    return ended;
  };
}

/**
 * What the walk of one rule depends on besides its operands: its match ops and their flags, its
 * action op, and for a jump into a chain decide() writes out, that chain. Two rules of one shape
 * are walked alike whatever their addresses, ports, marks or numgen branches.
 */
interface RuleShape {
  readonly matches: readonly (readonly [op: number, flags: number])[];
  readonly op: number;
  /** The chain a jump enters, when decide()'s source writes that chain out; -1 otherwise. */
  readonly into: number;
}

// The actions a shaped rule may take: a Service's, an endpoint's and an external chain's (no verdict map).
const kShapedActions = new Set([
  ActionOp.JUMP, ActionOp.GOTO, ActionOp.RETURN, ActionOp.ACCEPT, ActionOp.DROP, ActionOp.REJECT,
  ActionOp.MARK_OR, ActionOp.MARK_XOR, ActionOp.MASQ, ActionOp.DNAT, ActionOp.NUMGEN, ActionOp.UPDATE,
]);
// Past this many rules a chain is walked (an affinity chain has a rule an endpoint, so its shape
// would depend on the count: shaped() takes those rules as a run instead, affinityRules).
const kMaxShapedRules = 6;
// Elements of each map (and numgen branches of their chains) whose chains' shapes are counted.
const kShapeSample = 256;

/** The shapes of the rules of the chain at code span [start, end), or undefined when it is not to be shaped. */
function chainShape(K: Int32Array, start: number, end: number, written: (c: number) => boolean): RuleShape[] | undefined {
  const rules: RuleShape[] = [];
  for (let pc = start; pc < end; pc = K[pc + RuleWord.NEXT]) {
    const op = K[pc + RuleWord.OP];
    if (!kShapedActions.has(op) || rules.length === kMaxShapedRules) return undefined;
    const matches: (readonly [number, number])[] = [];
    for (let n = K[pc + RuleWord.MATCHES], o = pc + RuleWord.HEADER, oEnd = o + n * RuleWord.MATCH_STRIDE; o < oEnd; o += RuleWord.MATCH_STRIDE) matches.push([K[o], K[o + 3]]);
    rules.push({ matches, op, into: op === ActionOp.JUMP && written(K[pc + RuleWord.A]) ? K[pc + RuleWord.A] : -1 });
  }
  return rules.length > 0 ? rules : undefined;
}

/**
 * The shape most of the chains have that each verdict map's goto elements enter (by map), and
 * that the numgen branches of those chains enter: what decide()'s source writes out for each.
 * Read from the program as compiled, a sample of each map; a chain rewritten since into another
 * shape is walked (the guards).
 */
function commonShapes(p: NftProgram, written: (c: number) => boolean): { readonly maps: readonly (RuleShape[] | undefined)[]; readonly branches: RuleShape[] | undefined } {
  const K = p.code;
  type Counts = Map<string, { n: number; rules: RuleShape[] }>;
  const tally = (counts: Counts, start: number, end: number): void => {
    const rules = chainShape(K, start, end, written);
    if (rules === undefined) return;
    const key = JSON.stringify(rules);
    const c = counts.get(key);
    if (c !== undefined) c.n++;
    else counts.set(key, { n: 1, rules });
  };
  const top = (counts: Counts): RuleShape[] | undefined => {
    let best: { n: number; rules: RuleShape[] } | undefined;
    for (const c of counts.values()) if (best === undefined || c.n > best.n) best = c;
    return best?.rules;
  };
  const branchCounts: Counts = new Map();
  const maps = p.maps.map((t) => {
    const counts: Counts = new Map();
    const V = t.rows;
    for (let s = 0, seen = 0; s < t.capacity && seen < kShapeSample; s++) {
      const o = t.at(s);
      if (!t.occupied(s) || (V[o + VerdictWord.VERDICT] & VerdictBits.OP_MASK) !== ActionOp.GOTO) continue;
      seen++;
      const start = V[o + VerdictWord.START];
      const end = V[o + VerdictWord.END];
      tally(counts, start, end);
      for (let pc = start; pc < end; pc = K[pc + RuleWord.NEXT]) {
        if (K[pc + RuleWord.OP] !== ActionOp.NUMGEN) continue;
        for (let k = 0, b = K[pc + RuleWord.A]; k < K[pc + RuleWord.B]; k++, b += VerdictWord.STRIDE) {
          if ((K[b + VerdictWord.VERDICT] & VerdictBits.OP_MASK) === ActionOp.GOTO) tally(branchCounts, K[b + VerdictWord.START], K[b + VerdictWord.END]);
        }
      }
    }
    return top(counts);
  });
  return { maps, branches: top(branchCounts) };
}

/**
 * decide()'s source: the hook sequence with the fixed chains' rules written out, each chain a
 * labelled block (`break` to its label is a return; to the base chain's, the end of the base
 * chain), every other chain a call of walkChain(). Only numbers from the program's arrays go into
 * it, never a name or a string of the ruleset.
 */
function decideSource(p: NftProgram): string {
  const K = p.code;
  const C = p.cidrs;
  const CR = p.chainRows;
  // Which chains go into the source: the fixed chains of kdp's own compile (never rewritten) whose
  // rules use only what kube-proxy's setupNFTables writes into them (below); any other is walked.
  const fixed = p.room !== undefined ? p.fixedChains : 0;
  const kMatches = new Set([MatchOp.CT_NEW, MatchOp.ADDR1, MatchOp.ADDR, MatchOp.ADDR_SET, MatchOp.FIB_LOCAL, MatchOp.MARK_ZERO]);
  const kActions = new Set([ActionOp.VMAP3, ActionOp.VMAP2, ActionOp.JUMP, ActionOp.RETURN, ActionOp.DROP, ActionOp.REJECT, ActionOp.MARK_OR, ActionOp.MARK_XOR, ActionOp.MASQ]);
  const written = (c: number): boolean => {
    if (c >= fixed) return false;
    for (let pc = CR[c * ChainWord.STRIDE + ChainWord.START], end = CR[c * ChainWord.STRIDE + ChainWord.END]; pc < end; pc = K[pc + RuleWord.NEXT]) {
      if (!kActions.has(K[pc + RuleWord.OP])) return false;
      for (let n = K[pc + RuleWord.MATCHES], o = pc + RuleWord.HEADER, oEnd = o + n * RuleWord.MATCH_STRIDE; o < oEnd; o += RuleWord.MATCH_STRIDE) {
        if (!kMatches.has(K[o]) || (K[o] === MatchOp.ADDR_SET && p.sets[K[o + 1]] === null)) return false;
      }
    }
    return true;
  };
  const shapes = commonShapes(p, written);
  let labels = 0;
  const out: string[] = [];
  const emit = (line: string): void => {
    out.push(line);
  };
  // The state walkChain() reads, written before a call; what it may change, read back after.
  const toWalker = `S[${S_DADDR}] = daddr; S[${S_DPORT}] = dport; S[${S_MARK}] = mark; S[${S_WORK}] = work; S[${S_DNATTED}] = dnatted; S[${S_ENDPOINT}] = endpoint; S[${S_SERVICE_PORT}] = servicePort; S[${S_MASQ}] = masq;`;
  const fromWalker = `daddr = S[${S_DADDR}] >>> 0; dport = S[${S_DPORT}]; mark = S[${S_MARK}] >>> 0; work = S[${S_WORK}]; dnatted = S[${S_DNATTED}]; endpoint = S[${S_ENDPOINT}]; servicePort = S[${S_SERVICE_PORT}]; masq = S[${S_MASQ}];`;
  // walkChain() over the code span `startExpr`, `endExpr` (a chain's) entered at `depthExpr`, the
  // state handed over and back; a chain that did not return to its caller ends the base chain.
  const walk = (startExpr: string, endExpr: string, depthExpr: string, base: string): void => {
    emit(toWalker);
    emit(`const w = walkChain(${startExpr}, ${endExpr}, ${depthExpr});`);
    emit(fromWalker);
    emit(`if (w !== ${W_RETURN}) { if (w === ${W_DROP}) res = ${R_DROP}; else if (w === ${W_REJECT}) res = ${R_REJECT}; break ${base}; }`);
  };
  const field = (c: number): string => ((c & MatchFlag.DADDR) !== 0 ? 'daddr' : 'saddr');

  // A verdict a map element holds (goto, jump, return, accept, drop: nft's verdict maps hold no
  // reject), or a jump to a chain decide() does not write out, as the interpreter's switch
  // carries it out: a chain it enters is walked by walkChain(). A map element's row (`v` at `o`)
  // holds its target's span and Service port; a rule's jump reads the chain's row.
  // A goto from a map element or a numgen branch enters the chain written out for the site's
  // common shape (`site`, shaped() below) when it has one.
  // A numgen branch of the chain a map element enters (`guess`) is entered at `g`, the chain its
  // element's hint names (the map site's `h*`, shaped()'s numgen), when the branch's verdict row agrees:
  // then `g` is that branch's chain, whatever else of the hint is stale.
  // A row's verdict word (VerdictWord) as its op and argument.
  const rowVerdict = [`(v[o + ${VerdictWord.VERDICT}] & ${VerdictBits.OP_MASK})`, `(v[o + ${VerdictWord.VERDICT}] >> ${VerdictBits.ARG_SHIFT})`] as const;
  const verdict = (opExpr: string, argExpr: string, fromMap: boolean, depth: number, label: string, base: string, site?: readonly RuleShape[], nest = 0, guess = false): void => {
    emit(`{ const op = ${opExpr}, arg = ${argExpr};`);
    if (site !== undefined) {
      if (guess) {
        emit(`if (op === ${ActionOp.GOTO} && v[o + ${VerdictWord.START}] === g && v[o + ${VerdictWord.END}] === g + hs) {`);
        shaped(site, 'g', 'g + hs', depth, base, nest);
      } else {
        emit(`if (op === ${ActionOp.GOTO}) {`);
        shaped(site, `v[o + ${VerdictWord.START}]`, `v[o + ${VerdictWord.END}]`, depth, base, nest);
      }
      emit(`break ${label}; } else`);
    }
    emit(`if (op === ${ActionOp.JUMP} || op === ${ActionOp.GOTO}) {`);
    const depthExpr = `op === ${ActionOp.JUMP} ? ${depth + 1} : ${depth}`;
    if (fromMap) {
      walk(`v[o + ${VerdictWord.START}]`, `v[o + ${VerdictWord.END}]`, depthExpr, base);
    } else {
      emit(`const row = arg * ${ChainWord.STRIDE}; const q = CR[row + ${ChainWord.SERVICE_PORT}]; if (q >= 0) servicePort = q;`);
      walk(`CR[row + ${ChainWord.START}]`, `CR[row + ${ChainWord.END}]`, depthExpr, base);
    }
    emit(`if (op === ${ActionOp.GOTO}) break ${label};`);
    emit(`} else if (op === ${ActionOp.RETURN}) break ${label};`);
    emit(`else if (op === ${ActionOp.ACCEPT}) break ${base};`);
    emit(`else if (op === ${ActionOp.DROP}) { res = ${R_DROP}; break ${base}; } }`);
  };

  // A statement that ends the chain or the base chain, or sets the mark, with its operand `arg` an
  // expression: a constant for a fixed chain's rule, a code word for a shaped one.
  const statement = (op: number, arg: string, label: string, base: string): void => {
    switch (op) {
      case ActionOp.RETURN:
        emit(`break ${label};`);
        break;
      case ActionOp.ACCEPT:
        emit(`break ${base};`);
        break;
      case ActionOp.DROP:
        emit(`res = ${R_DROP}; break ${base};`);
        break;
      case ActionOp.REJECT:
        emit(`res = ${R_REJECT}; break ${base};`);
        break;
      case ActionOp.MARK_OR:
        emit(`mark = (mark | ${arg}) >>> 0;`);
        break;
      case ActionOp.MARK_XOR:
        emit(`mark = (mark ^ ${arg}) >>> 0;`);
        break;
      case ActionOp.MASQ:
        emit(`masq = 1; break ${base};`);
        break;
    }
  };

  // A match of a shaped rule, its operands read from the code at `m` (its first word's offset).
  const matchTest = (op: number, flags: number, m: string): string => {
    const f = field(flags);
    const neg = (flags & MatchFlag.NEG) !== 0;
    switch (op) {
      case MatchOp.ADDR1:
        return `(${f} & K[${m} + 2]) ${neg ? '!==' : '==='} K[${m} + 1]`;
      case MatchOp.ADDR:
        return `${neg ? '!' : ''}inCidrs(C, K[${m} + 1], K[${m} + 2], ${f} | 0)`;
      case MatchOp.ADDR_SET:
        return `(work++, inSet(sets, affinity, K[${m} + 1], ${f} | 0))`;
      case MatchOp.FIB_LOCAL:
        return `isLocalAddress(local, ${f} | 0)`;
      case MatchOp.L4PROTO:
        return `proto === K[${m} + 1]`;
      case MatchOp.DPORT:
        return `proto === K[${m} + 1] && dport === K[${m} + 2]`;
      case MatchOp.IIF:
        return neg ? '!fromPod' : 'fromPod';
      case MatchOp.MARK_ZERO:
        return `(mark & K[${m} + 1]) === 0`;
      default:
        return ''; // CT_NEW (every packet decide() sees is a first packet), and what the walker passes over
    }
  };

  // `update @set { ip saddr }`, the set `a` (an expression): the walker's UPDATE.
  const remember = (a: string): string => `affinity.remember(${a}, saddr | 0, 0, setTimeout[${a}]);`;

  // A DNAT from the DNAT row at `d` of K (program.ts DnatWord), for a packet not from the endpoint
  // (whose hairpin rule jumps) and of the DNAT's protocol: `rules` rules walked since the branch's
  // numgen or map element, the row's Service port, and the base chain ends.
  const dnatFromBranch = (d: string, rules: number, base: string): string =>
    `if (K[${d} + ${DnatWord.ENDPOINT}] >= 0 && (saddr | 0) !== K[${d} + ${DnatWord.ADDR}] && proto === K[${d} + ${DnatWord.L4}] >>> 16) { ` +
    `work += ${rules}; daddr = K[${d} + ${DnatWord.ADDR}] >>> 0; dport = K[${d} + ${DnatWord.L4}] & 0xffff; dnatted = 1; ` +
    `endpoint = K[${d} + ${DnatWord.ENDPOINT}]; const qd = K[${d} + ${DnatWord.PORT}]; if (qd >= 0) servicePort = qd; break ${base}; }`;

  // A chain a goto enters at the code span (startExpr, endExpr), written out for the shape
  // `rules`: each rule runs inline, its operands read from the code, while its words have the
  // shape's ops (the guard: compares of words on the rule's own lines, which the walk reads
  // anyway); from the first rule that does not, walkChain() walks the rest of the chain. A rule's
  // length follows from its shape, as a numgen's branches' offset does (the encoder writes a
  // chain's rules one after another, each with its branches after its matches: program.ts
  // Encoder.rule), so the next rule's lines are read alongside this one's, not after its NEXT
  // word. kube-proxy's Service and endpoint chains have a few shapes, which an endpoint change
  // keeps (update.ts rewrites them in place).
  const shaped = (rules: readonly RuleShape[], startExpr: string, endExpr: string, depth: number, base: string, nest: number): void => {
    const label = `c${labels++}`;
    emit(`${label}: { let pc = ${startExpr}; const e = ${endExpr};`);
    for (const r of rules) {
      if (r.op === ActionOp.NUMGEN) affinityRules(depth, label, base, nest);
      if (r.op === ActionOp.DNAT) affinityUpdate();
      const words = RuleWord.HEADER + RuleWord.MATCH_STRIDE * r.matches.length;
      const guard = ['pc < e', `K[pc + ${RuleWord.MATCHES}] === ${r.matches.length}`, `K[pc + ${RuleWord.OP}] === ${r.op}`];
      r.matches.forEach(([op, flags], i) => {
        const m = RuleWord.HEADER + i * RuleWord.MATCH_STRIDE;
        guard.push(`K[pc + ${m}] === ${op}`, `K[pc + ${m + 3}] === ${flags}`);
      });
      if (r.into >= 0) guard.push(`K[pc + ${RuleWord.A}] === ${r.into}`);
      emit(`if (${guard.join(' && ')}) {`);
      emit('work++;');
      const tests = r.matches.map(([op, flags], i) => matchTest(op, flags, `pc + ${RuleWord.HEADER + i * RuleWord.MATCH_STRIDE}`)).filter((t) => t !== '');
      emit(tests.length > 0 ? `if (${tests.map((t) => `(${t})`).join(' && ')}) {` : '{');
      const a = `K[pc + ${RuleWord.A}]`;
      switch (r.op) {
        case ActionOp.JUMP:
        case ActionOp.GOTO:
          if (r.into >= 0 && depth + 1 < kMaxDepth) chain(r.into, depth + 1, base);
          else verdict(String(r.op), a, false, depth, label, base);
          break;
        case ActionOp.NUMGEN:
          // The kernel's numgen random (program.ts numgenBranch). In the chain a map
          // element enters, branch k's chain is where the element's hint says (MapWord) while the
          // hint is fresh: the chain's lines are then read beside this one's (a load whose address
          // a row of code holds waits for that row; one a compare only guards, the core runs ahead
          // of), and branch k's row is only compared.
          const guess = nest === 1 && shapes.branches !== undefined;
          if (guess) emit('const g = h0 + hk * hs;');
          emit(`{ const v = K; const bn = K[pc + ${RuleWord.B}]; const bk = Math.floor((rand * bn) / 4294967296); const o = pc + ${words} + ${VerdictWord.STRIDE} * bk;`);
          emit(`const q = v[o + ${VerdictWord.PORT}]; if (q >= 0) servicePort = q;`);
          // A branch to kube-proxy's endpoint chain has its DNAT row (program.ts DnatWord): a
          // packet from any source but the endpoint's own (whose hairpin rule jumps) meets the
          // chain's two rules, the second DNATs it, and no line of the chain is read.
          emit(dnatFromBranch(`pc + ${words} + ${VerdictWord.STRIDE} * bn + ${DnatWord.STRIDE} * bk`, 2, base));
          verdict(...rowVerdict, true, depth, label, base, nest < 2 ? shapes.branches : undefined, nest + 1, guess);
          emit('}');
          break;
        case ActionOp.DNAT:
          emit(`daddr = ${a} >>> 0; dport = K[pc + ${RuleWord.B}]; dnatted = 1; endpoint = K[pc + ${RuleWord.C}]; break ${base};`);
          break;
        case ActionOp.UPDATE:
          emit(remember(a));
          break;
        default:
          statement(r.op, a, label, base);
      }
      emit('}');
      emit(r.op === ActionOp.NUMGEN ? `pc = K[pc + ${RuleWord.NEXT}];` : `pc += ${words};`);
      emit('} else {');
      walk('pc', 'e', String(depth), base);
      emit(`break ${label}; }`);
    }
    emit('if (pc < e) {');
    walk('pc', 'e', String(depth), base);
    emit('} }');
  };

  // kube-proxy's ClientIP affinity (syncProxyRules' `ip saddr @affinity-… goto endpoint-…`, one
  // rule an endpoint, before the numgen), which no shape holds (their count is the endpoints'):
  // each rule of such a run behind a guard on its ops, checked in order, its set looked up as the
  // walker does; a set that holds the client sends the packet to the rule's chain (its span from
  // its row), written out for the numgen branches' shape, and ends this one. A Service chain
  // without affinity pays one guard, on words the numgen's guard reads next (cost: the header's).
  const affinityRules = (depth: number, label: string, base: string, nest: number): void => {
    const m = RuleWord.HEADER;
    emit(`while (pc < e && K[pc + ${RuleWord.MATCHES}] === 1 && K[pc + ${RuleWord.OP}] === ${ActionOp.GOTO} && K[pc + ${m}] === ${MatchOp.ADDR_SET} && K[pc + ${m + 3}] === 0) {`);
    emit(`work += 2; if (inSet(sets, affinity, K[pc + ${m + 1}], saddr | 0)) {`);
    if (nest < 2 && shapes.branches !== undefined) {
      emit(`const row = K[pc + ${RuleWord.A}] * ${ChainWord.STRIDE}; const q = CR[row + ${ChainWord.SERVICE_PORT}]; if (q >= 0) servicePort = q;`);
      shaped(shapes.branches, `CR[row + ${ChainWord.START}]`, `CR[row + ${ChainWord.END}]`, depth, base, nest + 1);
      emit(`break ${label};`);
    } else {
      verdict(String(ActionOp.GOTO), `K[pc + ${RuleWord.A}]`, false, depth, label, base);
    }
    emit('}');
    emit(`pc += ${m + RuleWord.MATCH_STRIDE}; }`);
  };
  // An affinity endpoint chain's `update @affinity-… { ip saddr }` before its DNAT rule.
  const affinityUpdate = (): void => {
    emit(`if (pc < e && K[pc + ${RuleWord.MATCHES}] === 0 && K[pc + ${RuleWord.OP}] === ${ActionOp.UPDATE}) {`);
    emit(`work++; ${remember(`K[pc + ${RuleWord.A}]`)} pc += ${RuleWord.HEADER}; }`);
  };

  // One chain's rules, written out in a block labelled so that `break` is its return.
  const chain = (c: number, depth: number, base: string): void => {
    const label = depth === 0 ? base : `c${labels++}`;
    if (depth !== 0) emit(`${label}: {`);
    for (let pc = CR[c * ChainWord.STRIDE + ChainWord.START], end = CR[c * ChainWord.STRIDE + ChainWord.END]; pc < end; pc = K[pc + RuleWord.NEXT]) {
      emit('work++;');
      const tests: string[] = [];
      for (let n = K[pc + RuleWord.MATCHES], o = pc + RuleWord.HEADER, oEnd = o + n * RuleWord.MATCH_STRIDE; o < oEnd; o += RuleWord.MATCH_STRIDE) {
        const c3 = K[o + 3];
        const neg = (c3 & MatchFlag.NEG) !== 0;
        switch (K[o]) {
          case MatchOp.CT_NEW:
            break; // every packet decide() sees is a first packet
          case MatchOp.ADDR1:
            tests.push(`(${field(c3)} & ${K[o + 2]}) ${neg ? '!==' : '==='} ${K[o + 1]}`);
            break;
          case MatchOp.ADDR: {
            let any = 'false';
            for (let j = K[o + 1], jEnd = j + K[o + 2]; j < jEnd; j++) any += ` || ((${field(c3)} & ${C[j * 2 + 1]}) >>> 0) === ${C[j * 2]}`;
            tests.push(`${neg ? '!' : ''}(${any})`);
            break;
          }
          case MatchOp.ADDR_SET:
            tests.push(`(work++, sets[${K[o + 1]}].has(${field(c3)} | 0))`);
            break;
          case MatchOp.FIB_LOCAL:
            tests.push(`isLocalAddress(local, ${field(c3)} | 0)`);
            break;
          case MatchOp.MARK_ZERO:
            tests.push(`(mark & ${K[o + 1]}) === 0`);
            break;
        }
      }
      if (tests.length > 0) emit(`if (${tests.map((t) => `(${t})`).join(' && ')}) {`);
      else emit('{');
      const op = K[pc + RuleWord.OP];
      const arg = K[pc + RuleWord.A];
      switch (op) {
        case ActionOp.VMAP3:
        case ActionOp.VMAP2:
          emit(`work++; { const t = maps[${arg}]; const slot = t.find(${op === ActionOp.VMAP3 ? 'daddr | 0' : '0'}, (proto << 16) | dport);`);
          emit(`if (slot >= 0) { const v = t.rows; const o = slot * ${p.maps[arg]!.stride} + ${PairWord.VALUE}; const q = v[o + ${VerdictWord.PORT}]; if (q >= 0) servicePort = q;`);
          // The element's hint (MapWord) and the branch it picks, read and computed with the
          // element where the site's shape has a numgen whose branches shaped() guesses (nest 1
          // there): computed here rather than at the numgen, the service-nat stage took ~364 ns a
          // first packet at 1k Services, not ~400 (five runs each, 2026-12-05).
          if (shapes.branches !== undefined && shapes.maps[arg]?.some((r) => r.op === ActionOp.NUMGEN)) {
            emit(`const h0 = v[o + ${MapWord.HINT_START}], hw = v[o + ${MapWord.HINT}], hn = hw >> ${HintBits.COUNT_SHIFT}, hs = hw & ${HintBits.STRIDE_MASK}; const hk = Math.floor((rand * hn) / 4294967296);`);
          }
          // An element into kube-proxy's Service chain for its key (VerdictBits.SERVICE_CHAIN), a
          // packet from inside the local CIDR: the masquerade rule does not match, and the numgen's
          // DNAT row for the packet follows from the element's span (program.ts serviceChainAt); a
          // branch that has its endpoint chain's DNAT ends the walk there. Four rules, one 16-byte
          // row read: neither the chain's header lines nor the branch's verdict row. Any other
          // packet goes the chain's way below.
          if (op === ActionOp.VMAP3 && p.localCidr[1] !== 0) {
            emit(`if ((v[o + ${VerdictWord.VERDICT}] & ${VerdictBits.SERVICE_CHAIN}) !== 0 && (saddr & ${p.localCidr[1]}) === ${p.localCidr[0]}) {`);
            emit(`const e0 = v[o + ${VerdictWord.END}]; const sn = (e0 - v[o + ${VerdictWord.START}] - ${kServiceHead}) / ${kBranchWords}; const d0 = e0 - ${DnatWord.STRIDE} * (sn - Math.floor((rand * sn) / 4294967296));`);
            emit(dnatFromBranch('d0', 4, base));
            emit('}');
          }
          verdict(...rowVerdict, true, depth, label, base, shapes.maps[arg], 1);
          emit('} }');
          break;
        case ActionOp.JUMP:
          // A fixed chain is inlined while the jump stack has room (kube-proxy's go two deep):
          // the walkChain() it would otherwise call refuses a jump past kMaxDepth.
          // (A fixed chain belongs to no Service port: compileProgram gives it none with room.)
          if (written(arg) && depth + 1 < kMaxDepth) {
            chain(arg, depth + 1, base);
          } else {
            verdict(String(op), String(arg), false, depth, label, base);
          }
          break;
        default:
          statement(op, String(arg), label, base);
      }
      emit('}');
    }
    if (depth !== 0) emit('}');
  };

  // A hook's base chains, in priority order; each runs while the packet is still accepted.
  const hook = (h: number): void => {
    for (const c of p.hookChains[h]) {
      const base = `b${labels++}`;
      emit(`if (res === ${R_CONTINUE}) { ${base}: {`);
      if (written(c)) chain(c, 0, base);
      else walk(`CR[${c * ChainWord.STRIDE + ChainWord.START}]`, `CR[${c * ChainWord.STRIDE + ChainWord.END}]`, '0', base);
      emit('} }');
    }
  };

  emit('"use strict";');
  emit('return function decide(pkt, out) {');
  emit('const saddr = pkt.srcIp >>> 0; let daddr = pkt.dstIp >>> 0; let dport = pkt.dstPort | 0; const proto = pkt.proto | 0;');
  emit('const fromPod = pkt.fromPodInterface; const rand = pkt.rand >>> 0; clock[0] = pkt.now;');
  emit('let mark = 0; let work = 0; let dnatted = 0; let endpoint = -1; let servicePort = -1; let masq = 0; let res = 0;');
  emit(`S[${S_SADDR}] = saddr; S[${S_PROTO}] = proto; S[${S_FROM_POD}] = fromPod ? 1 : 0; S[${S_RAND}] = rand;`);
  // OUTPUT then POSTROUTING; or PREROUTING, then routing after DNAT: INPUT for the node, or
  // FORWARD then POSTROUTING.
  emit('let postrouting = true;');
  emit(`if (pkt.hook === ${HOOK_OUTPUT}) {`);
  hook(H_OUTPUT);
  emit('} else {');
  hook(H_PREROUTING);
  emit(`if (res === ${R_CONTINUE} && isLocalAddress(local, daddr | 0)) {`);
  emit('postrouting = false;');
  hook(H_INPUT);
  emit('} else {');
  hook(H_FORWARD);
  emit('} }');
  emit('if (postrouting) {');
  hook(H_POSTROUTING);
  emit('}');
  emit(`const ok = res === ${R_CONTINUE}; const nat = ok && dnatted !== 0;`);
  emit(`out.verdict = res === ${R_DROP} ? ${VERDICT_DROP} : res === ${R_REJECT} ? ${VERDICT_REJECT} : dnatted !== 0 ? ${VERDICT_DNAT} : ${VERDICT_NONE};`);
  emit('out.servicePort = servicePort; out.endpoint = nat ? endpoint : -1; out.dnatIp = nat ? daddr : 0; out.dnatPort = nat ? dport : 0;');
  emit('out.masquerade = ok && masq !== 0; out.work = work;');
  emit('};');
  return out.join('\n');
}
