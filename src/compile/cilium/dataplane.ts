/**
 * Cilium's kube-proxy replacement on one node, over the maps build.ts compiled: the programs
 * that look a first packet up (Cilium v1.17's bpf/bpf_sock.c and bpf/lib/lb.h, bpf/lib/nodeport.h).
 *
 * - HOOK_SOCKET, a pod's or the host's socket at connect()/sendmsg() (`__sock4_xlate_fwd`): the
 *   service lookup with scope switch (an internal-scope entry for in-cluster traffic), else the
 *   NodePort wildcard (0.0.0.0:port) for any node's address; externalIPs that are not this
 *   node's are left alone (`sock4_skip_xlate`); no backend: connect() fails (-EHOSTUNREACH);
 *   affinity per network namespace, else a random slot. No NAT is left behind for conntrack.
 * - a packet from a pod's veth (bpf_lxc): with socket LB for pods, nothing (the socket did it);
 *   with `bpf-lb-sock-hostns-only`, the same lookup per packet (`__per_packet_lb_svc_xlate_4`).
 * - a packet the host sends (bpf_host egress): nothing; host sockets are translated at connect().
 * - a packet arriving at the node's device (tc, or XDP with `bpf-lb-acceleration`: `nodeport_lb4`):
 *   the lookup without scope switch, ClusterIPs refused unless routable (DROP_IS_CLUSTER_IP),
 *   loadBalancerSourceRanges (DROP_NOT_IN_SRC_RANGE), no backend: ICMP reject or drop
 *   (`service-no-backend-response`), affinity by client address, Maglev (jhash of the flow into
 *   the frontend's table) or a random slot; SNAT to the node when the backend is on another node
 *   (`bpf-lb-mode: snat`), none with DSR (TCP only in hybrid), none for a local backend.
 *
 * decide(): no allocation; ~3 map lookups (master, slot, backend), one more for Maglev.
 */
import { formatCidr, formatIp } from '../../net/ipv4.js';
import { jhash3Words, mix32 } from '../../net/hash.js';
import { kBatchSize } from '../../net/batch.js';
import { PROTO_SCTP, PROTO_TCP, type Protocol } from '../../net/proto.js';
import { protocolName, servicePortName, type CiliumConfig, type Cluster } from '../../model/types.js';
import {
  DSR_OPTION, DSR_REPLY, DSR_TUNNEL, HOOK_OUTPUT, HOOK_SOCKET, VERDICT_DNAT, VERDICT_DROP, VERDICT_REJECT, clearDecision, kPrefetchMinBytes, kVerdictNames,
  type DataplaneStats, type Explanation, type FirstPacket, type NatDecision, type ServiceDataplane, type TraceStep,
} from '../dataplane.js';
import { ExpiringTable, PairWord } from '../tables/index.js';
import { maglevSeeds } from './maglev.js';
import {
  BeWord, FeWord, SCOPE_EXT, SCOPE_INT, SVC_FLAG_AFFINITY, SVC_FLAG_EXTERNAL_IP, SVC_FLAG_NODEPORT, SVC_FLAG_ROUTABLE,
  SVC_FLAG_SOURCE_RANGE, SVC_FLAG_TWO_SCOPES, SlotWord, beIp, beLocal, bePort, feAffinity, feCount, feFlags, feMaglev,
  feRevNat, feServicePort, feSlotStart, serviceKeyWord, slotBackend, slotRow, tablesBytes, type CiliumTables,
} from './tables.js';
import { frontendText } from './render.js';

const PATH_NONE = 0;
const PATH_SOCKET = 1;
const PATH_LXC = 2;
const PATH_NODEPORT = 3;

/** Affinity entries per dataplane (Cilium's LRU affinity map holds bpf-lb-map-max). */
export const kAffinityCapacity = 1 << 16;

const bswap32 = (x: number): number => (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
const bswap16 = (x: number): number => ((x & 0xff) << 8) | ((x >>> 8) & 0xff);

/**
 * bpf/lib/hash.h `hash_from_tuple_v4`: jhash_3words(saddr, dport << 16 | sport, nexthdr,
 * HASH_INIT4_SEED) over the tuple's network-order fields as a little-endian (x86, arm64) host loads them.
 */
export function ciliumFlowHash(src: number, sport: number, dport: number, proto: number, seed: number): number {
  return jhash3Words(bswap32(src), ((bswap16(dport) << 16) | bswap16(sport)) >>> 0, proto, seed);
}

export class CiliumDataplane implements ServiceDataplane {
  readonly mode = 'cilium' as const;
  readonly socketLb: boolean;
  readonly generation: Int32Array;
  private readonly podsBySocket: boolean;
  private readonly jhashSeed: number;
  private readonly affinity: ExpiringTable;
  private readonly bytes: number;
  readonly warnings: readonly string[];
  /** Where the last decision's backend came from, for explain(). */
  private via = '';

  constructor(
    /**
     * The cluster the tables index into (names for explain); updateServices moves it to the
     * changed cluster. Decisions read the tables only, so a reader attached to the shared image
     * before a Service change decides right; it re-attaches with the new cluster to name it.
     */
    public cluster: Cluster,
    readonly node: number,
    readonly config: CiliumConfig,
    readonly tables: CiliumTables,
  ) {
    this.generation = tables.generation;
    this.socketLb = config.socketLb;
    this.podsBySocket = config.socketLb && !config.socketLbHostnsOnly;
    const seeds = maglevSeeds(config.maglevHashSeed);
    this.jhashSeed = typeof seeds === 'string' ? 0 : seeds.jhash0;
    // lb4_update_affinity_*: each new connection refreshes last_used; an expired entry is replaced.
    this.affinity = new ExpiringTable({ capacity: kAffinityCapacity, hash: 'mix-pair', refreshOnHit: true, reuseExpired: true, values: true });
    this.bytes = tablesBytes(tables);
    this.warnings = tables.lbMapUnprogrammed === 0 ? [] : [
      `cilium: node ${cluster.nodes[node]?.name ?? node} needs ${tables.lbMapEntries.toLocaleString('en-US')} service-map entries, more than bpf-lb-map-max ${config.lbMapMax.toLocaleString('en-US')}: `
      + `${tables.lbMapUnprogrammed.toLocaleString('en-US')} frontend(s) are not programmed (the agent's upserts fail with E2BIG) and their traffic is not load-balanced; `
      + `raise bpf-lb-map-max in kube-system/cilium-config to at least ${tables.lbMapEntries.toLocaleString('en-US')}`,
    ];
  }

  /** prefetch() reads nothing below this span of tables (kPrefetchMinBytes); a test lowers it to run over small ones. */
  prefetchMinBytes = kPrefetchMinBytes;
  /** prefetch()'s vectors, one entry a packet: the service map's home slots, then its keys' slots, then frontends, then backend slots; the random; the packet's index in the batch. */
  private slotVec = new Int32Array(kBatchSize);
  private feVec = new Int32Array(kBatchSize);
  private randVec = new Uint32Array(kBatchSize);
  private packetVec = new Int32Array(kBatchSize);

  // decide()'s reads, level by level over the frame's packets for this node (the rule
  // ipvs/dataplane.ts' prefetch states: short loops over typed arrays, no store of a value that
  // missed): the service map's element (external scope, its key and frontend), the frontend's
  // row (tables.ts FeWord), the backend slot the packet's random pick takes (a Maglev or affinity
  // pick reads another: a hint) and that backend's row: five or six lines a packet (a frontend's
  // 32-byte row may straddle two), thirteen with an array a field. The socket stage runs it too
  // (socket-lb.ts), where a pod's connections are decided. Cost, with an array a field: a new
  // flow took 1,248 ns at 30k Services against 1,471 without (1.19x its cost at 100, 1.41x
  // without), 1,217 against 1,280 at 10k; below the gate (kPrefetchMinBytes: 496 KiB of those
  // arrays at 1k Services) nothing (`kdp bench --services 100,1000,10000,30000 --modes cilium
  // --workers 1 --flows 500000`, medians of three runs of each build alternated, 2026-12-06). The
  // rows are 737 KiB at 1k, which turns it on there: a new flow took 1,219 ns against 1,232
  // (`kdp bench --services 1000 --modes cilium --workers 1 --flows 1000000`, four runs of each
  // build alternated, 2026-12-07).
  prefetch(frame: Int32Array, count: number, node: Uint16Array, dstIp: Uint32Array, dstPort: Uint16Array, proto: Uint8Array, flowHash: Uint32Array, seed: number): number {
    const t = this.tables;
    if (prefetchSpan(t) < this.prefetchMinBytes) return 0;
    if (this.slotVec.length < count) {
      this.slotVec = new Int32Array(count);
      this.feVec = new Int32Array(count);
      this.randVec = new Uint32Array(count);
      this.packetVec = new Int32Array(count);
    }
    const sv = this.slotVec;
    const fv = this.feVec;
    const rv = this.randVec;
    const pv = this.packetVec;
    const map = t.services;
    const me = this.node;
    let c = 0;
    for (let k = 0; k < count; k++) {
      const i = frame[k];
      if (node[i] !== me) continue;
      const s = map.home(dstIp[i], serviceKeyWord(dstPort[i], proto[i], SCOPE_EXT));
      if (s < 0) continue;
      sv[c] = s;
      pv[c] = i;
      rv[c++] = mix32(flowHash[i], seed);
    }
    const rows = map.rows;
    const w = map.stride;
    let acc = 0;
    // The slot's key and value: one line (PairTable).
    for (let k = 0; k < c; k++) acc ^= rows[sv[k] * w + PairWord.K1];
    // The key's own slot, where it sits past its home (PairTable.findFrom, over the lines just
    // read), whose value names another frontend, as IPVS's and nftables' prefetches read theirs:
    // the service-nat stage took 126 ns a first packet at 10k Services against 131, 134 at 30k
    // against 133, within the noise (`kdp bench --services 10000,30000 --modes ipvs,nftables,cilium
    // --workers 1 --flows 1000000`, three runs of each build alternated, 2026-12-07).
    for (let k = 0; k < c; k++) {
      const i = pv[k];
      const s = map.findFrom(sv[k], dstIp[i], serviceKeyWord(dstPort[i], proto[i], SCOPE_EXT));
      if (s >= 0) sv[k] = s;
    }
    for (let k = 0; k < c; k++) fv[k] = rows[sv[k] * w + PairWord.VALUE];
    const { fe, slots, be } = t;
    // A row's first and last words: one line, or both of the two a 32-byte row may straddle.
    for (let k = 0; k < c; k++) acc ^= fe[fv[k] * FeWord.STRIDE] ^ fe[fv[k] * FeWord.STRIDE + FeWord.STRIDE - 1];
    // selectSlot's random pick; the slot index goes where the home slot was.
    for (let k = 0; k < c; k++) {
      const o = fv[k] * FeWord.STRIDE;
      const n = fe[o + FeWord.COUNT];
      sv[k] = fe[o + FeWord.SLOT_START] + (n === 0 ? 0 : rv[k] % n);
    }
    for (let k = 0; k < c; k++) acc ^= slots[sv[k] * SlotWord.STRIDE + SlotWord.ROW];
    for (let k = 0; k < c; k++) fv[k] = slots[sv[k] * SlotWord.STRIDE + SlotWord.BACKEND];
    for (let k = 0; k < c; k++) acc ^= be[fv[k] * BeWord.STRIDE];
    return acc | 0;
  }

  /** `lb4_lookup_service`: the master entry, or -1; the internal-scope one with scope switch. Adds probes to `out.work`. */
  private lookup(ip: number, port: number, proto: number, scopeSwitch: boolean, out: NatDecision): number {
    const t = this.tables;
    const s = t.services.find(ip, serviceKeyWord(port, proto, SCOPE_EXT));
    out.work += t.services.lastProbes || 1; // a miss the prefix filter answers: its word, one step
    if (s < 0) return -1;
    const f = t.services.rows[t.services.at(s)];
    if (!scopeSwitch || (feFlags(t, f) & SVC_FLAG_TWO_SCOPES) === 0) return f;
    const s2 = t.services.find(ip, serviceKeyWord(port, proto, SCOPE_INT));
    out.work += t.services.lastProbes;
    return s2 < 0 ? -1 : t.services.rows[t.services.at(s2)];
  }

  private isHost(ip: number): boolean {
    const a = this.tables.hostAddrs;
    for (let i = 0; i < a.length; i++) if (a[i] === ip) return true;
    return false;
  }

  private isNode(ip: number): boolean {
    const a = this.tables.nodeAddrs;
    for (let i = 0; i < a.length; i++) if (a[i] === ip) return true;
    return false;
  }

  /** The frontend a local socket's destination resolves to (`__sock4_xlate_fwd` up to the backend choice), or -1. */
  private socketFrontend(pkt: FirstPacket, inHostNs: boolean, out: NatDecision): number {
    const dst = pkt.dstIp >>> 0;
    let f = this.lookup(dst, pkt.dstPort, pkt.proto, true, out);
    if (f < 0) {
      // sock4_wildcard_lookup_full: a NodePort on a node's address (or loopback from the host).
      const range = this.cluster.network.nodePortRange;
      const loopback = dst >>> 24 === 127;
      if (pkt.dstPort >= range[0] && pkt.dstPort <= range[1] && ((inHostNs && loopback) || this.isNode(dst))) {
        f = this.lookup(0, pkt.dstPort, pkt.proto, true, out);
        if (f >= 0 && (feFlags(this.tables, f) & SVC_FLAG_NODEPORT) === 0) f = -1;
      }
    }
    // sock4_skip_xlate: an externalIP is translated only when it is this node's own address.
    if (f >= 0 && (feFlags(this.tables, f) & SVC_FLAG_EXTERNAL_IP) !== 0 && !this.isHost(dst)) return -1;
    return f;
  }

  /**
   * The backend slot (index into slotBackend) for frontend f: affinity, Maglev or a random slot.
   * `commit` false (explain) reads the affinity map without refreshing or writing it.
   */
  private selectSlot(f: number, pkt: FirstPacket, atSocket: boolean, out: NatDecision, commit: boolean): number {
    const t = this.tables;
    const count = feCount(t, f);
    const start = feSlotStart(t, f);
    const owner = feRevNat(t, f) * 2 + (atSocket ? 1 : 0);
    const affinity = (feFlags(t, f) & SVC_FLAG_AFFINITY) !== 0;
    if (affinity) {
      const ttl = feAffinity(t, f);
      this.affinity.clock[0] = pkt.now;
      const a = commit ? this.affinity.lookup(owner, pkt.srcIp, ttl) : this.affinity.find(owner, pkt.srcIp);
      out.work++;
      if (a >= 0 && pkt.now < this.affinity.stamp[a]) {
        // LB_AFFINITY_MATCH_MAP: the remembered backend must still be one of the service's.
        const id = this.affinity.value[a];
        for (let k = 0; k < count; k++) {
          if (slotBackend(t, start + k) === id) {
            this.via = 'session affinity';
            return start + k;
          }
        }
      }
    }
    let slot: number;
    const lut = feMaglev(t, f);
    if (!atSocket && lut >= 0) {
      const id = t.maglev[lut + (ciliumFlowHash(pkt.srcIp, pkt.srcPort, pkt.dstPort, pkt.proto, this.jhashSeed) % t.maglevSize)];
      out.work++;
      slot = start;
      while (slot < start + count - 1 && slotBackend(t, slot) !== id) slot++;
      this.via = 'Maglev';
    } else {
      slot = start + ((pkt.rand >>> 0) % count);
      this.via = 'random slot';
    }
    out.work += 2; // the slot entry, then the backend entry
    if (affinity && commit) this.affinity.remember(owner, pkt.srcIp, slotBackend(t, slot), feAffinity(t, f));
    return slot;
  }

  private translate(f: number, slot: number, out: NatDecision): void {
    const t = this.tables;
    const id = slotBackend(t, slot);
    out.verdict = VERDICT_DNAT;
    out.servicePort = feServicePort(t, f);
    out.endpoint = slotRow(t, slot);
    out.dnatIp = beIp(t, id);
    out.dnatPort = bePort(t, id);
  }

  /** Where a first packet meets Cilium's programs: the socket, bpf_lxc per packet, or nodeport_lb4 at the device; -1: none translates it. */
  private path(pkt: FirstPacket): number {
    // sock_proto_enabled: sockets translate TCP and UDP only.
    if (pkt.hook === HOOK_SOCKET) return pkt.proto === PROTO_SCTP ? PATH_NONE : PATH_SOCKET;
    if (pkt.hook === HOOK_OUTPUT) return PATH_NONE;
    if (pkt.fromPodInterface) return this.podsBySocket ? PATH_NONE : PATH_LXC;
    return PATH_NODEPORT;
  }

  /** The frontend of the packet on `path`, or -1. */
  private frontend(pkt: FirstPacket, path: number, out: NatDecision): number {
    if (path === PATH_SOCKET) return this.socketFrontend(pkt, !pkt.fromPodInterface, out);
    if (path === PATH_NONE) return -1;
    return this.lookup(pkt.dstIp >>> 0, pkt.dstPort, pkt.proto, path === PATH_LXC, out);
  }

  /** The verdict for a packet on `path` to frontend f (out.verdict, and the backend when DNAT). */
  private resolve(f: number, pkt: FirstPacket, path: number, out: NatDecision, commit: boolean): void {
    const t = this.tables;
    out.servicePort = feServicePort(t, f);
    const flags = feFlags(t, f);
    if (path === PATH_NODEPORT) {
      if ((flags & SVC_FLAG_ROUTABLE) === 0) {
        out.verdict = VERDICT_DROP; // DROP_IS_CLUSTER_IP
        this.via = 'DROP_IS_CLUSTER_IP';
        return;
      }
      if ((flags & SVC_FLAG_SOURCE_RANGE) !== 0 && !this.sourceAllowed(f, pkt.srcIp >>> 0)) {
        out.verdict = VERDICT_DROP;
        this.via = 'DROP_NOT_IN_SRC_RANGE';
        return;
      }
    }
    if (feCount(t, f) === 0) {
      // The socket's connect() fails (-EHOSTUNREACH); a packet gets service-no-backend-response.
      out.verdict = path === PATH_SOCKET || this.config.noBackendResponse === 'reject' ? VERDICT_REJECT : VERDICT_DROP;
      this.via = path === PATH_SOCKET ? 'no backend: connect() fails (-EHOSTUNREACH)' : `no backend: ${this.config.noBackendResponse} (service-no-backend-response)`;
      return;
    }
    const slot = this.selectSlot(f, pkt, path === PATH_SOCKET, out, commit);
    this.translate(f, slot, out);
    if (path === PATH_NODEPORT) {
      out.masquerade = this.snat(slot, pkt.proto);
      if (this.dsr(slot, pkt.proto)) out.dsr = this.config.dsrDispatch === 'opt' ? DSR_OPTION : DSR_TUNNEL;
    }
  }

  // Cost: ~133-142 ns per ClusterIP first packet at 1k Services, ~283 at 30k, where IPVS's decide() takes ~103-107 and ~217-227 (`SERVICES=N MODES=cilium,ipvs TIME=500 node dist/bench/compile/lookup.bench.js` and TIME=700, at the socket where this mode decides a pod's connection, 2026-12-07).
  // In the pipeline a pod's connection is decided in the socket stage (socket-lb.ts: ~60 ns per packet of the cell at 100 Services, ~73 at 30k; UDP datagrams and TCP SYNs only), the rest in service-nat (~91-127 ns a first packet, 10 to 30k Services), batch 256 (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md).
  decide(pkt: FirstPacket, out: NatDecision): void {
    clearDecision(out);
    const path = this.path(pkt);
    const f = this.frontend(pkt, path, out);
    if (f >= 0) this.resolve(f, pkt, path, out, true);
    else if (path === PATH_NODEPORT && this.dsrReply(pkt)) out.dsr = DSR_REPLY;
  }

  /**
   * No service for the packet at the device, but it carries the frontend another node balanced it
   * for (`nodeport_extract_dsr_v4`, compiled in with DSR, that is bpf-lb-mode dsr or hybrid): this
   * node remembers it for the flow's replies (`snat_v4_create_dsr`).
   */
  private dsrReply(pkt: FirstPacket): boolean {
    return this.config.lbMode !== 'snat' && (pkt.dsrIp ?? 0) !== 0;
  }

  /** `lb4_src_range_ok`: the LPM lookup of (rev-NAT index, source). */
  private sourceAllowed(f: number, src: number): boolean {
    const t = this.tables;
    const start = t.feSrcStart[f];
    const end = start + t.feSrcCount[f];
    for (let k = start; k < end; k++) if (((src & t.srcMask[k]) >>> 0) === t.srcBase[k]) return true;
    return false;
  }

  /** SNAT to the node for a remote backend in SNAT mode (hybrid: UDP only); DSR and local backends keep the client's address. */
  private snat(slot: number, proto: number): boolean {
    return !this.dsrMode(proto) && beLocal(this.tables, slotBackend(this.tables, slot)) === 0;
  }

  /** DSR toward a remote backend (nodeport_lb4: `!backend_local` and `nodeport_uses_dsr4`); a local backend needs none. */
  private dsr(slot: number, proto: number): boolean {
    return this.dsrMode(proto) && beLocal(this.tables, slotBackend(this.tables, slot)) === 0;
  }

  /** `nodeport_uses_dsr`: every protocol with bpf-lb-mode dsr, TCP only with hybrid. */
  private dsrMode(proto: number): boolean {
    const mode = this.config.lbMode;
    return mode === 'dsr' || (mode === 'hybrid' && proto === PROTO_TCP);
  }

  readonly snatBy = 'bpf_host nodeport_nat_ipv4_fwd, cilium_snat_v4_external';

  programAt(pkt: FirstPacket): string {
    return this.where(pkt);
  }

  private where(pkt: FirstPacket): string {
    const path = this.path(pkt);
    return path === PATH_SOCKET ? `${pkt.fromPodInterface ? 'pod' : 'host'} socket: cil_sock4_${pkt.proto === PROTO_TCP ? 'connect' : 'sendmsg'}`
      : pkt.hook === HOOK_OUTPUT ? 'bpf_host (to-netdev)' : pkt.fromPodInterface ? 'bpf_lxc (from-container)'
      : `bpf_host ${this.config.lbAcceleration === 'disabled' ? '(tc from-netdev)' : '(XDP)'}: nodeport_lb4`;
  }

  explain(pkt: FirstPacket): Explanation {
    const t = this.tables;
    const steps: TraceStep[] = [];
    const path = this.path(pkt);
    const where = this.where(pkt);
    const d = { verdict: 0, servicePort: -1, endpoint: -1, dnatIp: 0, dnatPort: 0, masquerade: false, work: 0, dsr: 0 };
    const f = this.frontend(pkt, path, d);
    const key = `${formatIp(pkt.dstIp)}:${pkt.dstPort}/${protocolName(pkt.proto as Protocol)}`;
    if (f < 0 && path === PATH_NODEPORT && this.dsrReply(pkt)) {
      steps.push({ where, rule: `cilium_lb4_services_v2 lookup ${key}: none`, action: 'not a service: a packet for a local endpoint' });
      steps.push({
        where, rule: `nodeport_extract_dsr_v4: DSR frontend ${formatIp(pkt.dsrIp ?? 0)}:${pkt.dsrPort ?? 0}`,
        action: 'snat_v4_create_dsr: the backend\'s replies to this client leave the node from the frontend (xlate_dsr_v4 at to-netdev), straight to the client',
      });
      return { verdict: 'none', servicePort: -1, candidates: [], masquerade: false, steps };
    }
    if (f < 0) {
      const why = path === PATH_NONE && pkt.hook === HOOK_OUTPUT ? 'no per-packet service translation: host sockets are translated at connect()'
        : path === PATH_NONE ? 'no per-packet service translation: the pod\'s socket was translated at connect()'
        : `no service for ${key}`;
      steps.push({ where, rule: path === PATH_NONE ? 'no service lookup' : `cilium_lb4_services_v2 lookup ${key}`, action: why });
      return { verdict: 'none', servicePort: -1, candidates: [], masquerade: false, steps };
    }
    this.resolve(f, pkt, path, d, false);
    const count = feCount(t, f);
    const start = feSlotStart(t, f);
    steps.push({ where, rule: `cilium_lb4_services_v2 ${frontendText(t, f)}`, action: `service ${servicePortName(this.cluster, this.cluster.ports[feServicePort(t, f)])}, ${count} active backend(s)` });
    if (d.verdict !== VERDICT_DNAT) {
      const why = this.via === 'DROP_NOT_IN_SRC_RANGE' ? `DROP_NOT_IN_SRC_RANGE (allowed: ${this.rangesText(f)})` : this.via;
      steps.push({ where, rule: 'lb4_local', action: why });
      return { verdict: kVerdictNames[d.verdict], servicePort: feServicePort(t, f), candidates: [], masquerade: false, steps };
    }
    // A random slot may be any active backend, and so may affinity (per-run state, as every mode
    // explains it); Maglev names the one its table gives this flow.
    const random = this.via !== 'Maglev';
    const candidates: number[] = [];
    let masquerade = false;
    for (let k = 0; k < count; k++) {
      const slot = start + k;
      if (!random && slotRow(t, slot) !== d.endpoint) continue;
      candidates.push(slotRow(t, slot));
      if (path === PATH_NODEPORT && this.snat(slot, pkt.proto)) masquerade = true;
      const id = slotBackend(t, slot);
      steps.push({ where, rule: `cilium_lb4_services_v2 ${frontendText(t, f)} slot ${k + 1} -> cilium_lb4_backends_v3 ${id}`, action: `${this.via}: backend ${formatIp(beIp(t, id))}:${bePort(t, id)}` });
    }
    if (path === PATH_NODEPORT) {
      const mode = this.config.lbMode;
      const dsr = mode === 'dsr' || (mode === 'hybrid' && pkt.proto === PROTO_TCP);
      const carry = this.config.dsrDispatch === 'opt' ? 'dsr_set_opt4 puts the frontend in an IPv4 option (TCP: on the SYN)' : `the frontend rides in the ${this.config.dsrDispatch} header (encap_geneve_dsr_opt4)`;
      steps.push({ where, rule: `bpf-lb-mode ${mode}`, action: dsr ? `DSR (${this.config.dsrDispatch} dispatch) toward a backend on another node: the client's address is kept, ${carry}, and the backend's node answers the client directly from the frontend; none for a local backend` : 'SNAT to the node\'s address when the backend is on another node (nodeport_nat_ipv4_fwd), none for a local backend' });
    } else if (path === PATH_SOCKET) {
      steps.push({ where, rule: 'cilium_lb4_reverse_sk', action: 'the socket is connected to the backend: no packet carries the service address, conntrack keeps no service NAT, answers are translated back at the socket' });
    }
    return { verdict: 'dnat', servicePort: feServicePort(t, f), candidates, masquerade, steps };
  }

  private rangesText(f: number): string {
    const t = this.tables;
    const out: string[] = [];
    for (let k = t.feSrcStart[f]; k < t.feSrcStart[f] + t.feSrcCount[f]; k++) out.push(formatCidr({ base: t.srcBase[k], prefix: Math.clz32(~t.srcMask[k]) }));
    return out.join(', ');
  }

  stats(): DataplaneStats {
    const t = this.tables;
    return {
      mode: 'cilium',
      rules: t.lbMapUsed,
      chains: t.frontends - t.lbMapUnprogrammed - t.frontendsGone,
      tableBytes: this.bytes,
      backends: t.backends,
      revNats: t.revNats,
      maglevTables: t.maglevSize > 0 ? t.maglevUsed / t.maglevSize : 0,
      lbMapEntries: t.lbMapEntries,
      lbMapMax: this.config.lbMapMax,
      lbMapUnprogrammed: t.lbMapUnprogrammed,
      lbAlgorithm: this.config.lbAlgorithm,
      lbMode: this.config.lbMode,
    };
  }

  reset(): void {
    this.affinity.clear();
  }
}

/** The bytes of the arrays prefetch() reads: the service map, the frontends', the backend slots' and the backends'. */
function prefetchSpan(t: CiliumTables): number {
  return t.services.bytes + t.fe.byteLength + t.slots.byteLength + t.be.byteLength;
}
