/**
 * Cilium's load-balancing BPF maps for one node (bpf/lib/common.h, bpf/lib/lb.h, Cilium v1.17), as
 * typed arrays. One entry of `cilium_lb4_services_v2` is keyed by
 * `struct lb4_key { address, dport, backend_slot, proto, scope }`: slot 0 is the service's master
 * entry (`count` active backends, `qcount` terminating ones after them, `rev_nat_index`, flags,
 * and in `backend_id` the affinity timeout), slots 1..count+qcount hold backend IDs.
 * `cilium_lb4_backends_v3` maps a backend ID to (address, port, proto, state),
 * `cilium_lb4_reverse_nat` a rev-NAT index back to the frontend's address and port,
 * `cilium_lb4_maglev` a rev-NAT index to its Maglev lookup table, `cilium_lb4_source_range` a
 * (rev-NAT index, CIDR) to "allowed".
 *
 * kdp keeps the master entries in one hash table keyed (address, port | proto | scope) and the
 * slots of a master contiguous (`feSlotStart`), which is the same content: a lookup is one hash
 * probe for the master, one for the slot, one for the backend, as the datapath's
 * `lb4_lookup_service`, `__lb4_lookup_backend_slot` and `__lb4_lookup_backend` make them.
 */
import type { PairTable } from '../tables/index.js';

/** `enum lb_lookup_scope` (bpf/lib/common.h). */
export const SCOPE_EXT = 0;
export const SCOPE_INT = 1;

// `enum svc_flags` (flags, low byte) and `enum svc_flags2` (flags2, high byte), bpf/lib/common.h.
export const SVC_FLAG_EXTERNAL_IP = 1 << 0;
export const SVC_FLAG_NODEPORT = 1 << 1;
export const SVC_FLAG_EXT_LOCAL_SCOPE = 1 << 2;
export const SVC_FLAG_HOSTPORT = 1 << 3;
export const SVC_FLAG_AFFINITY = 1 << 4;
export const SVC_FLAG_LOADBALANCER = 1 << 5;
export const SVC_FLAG_ROUTABLE = 1 << 6;
export const SVC_FLAG_SOURCE_RANGE = 1 << 7;
export const SVC_FLAG_INT_LOCAL_SCOPE = 1 << 12;
export const SVC_FLAG_TWO_SCOPES = 1 << 13;
export const SVC_FLAG_FWD_MODE_DSR = 1 << 15;

/** `enum lb_backend_state` as the backend map stores it. */
export const BE_STATE_ACTIVE = 0;
export const BE_STATE_TERMINATING = 1;
export const kBackendStateNames = ['active', 'terminating'] as const;

export interface CiliumTables {
  /** Seqlock word of in-place endpoint updates (table-generation.ts). */
  readonly generation: Int32Array;
  /** The frontends of service port p: `spFe[spFeStart[p] .. spFeStart[p + 1])`. */
  readonly spFeStart: Uint32Array;
  readonly spFe: Uint32Array;
  /** The backend ID each endpoint row was given (0: none yet); IDs are kept, as the agent keeps them. */
  readonly rowBackend: Uint32Array;
  /** (address, dport << 16 | proto << 8 | scope << 1 | 1) -> [frontend]: the master entries. */
  readonly services: PairTable;
  // One row per master entry (a frontend address in one scope): its key's fields, and in `fe` what
  // a first packet reads of it (FeWord).
  readonly feIp: Uint32Array;
  readonly fePort: Uint16Array;
  readonly feProto: Uint8Array;
  readonly feScope: Uint8Array;
  readonly fe: Int32Array;
  readonly feSrcStart: Uint32Array;
  readonly feSrcCount: Uint16Array;
  /** The backend slots, SlotWord.STRIDE words each; a master's have room for every row of its port. */
  readonly slots: Int32Array;
  // The backend map, by backend ID (ID 0 is never used), with room for an ID per endpoint row:
  // BeWord.STRIDE words each, and the protocol apart (only listings read it).
  readonly be: Int32Array;
  readonly beProto: Uint8Array;
  // The reverse-NAT map, by rev-NAT index (0 is never used).
  readonly rnIp: Uint32Array;
  readonly rnPort: Uint16Array;
  /** Maglev lookup tables of `maglevSize` backend IDs each. */
  readonly maglev: Uint32Array;
  readonly maglevSize: number;
  /** loadBalancerSourceRanges of each frontend with SVC_FLAG_SOURCE_RANGE. */
  readonly srcBase: Uint32Array;
  readonly srcMask: Uint32Array;
  /** This node's addresses (a NodePort's frontends; ipcache's HOST_ID). */
  readonly hostAddrs: Uint32Array;
  /** Every node's addresses (ipcache's REMOTE_NODE_ID, for the socket's NodePort wildcard). */
  readonly nodeAddrs: Uint32Array;
  /**
   * Counts of what is used of each table; past them is room (withRoom) for Services added in
   * place (update-services.ts). `frontends` rows are used, `frontendsGone` of them by Services
   * since removed (their master entries deleted, feRevNat 0); `ports` service ports have
   * `spFeStart` entries; `slotsUsed`, `srcUsed`, `maglevUsed` entries of those arrays.
   */
  readonly frontends: number;
  readonly frontendsGone: number;
  readonly ports: number;
  readonly slotsUsed: number;
  readonly srcUsed: number;
  readonly maglevUsed: number;
  readonly backends: number;
  readonly revNats: number;
  /** `bpf-lb-map-max`, which bounds lbMapUsed. */
  readonly lbMapMax: number;
  /** Service-map entries (masters and slots) the cluster needs on this node, programmed or not. */
  readonly lbMapEntries: number;
  /** Of which programmed (at most bpf-lb-map-max). */
  readonly lbMapUsed: number;
  /** Frontends left out because the service map (bpf-lb-map-max) had no room for them. */
  readonly lbMapUnprogrammed: number;
}

/**
 * A master entry's row in CiliumTables.fe: what `lb4_lookup_service` hands the datapath in one
 * struct lb4_service value (count, qcount, rev_nat_index, flags, the affinity timeout), and kdp's
 * own slot start, Service port and Maglev table. A first packet reads it for its frontend: one
 * row, where an array a field was a miss each at 10k Services and more. 32 bytes.
 */
export const enum FeWord {
  /** Slot 1 of the entry is slot SLOT_START of `slots`. */
  SLOT_START = 0,
  COUNT = 1,
  QCOUNT = 2,
  /** flags | flags2 << 8. */
  FLAGS = 3,
  REV_NAT = 4,
  /** Index into Cluster.ports. */
  SERVICE_PORT = 5,
  /** First entry of its Maglev table in `maglev`, or -1 (random selection). */
  MAGLEV = 6,
  /** Session-affinity timeout in seconds (the master's backend_id field), 0 without affinity. */
  AFFINITY = 7,
  STRIDE = 8,
}
// With FeWord, SlotWord and BeWord rows, where an array a field was, a new flow took 1,386-1,394 ns
// at 30k Services against 1,439-1,457, 1,349-1,390 against 1,396-1,424 at 10k, and the same at 100
// (`kdp bench --services 100,10000,30000 --modes cilium --workers 1 --flows 1000000`, two rounds
// of three runs of each build alternated, 2026-12-07).

/** A backend slot: the backend ID (`__lb4_lookup_backend_slot`'s answer) and kdp's endpoint row (Cluster.endpoints) beside it. */
export const enum SlotWord {
  BACKEND = 0,
  ROW = 1,
  STRIDE = 2,
}

/** A backend's row in CiliumTables.be, as struct lb4_backend holds address, port and state together (16 bytes). */
export const enum BeWord {
  /** The address's u32 as int32 bits (beIp reads it back as a u32). */
  IP = 0,
  PORT = 1,
  /** 1: an endpoint on this node (ipcache's local endpoint), which needs no SNAT and no DSR. */
  LOCAL = 2,
  STATE = 3,
  STRIDE = 4,
}

type Fe = Pick<CiliumTables, 'fe'>;
export const feSlotStart = (t: Fe, f: number): number => t.fe[f * FeWord.STRIDE + FeWord.SLOT_START];
export const feCount = (t: Fe, f: number): number => t.fe[f * FeWord.STRIDE + FeWord.COUNT];
export const feQCount = (t: Fe, f: number): number => t.fe[f * FeWord.STRIDE + FeWord.QCOUNT];
export const feFlags = (t: Fe, f: number): number => t.fe[f * FeWord.STRIDE + FeWord.FLAGS];
export const feRevNat = (t: Fe, f: number): number => t.fe[f * FeWord.STRIDE + FeWord.REV_NAT];
export const feServicePort = (t: Fe, f: number): number => t.fe[f * FeWord.STRIDE + FeWord.SERVICE_PORT];
export const feMaglev = (t: Fe, f: number): number => t.fe[f * FeWord.STRIDE + FeWord.MAGLEV];
export const feAffinity = (t: Fe, f: number): number => t.fe[f * FeWord.STRIDE + FeWord.AFFINITY];
export const slotBackend = (t: Pick<CiliumTables, 'slots'>, s: number): number => t.slots[s * SlotWord.STRIDE + SlotWord.BACKEND];
export const slotRow = (t: Pick<CiliumTables, 'slots'>, s: number): number => t.slots[s * SlotWord.STRIDE + SlotWord.ROW];
export const beIp = (t: Pick<CiliumTables, 'be'>, id: number): number => t.be[id * BeWord.STRIDE + BeWord.IP] >>> 0;
export const bePort = (t: Pick<CiliumTables, 'be'>, id: number): number => t.be[id * BeWord.STRIDE + BeWord.PORT];
export const beLocal = (t: Pick<CiliumTables, 'be'>, id: number): number => t.be[id * BeWord.STRIDE + BeWord.LOCAL];
export const beState = (t: Pick<CiliumTables, 'be'>, id: number): number => t.be[id * BeWord.STRIDE + BeWord.STATE];

/** Rows for `n` master entries, none with a Maglev table yet. */
export function frontendRows(n: number): Int32Array {
  const fe = new Int32Array(n * FeWord.STRIDE);
  for (let f = 0; f < n; f++) fe[f * FeWord.STRIDE + FeWord.MAGLEV] = -1;
  return fe;
}

/** Writes slot `s`. */
export function writeSlot(slots: Int32Array, s: number, backend: number, row: number): void {
  slots[s * SlotWord.STRIDE + SlotWord.BACKEND] = backend;
  slots[s * SlotWord.STRIDE + SlotWord.ROW] = row;
}

/** Writes backend `id`'s row. */
export function writeBackend(be: Int32Array, id: number, ip: number, port: number, local: number, state: number): void {
  const o = id * BeWord.STRIDE;
  be[o + BeWord.IP] = ip;
  be[o + BeWord.PORT] = port;
  be[o + BeWord.LOCAL] = local;
  be[o + BeWord.STATE] = state;
}

/** The second key word of a service-map entry (never 0: the table marks empty slots with 0). */
export function serviceKeyWord(port: number, proto: number, scope: number): number {
  return ((port << 16) | (proto << 8) | (scope << 1) | 1) >>> 0;
}

/** Bytes of typed arrays holding the maps (what `kdp compile --stats` reports as table memory). */
export function tablesBytes(t: CiliumTables): number {
  let n = t.services.bytes;
  for (const v of Object.values(t)) if (ArrayBuffer.isView(v)) n += v.byteLength;
  return n;
}
