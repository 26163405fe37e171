/**
 * The sync laws' random endpoint change (test/compile/{nftables,ipvs,cilium}/sync.test.ts): 1-3
 * random Services of a cluster, whose endpoints' conditions are drawn at random, sometimes every
 * one of a Service off, anew at each call of `conditions()`, so that both sides of a change can be
 * random (backends go and come); and the compile laws' fixed one (withFewerReady).
 */
import type { Prng } from '../../src/model/prng.js';
import { EP_READY, EP_SERVING, type Cluster } from '../../src/model/types.js';

export function randomEndpointChange(base: Cluster, rng: Prng): { changed: Set<number>; conditions: () => Uint8Array } {
  const changed = new Set<number>();
  for (let k = 1 + rng.below(3); k > 0; k--) changed.add(rng.below(base.services.length));
  const conditions = (): Uint8Array => {
    const out = Uint8Array.from(base.endpoints.conditions);
    for (const s of changed) {
      const allOff = rng.next() < 0.3;
      for (const p of base.services[s].ports) {
        const sp = base.ports[p];
        for (let r = sp.endpointStart; r < sp.endpointStart + sp.endpointCount; r++) out[r] = allOff ? 0 : rng.below(8);
      }
    }
    return out;
  };
  return { changed, conditions };
}

/** The cluster with only every third row of `service`'s ports ready, from the `keep`th: its numgens lose two branches in three. */
export function withFewerReady(cluster: Cluster, service: number, keep: number): Cluster {
  const eps = cluster.endpoints;
  const conditions = eps.conditions.slice();
  for (const sp of cluster.services[service].ports) {
    const port = cluster.ports[sp];
    for (let r = port.endpointStart, k = 0; r < port.endpointStart + port.endpointCount; r++, k++) conditions[r] = k % 3 === keep ? EP_READY | EP_SERVING : 0;
  }
  return { ...cluster, endpoints: { ...eps, conditions } };
}
