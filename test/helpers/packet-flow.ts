/**
 * One packet-flow table runner for every proxy mode, after kube-proxy's packetFlowTest
 * (pkg/proxy/iptables/proxier_test.go runPacketFlowTests) and STYLE.md S14. A row is one first
 * packet and what the compiled rules must do with it. The runner asks the mode's compiled
 * `ServiceDataplane` twice: through `explain()` (every random branch explored), which must say
 * what the row says, and through many draws of `decide()` (the hot path), each of which must take
 * one of explain's branches, and which together must reach every candidate endpoint.
 *
 * A mode's flow file holds only its cluster and its rows; where a mode differs from kube-proxy's
 * iptables mode, the row's name says so and the file's header cites the kube-proxy source.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import { HOOK_PREROUTING, kVerdictNames, newFirstPacket, newNatDecision, VERDICT_DNAT, type FirstPacket, type ServiceDataplane, type VerdictName } from '../../src/compile/dataplane.js';
import { compileDataplane } from '../../src/compile/index.js';
import type { Cluster, ModeName } from '../../src/model/types.js';
import { formatIp, parseIp } from '../../src/net/ipv4.js';

/** A first packet as a row spells it. */
export interface FlowProbe {
  readonly src: string;
  readonly dst: string;
  /** Destination port. */
  readonly port: number;
  /** IP protocol number; TCP (6) when absent. */
  readonly proto?: number;
  /** HOOK_PREROUTING (arrives at the node, the default) or HOOK_OUTPUT (sent by the node). */
  readonly hook?: number;
  /** Entered through one of this node's pod interfaces (veth), for interface-based local detectors. */
  readonly fromPod?: boolean;
}

/** One row of a packet-flow table: a first packet and what the mode's rules do with it. */
export interface FlowCase extends FlowProbe {
  readonly name: string;
  readonly verdict: VerdictName;
  /** Every endpoint "ip:port" the packet can reach, in the order of the mode's rules; none when absent. */
  readonly endpoints?: readonly string[];
  /** Marked for masquerade on some path (explain's answer); not checked when absent. */
  readonly masq?: boolean;
}

/** The cluster a table runs against, and how to get a fresh dataplane for each row. */
export interface FlowSetup {
  readonly cluster: Cluster;
  readonly dataplane: () => ServiceDataplane;
}

/** Rows run against `cluster` compiled in `mode` for `node` (an index into `cluster.nodes`). */
export function compiledFor(cluster: Cluster, mode: ModeName, node: number): FlowSetup {
  return { cluster, dataplane: () => compileDataplane(cluster, mode, node) };
}

/**
 * The random draws given to decide(): 64 spread over the u32 range by the golden ratio, small
 * multiples of a prime, and the two ends of the range (where `-m statistic` and numgen pick their
 * first and last branch).
 */
const kDraws: readonly number[] = [
  ...Array.from({ length: 64 }, (_, i) => Math.imul(i + 1, 0x9e3779b1) >>> 0),
  ...Array.from({ length: 6 }, (_, k) => k * 7919),
  0x7fffffff,
  0xffffffff,
];

/**
 * Draws are this many seconds apart: longer than the longest ClientIP affinity timeout Kubernetes
 * accepts (86400 s, sessionAffinityConfig.clientIP.timeoutSeconds), so each draw is a new session
 * whatever the Service's affinity, while a scheduler's own state (IPVS rr, the userspace proxy's
 * round-robin) carries on from draw to draw as it would on a node.
 */
const kSecondsApart = 86401;

/** An address a row spells; a typo throws rather than turning into a packet from -1. */
function address(text: string): number {
  const ip = parseIp(text);
  if (ip < 0) throw new Error(`"${text}" is not an IPv4 address`);
  return ip;
}

/** The probe's first packet for random draw `rand`; the source port moves with the draw, as a new
 * connection's would. */
export function firstPacket(p: FlowProbe, rand = 0): FirstPacket {
  const pkt = newFirstPacket();
  pkt.srcIp = address(p.src);
  pkt.srcPort = 40000 + (rand & 0xfff);
  pkt.dstIp = address(p.dst);
  pkt.dstPort = p.port;
  pkt.proto = p.proto ?? 6;
  pkt.hook = p.hook ?? HOOK_PREROUTING;
  pkt.fromPodInterface = p.fromPod ?? false;
  pkt.rand = rand;
  return pkt;
}

const hostPort = (ip: number, port: number): string => `${formatIp(ip)}:${port}`;

/**
 * Every way the dataplane disagrees with `row`, one line each ([] when it behaves as the row
 * says). The row gets a fresh dataplane, so no affinity or scheduler state leaks between rows.
 */
export function flowMismatches(setup: FlowSetup, row: FlowCase): string[] {
  const e = setup.cluster.endpoints;
  const endpoint = (r: number): string => hostPort(e.ip[r], e.port[r]);
  const bad: string[] = [];
  const check = (what: string, got: unknown, want: unknown): boolean => {
    if (isDeepStrictEqual(got, want)) return true;
    bad.push(`${row.name}: ${what} ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    return false;
  };
  const dp = setup.dataplane();

  const ex = dp.explain(firstPacket(row));
  check('explain verdict', ex.verdict, row.verdict);
  check('explain endpoints', ex.candidates.map(endpoint), row.endpoints ?? []);
  if (row.masq !== undefined) check('explain masquerade', ex.masquerade, row.masq);

  // A dropped or rejected packet never reaches POSTROUTING, so its masquerade mark means nothing
  // (IPVS marks a firewalled LB packet before filter INPUT drops it). Otherwise the mark can hang on
  // the endpoint chosen: a hairpin (the source is one of the endpoints) is marked only on the path
  // back to itself. Every other draw is marked exactly as explain says.
  const leaves = ex.verdict !== 'drop' && ex.verdict !== 'reject';
  const src = address(row.src);
  const hairpin = ex.candidates.some((r) => e.ip[r] === src);
  const out = newNatDecision();
  const reached = new Set<number>();
  for (let d = 0; d < kDraws.length; d++) {
    const pkt = firstPacket(row, kDraws[d]);
    pkt.now = d * kSecondsApart;
    dp.decide(pkt, out);
    const draw = `decide (rand 0x${kDraws[d].toString(16)})`;
    let ok = check(`${draw} verdict`, kVerdictNames[out.verdict], ex.verdict);
    ok &&= check(`${draw} service port`, out.servicePort, ex.servicePort);
    if (ex.candidates.length === 0) ok &&= check(`${draw} endpoint row`, out.endpoint, -1);
    else if (!ex.candidates.includes(out.endpoint)) ok &&= check(`${draw} endpoint`, out.endpoint < 0 ? null : endpoint(out.endpoint), ex.candidates.map(endpoint));
    else reached.add(out.endpoint);
    if (ok && out.verdict === VERDICT_DNAT) ok &&= check(`${draw} DNAT target`, hostPort(out.dnatIp, out.dnatPort), endpoint(out.endpoint));
    if (leaves) {
      const toItself = out.endpoint >= 0 && e.ip[out.endpoint] === src;
      if (!hairpin || toItself) ok &&= check(`${draw} masquerade`, out.masquerade, ex.masquerade);
      else if (out.masquerade && !ex.masquerade) ok &&= check(`${draw} masquerade`, out.masquerade, false);
    }
    if (ok && out.work < 1) ok = check(`${draw} work`, out.work, '>= 1');
    if (!ok) break; // one bad draw says it; the next 70 would say it again
  }
  if (bad.length === 0) {
    const missed = ex.candidates.filter((r) => !reached.has(r)).map(endpoint);
    check(`endpoints no draw of decide reached (of ${kDraws.length})`, missed, []);
  }
  return bad;
}

/** Registers one test per row, under `title`. */
export function testFlows(title: string, setup: FlowSetup, rows: readonly FlowCase[]): void {
  describe(title, () => {
    for (const row of rows) it(row.name, () => assert.deepEqual(flowMismatches(setup, row), []));
  });
}
