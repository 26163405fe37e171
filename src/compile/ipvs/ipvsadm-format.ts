/**
 * One virtual service or real server as `ipvsadm -S -n` prints it (ipvsadm.c print_service_entry,
 * FMT_RULE | FMT_NUMERIC): `-A -t 10.96.0.10:80 -s rr[ -b mh-port][ -p 10800]` and
 * `-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1` (-m: masquerading, kube-proxy's only mode).
 */
import { formatIp } from '../../net/ipv4.js';
import type { IpvsScheduler } from '../../model/types.js';
import { F_PERSISTENT, rsIp, rsPort, rsWeight, vsFlags, type IpvsTables } from './tables.js';
import { PROTO_TCP, PROTO_UDP } from '../../net/proto.js';

export function ipvsadmProtoSwitch(proto: number): string {
  return proto === PROTO_TCP ? '-t' : proto === PROTO_UDP ? '-u' : '--sctp-service';
}

export function ipvsadmServiceName(proto: number, ip: number, port: number): string {
  return `${ipvsadmProtoSwitch(proto)} ${formatIp(ip)}:${port}`;
}

/** Scheduler flags kube-proxy sets: only mh gets one (FlagSourceHash 0x10 = IP_VS_SVC_F_SCHED2,
 * which ipvsadm names `mh-port` for mh). */
export function ipvsadmSchedFlags(scheduler: IpvsScheduler): string {
  return scheduler === 'mh' ? ' -b mh-port' : '';
}

export function ipvsadmServiceLine(t: IpvsTables, v: number, scheduler: IpvsScheduler): string {
  let line = `-A ${ipvsadmServiceName(t.vsProto[v], t.vsIp[v], t.vsPort[v])} -s ${scheduler}${ipvsadmSchedFlags(scheduler)}`;
  if (vsFlags(t, v) & F_PERSISTENT) line += ` -p ${t.vsTimeout[v]}`;
  return line;
}

export function ipvsadmRealServerLine(t: IpvsTables, v: number, slot: number): string {
  return `-a ${ipvsadmServiceName(t.vsProto[v], t.vsIp[v], t.vsPort[v])} -r ${formatIp(rsIp(t, slot))}:${rsPort(t, slot)} -m -w ${rsWeight(t, slot)}`;
}

/** `ipvsadm -Ln`'s protocol column (print_service_entry: "%s  %s" of the name and address). */
function listProto(proto: number): string {
  return proto === PROTO_TCP ? 'TCP' : proto === PROTO_UDP ? 'UDP' : 'SCTP';
}

/** The header `ipvsadm -Ln` prints before the services (print_title, list_all; the kernel's default connection table size). */
export const kIpvsadmListHeader = [
  'IP Virtual Server version 1.2.1 (size=4096)',
  'Prot LocalAddress:Port Scheduler Flags',
  '  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn',
] as const;

/** A virtual service as `ipvsadm -Ln` lists it: `TCP  10.96.0.10:80 rr`, `(mh-port)` and `persistent N` after. */
export function ipvsadmListServiceLine(t: IpvsTables, v: number, scheduler: IpvsScheduler): string {
  let line = `${listProto(t.vsProto[v])}  ${formatIp(t.vsIp[v])}:${t.vsPort[v]} ${scheduler}`;
  if (scheduler === 'mh') line += ' (mh-port)';
  if (vsFlags(t, v) & F_PERSISTENT) line += ` persistent ${t.vsTimeout[v]}`;
  return line;
}

/**
 * A real server as `ipvsadm -Ln` lists it ("  -> %-28s %-7s %-6d %-10u %-10u", trailing spaces
 * included). The connection counters are a snapshot's; kdp lists a node before any traffic (0).
 */
export function ipvsadmListRealServerLine(t: IpvsTables, slot: number): string {
  const dest = `${formatIp(rsIp(t, slot))}:${rsPort(t, slot)}`;
  return `  -> ${dest.padEnd(28)} ${'Masq'.padEnd(7)} ${String(rsWeight(t, slot)).padEnd(6)} ${'0'.padEnd(10)} ${'0'.padEnd(10)}`;
}
