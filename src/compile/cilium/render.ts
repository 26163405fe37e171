/**
 * Cilium's maps as its debug CLI prints them (Cilium v1.17, cilium-dbg/cmd): `cilium-dbg bpf lb
 * list` (bpf_lb_list.go dumpSVC: one key per frontend address and scope, its master entry
 * `0.0.0.0:0 (revnat) (0) [flags]` and one `backend (revnat) (slot)` line per slot),
 * `cilium-dbg bpf lb maglev list` (bpf_lb_maglev_list.go: `[revnat]/v4` and the table as Go
 * prints a slice) and `cilium-dbg service list` (service_list.go: ID, frontend, type, backends
 * with their state), laid out as Go's tabwriter does for the CLI's TablePrinter (minimum width 5,
 * padding 3, every cell tab-terminated). The flag names are pkg/loadbalancer ServiceFlags.String's.
 */
import { formatIp } from '../../net/ipv4.js';
import { protocolName } from '../../model/types.js';
import type { Protocol } from '../../net/proto.js';

const protoName = (p: number): string => protocolName(p as Protocol);
import {
  SCOPE_INT, SVC_FLAG_AFFINITY, SVC_FLAG_EXTERNAL_IP, SVC_FLAG_EXT_LOCAL_SCOPE, SVC_FLAG_FWD_MODE_DSR,
  SVC_FLAG_HOSTPORT, SVC_FLAG_INT_LOCAL_SCOPE, SVC_FLAG_LOADBALANCER, SVC_FLAG_NODEPORT, SVC_FLAG_ROUTABLE,
  SVC_FLAG_SOURCE_RANGE, SVC_FLAG_TWO_SCOPES, beIp, bePort, beState, feCount, feFlags, feMaglev, feQCount, feRevNat,
  feSlotStart, kBackendStateNames, slotBackend, type CiliumTables,
} from './tables.js';

/** ServiceFlags.SVCType: the frontend's type name. */
export function serviceTypeName(flags: number): string {
  if (flags & SVC_FLAG_EXTERNAL_IP) return 'ExternalIPs';
  if (flags & SVC_FLAG_NODEPORT) return 'NodePort';
  if (flags & SVC_FLAG_LOADBALANCER) return 'LoadBalancer';
  if (flags & SVC_FLAG_HOSTPORT) return 'HostPort';
  return 'ClusterIP';
}

/** The flag words ServiceFlags.String prints after the type, in its order. */
export const kFlagWords: readonly (readonly [number, string])[] = [
  [SVC_FLAG_EXT_LOCAL_SCOPE, 'Local'],
  [SVC_FLAG_INT_LOCAL_SCOPE, 'InternalLocal'],
  [SVC_FLAG_TWO_SCOPES, 'two-scopes'],
  [SVC_FLAG_AFFINITY, 'sessionAffinity'],
  [SVC_FLAG_SOURCE_RANGE, 'check source-range'],
  [SVC_FLAG_FWD_MODE_DSR, 'dsr'],
];

export function flagsText(flags: number): string {
  const words = [serviceTypeName(flags)];
  for (const [bit, word] of kFlagWords) if (flags & bit) words.push(word);
  if ((flags & SVC_FLAG_ROUTABLE) === 0) words.push('non-routable');
  return words.join(', ');
}

/** The service-map key as Service4Key.String prints it: `ip:port/PROTO`, `/i` for the internal scope. */
export function frontendText(t: CiliumTables, f: number): string {
  return `${formatIp(t.feIp[f])}:${t.fePort[f]}/${protoName(t.feProto[f])}${t.feScope[f] === SCOPE_INT ? '/i' : ''}`;
}

/** A slot line as dumpSVC prints it: the backend, the rev-NAT index and the slot. */
export function slotText(t: CiliumTables, f: number, slot: number): string {
  const id = slotBackend(t, slot);
  return `${formatIp(beIp(t, id))}:${bePort(t, id)}/${protoName(t.beProto[id])} (${feRevNat(t, f)}) (${slot - feSlotStart(t, f) + 1})`;
}

/** Go's tabwriter (minwidth 5, tabwidth 0, padding 3, ' '): every cell padded to its column's width. */
export function tabulate(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, Math.max(5, c.length + 3))));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('')).join('\n') + '\n';
}

/** Frontends that exist (a second claim on a key leaves its row empty). */
function liveFrontends(t: CiliumTables): number[] {
  const out: number[] = [];
  for (let f = 0; f < t.frontends; f++) if (feRevNat(t, f) !== 0) out.push(f);
  return out;
}

/** `cilium-dbg bpf lb list`: keys sorted, the master entry then the slots in order. */
export function renderLbList(t: CiliumTables): string {
  const rows: string[][] = [['SERVICE ADDRESS', 'BACKEND ADDRESS (REVNAT_ID) (SLOT)']];
  const fs = liveFrontends(t).sort((a, b) => (frontendText(t, a) < frontendText(t, b) ? -1 : 1));
  for (const f of fs) {
    rows.push([frontendText(t, f), `0.0.0.0:0 (${feRevNat(t, f)}) (0) [${flagsText(feFlags(t, f))}] `]);
    const n = feCount(t, f) + feQCount(t, f);
    for (let k = 0; k < n; k++) rows.push(['', slotText(t, f, feSlotStart(t, f) + k)]);
  }
  return tabulate(rows);
}

/** `cilium-dbg bpf lb maglev list`: one table per rev-NAT index that has one. */
export function renderMaglevList(t: CiliumTables): string {
  const rows: string[][] = [['SVC ID', 'LOOKUP TABLE']];
  const seen = new Set<number>();
  for (const f of liveFrontends(t).sort((a, b) => feRevNat(t, a) - feRevNat(t, b))) {
    const lut = feMaglev(t, f);
    if (lut < 0 || seen.has(feRevNat(t, f))) continue;
    seen.add(feRevNat(t, f));
    rows.push([`[${feRevNat(t, f)}]/v4`, `[${Array.from(t.maglev.subarray(lut, lut + t.maglevSize)).join(' ')}]`]);
  }
  return tabulate(rows);
}

/** `cilium-dbg service list`: per frontend (and scope), its ID, type and numbered backends with their state. */
export function renderServiceList(t: CiliumTables): string {
  const rows: string[][] = [['ID', 'Frontend', 'Service Type', 'Backend']];
  for (const f of liveFrontends(t).sort((a, b) => feRevNat(t, a) - feRevNat(t, b) || t.feScope[a] - t.feScope[b])) {
    const n = feCount(t, f) + feQCount(t, f);
    const backends: string[] = [];
    for (let k = 0; k < n; k++) {
      const id = slotBackend(t, feSlotStart(t, f) + k);
      backends.push(`${k + 1} => ${formatIp(beIp(t, id))}:${bePort(t, id)}/${protoName(t.beProto[id])} (${kBackendStateNames[beState(t, id)] ?? 'active'})`);
    }
    rows.push([String(feRevNat(t, f)), frontendText(t, f), serviceTypeName(feFlags(t, f)), backends[0] ?? '']);
    for (let k = 1; k < backends.length; k++) rows.push(['', '', '', backends[k]]);
  }
  return tabulate(rows);
}
