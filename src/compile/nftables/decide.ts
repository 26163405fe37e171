/**
 * The nftables decide() hot path, specialised once per program by createDecide(): decide-only,
 * allocation-free, the whole hook sequence of a first packet in one function whose packet state
 * is locals. dataplane.ts keeps the flag-driven walker it is checked against
 * (test/compile/nftables/walker-equivalence.test.ts) and that explain() uses.
 *
 * What it drops from the walker, and why it costs: every rule used to go through `this.*` fields
 * (the packet, the mark, the work count), a `tracing` test at each rule, numgen and map lookup,
 * and a chain of `if (op === …)` per match; here the packet lives in registers, match and action
 * ops go through `switch`es V8 compiles to jump tables, and jumps use a preallocated Int32Array
 * stack of (next rule, chain end) code offsets. The walk, its order and its `work` count are the
 * walker's exactly.
 * The verdict maps are one hash probe of (daddr, l4proto << 16 | dport), as nft_set_hash looks
 * up the concatenated key (PairTable.find).
 */
import { HOOK_OUTPUT, VERDICT_DNAT, VERDICT_DROP, VERDICT_NONE, VERDICT_REJECT, type FirstPacket, type NatDecision } from '../dataplane.js';
import type { ExpiringTable } from '../tables/index.js';
import {
  A_ACCEPT, A_DNAT, A_DROP, A_GOTO, A_JUMP, A_MARK_OR, A_MARK_XOR, A_MASQ, A_NUMGEN, A_REJECT, A_RETURN, A_UPDATE, A_VMAP2, A_VMAP3,
  CH_END, CH_SERVICE_PORT, CH_START, FIELD_DADDR, K_A, K_B, K_C, K_MATCHES, K_NEXT, K_OP, kChainStride, kMatchStride, kRuleHeader,
  M_ADDR, M_ADDR1, M_ADDR_SET, M_CT_NEW, M_DPORT, M_FIB_LOCAL, M_IIF, M_L4PROTO, M_MARK_ZERO,
  type NftProgram,
} from './program.js';

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

/** Whether `ip` is one of the node's addresses (`fib daddr type local`); 127/8 always is. */
export function isLocalAddress(local: Uint32Array, ip: number): boolean {
  if (ip >>> 24 === 127) return true;
  for (let i = 0; i < local.length; i++) if (local[i] === ip) return true;
  return false;
}

/**
 * Builds decide() for one program.
 * `affinity` is the dataplane's own dynamic-set state, shared with the reference walker.
 */
export function createDecide(p: NftProgram, local: Uint32Array, affinity: ExpiringTable): (pkt: FirstPacket, out: NatDecision) => void {
  const K = p.code;
  const C = p.cidrs;
  const maps = p.maps;
  const sets = p.sets;
  const setTimeout = p.setTimeout;
  // The program's own arrays, never a derived copy: a copy would go stale if a sync ever updated
  // the program in place (update.ts writes code and chainRows).
  const CR = p.chainRows;
  const hookChains = p.hookChains;
  // The jump stack: where to go on in the caller (its next rule and its end), as nft_do_chain keeps it.
  const stackPc = new Int32Array(kMaxDepth);
  const stackEnd = new Int32Array(kMaxDepth);

  // Cost: ~290 ns per ClusterIP first packet at 100 Services with the tables in cache (~380 ns after
  // the caches were flushed), ~1.2-1.5 µs at 30k, 19.4 rules and lookups a decision, where IPVS takes
  // ~60 ns and ~180 ns (1.3 probes). At 100 Services the time is the walk itself (15 of the 19 steps
  // are kube-proxy's fixed chains, four of them hash lookups: firewall-ips, service-ips,
  // no-endpoint-services, cluster-ips); at 30k it is cache misses: the Service and endpoint chains
  // (a chain row and one or two code lines each since code holds a chain's rules together; they were
  // ~1.7-1.8 µs with separate rule, match and target arrays) and the maps and the set.
  // (/tmp micro-benchmark over 65,536 ClusterIP packets, decide() alone, min of 5, 2026-12-03, load 1.5-4 on the 2-core machine: upper bounds.)
  return function decide(pkt: FirstPacket, out: NatDecision): void {
    const saddr = pkt.srcIp >>> 0;
    let daddr = pkt.dstIp >>> 0;
    let dport = pkt.dstPort | 0;
    const proto = pkt.proto | 0;
    const fromPod = pkt.fromPodInterface;
    const rand = pkt.rand >>> 0;
    const now = pkt.now;
    let mark = 0;
    let work = 0;
    let dnatted = false;
    let endpoint = -1;
    let servicePort = -1;
    let masq = false;
    let res = R_CONTINUE;
    // OUTPUT then POSTROUTING; or PREROUTING, then routing after DNAT: INPUT for the node, or
    // FORWARD then POSTROUTING.
    let h = pkt.hook === HOOK_OUTPUT ? H_OUTPUT : H_PREROUTING;
    for (;;) {
      const bases = hookChains[h];
      for (let bi = 0; bi < bases.length && res === R_CONTINUE; bi++) {
        // One base chain: rules in order (pc walks code), jump/goto/return over the stack.
        const base = bases[bi] * kChainStride;
        let pc = CR[base + CH_START];
        let end = CR[base + CH_END];
        let sp = 0;
        walk: for (;;) {
          if (pc >= end) {
            if (sp === 0) break walk;
            sp--;
            pc = stackPc[sp];
            end = stackEnd[sp];
            continue;
          }
          work++;
          const next = K[pc + K_NEXT];
          // Matches: every one must hold.
          let matched = true;
          for (let n = K[pc + K_MATCHES], o = pc + kRuleHeader, oEnd = o + n * kMatchStride; o < oEnd; o += kMatchStride) {
            const c = K[o + 3];
            switch (K[o]) {
              case M_CT_NEW:
                continue; // every packet decide() sees is a first packet
              case M_ADDR1:
                matched = ((((c & FIELD_DADDR) !== 0 ? daddr : saddr) & K[o + 2]) === K[o + 1]) !== ((c & 2) !== 0);
                break;
              case M_ADDR: {
                const addr = (c & FIELD_DADDR) !== 0 ? daddr : saddr;
                let hit = false;
                for (let j = K[o + 1], jEnd = j + K[o + 2]; j < jEnd; j++) {
                  if (((addr & C[j * 2 + 1]) >>> 0) === C[j * 2]) {
                    hit = true;
                    break;
                  }
                }
                matched = hit !== ((c & 2) !== 0);
                break;
              }
              case M_ADDR_SET: {
                const addr = (c & FIELD_DADDR) !== 0 ? daddr : saddr;
                const set = sets[K[o + 1]];
                work++;
                matched = set !== null ? set.has(addr) : affinity.lookup(K[o + 1], addr, now, 0) >= 0;
                break;
              }
              case M_FIB_LOCAL:
                matched = isLocalAddress(local, (c & FIELD_DADDR) !== 0 ? daddr : saddr);
                break;
              case M_L4PROTO:
                matched = proto === K[o + 1];
                break;
              case M_DPORT:
                matched = proto === K[o + 1] && dport === K[o + 2];
                break;
              case M_IIF:
                matched = fromPod !== ((c & 2) !== 0);
                break;
              case M_MARK_ZERO:
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
          let op = K[pc + K_OP];
          let arg = K[pc + K_A];
          if (op === A_VMAP3 || op === A_VMAP2) {
            const table = maps[arg];
            work++;
            const slot = table.find(op === A_VMAP3 ? daddr : 0, (proto << 16) | dport);
            if (slot < 0) {
              pc = next;
              continue;
            }
            const v = table.values;
            op = v[slot * 3];
            arg = v[slot * 3 + 1];
            if (v[slot * 3 + 2] >= 0) servicePort = v[slot * 3 + 2];
          } else if (op === A_NUMGEN) {
            // The kernel's numgen random: reciprocal_scale(prandom_u32(), mod); its branches follow the rule.
            const t = arg + 2 * Math.floor((rand * K[pc + K_B]) / 4294967296);
            op = K[t];
            arg = K[t + 1];
          }
          // Verdicts and statements (from the rule itself, a map element or a numgen branch).
          switch (op) {
            case A_JUMP: {
              const row = arg * kChainStride;
              if (CR[row + CH_SERVICE_PORT] >= 0) servicePort = CR[row + CH_SERVICE_PORT];
              if (sp === kMaxDepth) {
                res = R_DROP; // the kernel refuses such rulesets; never reached
                break walk;
              }
              stackPc[sp] = next;
              stackEnd[sp] = end;
              sp++;
              pc = CR[row + CH_START];
              end = CR[row + CH_END];
              continue;
            }
            case A_GOTO: {
              const row = arg * kChainStride;
              if (CR[row + CH_SERVICE_PORT] >= 0) servicePort = CR[row + CH_SERVICE_PORT];
              pc = CR[row + CH_START];
              end = CR[row + CH_END];
              continue;
            }
            case A_RETURN:
              if (sp === 0) break walk;
              sp--;
              pc = stackPc[sp];
              end = stackEnd[sp];
              continue;
            case A_ACCEPT:
              break walk;
            case A_DROP:
              res = R_DROP;
              break walk;
            case A_REJECT:
              res = R_REJECT;
              break walk;
            case A_MARK_OR:
              mark = (mark | arg) >>> 0;
              break;
            case A_MARK_XOR:
              mark = (mark ^ arg) >>> 0;
              break;
            case A_MASQ:
              masq = true;
              break walk; // NAT statements end the chain
            case A_DNAT:
              daddr = arg >>> 0;
              dport = K[pc + K_B];
              dnatted = true;
              endpoint = K[pc + K_C];
              break walk;
            case A_UPDATE:
              affinity.remember(arg, saddr, 0, now, setTimeout[arg]);
              break;
            default:
              break;
          }
          pc = next;
        }
      }
      if (res !== R_CONTINUE) break;
      if (h === H_PREROUTING) h = isLocalAddress(local, daddr) ? H_INPUT : H_FORWARD;
      else if (h === H_OUTPUT || h === H_FORWARD) h = H_POSTROUTING;
      else break;
    }
    const ok = res === R_CONTINUE;
    out.verdict = res === R_DROP ? VERDICT_DROP : res === R_REJECT ? VERDICT_REJECT : dnatted ? VERDICT_DNAT : VERDICT_NONE;
    out.servicePort = servicePort;
    out.endpoint = ok && dnatted ? endpoint : -1;
    out.dnatIp = ok && dnatted ? daddr : 0;
    out.dnatPort = ok && dnatted ? dport : 0;
    out.masquerade = ok && masq;
    out.work = work;
  };
}
