/**
 * The userspace portal scan steps eight rules at a time (dataplane.ts match): the law is that it
 * finds what iptables' first-match walk of KUBE-PORTALS-* (then KUBE-NODEPORT-* for a local
 * destination) finds, rule for rule, and counts the same rules evaluated. The oracle below is that
 * walk as the proxier's chains define it (pkg/proxy/userspace/proxier.go, v1.25): one rule at a
 * time, in order, every match of the rule checked.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { HOOK_OUTPUT, HOOK_PREROUTING, newFirstPacket, newNatDecision, type FirstPacket } from '../../../src/compile/dataplane.js';
import { compileDataplane } from '../../../src/compile/index.js';
import type { UserspaceDataplane } from '../../../src/compile/userspace/index.js';
import { M_DST_LOCAL, M_PHYSDEV_NOT_IN, NODEPORT_CONTAINER, NODEPORT_HOST, PORTAL_CONTAINER, PORTAL_HOST, type UserspaceTables } from '../../../src/compile/userspace/tables.js';
import { generateCluster } from '../../../src/model/synthetic.js';

/** iptables' walk of the portal chains: the first rule whose every match holds, and the rules evaluated. */
function walk(t: UserspaceTables, pkt: FirstPacket, bridged: boolean): { rule: number; work: number } {
  const local = (ip: number): boolean => ip >>> 24 === 127 || t.localAddrs.has(ip);
  const container = pkt.hook === HOOK_PREROUTING;
  const holds = (i: number): boolean =>
    t.ruleIp[i] === pkt.dstIp >>> 0 && t.rulePort[i] === pkt.dstPort && t.ruleProto[i] === pkt.proto &&
    !((t.ruleMatch[i] & M_PHYSDEV_NOT_IN) !== 0 && pkt.fromPodInterface && bridged) &&
    !((t.ruleMatch[i] & M_DST_LOCAL) !== 0 && !local(pkt.dstIp >>> 0));
  const portals = container ? PORTAL_CONTAINER : PORTAL_HOST;
  let work = 1; // the jump from PREROUTING or OUTPUT into the portal chain
  for (let i = t.chainStart[portals]; i < t.chainEnd[portals]; i++) {
    work++;
    if (holds(i)) return { rule: i, work };
  }
  work++; // `-m addrtype --dst-type LOCAL -j KUBE-NODEPORT-*`
  if (local(pkt.dstIp >>> 0)) {
    const np = container ? NODEPORT_CONTAINER : NODEPORT_HOST;
    for (let i = t.chainStart[np]; i < t.chainEnd[np]; i++) {
      work++;
      if (t.rulePort[i] === pkt.dstPort && t.ruleProto[i] === pkt.proto) return { rule: i, work };
    }
  }
  return { rule: -1, work };
}

describe('userspace: the portal scan', () => {
  it('matches the rule and counts the rules that iptables\' first-match walk does, for every kind of destination', () => {
    fc.assert(
      fc.property(
        fc.record({ services: fc.integer({ min: 1, max: 70 }), seed: fc.nat({ max: 1000 }), cni: fc.constantFrom('kubenet' as const, 'calico-vxlan' as const), node: fc.nat({ max: 1 }) }),
        ({ services, seed, cni, node }) => {
          const cluster = generateCluster({ services, endpoints: 2, nodes: 2, cni, seed, mode: 'userspace' });
          const dp = compileDataplane(cluster, 'userspace', node) as UserspaceDataplane;
          const t = dp.tables;
          const bridged = cni === 'kubenet';
          // Every portal's destination with its own port, a port it does not have and another protocol;
          // the nodes' addresses at every NodePort; an address no rule has.
          const dests: [number, number, number][] = [];
          for (let i = 0; i < t.ruleIp.length; i++) {
            if (t.ruleProto[i] === 0) continue;
            dests.push([t.ruleIp[i]!, t.rulePort[i]!, t.ruleProto[i]!], [t.ruleIp[i]!, (t.rulePort[i]! + 1) & 0xffff, t.ruleProto[i]!], [t.ruleIp[i]!, t.rulePort[i]!, t.ruleProto[i] === 6 ? 17 : 6]);
          }
          for (const n of cluster.nodes) for (let i = t.chainStart[NODEPORT_CONTAINER]; i < t.chainEnd[NODEPORT_CONTAINER]; i++) dests.push([n.internalIPs[0]!, t.rulePort[i]!, t.ruleProto[i]!]);
          dests.push([0x08080808, 53, 17], [0x7f000001, 80, 6]);
          const pkt = newFirstPacket();
          const out = newNatDecision();
          for (const [dst, port, proto] of dests) {
            for (const hook of [HOOK_PREROUTING, HOOK_OUTPUT]) {
              for (const fromPod of hook === HOOK_PREROUTING ? [true, false] : [false]) {
                Object.assign(pkt, { srcIp: cluster.endpoints.ip[0], srcPort: 40000, dstIp: dst, dstPort: port, proto, hook, fromPodInterface: fromPod, rand: 7, now: 0 });
                const want = walk(t, pkt, bridged);
                dp.decide(pkt, out);
                assert.equal(out.work, want.work, `rules evaluated for ${dst >>> 0}:${port}/${proto} hook ${hook}`);
                assert.equal(out.servicePort, want.rule < 0 ? -1 : t.ruleServicePort[want.rule], `the matching rule's port for ${dst >>> 0}:${port}/${proto} hook ${hook}`);
              }
            }
          }
        },
      ),
      { numRuns: 60, seed: 14 },
    );
  });
});
