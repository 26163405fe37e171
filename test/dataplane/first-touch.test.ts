/**
 * Laws: a node's tables are backed by memory when they are made, never by the packets that first
 * write them (src/dataplane/pages.ts), and a replay makes every node's tables before its first
 * timed batch (NodeWorld.prepare). Page faults are the operating system's count for this process
 * (process.resourceUsage().minorPageFault): a fresh ArrayBuffer's pages fault on first write. The
 * tables are larger than glibc's largest mmap threshold (32 MiB), so their memory is always freshly
 * mapped, never a recycled (already faulted) heap chunk.
 */
import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import { ConntrackTable } from '../../src/dataplane/conntrack.js';
import { SocketTable } from '../../src/dataplane/socket-table.js';
import { PipelineContext } from '../../src/dataplane/context.js';
import { CompiledCluster } from '../../src/dataplane/compiled-cluster.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { Prng } from '../../src/model/prng.js';

const faults = (): number => process.resourceUsage().minorPageFault;

/**
 * Page faults while `make` runs, and while `use` then writes the made table at random; `use` runs
 * once on a small table first, so that compiling its code faults nothing in the count.
 */
function faultsOf<T>(make: () => T, use: (t: T) => void, small: () => T): { made: number; used: number; table: T } {
  use(small());
  const f0 = faults();
  const t = make();
  const f1 = faults();
  use(t);
  return { made: f1 - f0, used: faults() - f1, table: t };
}

describe('tables are backed by memory when made', () => {
  it('a socket table faults its pages in as it is made, and its inserts fault (almost) none', () => {
    const sockets = 1 << 21; // index 64 MiB, entries 50 MiB: ~29,000 pages
    const pages = (sockets * 4 * 2 * 4 + sockets * 25) / 4096;
    const rng = new Prng(4096);
    const { made, used } = faultsOf(() => new SocketTable(sockets), (t) => {
      for (let k = 0; k < 20000; k++) t.insert(rng.nextU32(), rng.nextU32(), rng.below(65536), 80, 6, rng.nextU32(), 8080, k);
    }, () => new SocketTable(1 << 12));
    assert.ok(made >= 0.9 * pages, `${made} faults making ${pages.toFixed(0)} pages`);
    assert.ok(used < 0.05 * pages, `${used} faults inserting into a made table of ${pages.toFixed(0)} pages`);
  });

  it('a conntrack table faults its pages in as it is made, and its inserts fault (almost) none', () => {
    const max = 1 << 20; // ~63 MiB
    const rng = new Prng(8192);
    const { made, used, table } = faultsOf(() => new ConntrackTable({ maxEntries: max }), (ct) => {
      for (let k = 0; k < 20000; k++) {
        const src = rng.nextU32();
        const dst = rng.nextU32();
        const sport = 1024 + rng.below(60000);
        ct.insert(src, dst, sport, 80, 17, dst, src, 80, sport, 0);
      }
    }, () => new ConntrackTable({ maxEntries: 1 << 15 }));
    const pages = table.buffer.byteLength / 4096;
    assert.ok(made >= 0.9 * pages, `${made} faults making ~${pages.toFixed(0)} pages`);
    assert.ok(used < 0.05 * pages, `${used} faults inserting into a made table of ~${pages.toFixed(0)} pages`);
  });
});

describe('NodeWorld.prepare', () => {
  it('makes every node\'s conntrack table, and its socket table where the mode balances at the socket', () => {
    for (const mode of ['ipvs', 'cilium'] as const) {
      const cluster = generateCluster({ services: 10, endpoints: 2, nodes: 2, cni: 'calico-vxlan', seed: 1, mode });
      const ctx = new PipelineContext(new CompiledCluster(cluster, mode), { seed: 1, conntrackMax: 4096, capacity: 256 });
      assert.equal(ctx.world.conntrackTables().length, 0, 'made on first use until then');
      ctx.world.prepare();
      assert.equal(ctx.world.conntrackTables().length, 2, mode);
      // flowEndpoint reads a node's socket table only once it exists: after prepare, in cilium it does.
      const f0 = faults();
      for (let n = 0; n < 2; n++) ctx.world.sockets(n);
      assert.ok(mode !== 'cilium' || faults() - f0 < 16, `${mode}: the socket tables were made by prepare`);
    }
  });
});
