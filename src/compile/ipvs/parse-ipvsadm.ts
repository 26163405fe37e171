/**
 * `ipvsadm -S -n` (rules: `-A -t 10.96.0.10:80 -s rr -p 10800`, `-a -t ... -r IP:PORT -m -w 1`)
 * and `ipvsadm -Ln` (listing: `TCP  10.96.0.10:80 rr persistent 10800`, `  -> IP:PORT Masq 1 0 0`)
 * read back into the virtual services they describe, in file order (ipvsadm.c print_service_entry,
 * FMT_RULE and the default listing). Both forms may be mixed. Firewall-mark services (`-f`, `FWM`)
 * are refused: kube-proxy never creates them. Throws RuleParseError naming the line.
 */
import { RuleParseError } from '../../errors.js';
import { parseIp } from '../../net/ipv4.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../net/proto.js';

export interface IpvsadmDest {
  readonly ip: number;
  readonly port: number;
  readonly weight: number;
  /** `-m`/Masq (kube-proxy's only one), `-g`/Route or Local, `-i`/Tunnel. */
  readonly forward: 'masq' | 'route' | 'tunnel';
  readonly line: number;
}

export interface IpvsadmService {
  readonly proto: number;
  readonly ip: number;
  readonly port: number;
  readonly scheduler: string;
  /** Scheduler flags (`-b mh-port`, `(mh-port)`). */
  readonly schedFlags: readonly string[];
  /** Persistence timeout in seconds, or 0 when not persistent. */
  readonly persistent: number;
  readonly dests: IpvsadmDest[];
  readonly line: number;
}

function address(text: string | undefined, n: number, what: string): { ip: number; port: number } {
  const m = text === undefined ? null : /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(text);
  const ip = m ? parseIp(m[1]) : undefined;
  const port = m ? Number(m[2]) : NaN;
  if (!m || ip === undefined || port > 65535) {
    throw new RuleParseError(`${what} must be IPv4:port as ipvsadm -n prints it (10.96.0.10:80), found ${JSON.stringify(text ?? 'end of line')}`, n);
  }
  return { ip, port };
}

const kRuleProto: Readonly<Record<string, number>> = { '-t': PROTO_TCP, '--tcp-service': PROTO_TCP, '-u': PROTO_UDP, '--udp-service': PROTO_UDP, '--sctp-service': PROTO_SCTP };
const kListProto: Readonly<Record<string, number>> = { TCP: PROTO_TCP, UDP: PROTO_UDP, SCTP: PROTO_SCTP };
const kRuleForward: Readonly<Record<string, IpvsadmDest['forward']>> = { '-m': 'masq', '-g': 'route', '-i': 'tunnel' };
const kListForward: Readonly<Record<string, IpvsadmDest['forward']>> = { Masq: 'masq', Route: 'route', Local: 'route', Tunnel: 'tunnel' };

function integer(text: string | undefined, n: number, what: string, max: number): number {
  if (text === undefined || !/^\d+$/.test(text) || Number(text) > max) throw new RuleParseError(`${what} must be an integer 0-${max}, found ${JSON.stringify(text ?? 'end of line')}`, n);
  return Number(text);
}

/** Every virtual service of an `ipvsadm -S -n` or `ipvsadm -Ln` text, with its real servers. */
export function parseIpvsadm(text: string): IpvsadmService[] {
  const out: IpvsadmService[] = [];
  const byKey = new Map<string, IpvsadmService>();
  const key = (proto: number, ip: number, port: number): string => `${proto}/${ip}/${port}`;
  let last: IpvsadmService | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i];
    const w = raw.trim().split(/\s+/);
    if (w[0] === '') continue;
    if (raw.startsWith('IP Virtual Server version') || raw.startsWith('Prot LocalAddress') || raw.includes('RemoteAddress:Port')) continue;
    if (w[0] === '-f' || w[1] === '-f' || w[0] === 'FWM') throw new RuleParseError('firewall-mark virtual services are not modelled (kube-proxy never creates them)', n);
    if (w[0] === '-A') {
      const proto = kRuleProto[w[1]];
      if (proto === undefined) throw new RuleParseError(`expected -t, -u or --sctp-service after -A, found ${JSON.stringify(w[1] ?? 'end of line')}`, n);
      const { ip, port } = address(w[2], n, 'the service address');
      let scheduler = 'wlc'; // ipvsadm's default when -s is absent
      const schedFlags: string[] = [];
      let persistent = 0;
      for (let j = 3; j < w.length; j++) {
        if (w[j] === '-s') scheduler = w[++j] ?? '';
        else if (w[j] === '-b') schedFlags.push(...(w[++j] ?? '').split(',').filter((f) => f !== ''));
        else if (w[j] === '-p') persistent = integer(w[++j], n, '-p', 2678400);
        else if (w[j] === '-M' || w[j] === '--pe') j++;
        else if (w[j] === '-o' || w[j] === 'ops') continue;
        else throw new RuleParseError(`unknown option ${w[j]} of an ipvsadm -A line`, n);
      }
      last = { proto, ip, port, scheduler, schedFlags, persistent, dests: [], line: n };
    } else if (w[0] === '-a') {
      const proto = kRuleProto[w[1]];
      if (proto === undefined) throw new RuleParseError(`expected -t, -u or --sctp-service after -a, found ${JSON.stringify(w[1] ?? 'end of line')}`, n);
      const svc = address(w[2], n, 'the service address');
      const owner = byKey.get(key(proto, svc.ip, svc.port));
      if (!owner) throw new RuleParseError(`real server for ${w[2]}, which no earlier -A line created`, n);
      let dest: { ip: number; port: number } | undefined;
      let forward: IpvsadmDest['forward'] = 'route'; // ipvsadm's default: gatewaying
      let weight = 1;
      for (let j = 3; j < w.length; j++) {
        if (w[j] === '-r') dest = address(w[++j], n, 'the real server');
        else if (w[j] in kRuleForward) forward = kRuleForward[w[j]];
        else if (w[j] === '-w') weight = integer(w[++j], n, '-w', 65535);
        else if (w[j] === '-x' || w[j] === '-y') j++;
        else throw new RuleParseError(`unknown option ${w[j]} of an ipvsadm -a line`, n);
      }
      if (!dest) throw new RuleParseError('an -a line needs -r IP:PORT', n);
      owner.dests.push({ ...dest, weight, forward, line: n });
      continue;
    } else if (w[0] in kListProto) {
      const { ip, port } = address(w[1], n, 'the service address');
      if (w[2] === undefined) throw new RuleParseError('expected the scheduler after the service address', n);
      const schedFlags: string[] = [];
      let persistent = 0;
      for (let j = 3; j < w.length; j++) {
        const flags = /^\((.*)\)$/.exec(w[j]);
        if (flags) schedFlags.push(...flags[1].split(',').filter((f) => f !== ''));
        else if (w[j] === 'persistent') persistent = integer(w[++j], n, 'persistent', 2678400);
        else if (w[j] === 'mask' || w[j] === 'pe') j++;
        else if (w[j] === 'ops') continue;
        else throw new RuleParseError(`unexpected ${JSON.stringify(w[j])} after the scheduler`, n);
      }
      last = { proto: kListProto[w[0]], ip, port, scheduler: w[2], schedFlags, persistent, dests: [], line: n };
    } else if (w[0] === '->') {
      if (!last) throw new RuleParseError('a real server before any virtual service', n);
      const dest = address(w[1], n, 'the real server');
      const forward = kListForward[w[2]];
      if (forward === undefined) throw new RuleParseError(`expected Masq, Route, Local or Tunnel, found ${JSON.stringify(w[2] ?? 'end of line')}`, n);
      last.dests.push({ ...dest, forward, weight: integer(w[3], n, 'the weight', 65535), line: n });
      continue;
    } else {
      throw new RuleParseError(`not an ipvsadm -S -n or -Ln line: ${JSON.stringify(raw.trim())}`, n);
    }
    const k = key(last.proto, last.ip, last.port);
    if (byKey.has(k)) throw new RuleParseError('this virtual service was listed already', n);
    byKey.set(k, last);
    out.push(last);
  }
  return out;
}
