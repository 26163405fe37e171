/**
 * `cilium-dbg bpf lb list` read back (a node's dump, pasted): the frontends, their scopes, flags,
 * rev-NAT indexes and backend slots come from the text; what the listing does not print comes from
 * the cluster the dump belongs to, as the agent itself knows it: which backends are terminating
 * (kept after the active ones), the affinity timeout, the source ranges, and the Maglev tables
 * (recomputed from the backends, as the agent recomputes them).
 */
import { RuleParseError } from '../../errors.js';
import { EP_READY, type CiliumConfig, type Cluster, type Service, type ServicePort } from '../../model/types.js';
import { formatIp, parseIp } from '../../net/ipv4.js';
import { PROTO_SCTP, PROTO_TCP, PROTO_UDP } from '../../net/proto.js';
import { packCiliumTables, type FrontendEntry } from './build.js';
import { kFlagWords } from './render.js';
import {
  SCOPE_EXT, SCOPE_INT, SVC_FLAG_AFFINITY, SVC_FLAG_EXTERNAL_IP, SVC_FLAG_HOSTPORT, SVC_FLAG_LOADBALANCER, SVC_FLAG_NODEPORT,
  SVC_FLAG_ROUTABLE, SVC_FLAG_SOURCE_RANGE, type CiliumTables,
} from './tables.js';

const kProtos: Record<string, number> = { TCP: PROTO_TCP, UDP: PROTO_UDP, SCTP: PROTO_SCTP };
const kTypes: Record<string, number> = { ClusterIP: 0, NodePort: SVC_FLAG_NODEPORT, LoadBalancer: SVC_FLAG_LOADBALANCER, ExternalIPs: SVC_FLAG_EXTERNAL_IP, HostPort: SVC_FLAG_HOSTPORT };
const kKey = /^(\d+\.\d+\.\d+\.\d+):(\d+)\/(TCP|UDP|SCTP)(\/i)?$/;
const kMaster = /^0\.0\.0\.0:0 \((\d+)\) \(0\) \[([^\]]*)\]$/;
const kSlot = /^(\d+\.\d+\.\d+\.\d+):(\d+)\/(TCP|UDP|SCTP) \((\d+)\) \((\d+)\)$/;

function flagsOf(text: string, line: number): number {
  const words = text.split(', ');
  const type = kTypes[words[0]];
  if (type === undefined) throw new RuleParseError(`unknown service type "${words[0]}" in [${text}]`, line);
  let flags = type | SVC_FLAG_ROUTABLE;
  for (const w of words.slice(1)) {
    if (w === 'non-routable') flags &= ~SVC_FLAG_ROUTABLE;
    else {
      const bit = kFlagWords.find(([, word]) => word === w);
      if (!bit) throw new RuleParseError(`unknown service flag "${w}" in [${text}]`, line);
      flags |= bit[0];
    }
  }
  return flags;
}

/** The cluster's service port a frontend belongs to, by its type, address, port and protocol. */
function servicePortOf(cluster: Cluster, flags: number, ip: number, port: number, proto: number): { svc: Service; port: ServicePort } | undefined {
  for (const p of cluster.ports) {
    if (p.protocol !== proto) continue;
    const svc = cluster.services[p.service];
    if (flags & SVC_FLAG_NODEPORT) {
      if (p.nodePort === port) return { svc, port: p };
      continue;
    }
    if (p.port !== port) continue;
    const addrs = flags & SVC_FLAG_LOADBALANCER ? svc.loadBalancerIPs : flags & SVC_FLAG_EXTERNAL_IP ? svc.externalIPs : svc.clusterIPs;
    if (addrs.includes(ip)) return { svc, port: p };
  }
  return undefined;
}

export function parseLbList(text: string, cluster: Cluster, node: number, config: CiliumConfig): CiliumTables {
  const lines = text.split('\n');
  if (!/^SERVICE ADDRESS\s+BACKEND ADDRESS \(REVNAT_ID\) \(SLOT\)/.test(lines[0] ?? '')) {
    throw new RuleParseError('expected the header "SERVICE ADDRESS   BACKEND ADDRESS (REVNAT_ID) (SLOT)" of `cilium-dbg bpf lb list`', 1);
  }
  const entries: FrontendEntry[] = [];
  const rn: { ip: number; port: number }[] = [{ ip: 0, port: 0 }];
  let current: (FrontendEntry & { slots: number[] }) | undefined;
  let key = { ip: 0, port: 0, proto: 0, scope: SCOPE_EXT };
  const finish = (): void => {
    if (!current) return;
    // The listing does not print the backends' state: the ready ones are counted, the rest kept behind (qcount).
    const rows = current.slots;
    const ready = rows.filter((r) => (cluster.endpoints.conditions[r] & EP_READY) !== 0);
    current.active = ready.length > 0 ? ready : rows;
    current.extra = ready.length > 0 ? rows.filter((r) => !ready.includes(r)) : [];
    entries.push(current);
    current = undefined;
  };
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n];
    if (line.trim() === '') continue;
    const lineNo = n + 1;
    let entry: string;
    if (!/^\s/.test(line)) {
      const m = /^(\S+)\s+(.*\S)\s*$/.exec(line);
      const k = m && kKey.exec(m[1]);
      if (!m || !k) throw new RuleParseError(`expected a service address such as 10.96.0.10:53/UDP, got ${JSON.stringify(line.trim())}`, lineNo);
      const ip = parseIp(k[1]);
      key = { ip, port: Number(k[2]), proto: kProtos[k[3]], scope: k[4] ? SCOPE_INT : SCOPE_EXT };
      entry = m[2];
    } else entry = line.trim();
    const master = kMaster.exec(entry);
    if (master) {
      finish();
      const flags = flagsOf(master[2], lineNo);
      const owner = servicePortOf(cluster, flags, key.ip, key.port, key.proto);
      if (!owner) throw new RuleParseError(`no Service of the cluster has the frontend ${formatIp(key.ip)}:${key.port}`, lineNo);
      const revNat = Number(master[1]);
      rn[revNat] = { ip: key.ip, port: key.port };
      current = {
        ...key, revNat, flags, servicePort: owner.port.index,
        affinity: (flags & SVC_FLAG_AFFINITY) !== 0 ? owner.svc.affinity.timeoutSeconds : 0,
        active: [], extra: [], slots: [],
        maglev: config.lbAlgorithm === 'maglev' && (flags & SVC_FLAG_ROUTABLE) !== 0 && key.scope === SCOPE_EXT,
        srcRanges: (flags & SVC_FLAG_SOURCE_RANGE) !== 0 ? owner.svc.loadBalancerSourceRanges : [],
      };
      continue;
    }
    const slot = kSlot.exec(entry);
    if (!slot) throw new RuleParseError(`expected "0.0.0.0:0 (revnat) (0) [flags]" or "backend (revnat) (slot)", got ${JSON.stringify(entry)}`, lineNo);
    if (!current) throw new RuleParseError('a backend slot before its service\'s master entry (slot 0)', lineNo);
    if (Number(slot[5]) !== current.slots.length + 1) throw new RuleParseError(`slot ${slot[5]} out of order (expected ${current.slots.length + 1})`, lineNo);
    const ip = parseIp(slot[1]);
    const port = cluster.ports[current.servicePort];
    let row = -1;
    for (let r = port.endpointStart; r < port.endpointStart + port.endpointCount; r++) {
      if (cluster.endpoints.ip[r] === ip && cluster.endpoints.port[r] === Number(slot[2])) row = r;
    }
    if (row < 0) throw new RuleParseError(`backend ${slot[1]}:${slot[2]} is no endpoint of the frontend's Service`, lineNo);
    current.slots.push(row);
  }
  finish();
  for (let i = 0; i < rn.length; i++) rn[i] ??= { ip: 0, port: 0 };
  return packCiliumTables(cluster, node, config, entries, rn.length - 1, rn);
}
