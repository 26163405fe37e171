import { HOOK_PREROUTING, newFirstPacket, newNatDecision, kVerdictNames, type FirstPacket } from '../../../src/compile/dataplane.js';
import type { IptablesDataplane } from '../../../src/compile/iptables/index.js';
import { parseIp } from '../../../src/net/ipv4.js';
import type { Cluster } from '../../../src/model/types.js';

export interface Flow {
  name: string;
  src: string;
  dst: string;
  port: number;
  proto?: number;
  hook?: number;
  fromPod?: boolean;
  /** Reachable endpoints "ip:port" (any order), or 'REJECT' / 'DROP' / 'NONE'. */
  expect: string[] | 'REJECT' | 'DROP' | 'NONE';
  masq?: boolean;
}

export function packet(f: Flow, rand = 0): FirstPacket {
  const p = newFirstPacket();
  p.srcIp = parseIp(f.src) >>> 0;
  p.dstIp = parseIp(f.dst) >>> 0;
  p.dstPort = f.port;
  p.srcPort = 40000;
  p.proto = f.proto ?? 6;
  p.hook = f.hook ?? HOOK_PREROUTING;
  p.fromPodInterface = f.fromPod ?? false;
  p.rand = rand;
  return p;
}

const hp = (ip: number, port: number): string => `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}:${port}`;

/** Runs a kube-proxy-style packet-flow table through explain() and, for many draws, decide(). */
export function runFlows(dp: IptablesDataplane, cluster: Cluster, flows: Flow[], check: (msg: string, a: unknown, b: unknown) => void): void {
  const out = newNatDecision();
  for (const f of flows) {
    const ex = dp.explain(packet(f));
    if (Array.isArray(f.expect)) {
      check(`${f.name}: verdict`, ex.verdict, 'dnat');
      const got = ex.candidates.map((r) => hp(cluster.endpoints.ip[r], cluster.endpoints.port[r])).sort();
      check(`${f.name}: endpoints`, got, [...f.expect].sort());
      const seen = new Set<string>();
      for (let i = 0; i < 64; i++) {
        dp.reset(); // each draw as a new client, not pinned by -m recent
        dp.decide(packet(f, Math.imul(i + 1, 0x9e3779b1) >>> 0), out);
        check(`${f.name}: decide verdict`, kVerdictNames[out.verdict], 'dnat');
        seen.add(hp(out.dnatIp, out.dnatPort));
        check(`${f.name}: decide endpoint row`, hp(cluster.endpoints.ip[out.endpoint], cluster.endpoints.port[out.endpoint]), hp(out.dnatIp, out.dnatPort));
      }
      for (const s of seen) check(`${f.name}: decide reached ${s}`, f.expect.includes(s), true);
      if (f.expect.length > 1) check(`${f.name}: decide spreads over endpoints`, seen.size > 1, true);
    } else {
      check(`${f.name}: verdict`, ex.verdict, f.expect.toLowerCase());
      dp.decide(packet(f), out);
      check(`${f.name}: decide verdict`, kVerdictNames[out.verdict], f.expect.toLowerCase());
    }
    if (f.masq !== undefined) check(`${f.name}: masquerade`, ex.masquerade, f.masq);
  }
}
