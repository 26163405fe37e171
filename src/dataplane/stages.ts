/**
 * The stage table: every stage of the pipeline as a record, in the order the driver runs them,
 * with the next stages, drop reasons and ends it may give a packet (VPP's `VLIB_REGISTER_NODE`:
 * the node's function, its `next_nodes` and its error counters, as data). Each stage file's header
 * says the same in words (Next / Counts); test/dataplane/stage-contract.test.ts runs packets
 * through every stage and checks that each writes nothing it does not declare here.
 *
 * A packet a stage ends (a drop or an end) goes to NEXT_DONE, so a stage that drops or ends
 * packets lists NEXT_DONE among its next stages.
 */
import type { PacketBatch } from '../net/batch.js';
import type { PipelineContext } from './context.js';
import { decap } from './decap.js';
import { encap } from './encap.js';
import { localIn } from './local-in.js';
import {
  DROP_CONNTRACK_FULL,
  DROP_CONNTRACK_INVALID,
  DROP_FRAG_NEEDED,
  DROP_LOOP,
  DROP_NO_ROUTE,
  DROP_POLICY,
  DROP_SERVICE_DROP,
  DROP_SERVICE_REJECT,
  DROP_TTL,
  DROP_UNPARSABLE,
  END_EXTERNAL,
  END_HOST,
  END_POD,
  kStageNames,
  NEXT_DECAP,
  NEXT_DONE,
  NEXT_ENCAP,
  NEXT_LOCAL_IN,
  NEXT_POLICY,
  NEXT_POSTROUTING,
  NEXT_PREROUTING,
  NEXT_PROXY,
  NEXT_RAW,
  NEXT_ROUTE,
  NEXT_SERVICE_NAT,
  NEXT_SOCKET,
  NEXT_UNDERLAY,
  type StageName,
} from './next.js';
import { policy } from './policy.js';
import { postrouting } from './postrouting.js';
import { prerouting } from './prerouting.js';
import { proxy } from './proxy.js';
import { raw } from './raw.js';
import { route } from './route.js';
import { serviceNat } from './service-nat.js';
import { socketLb } from './socket-lb.js';
import { underlay } from './underlay.js';

export interface Stage {
  /** The NEXT_* id of the packets this stage takes. */
  readonly id: number;
  readonly name: StageName;
  /** Runs the stage over every packet of the batch whose `next` is `id`. */
  readonly run: (ctx: PipelineContext, batch: PacketBatch) => void;
  /** NEXT_* ids the stage may write. */
  readonly next: readonly number[];
  /** DROP_* reasons the stage may drop a packet for. */
  readonly drops: readonly number[];
  /** END_* a packet may reach here other than a drop (delivered, left the cluster). */
  readonly ends: readonly number[];
}

type Declared = Omit<Stage, 'name'>;
const stage = (s: Declared): Stage => ({ ...s, name: kStageNames[s.id] });

/** The stages in dispatch order (the order of kStageNames). */
export const kStages: readonly Stage[] = [
  stage({ id: NEXT_SOCKET, run: socketLb, next: [NEXT_RAW, NEXT_PREROUTING, NEXT_DONE], drops: [DROP_SERVICE_REJECT], ends: [] }),
  stage({ id: NEXT_RAW, run: raw, next: [NEXT_PREROUTING, NEXT_ROUTE], drops: [], ends: [] }),
  stage({ id: NEXT_PREROUTING, run: prerouting, next: [NEXT_ROUTE, NEXT_SERVICE_NAT, NEXT_DONE], drops: [DROP_CONNTRACK_INVALID, DROP_LOOP], ends: [] }),
  stage({ id: NEXT_SERVICE_NAT, run: serviceNat, next: [NEXT_ROUTE, NEXT_DONE], drops: [DROP_SERVICE_REJECT, DROP_SERVICE_DROP, DROP_CONNTRACK_INVALID], ends: [] }),
  stage({ id: NEXT_ROUTE, run: route, next: [NEXT_POLICY, NEXT_POSTROUTING, NEXT_LOCAL_IN, NEXT_DONE], drops: [DROP_NO_ROUTE, DROP_TTL, DROP_CONNTRACK_INVALID], ends: [] }),
  stage({ id: NEXT_POLICY, run: policy, next: [NEXT_POSTROUTING, NEXT_LOCAL_IN, NEXT_DONE], drops: [DROP_POLICY], ends: [] }),
  stage({ id: NEXT_LOCAL_IN, run: localIn, next: [NEXT_PROXY, NEXT_DONE], drops: [DROP_CONNTRACK_FULL, DROP_CONNTRACK_INVALID], ends: [END_HOST] }),
  stage({ id: NEXT_PROXY, run: proxy, next: [NEXT_PREROUTING, NEXT_DONE], drops: [DROP_SERVICE_REJECT], ends: [] }),
  stage({ id: NEXT_POSTROUTING, run: postrouting, next: [NEXT_ENCAP, NEXT_UNDERLAY, NEXT_DONE], drops: [DROP_CONNTRACK_FULL, DROP_CONNTRACK_INVALID], ends: [END_POD, END_EXTERNAL] }),
  stage({ id: NEXT_ENCAP, run: encap, next: [NEXT_UNDERLAY, NEXT_DONE], drops: [DROP_FRAG_NEEDED], ends: [] }),
  stage({ id: NEXT_UNDERLAY, run: underlay, next: [NEXT_DECAP, NEXT_PREROUTING], drops: [], ends: [] }),
  stage({ id: NEXT_DECAP, run: decap, next: [NEXT_PREROUTING, NEXT_DONE], drops: [DROP_UNPARSABLE], ends: [] }),
];
