/**
 * A test-only fifth proxy mode, to prove that a mode is one folder and one record: a ClusterIP
 * table scanned in order, an endpoint drawn from the flow's random word among the ready ones,
 * no masquerade. It is not any real proxy's semantics; it exists so that the architecture test
 * (../toy-mode.test.ts) can register it with one line and run the pipeline, a trace, shared
 * images and a replay through it without any edit outside this folder.
 */
import {
  clearDecision,
  VERDICT_DNAT,
  VERDICT_REJECT,
  type DataplaneStats,
  type Explanation,
  type FirstPacket,
  type NatDecision,
  type ServiceDataplane,
} from '../../../src/compile/dataplane.js';
import type { ProxyMode } from '../../../src/compile/mode.js';
import { EP_READY, type Cluster } from '../../../src/model/types.js';
import { formatIp } from '../../../src/net/ipv4.js';

/** One row per ClusterIP service port; its ready endpoint rows listed in `rows`. */
export interface ToyTables {
  readonly node: number;
  readonly vip: Uint32Array;
  readonly port: Uint16Array;
  readonly proto: Uint8Array;
  readonly servicePort: Int32Array;
  readonly first: Int32Array;
  readonly count: Int32Array;
  readonly rows: Int32Array;
}

function buildTables(cluster: Cluster, node: number): ToyTables {
  const sps = cluster.ports.filter((p) => cluster.services[p.service].clusterIPs.length > 0);
  const rows: number[] = [];
  const first: number[] = [];
  const count: number[] = [];
  for (const p of sps) {
    first.push(rows.length);
    count.push(readyRows(cluster, p.index, rows, rows.length));
    rows.length = first[first.length - 1] + p.endpointCount; // room for an in-place update
  }
  return {
    node,
    vip: Uint32Array.from(sps, (p) => cluster.services[p.service].clusterIPs[0]),
    port: Uint16Array.from(sps, (p) => p.port),
    proto: Uint8Array.from(sps, (p) => p.protocol),
    servicePort: Int32Array.from(sps, (p) => p.index),
    first: Int32Array.from(first),
    count: Int32Array.from(count),
    rows: Int32Array.from(rows, (r) => r ?? -1),
  };
}

function readyRows(cluster: Cluster, sp: number, out: { [i: number]: number }, at: number): number {
  const p = cluster.ports[sp];
  let n = 0;
  for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) if (cluster.endpoints.conditions[r] & EP_READY) out[at + n++] = r;
  return n;
}

export class ToyDataplane implements ServiceDataplane {
  readonly mode = 'toy';
  readonly node: number;
  readonly #cluster: Cluster;
  readonly tables: ToyTables;
  /** Calls of reset(), so a test can see the replay reset the mode through the contract. */
  resets = 0;

  constructor(cluster: Cluster, tables: ToyTables) {
    this.#cluster = cluster;
    this.tables = tables;
    this.node = tables.node;
  }

  #find(pkt: FirstPacket): number {
    const t = this.tables;
    for (let i = 0; i < t.vip.length; i++) if (t.vip[i] === pkt.dstIp && t.port[i] === pkt.dstPort && t.proto[i] === pkt.proto) return i;
    return -1;
  }

  decide(pkt: FirstPacket, out: NatDecision): void {
    clearDecision(out);
    const i = this.#find(pkt);
    out.work = i < 0 ? this.tables.vip.length : i + 1;
    if (i < 0) return;
    const t = this.tables;
    out.servicePort = t.servicePort[i];
    if (t.count[i] === 0) {
      out.verdict = VERDICT_REJECT;
      return;
    }
    const row = t.rows[t.first[i] + ((pkt.rand >>> 0) % t.count[i])];
    out.verdict = VERDICT_DNAT;
    out.endpoint = row;
    out.dnatIp = this.#cluster.endpoints.ip[row];
    out.dnatPort = this.#cluster.endpoints.port[row];
  }

  explain(pkt: FirstPacket): Explanation {
    const i = this.#find(pkt);
    const t = this.tables;
    if (i < 0) return { verdict: 'none', servicePort: -1, candidates: [], masquerade: false, steps: [{ where: 'toy', rule: 'no entry', action: 'no match' }] };
    const candidates = Array.from(t.rows.subarray(t.first[i], t.first[i] + t.count[i]));
    return {
      verdict: candidates.length === 0 ? 'reject' : 'dnat',
      servicePort: t.servicePort[i],
      candidates,
      masquerade: false,
      steps: [{ where: 'toy', rule: `${formatIp(t.vip[i])}:${t.port[i]}`, action: `${candidates.length} endpoints` }],
    };
  }

  stats(): DataplaneStats {
    const t = this.tables;
    return { mode: this.mode, rules: t.vip.length, chains: 1, tableBytes: t.vip.byteLength + t.port.byteLength + t.proto.byteLength + t.servicePort.byteLength + t.first.byteLength + t.count.byteLength + t.rows.byteLength };
  }

  reset(): void {
    this.resets++;
  }
}

function render(dp: ToyDataplane): string {
  const t = dp.tables;
  const lines: string[] = [];
  for (let i = 0; i < t.vip.length; i++) lines.push(`${formatIp(t.vip[i])}:${t.port[i]}/${t.proto[i]} -> ${Array.from(t.rows.subarray(t.first[i], t.first[i] + t.count[i])).join(',')}`);
  return `${lines.join('\n')}\n`;
}

export const toyMode: ProxyMode<ToyDataplane> = {
  name: 'toy',
  summary: 'a test-only mode: a ClusterIP table scanned in order',
  compile: (cluster, node) => new ToyDataplane(cluster, buildTables(cluster, node)),
  formats: { toy: (cluster, node) => render(new ToyDataplane(cluster, buildTables(cluster, node))) },
  sharedClasses: {},
  shared: (dp) => dp.tables,
  attach: (cluster, shared) => new ToyDataplane(cluster, shared as ToyTables),
  syncOneEndpoint: (prev, _cluster, next, node) => {
    const before = render(prev).split('\n');
    const after = render(new ToyDataplane(next, buildTables(next, node))).split('\n');
    const changed = after.filter((l, i) => l !== before[i]);
    return {
      fullBytes: after.join('\n').length, fullRules: after.length - 1,
      oneEndpointRewrittenBytes: changed.join('\n').length, oneEndpointRewrittenRules: changed.length,
    };
  },
  updateEndpoints: (dp, next, changed) => {
    const t = dp.tables;
    let written = 0;
    for (let i = 0; i < t.servicePort.length; i++) {
      if (!changed.includes(next.ports[t.servicePort[i]].service)) continue;
      t.count[i] = readyRows(next, t.servicePort[i], t.rows, t.first[i]);
      written += t.count[i] + 1;
    }
    return { entriesWritten: written };
  },
  syncLoop: { trigger: 'immediate', minSyncPeriodS: 0, burst: 1, kind: 'partial' },
  orderDependent: () => false,
  conntrackEntriesPerFlow: 2,
  cost: { firstPacketUsPerService: 0.001, compileUsPerService: 10 },
  lookup: 'linear',
};
