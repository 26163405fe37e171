import { strict as assert } from 'node:assert';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  RK_BLACKHOLE,
  RK_BRIDGE,
  RK_LOCAL,
  RK_UNDERLAY,
  RK_VETH,
  RK_VXLAN,
  ROUTE_KIND_NAMES,
  RouteTable,
  type RouteSpec,
} from '../../src/dataplane/route-table.js';
import { type Cidr, parseCidr, parseIp, prefixMask } from '../../src/net/ipv4.js';

const cidr = (text: string): Cidr => parseCidr(text)!;
const ip = parseIp;

/** The reference: scan every route, keep the longest match (the later one among equal CIDRs). */
function naiveLookup(routes: readonly RouteSpec[], addr: number): number {
  let best = -1;
  for (let i = 0; i < routes.length; i++) {
    const c = routes[i].cidr;
    if (((addr & prefixMask(c.prefix)) >>> 0) !== c.base) continue;
    if (best < 0 || c.prefix >= routes[best].cidr.prefix) best = i;
  }
  return best;
}

describe('route table', () => {
  // A Calico VXLAN node: default via the gateway, the pod CIDR via the overlay, its own block
  // blackholed, its pods' /32s on their veths, and its own address local.
  const routes: RouteSpec[] = [
    { cidr: cidr('0.0.0.0/0'), kind: RK_UNDERLAY, gateway: ip('192.168.0.1') },
    { cidr: cidr('192.168.0.0/24'), kind: RK_UNDERLAY },
    { cidr: cidr('192.168.0.11/32'), kind: RK_LOCAL },
    { cidr: cidr('10.244.0.0/16'), kind: RK_VXLAN, node: 3, gateway: ip('10.244.3.0') },
    { cidr: cidr('10.244.2.0/26'), kind: RK_VXLAN, node: 2, gateway: ip('10.244.2.0') },
    { cidr: cidr('10.244.1.0/26'), kind: RK_BLACKHOLE },
    { cidr: cidr('10.244.1.5/32'), kind: RK_VETH, oif: 5 },
    { cidr: cidr('10.244.1.6/32'), kind: RK_VETH, oif: 6 },
    { cidr: cidr('10.244.128.0/24'), kind: RK_BRIDGE, meta: 42 },
  ];
  const t = RouteTable.build(routes);

  it('picks the longest matching prefix and its next hop', () => {
    const cases: [string, number, string][] = [
      ['10.244.1.5', 6, 'veth'],
      ['10.244.1.6', 7, 'veth'],
      ['10.244.1.7', 5, 'blackhole'],
      ['10.244.1.63', 5, 'blackhole'],
      ['10.244.1.64', 3, 'vxlan.calico'],
      ['10.244.2.9', 4, 'vxlan.calico'],
      ['10.244.128.200', 8, 'cbr0'],
      ['192.168.0.11', 2, 'local'],
      ['192.168.0.12', 1, 'eth0'],
      ['8.8.8.8', 0, 'eth0'],
      ['255.255.255.255', 0, 'eth0'],
      ['0.0.0.0', 0, 'eth0'],
    ];
    for (const [addr, route, kind] of cases) {
      const r = t.lookup(ip(addr));
      assert.equal(r, route, addr);
      assert.equal(ROUTE_KIND_NAMES[t.kind[r]], kind, addr);
    }
    const remote = t.lookup(ip('10.244.2.9'));
    assert.equal(t.node[remote], 2);
    assert.equal(t.gateway[remote], ip('10.244.2.0'));
    assert.equal(t.oif[t.lookup(ip('10.244.1.6'))], 6);
    assert.equal(t.meta[t.lookup(ip('10.244.128.1'))], 42);
    assert.equal(t.node[0], -1);
    assert.equal(t.prefix[6], 32);
  });

  it('returns -1 where no route matches', () => {
    const small = RouteTable.build([{ cidr: cidr('10.0.0.0/8'), kind: RK_UNDERLAY }]);
    assert.equal(small.lookup(ip('11.0.0.0')), -1);
    assert.equal(small.lookup(ip('9.255.255.255')), -1);
    assert.equal(small.lookup(ip('10.255.255.255')), 0);
    assert.equal(RouteTable.build([]).lookup(ip('1.2.3.4')), -1);
  });

  it('lets the later of two identical CIDRs win', () => {
    const d = RouteTable.build([
      { cidr: cidr('10.0.0.0/24'), kind: RK_UNDERLAY },
      { cidr: cidr('10.0.0.0/24'), kind: RK_VXLAN },
    ]);
    assert.equal(d.lookup(ip('10.0.0.1')), 1);
  });

  it('rebuilds from its buffer without copying', () => {
    const shared = RouteTable.build(routes, { shared: true });
    assert.ok(shared.buffer instanceof SharedArrayBuffer);
    const v = RouteTable.from(shared.buffer);
    assert.equal(v.lookup(ip('10.244.1.5')), 6);
    assert.equal(v.kind[6], RK_VETH);
    assert.equal(v.starts.buffer, shared.buffer);
    assert.throws(() => RouteTable.from(new ArrayBuffer(128)), { code: 'KDP_ERR_INVALID_ARG' });
  });

  it('refuses an image of another version, naming it, rather than reading its layout as its own', () => {
    // Oracle: the buffer layout's header (word 1 the version): a worker given an image another
    // build wrote must refuse it, since its sections need not sit where this version puts them.
    const image = RouteTable.build(routes).buffer.slice(0);
    assert.equal(RouteTable.from(image).lookup(ip('10.244.1.5')), 6);
    new Uint32Array(image, 0, 2)[1] += 1;
    const other = new Uint32Array(image, 0, 2)[1];
    assert.throws(() => RouteTable.from(image), { code: 'KDP_ERR_INVALID_ARG', message: `route table version ${other} is not supported` });
  });

  it('refuses malformed routes', () => {
    assert.throws(() => RouteTable.build([{ cidr: { base: ip('10.0.0.1'), prefix: 24 }, kind: RK_UNDERLAY }]), /routes\[0\]\.cidr\.base/);
    assert.throws(() => RouteTable.build([{ cidr: { base: 0, prefix: 33 }, kind: RK_UNDERLAY }]), /routes\[0\]\.cidr\.prefix/);
    assert.throws(() => RouteTable.build([{ cidr: { base: 0, prefix: 0 }, kind: 99 }]), { code: 'KDP_ERR_INVALID_ARG' });
  });

  it('keeps memory proportional to routes: 100 nodes x /24 plus 5000 /32s', () => {
    const many: RouteSpec[] = [];
    for (let n = 0; n < 100; n++) many.push({ cidr: { base: (0x0af40000 + (n << 8)) >>> 0, prefix: 24 }, kind: RK_VXLAN, node: n });
    for (let i = 0; i < 5000; i++) many.push({ cidr: { base: (0x0af40000 + ((i % 100) << 8) + 1 + (i % 250)) >>> 0, prefix: 32 }, kind: RK_VETH, oif: i });
    const big = RouteTable.build(many);
    assert.ok(big.intervalCount <= 2 * many.length + 1);
    assert.ok(big.byteLength < 400_000, `${big.byteLength} bytes`);
    for (let i = 0; i < 5000; i += 97) assert.equal(big.lookup(many[100 + i].cidr.base), naiveLookup(many, many[100 + i].cidr.base));
  });

  it('agrees with a linear scan where a pod CIDR packs blocks and /32s into one bucket, searching one /24', () => {
    // Oracle: naiveLookup. Calico-like nodes: /26 and /24 blocks and /32s packed into 10.244/16
    // under a /16 and the default route, so buckets hold many intervals and get the /24 level.
    const blockArb = fc
      .record({ off: fc.integer({ min: 0, max: 0xffff }), prefix: fc.constantFrom(19, 24, 26, 28, 32), kind: fc.integer({ min: 0, max: 8 }) })
      .map(({ off, prefix, kind }): RouteSpec => ({ cidr: { base: ((0x0af40000 + off) & prefixMask(prefix)) >>> 0, prefix }, kind }));
    fc.assert(
      fc.property(fc.array(blockArb, { minLength: 2, maxLength: 80 }), fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 50 }), (blocks, offs) => {
        const rs: RouteSpec[] = [{ cidr: cidr('0.0.0.0/0'), kind: RK_UNDERLAY }, { cidr: cidr('10.244.0.0/16'), kind: RK_VXLAN }, ...blocks];
        const table = RouteTable.build(rs);
        const probes = offs.map((o) => (0x0af40000 + o) >>> 0);
        for (const r of rs) {
          const last = r.cidr.base + 2 ** (32 - r.cidr.prefix) - 1;
          probes.push(r.cidr.base, last, (r.cidr.base - 1) >>> 0, (last + 1) >>> 0);
        }
        for (const p of probes) assert.equal(table.lookup(p), naiveLookup(rs, p), `address ${p >>> 0}`);
      }),
      { seed: 11, numRuns: 300 },
    );
    // Not vacuous: such a table narrows its pod CIDR's bucket to the /24, and a /24 inside one
    // block is answered without a search (its group entry and the next are one interval apart).
    const node = RouteTable.build([...routes, { cidr: cidr('10.244.64.0/19'), kind: RK_VETH }]);
    assert.equal(node.dense, 1);
    assert.ok(node.fine.length > 0);
    const g = ~node.dir[ip('10.244.70.9') >>> (32 - node.dirBits)];
    assert.ok(g >= 0, 'the pod CIDR bucket has a /24 group');
    const f = g + ((ip('10.244.70.9') >>> 8) & ((1 << (24 - node.dirBits)) - 1));
    assert.equal(node.fine[f + 1] - node.fine[f], 0);
    assert.equal(node.lookup(ip('10.244.70.9')), routes.length);
  });

  it('narrows fewer buckets rather than spend more than 4 bytes an interval past 256 KB', () => {
    // 40,000 /32s over 40,000 /16s: narrowing every bucket that holds two intervals would cost
    // a group each; the table raises its dense count instead, and still answers as the scan.
    const spread: RouteSpec[] = [{ cidr: cidr('0.0.0.0/0'), kind: RK_UNDERLAY }];
    for (let i = 0; i < 40_000; i++) spread.push({ cidr: { base: ((i * 0x10000 + 0x0101 * (i % 200)) >>> 0) + 7, prefix: 32 }, kind: RK_VETH, oif: i });
    const big = RouteTable.build(spread);
    assert.ok(big.dense > 1, `dense ${big.dense}`);
    assert.ok(big.dir.length + big.fine.length <= Math.max(1 << 16, big.intervalCount) + 1, `${big.dir.length} + ${big.fine.length} entries`);
    for (let i = 0; i < 40_000; i += 331) {
      const a = spread[1 + i].cidr.base;
      for (const p of [a, a - 1, a + 1]) assert.equal(big.lookup(p >>> 0), naiveLookup(spread, p >>> 0));
    }
  });

  it('agrees with a linear scan on random routes and addresses', () => {
    // Prefixes drawn near a few anchor addresses, so that routes nest and share boundaries.
    const anchors = [0x0a000000, 0x0af40100, 0xc0a80000, 0xffffff00, 0x00000000, 0x7fffffff];
    const routeArb = fc
      .record({ a: fc.constantFrom(...anchors), off: fc.integer({ min: 0, max: 0xffff }), wide: fc.boolean(), prefix: fc.integer({ min: 0, max: 32 }), kind: fc.integer({ min: 0, max: 8 }) })
      .map(({ a, off, wide, prefix, kind }): RouteSpec => {
        const addr = wide ? (a ^ (off << 12)) >>> 0 : (a + off) >>> 0;
        return { cidr: { base: (addr & prefixMask(prefix)) >>> 0, prefix }, kind };
      });
    fc.assert(
      fc.property(fc.array(routeArb, { maxLength: 60 }), fc.array(fc.nat({ max: 0xffffffff }), { maxLength: 50 }), (rs, randoms) => {
        const table = RouteTable.build(rs);
        const probes = [...randoms, 0, 0xffffffff];
        for (const r of rs) {
          const last = r.cidr.base + 2 ** (32 - r.cidr.prefix) - 1;
          probes.push(r.cidr.base, last, (r.cidr.base - 1) >>> 0, (last + 1) >>> 0, (r.cidr.base + 1) >>> 0);
        }
        for (const p of probes) assert.equal(table.lookup(p), naiveLookup(rs, p), `address ${p >>> 0}`);
      }),
      { seed: 7, numRuns: 300 },
    );
  });
});
