/**
 * Services added and removed, written into the userspace proxy's tables in place: what the
 * proxier's sync does for them (pkg/proxy/userspace/proxier.go, Kubernetes v1.25, the last release
 * with the mode). A new service port (mergeService) gets a proxy socket on the next port of the
 * allocator (proxyPorts.AllocateNext, addServiceOnPortInternal) and its portal rules appended to
 * the chains (openPortal, openNodePort: iptables.Append); a deleted one (unmergeService) has its
 * rules deleted (closePortal) and its socket closed and port released (stopProxy). No other
 * Service's socket or rule moves: the proxier never touches them.
 *
 * kdp appends the new rules into the room compileUserspace left at the end of each chain and
 * gives the port the next proxy port in order, as the compile hands them out (so that, adds
 * alone, the tables are what a compile of the larger cluster makes); a removed port's rules stay
 * in their slots with protocol kGoneProto, never matching, until the next compile, and its proxy
 * port is not handed out again before it (a compile of the smaller cluster hands every port after
 * it out one lower, which is why test/properties/incremental-service.test.ts holds the update to
 * the ports the proxier keeps, not to a compile's). A known difference: the scan still counts a
 * removed rule's slot as a rule evaluated (`work`), where the kernel, after closePortal's delete,
 * has no rule there.
 *
 * Gives up (undefined, nothing written) when the room is spent, when the proxy port range is, when
 * a new NodePort lies below the next proxy port of its protocol (a socket may already hold it: a
 * compile would have stepped over it), or when a new Service has ClientIP affinity and the node's
 * affinity table was sized for none.
 *
 * Cost: O(rules and endpoint rows of the changed Services' ports), plus the proxy ports skipped
 * over NodePorts; nothing per other Service. Measured (bench/compile/service-update.bench.js, 10
 * endpoints, shared 2-core machine, two runs): a Service added 6-8 µs at 100 Services and 11-14 µs
 * at 30,000, removed 2-6 µs, against a full build of 0.6-1.2 ms and 158-204 ms.
 */
import { shouldSkipService, type Cluster } from '../../model/types.js';
import type { TableUpdate } from '../mode.js';
import { beginUpdate, endUpdate } from '../table-generation.js';
import { affinityOf, kAffinityEntries, portalRules } from './build.js';
import type { UserspaceDataplane } from './dataplane.js';
import { freeProxyPort, kGoneProto, protoBit, X_EP_ROWS, X_PORTS } from './tables.js';
import { writeReadyRows } from './update.js';

export function updateUserspaceServices(dp: UserspaceDataplane, next: Cluster, added: readonly number[], removed: readonly number[]): TableUpdate | undefined {
  const t = dp.tables;
  const known = t.extent[X_PORTS];

  // Plan the adds before the write window opens, checking every room.
  const newNodePorts = new Set<number>();
  let port = known;
  for (const s of added) {
    for (const sp of next.services[s].ports) {
      if (sp !== port++ || sp >= t.proxyPort.length) return undefined; // not appended past every known port (service-change.ts), or no room
      const p = next.ports[sp];
      if (p.nodePort !== 0) newNodePorts.add(p.nodePort * 256 + p.protocol);
    }
  }
  for (const key of newNodePorts) {
    const np = Math.floor(key / 256);
    const proto = key % 256;
    const inRange = np >= t.proxyPortFirst && np <= t.proxyPortLast;
    if (inRange && np < t.nextProxyPort[proto] && (t.nodePortBits[np - t.proxyPortFirst] & protoBit(proto)) === 0) return undefined;
  }
  const adds: { sp: number; proxyPort: number; epStart: number }[] = [];
  const rules: number[][] = [[], [], [], []];
  const nextPort = new Map<number, number>();
  let rowsUsed = t.extent[X_EP_ROWS];
  for (const s of added) {
    const svc = next.services[s];
    for (const sp of svc.ports) {
      const p = next.ports[sp];
      if (shouldSkipService(svc)) {
        adds.push({ sp, proxyPort: 0, epStart: rowsUsed });
        continue;
      }
      if (svc.affinity.clientIP && t.affinity.capacity < kAffinityEntries) return undefined;
      const proxyPort = freeProxyPort(t, p.protocol, nextPort.get(p.protocol) ?? t.nextProxyPort[p.protocol], newNodePorts);
      if (proxyPort === 0) return undefined;
      nextPort.set(p.protocol, proxyPort + 1);
      adds.push({ sp, proxyPort, epStart: rowsUsed });
      rowsUsed += p.endpointCount;
      portalRules(svc, p, (kind, ip, dport, proto, match, rsp) => void rules[kind].push(ip >>> 0, dport, proto, match, rsp));
    }
  }
  if (rowsUsed > t.epRows.length) return undefined;
  for (let k = 0; k < 4; k++) if (t.chainEnd[k] + rules[k].length / 5 > t.chainStart[k + 1]) return undefined;

  let written = 0;
  beginUpdate(t.generation);
  for (const s of removed) {
    for (const sp of next.services[s].ports) {
      if (sp >= known || t.proxyPort[sp] === 0) continue; // never proxied, or already removed
      for (let k = 0; k < 4; k++) {
        // The port's rules in a chain are consecutive (openPortal appends them together).
        for (let i = t.spRule[sp * 4 + k]; i >= 0 && i < t.chainEnd[k] && t.ruleServicePort[i] === sp; i++) {
          if (t.ruleProto[i] === kGoneProto) continue;
          t.ruleProto[i] = kGoneProto;
          t.chainGone[k]++;
          written++;
        }
      }
      t.proxyPort[sp] = 0;
      t.epCount[sp] = 0;
      written += 2;
    }
  }
  for (const { sp, proxyPort, epStart } of adds) {
    t.epStart[sp] = epStart;
    t.epCount[sp] = proxyPort === 0 ? 0 : writeReadyRows(next, sp, t.epRows, epStart);
    t.proxyPort[sp] = proxyPort;
    t.affinitySeconds[sp] = proxyPort === 0 ? 0 : affinityOf(next.services[next.ports[sp].service]);
    written += 3 + t.epCount[sp];
  }
  for (let k = 0; k < 4; k++) {
    const a = rules[k];
    for (let j = 0; j < a.length; j += 5) {
      const i = t.chainEnd[k];
      const sp = a[j + 4];
      t.ruleKind[i] = k; t.ruleIp[i] = a[j]; t.rulePort[i] = a[j + 1]; t.ruleProto[i] = a[j + 2]; t.ruleMatch[i] = a[j + 3]; t.ruleServicePort[i] = sp;
      if (t.spRule[sp * 4 + k] < 0) t.spRule[sp * 4 + k] = i;
      t.chainEnd[k] = i + 1;
      written++;
    }
  }
  for (const [proto, at] of nextPort) t.nextProxyPort[proto] = at;
  for (const key of newNodePorts) {
    const np = Math.floor(key / 256);
    if (np >= t.proxyPortFirst && np <= t.proxyPortLast) t.nodePortBits[np - t.proxyPortFirst] |= protoBit(key % 256);
  }
  t.extent[X_PORTS] = port;
  t.extent[X_EP_ROWS] = rowsUsed;
  endUpdate(t.generation);
  dp.cluster = next;
  return { entriesWritten: written };
}
