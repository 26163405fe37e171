/**
 * What one kube-proxy IPVS sync changes between two compiled states of a node: the ipvsadm
 * commands (netlink calls), the ipset add/del calls (kube-proxy runs one `ipset` per entry in
 * syncIPSetEntries), the kube-ipvs0 address changes, and the iptables-restore payload, which IPVS
 * mode rewrites in full every sync but whose size does not grow with the number of services.
 *
 * Removed real servers go through graceful termination (graceful_termination.go,
 * GracefulDeleteRS): deleted at once when they have no connections, else set to weight 0 first.
 */
import { formatIp } from '../../net/ipv4.js';
import type { Cluster } from '../../model/types.js';
import { linesBytes, portsOf, type OneEndpointSync } from '../mode.js';
import { compileIpvs } from './build.js';
import type { IpvsDataplane } from './dataplane.js';
import { ipvsadmRealServerLine, ipvsadmServiceLine, ipvsadmServiceName } from './ipvsadm-format.js';
import { ipvsIpsets, sortEntries } from './ipsets.js';
import { renderIpvsIptablesSave, sortedRealServers, sortedVirtualServices } from './render.js';
import { F_BOUND, rsIp, rsPort, vsFlags, vsLive, vsRsCount, vsRsStart, vsServicePort } from './tables.js';

export interface IpvsSyncDelta {
  /** ipvsadm -R syntax: -A/-E/-D for services, -a/-e/-d for real servers. */
  readonly ipvsadm: readonly string[];
  /** ipset restore syntax: `add SET entry` / `del SET entry`. */
  readonly ipset: readonly string[];
  /** `ip addr add|del VIP/32 dev kube-ipvs0`. */
  readonly addresses: readonly string[];
  readonly virtualServicesAdded: number;
  readonly virtualServicesRemoved: number;
  readonly virtualServicesUpdated: number;
  readonly realServersAdded: number;
  readonly realServersRemoved: number;
  readonly ipsetAdded: number;
  readonly ipsetRemoved: number;
  /** iptables-restore lines that differ (added + removed). */
  readonly iptablesLinesChanged: number;
  /** Bytes of the iptables-restore payload kube-proxy writes this sync (always the whole thing). */
  readonly iptablesRestoreBytes: number;
  /** Bytes of the ipvsadm + ipset + address commands. */
  readonly commandBytes: number;
  /** Separate calls kube-proxy makes: one netlink request per ipvsadm command and address, one
   * exec of `ipset` per entry. */
  readonly calls: number;
}

interface VsText {
  line: string;
  rs: Map<string, string>;
}

/** Every live virtual service as text (sorted as ipvsadm sorts them), or only those of the Service ports `ports`. */
function snapshot(dp: IpvsDataplane, ports?: ReadonlySet<number>): Map<string, VsText> {
  const m = new Map<string, VsText>();
  const t = dp.tables;
  for (const v of ports ? portVirtualServices(dp, ports) : sortedVirtualServices(dp)) {
    const name = ipvsadmServiceName(t.vsProto[v], t.vsIp[v], t.vsPort[v]);
    const rs = new Map<string, string>();
    for (const s of sortedRealServers(dp, v)) rs.set(`${formatIp(rsIp(t, s))}:${rsPort(t, s)}`, ipvsadmRealServerLine(t, v, s));
    m.set(name, { line: ipvsadmServiceLine(t, v, dp.scheduler), rs });
  }
  return m;
}

function portVirtualServices(dp: IpvsDataplane, ports: ReadonlySet<number>): number[] {
  const t = dp.tables;
  const out: number[] = [];
  for (let v = 0; v < t.vsCount; v++) if (vsLive(t, v) && ports.has(vsServicePort(t, v))) out.push(v);
  return out;
}

function boundSet(dp: IpvsDataplane): Set<string> {
  const s = new Set<string>();
  const t = dp.tables;
  for (let v = 0; v < t.vsCount; v++) if (vsFlags(t, v) & F_BOUND && vsLive(t, v)) s.add(formatIp(t.vsIp[v]));
  return s;
}

export interface SyncDeltaOptions {
  /** Real servers (by `-a` line's "ip:port" within a service name) that still carry connections:
   * graceful termination sets them to weight 0 instead of deleting them. */
  readonly busy?: (service: string, realServer: string) => boolean;
}

/** What a sync compares of one node: its virtual services, sets, bound addresses and iptables rules. */
interface NodeSyncState {
  readonly services: Map<string, VsText>;
  readonly sets: Map<string, Set<string>>;
  readonly bound: Set<string>;
  readonly iptables: string;
}

const kEmptyNode: NodeSyncState = { services: new Map(), sets: new Map(), bound: new Set(), iptables: '' };

/** The node's state; with `ports`, its virtual services only those of these Service ports. */
function syncState(dp: IpvsDataplane | null, ports?: ReadonlySet<number>): NodeSyncState {
  if (!dp) return kEmptyNode;
  const sets = ipvsIpsets(dp);
  return { services: snapshot(dp, ports), sets, bound: boundSet(dp), iptables: renderIpvsIptablesSave(dp, sets) };
}

/** An `ipset restore` line for one entry. */
function ipsetLine(op: 'add' | 'del', set: string, entry: string): string {
  return `${op} ${set} ${entry}`;
}

/** A service address bound to or released from kube-ipvs0. */
function addressLine(op: 'add' | 'del', ip: string): string {
  return `ip addr ${op} ${ip}/32 dev kube-ipvs0`;
}

/** The changes from `prev` (null: an empty node) to `next` (null: everything removed). */
export function ipvsSyncDelta(prev: IpvsDataplane | null, next: IpvsDataplane | null, options: SyncDeltaOptions = {}): IpvsSyncDelta {
  return syncDelta(syncState(prev), syncState(next), options);
}

function syncDelta(from: NodeSyncState, to: NodeSyncState, options: SyncDeltaOptions): IpvsSyncDelta {
  const a = from.services;
  const b = to.services;
  const ipvsadm: string[] = [];
  let vsAdded = 0, vsRemoved = 0, vsUpdated = 0, rsAdded = 0, rsRemoved = 0;
  for (const [name, vs] of b) {
    const old = a.get(name);
    if (!old) {
      ipvsadm.push(vs.line);
      vsAdded++;
    } else if (old.line !== vs.line) {
      ipvsadm.push(`-E${vs.line.slice(2)}`);
      vsUpdated++;
    }
    for (const [key, line] of vs.rs) {
      if (!old?.rs.has(key)) {
        ipvsadm.push(line);
        rsAdded++;
      }
    }
    if (old) {
      for (const [key, line] of old.rs) {
        if (vs.rs.has(key)) continue;
        rsRemoved++;
        if (options.busy?.(name, key)) ipvsadm.push(`-e${line.slice(2).replace(/-w \d+$/, '-w 0')}`);
        else ipvsadm.push(`-d ${name} -r ${key}`);
      }
    }
  }
  for (const [name, old] of a) {
    if (b.has(name)) continue;
    ipvsadm.push(`-D ${name}`);
    vsRemoved++;
    rsRemoved += old.rs.size;
  }

  const ipset: string[] = [];
  let added = 0, removed = 0;
  const sa = from.sets;
  const sb = to.sets;
  const none = new Set<string>();
  // Only the differences are sorted (in `ipset save` order), not the sets.
  for (const name of new Set([...sa.keys(), ...sb.keys()])) {
    const ea = sa.get(name) ?? none;
    const eb = sb.get(name) ?? none;
    for (const e of sortEntries([...ea].filter((x) => !eb.has(x)))) { ipset.push(ipsetLine('del', name, e)); removed++; }
    for (const e of sortEntries([...eb].filter((x) => !ea.has(x)))) { ipset.push(ipsetLine('add', name, e)); added++; }
  }

  const addresses: string[] = [];
  const ba = from.bound;
  const bb = to.bound;
  for (const ip of bb) if (!ba.has(ip)) addresses.push(addressLine('add', ip));
  for (const ip of ba) if (!bb.has(ip)) addresses.push(addressLine('del', ip));

  const ra = from.iptables === '' ? [] : from.iptables.split('\n');
  const rb = to.iptables;
  const rbLines = rb.split('\n');
  const setA = new Set(ra);
  const setB = new Set(rbLines);
  let changed = 0;
  for (const l of rbLines) if (!setA.has(l)) changed++;
  for (const l of ra) if (!setB.has(l)) changed++;

  return {
    ipvsadm, ipset, addresses,
    virtualServicesAdded: vsAdded, virtualServicesRemoved: vsRemoved, virtualServicesUpdated: vsUpdated,
    realServersAdded: rsAdded, realServersRemoved: rsRemoved, ipsetAdded: added, ipsetRemoved: removed,
    iptablesLinesChanged: changed,
    iptablesRestoreBytes: rb.length,
    commandBytes: linesBytes(ipvsadm) + linesBytes(ipset) + linesBytes(addresses),
    calls: ipvsadm.length + ipset.length + addresses.length,
  };
}

/**
 * What a sync from an empty node to `dp` writes (ipvsSyncDelta(null, dp)), counted without keeping
 * a command: every live virtual service's line and its real servers' (a port's endpoint rows are
 * one per address: model/build.ts), every entry of `state`'s sets, every bound address, and the
 * iptables payload. Cost: O(virtual and real servers + set entries), each line made and dropped; the
 * commands kept and the set entries sorted had cost ~2 s at 30,000 Services with their garbage.
 */
function fullSync(dp: IpvsDataplane, state: NodeSyncState): { bytes: number; lines: number } {
  const t = dp.tables;
  let bytes = 0;
  let lines = 0;
  for (let v = 0; v < t.vsCount; v++) {
    if (!vsLive(t, v)) continue;
    bytes += ipvsadmServiceLine(t, v, dp.scheduler).length + 1;
    lines++;
    for (let s = vsRsStart(t, v), end = s + vsRsCount(t, v); s < end; s++) {
      bytes += ipvsadmRealServerLine(t, v, s).length + 1;
      lines++;
    }
  }
  for (const [name, entries] of state.sets) {
    for (const e of entries) bytes += ipsetLine('add', name, e).length + 1;
    lines += entries.size;
  }
  for (const ip of state.bound) bytes += addressLine('add', ip).length + 1;
  return { bytes: bytes + state.iptables.length, lines };
}

/**
 * The one-endpoint sync as kube-proxy's IPVS mode runs it: the next tables compiled, and the
 * ipvsadm/ipset commands plus the iptables-restore payload it rewrites every sync. `next` differs
 * from `prev`'s cluster only in the Services `changed` (the ProxyMode.syncOneEndpoint contract), so
 * only their ports' virtual services are compared; the sets, addresses and payload are compared
 * whole. The whole delta is the law's oracle (test/compile/ipvs/sync.test.ts).
 */
export function ipvsOneEndpointSync(prev: IpvsDataplane, next: Cluster, node: number, changed: readonly number[]): OneEndpointSync {
  const ports = portsOf(next, changed);
  const before = syncState(prev, ports);
  const full = fullSync(prev, before);
  const d = syncDelta(before, syncState(compileIpvs(next, { node }), ports), {});
  return {
    fullBytes: full.bytes, fullRules: full.lines,
    oneEndpointRewrittenBytes: d.commandBytes + d.iptablesRestoreBytes, oneEndpointRewrittenRules: d.ipvsadm.length + d.ipset.length,
  };
}
