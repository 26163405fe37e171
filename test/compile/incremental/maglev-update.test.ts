/**
 * The Maglev tables an endpoint update rebuilds in place (Cilium's per-frontend lookup table,
 * IPVS mh's per-port table) hold, slot for slot, the backends a fresh compile of the changed
 * cluster puts there. Tables are compared by backend address and port, since an update keeps the
 * backend IDs it already gave (as the agent does) while a fresh compile numbers them anew.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ciliumConfigOf, compileCilium, type CiliumDataplane } from '../../../src/compile/cilium/index.js';
import { modeNamed } from '../../../src/compile/index.js';
import { compileIpvs, type IpvsDataplane } from '../../../src/compile/ipvs/index.js';
import { rsIp, rsPort, vsRsStart } from '../../../src/compile/ipvs/tables.js';
import { beIp, bePort, feMaglev, feServicePort } from '../../../src/compile/cilium/tables.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { EP_READY, EP_SERVING, type Cluster } from '../../../src/model/types.js';

function cluster(): Cluster {
  const c = generateCluster({ services: 40, endpoints: 5, nodes: 3, seed: 7 });
  return { ...c, cilium: { ...ciliumConfigOf(c), lbAlgorithm: 'maglev', maglevTableSize: 251 }, proxy: { ...c.proxy, ipvsScheduler: 'mh' } };
}

/** Every endpoint of Service `s` flipped: ready ones unready, unready ones ready. */
function flip(c: Cluster, s: number): Cluster {
  const conditions = c.endpoints.conditions.slice();
  for (const sp of c.services[s].ports) {
    const p = c.ports[sp];
    for (let r = p.endpointStart; r < p.endpointStart + p.endpointCount; r++) conditions[r] = (conditions[r] & EP_READY) !== 0 && r % 2 === 0 ? EP_SERVING : EP_READY | EP_SERVING;
  }
  return { ...c, endpoints: { ...c.endpoints, conditions } };
}

function ciliumLuts(dp: CiliumDataplane): string[] {
  const t = dp.tables;
  const out: string[] = [];
  for (let f = 0; f < t.frontends; f++) {
    if (feMaglev(t, f) < 0) continue;
    out.push(Array.from(t.maglev.subarray(feMaglev(t, f), feMaglev(t, f) + t.maglevSize), (id) => `${beIp(t, id)}:${bePort(t, id)}`).join(','));
  }
  return out;
}

function ipvsLuts(dp: IpvsDataplane): string[] {
  const t = dp.tables;
  const out: string[] = [];
  for (let v = 0; v < t.vsCount; v++) {
    const lut = t.mhLuts.subarray(t.vsMh[v] * t.mhSize, (t.vsMh[v] + 1) * t.mhSize);
    out.push(Array.from(lut, (k) => (k === 0xffffffff ? '-' : `${rsIp(t, vsRsStart(t, v) + k)}:${rsPort(t, vsRsStart(t, v) + k)}`)).join(','));
  }
  return out;
}

describe('Maglev tables after an in-place update', () => {
  const before = cluster();
  // Three Services that have Maglev frontends (routable: NodePort, LoadBalancer, externalIP).
  const routable = compileCilium(before, 0).tables;
  const frontends = Array.from({ length: routable.frontends }, (_, f) => f);
  const services = [...new Set(frontends.filter((f) => feMaglev(routable, f) >= 0).map((f) => before.ports[feServicePort(routable, f)].service))].slice(0, 3);
  let after = before;
  for (const s of services) after = flip(after, s);

  it('cilium: every frontend\'s table names the backends a fresh compile names', () => {
    const dp = compileCilium(before, 0);
    assert.equal(services.length, 3, 'the cluster has Services with Maglev frontends');
    const old = ciliumLuts(dp);
    let next = before;
    for (const s of services) {
      next = flip(next, s);
      modeNamed('cilium').updateEndpoints!(dp, next, [s]);
    }
    assert.notDeepEqual(ciliumLuts(dp), old, 'the change moved some table slots');
    assert.deepEqual(ciliumLuts(dp), ciliumLuts(compileCilium(after, 0)));
  });

  it('ipvs mh: every virtual service\'s table names the real servers a fresh compile names', () => {
    const dp = compileIpvs(before, { node: 0, mhTableSize: 251 });
    let next = before;
    for (const s of services) {
      next = flip(next, s);
      modeNamed('ipvs').updateEndpoints!(dp, next, [s]);
    }
    assert.deepEqual(ipvsLuts(dp), ipvsLuts(compileIpvs(after, { node: 0, mhTableSize: 251 })));
  });
});
