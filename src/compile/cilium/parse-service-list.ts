/**
 * `cilium-dbg service list` read back (Cilium v1.17, cilium-dbg/cmd/service_list.go): the header
 * `ID  Frontend  Service Type  Backend`, then per frontend a row `id  ip:port/PROTO[/i]  type
 * 1 => backend (state)` and one row per further backend with only the Backend cell, in ID order
 * (any order is read). The listing gives each frontend's rev-NAT index, type and numbered backends
 * with their states: active backends are the ones the service chooses from and the others are kept
 * behind them (qcount), unless none is active (then the terminating ones serve), as the agent
 * writes the maps. What the listing does not print comes from the cluster, as the agent knows it:
 * the flags beside the type (traffic policies, affinity and its timeout, source ranges, DSR,
 * routability) and the Maglev tables (recomputed from the active backends).
 */
import { RuleParseError } from '../../errors.js';
import { protocolName, type CiliumConfig, type Cluster } from '../../model/types.js';
import type { Protocol } from '../../net/proto.js';
import { formatIp, parseIp } from '../../net/ipv4.js';
import { compileCiliumTables, packCiliumTables, type FrontendEntry } from './build.js';
import { frontendText, serviceTypeName } from './render.js';
import {
  BE_STATE_ACTIVE, BeWord, SVC_FLAG_SOURCE_RANGE, beIp, bePort, feAffinity, feFlags, feMaglev, feRevNat, feServicePort,
  kBackendStateNames, type CiliumTables,
} from './tables.js';

const kFrontendRow = /^(\d+)\s+(\S+)\s+(\S+)(?:\s+(\S.*?))?\s*$/;
// The port as Go's %d prints it (no leading zero): a backend's listed state is found again by its printed address.
const kBackend = /^(\d+) => (\d+\.\d+\.\d+\.\d+):(0|[1-9]\d*)\/(TCP|UDP|SCTP) \((\w+)\)(?: \(preferred\))?$/;

interface ListedFrontend extends FrontendEntry {
  rows: number[];
  states: number[];
}

export function parseServiceList(text: string, cluster: Cluster, node: number, config: CiliumConfig): CiliumTables {
  const lines = text.split('\n');
  if (!/^ID\s+Frontend\s+Service Type\s+Backend\s*$/.test(lines[0] ?? '')) {
    throw new RuleParseError('expected the header "ID   Frontend   Service Type   Backend" of `cilium-dbg service list` (Cilium v1.17)', 1);
  }
  // The frontends the cluster gives this node, by the key the listing prints.
  const known = compileCiliumTables(cluster, node, config);
  const byKey = new Map<string, number>();
  for (let f = 0; f < known.frontends; f++) if (feRevNat(known, f) !== 0) byKey.set(frontendText(known, f), f);

  const entries: ListedFrontend[] = [];
  const listedOn = new Map<string, number>();
  const rn: { ip: number; port: number }[] = [{ ip: 0, port: 0 }];
  // A backend's state is the backend map's, one per ip:port/proto whichever frontend lists it.
  const stateOf = new Map<string, { state: number; line: number }>();
  let current: ListedFrontend | undefined;

  const addBackend = (cell: string, lineNo: number): void => {
    if (!current) throw new RuleParseError('a backend before its frontend\'s row', lineNo);
    const b = kBackend.exec(cell);
    if (!b) throw new RuleParseError(`expected a backend such as "1 => 10.0.1.5:8080/TCP (active)", got ${JSON.stringify(cell)}`, lineNo);
    if (Number(b[1]) !== current.rows.length + 1) throw new RuleParseError(`backend ${b[1]} out of order (expected ${current.rows.length + 1})`, lineNo);
    const state = kBackendStateNames.indexOf(b[5] as (typeof kBackendStateNames)[number]);
    if (state < 0) throw new RuleParseError(`backend state "${b[5]}" is not modelled (kdp knows ${kBackendStateNames.join(', ')})`, lineNo);
    const beKey = `${b[2]}:${b[3]}/${b[4]}`;
    const proto = protocolName(current.proto as Protocol);
    if (b[4] !== proto) throw new RuleParseError(`backend ${beKey} under a ${proto} frontend (a Service's backends have its port's protocol)`, lineNo);
    const before = stateOf.get(beKey);
    if (before && before.state !== state) {
      throw new RuleParseError(`backend ${beKey} is ${b[5]} here but ${kBackendStateNames[before.state]} on line ${before.line} (one backend map entry has one state)`, lineNo);
    }
    stateOf.set(beKey, { state, line: lineNo });
    const ip = parseIp(b[2]);
    const port = cluster.ports[current.servicePort];
    let row = -1;
    for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) {
      if (cluster.endpoints.ip[r] === ip && cluster.endpoints.port[r] === Number(b[3])) row = r;
    }
    if (row < 0) throw new RuleParseError(`backend ${beKey} is no endpoint of the frontend's Service`, lineNo);
    current.rows.push(row);
    current.states.push(state);
  };

  for (let n = 1; n < lines.length; n++) {
    const line = lines[n];
    if (line.trim() === '') continue;
    const lineNo = n + 1;
    if (/^\s/.test(line)) {
      addBackend(line.trim(), lineNo);
      continue;
    }
    const m = kFrontendRow.exec(line);
    if (!m) throw new RuleParseError(`expected "ID   frontend   type   backend", got ${JSON.stringify(line.trim())}`, lineNo);
    if (m[4]?.startsWith('(Remote)')) throw new RuleParseError('a remote (ClusterMesh) service: kdp models one cluster', lineNo);
    const f = byKey.get(m[2]);
    if (f === undefined) {
      throw new RuleParseError(`the cluster gives node-${node + 1} no frontend ${m[2]} (expected ip:port/PROTO, /i for the internal scope, of one of its Services)`, lineNo);
    }
    const earlier = listedOn.get(m[2]);
    if (earlier !== undefined) throw new RuleParseError(`frontend ${m[2]} is listed twice (first on line ${earlier})`, lineNo);
    listedOn.set(m[2], lineNo);
    const type = serviceTypeName(feFlags(known, f));
    if (m[3] !== type) throw new RuleParseError(`frontend ${m[2]} is ${m[3]} here, but the cluster makes it ${type}`, lineNo);
    const revNat = Number(m[1]);
    if (revNat < 1 || revNat > 0xffff) throw new RuleParseError(`service ID ${revNat} is not a rev-NAT index (1..65535)`, lineNo);
    const ip = known.feIp[f];
    const port = known.fePort[f];
    const claimed = rn[revNat];
    if (claimed && (claimed.ip !== ip || claimed.port !== port)) {
      throw new RuleParseError(`service ID ${revNat} is already ${formatIp(claimed.ip)}:${claimed.port}`, lineNo);
    }
    rn[revNat] = { ip, port };
    const flags = feFlags(known, f);
    const sp = feServicePort(known, f);
    current = {
      ip, port, proto: known.feProto[f], scope: known.feScope[f], revNat, flags, affinity: feAffinity(known, f), servicePort: sp,
      active: [], extra: [], maglev: feMaglev(known, f) >= 0,
      srcRanges: (flags & SVC_FLAG_SOURCE_RANGE) !== 0 ? cluster.services[cluster.ports[sp].service].loadBalancerSourceRanges : [],
      rows: [], states: [],
    };
    entries.push(current);
    if (m[4] !== undefined) addBackend(m[4], lineNo);
  }

  for (const e of entries) {
    const active = e.rows.filter((_, k) => e.states[k] === BE_STATE_ACTIVE);
    e.active = active.length > 0 ? active : e.rows;
    e.extra = active.length > 0 ? e.rows.filter((_, k) => e.states[k] !== BE_STATE_ACTIVE) : [];
  }
  for (let i = 0; i < rn.length; i++) rn[i] ??= { ip: 0, port: 0 };
  const t = packCiliumTables(cluster, node, config, entries, rn.length - 1, rn);
  // The backend map's states as listed (the cluster's conditions gave the packed ones).
  for (let id = 1; id <= t.backends; id++) {
    const listed = stateOf.get(`${formatIp(beIp(t, id))}:${bePort(t, id)}/${protocolName(t.beProto[id] as Protocol)}`);
    if (listed) t.be[id * BeWord.STRIDE + BeWord.STATE] = listed.state;
  }
  return t;
}
