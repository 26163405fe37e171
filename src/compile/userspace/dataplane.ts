/**
 * kube-proxy's userspace mode (pkg/proxy/userspace/proxier.go and roundrobin.go, removed in
 * Kubernetes 1.26) on one node, over the tables build.ts compiled.
 *
 * Every service port gets a proxy socket on the node, on a port allocated from a range; iptables
 * sends service traffic to it (KUBE-PORTALS-CONTAINER: REDIRECT for packets arriving from pods or
 * outside; KUBE-PORTALS-HOST: DNAT to nodeIP:proxyPort for the node's own; the KUBE-NODEPORT-*
 * chains likewise for NodePorts). The proxy process then picks an endpoint round-robin per
 * connection (LoadBalancerRR.NextEndpoint, with ClientIP affinity) and opens its own connection
 * from the node, so the endpoint always sees a node address as the source and every byte is copied
 * through user space twice.
 *
 * decide() scans the portal rules linearly, as iptables does (work = rules evaluated), and
 * returns VERDICT_REDIRECT with the proxy address and the endpoint the proxy will dial.
 * Reads: pkt.{srcIp,dstIp,dstPort,proto,hook,fromPodInterface,now}. Writes: every field of `out`.
 */
import type { Cluster } from '../../model/types.js';
import {
  HOOK_PREROUTING, VERDICT_REDIRECT,
  type DataplaneStats, type Explanation, type FirstPacket, type NatDecision, type ServiceDataplane, type TraceStep, clearDecision } from '../dataplane.js';
import { formatIp } from '../../net/ipv4.js';
import { ExpiringTable } from '../tables/index.js';
import { fibonacci32 } from '../../net/hash.js';
import { portalRuleText } from './render.js';
import { kEphemeralPortRange, liveRules, M_DST_LOCAL, M_PHYSDEV_NOT_IN, type UserspaceTables } from './tables.js';

/** The proxy's own connection to the endpoint, which the pipeline charges the copy cost for. */
export interface ProxyConnection {
  srcIp: number;
  srcPort: number;
  dstIp: number;
  dstPort: number;
  proto: number;
}

export function newProxyConnection(): ProxyConnection {
  return { srcIp: 0, srcPort: 0, dstIp: 0, dstPort: 0, proto: 0 };
}

/**
 * Per-byte work of the userspace path: each payload crosses the kernel/user boundary twice
 * (recv on the client socket, send on the endpoint socket) in both directions. The TCP proxy copies
 * with io.Copy (32 KiB buffer); the UDP proxy reads datagrams into a 4 KiB buffer (proxysocket.go).
 */
export const kUserspaceCopiesPerPayload = 2;
export const kUserspaceTcpCopyBufferBytes = 32 * 1024;
export const kUserspaceUdpBufferBytes = 4096;

export interface UserspaceDataplane extends ServiceDataplane {
  readonly mode: 'userspace';
  /** The cluster the tables index into (updateServices moves it to the changed one). */
  cluster: Cluster;
  readonly tables: UserspaceTables;
  /** The node address the proxy listens on for host portals and dials endpoints from. */
  readonly nodeIp: number;
  readonly listenIp: number;
  /**
   * Describes the proxy's second connection for a decision decide() returned: from the node's
   * address and an ephemeral port (derived from the flow's rand) to the endpoint. Returns false
   * when there is none (no endpoint: the proxy accepts, then closes, the client's connection).
   */
  proxyConnection(pkt: FirstPacket, decision: NatDecision, out: ProxyConnection): boolean;
  reset(): void;
}

/**
 * A dataplane over compiled tables (this thread's, or another's, shared) with its own state: the
 * round-robin cursors and affinity entries (affinityMap in roundrobin.go: an entry is refreshed by
 * each new connection; an expired one is reused, as IPVS reuses its persistence templates).
 */
export function userspaceDataplaneOver(
  cluster: Cluster, node: number, tables: Omit<UserspaceTables, 'rrIndex' | 'affinity'>, affinityCapacity: number,
): UserspaceDataplane {
  const state = { rrIndex: new Uint32Array(tables.proxyPort.length), affinity: new ExpiringTable({ capacity: affinityCapacity, hash: 'mix-pair', refreshOnHit: true, reuseExpired: true, values: true }) };
  return new UserspaceDataplaneImpl(cluster, node, { ...tables, ...state });
}

class UserspaceDataplaneImpl implements UserspaceDataplane {
  readonly mode = 'userspace' as const;
  private readonly bridged: boolean;

  readonly nodeIp: number;
  readonly listenIp: number;
  readonly generation: Int32Array;

  constructor(
    /** Read for an endpoint's address and names (never by decide()): updateServices moves it to the changed cluster. */
    public cluster: Cluster,
    readonly node: number,
    readonly tables: UserspaceTables,
  ) {
    this.nodeIp = tables.nodeIp;
    this.listenIp = tables.listenIp;
    this.generation = tables.generation;
    // physdev matches packets that entered through a bridge port: kubenet's cbr0 (and flannel's
    // cni0); Calico routes pod traffic without a bridge.
    this.bridged = cluster.network.cni === 'kubenet' || cluster.network.cni === 'flannel-vxlan';
  }

  private isLocal(ip: number): boolean {
    return ip >>> 24 === 127 || this.tables.localAddrs.has(ip);
  }

  /** Index of the first matching rule in the hook's chains, or -1; `work` via this.scanned. */
  private scanned = 0;
  private match(pkt: FirstPacket): number {
    const t = this.tables;
    const container = pkt.hook === HOOK_PREROUTING;
    const portals = container ? 0 : 1;
    const dst = pkt.dstIp >>> 0;
    const port = pkt.dstPort;
    const proto = pkt.proto;
    const ruleIp = t.ruleIp;
    // The portal chain is linear, as the userspace proxier's KUBE-PORTALS-* rules are: the scan
    // compares the destination first, and reads the rest only for the rules that could match.
    // Eight destinations a step while none is the packet's (other Services' portals): one branch
    // per eight rules, as iptables' scan steps (decide.ts walkHook); then rule by rule to the candidate.
    const start = t.chainStart[portals];
    const end = t.chainEnd[portals];
    const last8 = end - 8;
    let i = start;
    while (i < end) {
      while (i <= last8) {
        if (ruleIp[i] === dst || ruleIp[i + 1] === dst || ruleIp[i + 2] === dst || ruleIp[i + 3] === dst) break;
        if (ruleIp[i + 4] === dst || ruleIp[i + 5] === dst || ruleIp[i + 6] === dst || ruleIp[i + 7] === dst) break;
        i += 8;
      }
      while (i < end && ruleIp[i] !== dst) i++;
      if (i === end) break;
      const m = t.ruleMatch[i];
      if (
        t.rulePort[i] === port && t.ruleProto[i] === proto &&
        !(m & M_PHYSDEV_NOT_IN && pkt.fromPodInterface && this.bridged) && !(m & M_DST_LOCAL && !this.isLocal(dst))
      ) {
        this.scanned = 2 + i - start; // the jump into the chain, and the rules up to this one
        return i;
      }
      i++;
    }
    let scanned = 2 + end - start; // every portal rule, then `-m addrtype --dst-type LOCAL -j KUBE-NODEPORT-*`
    if (this.isLocal(dst)) {
      const np = container ? 2 : 3;
      const rulePort = t.rulePort;
      const ruleProto = t.ruleProto;
      for (let i = t.chainStart[np]; i < t.chainEnd[np]; i++) {
        scanned++;
        if (rulePort[i] === port && ruleProto[i] === proto) {
          this.scanned = scanned;
          return i;
        }
      }
    }
    this.scanned = scanned;
    return -1;
  }

  // Cost: ~6.5 µs per ClusterIP first packet at 10k Services, 6,300 portal rules scanned a decision (~1 ns a rule) (SERVICES=10000 MODES=userspace TIME=1500 node dist/bench/compile/lookup.bench.js, 2026-12-04; 20-24 µs before the eight-rule step, alternated runs).
  // In the pipeline the service-nat stage takes ~193 ns, 342 ns, 1.56 µs, 12.7 µs and 36.7 µs a first packet at 10, 100, 1k, 10k and 30k Services, batch 256 (`kdp bench`, the benchmark of record of 2026-12-07 at 46e2266, BENCHMARKS.md).
  decide(pkt: FirstPacket, out: NatDecision): void {
    const t = this.tables;
    clearDecision(out);
    const i = this.match(pkt);
    out.work = this.scanned;
    if (i < 0) return;
    const sp = t.ruleServicePort[i];
    out.verdict = VERDICT_REDIRECT;
    out.servicePort = sp;
    // REDIRECT goes to the address of the interface the packet came in on; kdp models that as the
    // node's address. Host portals DNAT to the listen address, or the node IP for 0.0.0.0.
    out.dnatIp = this.listenIp !== 0 ? this.listenIp : this.nodeIp;
    out.dnatPort = t.proxyPort[sp];
    out.endpoint = this.nextEndpoint(sp, pkt);
  }

  /**
   * LoadBalancerRR.NextEndpoint: a live affinity entry wins, else the next in turn. Given the
   * packet, not its time: a double passed to a call the JIT does not inline is boxed.
   */
  private nextEndpoint(sp: number, pkt: FirstPacket): number {
    const t = this.tables;
    const n = t.epCount[sp];
    if (n === 0) return -1;
    // From the tables, not the cluster: a worker attached before a Service was added in place
    // still holds the older cluster, which has no such port.
    const ttl = t.affinitySeconds[sp];
    const sticky = ttl !== 0;
    if (sticky) {
      t.affinity.clock[0] = pkt.now;
      const hit = t.affinity.lookup(sp, pkt.srcIp, ttl);
      const rel = hit < 0 ? -1 : t.affinity.value[hit];
      if (rel >= 0 && rel < n) return t.epRows[t.epStart[sp] + rel];
    }
    const idx = t.rrIndex[sp] % n;
    t.rrIndex[sp] = (idx + 1) % n;
    if (sticky) t.affinity.remember(sp, pkt.srcIp, idx, ttl);
    return t.epRows[t.epStart[sp] + idx];
  }

  proxyConnection(pkt: FirstPacket, decision: NatDecision, out: ProxyConnection): boolean {
    if (decision.verdict !== VERDICT_REDIRECT || decision.endpoint < 0) return false;
    const e = this.cluster.endpoints;
    const [lo, hi] = kEphemeralPortRange;
    out.srcIp = this.nodeIp;
    out.srcPort = lo + (fibonacci32(pkt.rand ^ 0x5bd1e995) % (hi - lo + 1));
    out.dstIp = e.ip[decision.endpoint];
    out.dstPort = e.port[decision.endpoint];
    out.proto = pkt.proto;
    return true;
  }

  reset(): void {
    this.tables.rrIndex.fill(0);
    this.tables.affinity.clear();
  }

  explain(pkt: FirstPacket): Explanation {
    const t = this.tables;
    const steps: TraceStep[] = [];
    const i = this.match(pkt);
    if (i < 0) {
      steps.push({ where: pkt.hook === HOOK_PREROUTING ? 'nat/PREROUTING' : 'nat/OUTPUT', rule: '(no portal rule)', action: `no match (${this.scanned} rules)` });
      return { verdict: 'none', servicePort: -1, candidates: [], masquerade: false, steps };
    }
    const sp = t.ruleServicePort[i];
    const kindName = ['KUBE-PORTALS-CONTAINER', 'KUBE-PORTALS-HOST', 'KUBE-NODEPORT-CONTAINER', 'KUBE-NODEPORT-HOST'][t.ruleKind[i]];
    steps.push({ where: `nat/${kindName}`, rule: portalRuleText(this, i), action: `${t.ruleKind[i] % 2 === 0 && this.listenIp === 0 ? 'REDIRECT' : 'DNAT'} to proxy port ${t.proxyPort[sp]}` });
    const candidates: number[] = [];
    for (let k = 0; k < t.epCount[sp]; k++) {
      const r = t.epRows[t.epStart[sp] + k];
      candidates.push(r);
      steps.push({ where: 'userspace-proxy', rule: `LoadBalancerRR ${formatIp(this.cluster.endpoints.ip[r])}:${this.cluster.endpoints.port[r]}`, action: `connect from ${formatIp(this.nodeIp)}` });
    }
    if (candidates.length === 0) steps.push({ where: 'userspace-proxy', rule: 'NextEndpoint: ErrMissingEndpoints', action: 'accept, then close the client connection' });
    return { verdict: 'redirect', servicePort: sp, candidates, masquerade: false, steps };
  }

  stats(): DataplaneStats {
    const t = this.tables;
    let proxied = 0;
    for (let i = 0; i < t.proxyPort.length; i++) if (t.proxyPort[i] !== 0) proxied++;
    const bytes = [t.proxyPort, t.epStart, t.epCount, t.epRows, t.rrIndex, t.ruleKind, t.ruleIp, t.rulePort, t.ruleProto, t.ruleMatch, t.ruleServicePort,
      t.affinitySeconds, t.chainStart, t.chainEnd, t.chainGone, t.spRule, t.extent, t.nextProxyPort, t.nodePortBits]
      .reduce((n, a) => n + a.byteLength, 0) + t.localAddrs.bytes + t.affinity.bytes;
    const portal = liveRules(t);
    return {
      mode: 'userspace',
      // Portal rules, the five jumps from built-in chains, one KUBE-NODEPORT-NON-LOCAL accept per NodePort.
      rules: portal + 5 + liveRules(t, 2),
      chains: 5,
      tableBytes: bytes,
      proxySockets: proxied,
      portalRules: portal,
    };
  }
}
