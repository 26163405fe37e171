/**
 * IPVS mode's VS table and bound-address set (KUBE-IPVS-IPS), and Cilium's service map, carry the
 * /16 prefix filter (tables/prefix-filter.ts): a first packet to a pod's address, as every packet
 * of a new flow reaches the server's node after the client's node balanced it, is answered
 * without reading a slot of them. The law, per mode: with every slot overwritten to hold the pod's
 * key, decide() still says "no service rule", probing no slot and charging one step (the filter's
 * word), where the Service's ClusterIP DNATs. Exactness after adds and deletes is
 * tables/prefix-filter.test.ts' law; that an updated node decides as a fresh compile, the
 * incremental-service property's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileDataplane } from '../../src/compile/index.js';
import type { CiliumDataplane } from '../../src/compile/cilium/index.js';
import type { IpvsDataplane } from '../../src/compile/ipvs/index.js';
import { HOOK_PREROUTING, HOOK_SOCKET, newFirstPacket, newNatDecision, VERDICT_DNAT, VERDICT_NONE, type ServiceDataplane } from '../../src/compile/dataplane.js';
import { PairWord, portProtoKey, type AddressSet, type PairTable } from '../../src/compile/tables/index.js';
import { SCOPE_EXT, serviceKeyWord } from '../../src/compile/cilium/tables.js';
import { parseIp } from '../../src/net/ipv4.js';
import { clusterOf, node, proxyConfig, service, slice } from '../helpers/cluster.js';

const kPod = parseIp('10.244.2.5');

/** The tables whose slots a first packet's lookup reads, and the key word of a TCP port there. */
const kModes: Record<'ipvs' | 'cilium', { tables(dp: ServiceDataplane): { pairs: PairTable[]; sets: AddressSet[] }; tcpKey(port: number): number }> = {
  ipvs: { tables: (dp) => ({ pairs: [(dp as IpvsDataplane).tables.table], sets: [(dp as IpvsDataplane).tables.bound] }), tcpKey: (port) => portProtoKey(6, port) },
  cilium: { tables: (dp) => ({ pairs: [(dp as CiliumDataplane).tables.services], sets: [] }), tcpKey: (port) => serviceKeyWord(port, 6, SCOPE_EXT) },
};

for (const mode of ['ipvs', 'cilium'] as const) {
  test(`${mode}: a first packet to a pod's address reads no slot of the service tables`, () => {
    const cluster = clusterOf(
      proxyConfig({ mode, clusterCIDR: '10.244.0.0/16' }),
      node('n1', '10.244.1.0/24', '192.168.0.11'),
      node('n2', '10.244.2.0/24', '192.168.0.12'),
      service('ns', 'web', { clusterIP: '10.96.0.10', ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }] }),
      slice('ns', 'web', [{ port: 8080 }], [{ ip: '10.244.2.5', node: 'n2' }]),
    );
    const dp = compileDataplane(cluster, mode, 1);
    const pkt = newFirstPacket();
    const out = newNatDecision();
    pkt.srcIp = parseIp('10.244.1.7');
    pkt.srcPort = 40000;
    pkt.proto = 6;
    pkt.dstIp = parseIp('10.96.0.10');
    pkt.dstPort = 80;
    pkt.fromPodInterface = true;
    pkt.hook = dp.socketLb ? HOOK_SOCKET : HOOK_PREROUTING; // Cilium balances a pod's connections at its socket
    dp.decide(pkt, out);
    assert.equal(out.verdict, VERDICT_DNAT, 'the ClusterIP is balanced');

    // Every slot now holds the pod's key, with the ClusterIP's row, or the pod's address: only a
    // lookup that reads no slot can miss them.
    const { pairs, sets } = kModes[mode].tables(dp);
    for (const t of pairs) {
      const row = t.rows[t.at(t.find(pkt.dstIp, kModes[mode].tcpKey(80)))]!;
      for (let s = 0; s < t.capacity; s++) {
        t.rows[s * t.stride + PairWord.K0] = kPod;
        t.rows[s * t.stride + PairWord.K1] = kModes[mode].tcpKey(8080);
        t.rows[t.at(s)] = row;
      }
    }
    for (const t of sets) {
      t.keys.fill(kPod);
      t.used.fill(1);
    }
    pkt.dstIp = kPod;
    pkt.dstPort = 8080;
    pkt.hook = HOOK_PREROUTING;
    pkt.fromPodInterface = false; // from the tunnel, balanced on the client's node
    dp.decide(pkt, out);
    assert.equal(out.verdict, VERDICT_NONE, 'the pod\'s address is neither a service frontend nor bound');
    assert.equal(out.work, 1, 'one step charged: the filter\'s word');
    for (const t of pairs) assert.equal(t.lastProbes, 0, 'no slot probed');
  });
}
