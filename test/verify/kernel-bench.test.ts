/**
 * The kernel baseline floods the first and the last UDP Service of kube-proxy's order. It finds
 * them from the model, without compiling a mode; here the oracle is iptables mode's own nat
 * KUBE-SERVICES chain: the first and last UDP ClusterIP jump in it must be the same two.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { compileRuleset } from '../../src/compile/iptables/index.js';
import { M_DST, T_JUMP, TABLE_NAT } from '../../src/compile/iptables/ruleset.js';
import { generateCluster } from '../../src/model/synthetic.js';
import type { Cluster } from '../../src/model/types.js';
import { PROTO_UDP } from '../../src/net/proto.js';
import { firstAndLastUdpService } from '../../src/verify/kernel-bench.js';

function fromKubeServices(cluster: Cluster): { first: [number, number]; last: [number, number] } | undefined {
  const rs = compileRuleset(cluster, { node: 0, nfacct: false });
  const chain = rs.chainId(TABLE_NAT, 'KUBE-SERVICES');
  const found: [number, number][] = [];
  for (let r = rs.chainStart[chain]; r < rs.chainEnd[chain]; r++) {
    if (rs.ruleProto[r] === PROTO_UDP && rs.ruleTarget[r] === T_JUMP && (rs.ruleFlags[r] & M_DST) !== 0 && rs.rulePort[r] >= 0) {
      const svc = cluster.services[cluster.ports[rs.rulePort[r]].service];
      if (svc.clusterIPs[0] === rs.ruleDst[r]) found.push([rs.ruleDst[r], rs.ruleDport[r]]);
    }
  }
  return found.length === 0 ? undefined : { first: found[0], last: found[found.length - 1] };
}

test('the kernel baseline floods the first and last UDP Service of iptables mode\'s KUBE-SERVICES', () => {
  let compared = 0;
  for (const services of [1, 7, 40, 300]) {
    for (const seed of [1, 2, 3]) {
      for (const endpoints of [0, 1, 3]) {
        const cluster = generateCluster({ services, endpoints, nodes: 3, seed });
        const want = fromKubeServices(cluster);
        assert.deepEqual(firstAndLastUdpService(cluster), want, `${services} Services x ${endpoints} endpoints, seed ${seed}`);
        if (want) compared++;
      }
    }
  }
  assert.ok(compared >= 20, `${compared} clusters had a UDP Service to compare`);
});
