/**
 * `kdp diff` for an IPVS node: its virtual services (ipvsadm -S -n or -Ln, named after the
 * cluster's Services with its ipset save, from-node.ts) against kdp's compilation of the cluster.
 *
 *  - a Service port is present when a virtual service of it exists; its endpoints are the real
 *    servers of its virtual services (weight above 0);
 *  - a stale Service is a virtual service no Service port of the cluster has, named as ipvsadm
 *    lists it (`TCP 10.96.0.99:80`): kube-proxy deletes it on its next sync (syncProxyRules'
 *    cleanLegacyService pass);
 *  - IPVS mode has no per-Service chains, so `orphanChains` is always empty.
 */
import type { Cluster } from '../../model/types.js';
import { formatIp } from '../../net/ipv4.js';
import { protoName } from '../../net/proto.js';
import { diffViews, type NodeDiff, type ServiceView } from '../node-diff.js';
import { compileIpvs } from './build.js';
import type { IpvsDataplane } from './dataplane.js';
import { rsIp, rsPort, rsWeight, vsLive, vsRsCount, vsRsStart, vsServicePort } from './tables.js';

function view(dp: IpvsDataplane): ServiceView & { unowned: string[] } {
  const t = dp.tables;
  const present = new Set<number>();
  const targets = new Map<number, Set<string>>();
  const unowned: string[] = [];
  for (let v = 0; v < t.vsCount; v++) {
    if (!vsLive(t, v)) continue;
    const p = vsServicePort(t, v);
    if (p < 0) {
      unowned.push(`${protoName(t.vsProto[v]).toUpperCase()} ${formatIp(t.vsIp[v])}:${t.vsPort[v]}`);
      continue;
    }
    present.add(p);
    const set = targets.get(p) ?? new Set<string>();
    // A real server of weight 0 takes no new connection (kube-proxy's graceful termination): not an endpoint the node sends to.
    for (let s = vsRsStart(t, v); s < vsRsStart(t, v) + vsRsCount(t, v); s++) if (rsWeight(t, s) > 0) set.add(`${formatIp(rsIp(t, s))}:${rsPort(t, s)}`);
    targets.set(p, set);
  }
  return { present, targets, unowned };
}

/** The node's virtual services (`actual`) against kdp's compilation of `cluster` for `node`. */
export function diffIpvsNode(cluster: Cluster, node: number, actual: IpvsDataplane): NodeDiff {
  const have = view(actual);
  return diffViews(cluster, node, 'ipvs', view(compileIpvs(cluster, { node })), have, have.unowned, []);
}
