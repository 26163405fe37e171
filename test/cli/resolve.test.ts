/** `kdp resolve` as a script sees it: the JSON contract, record data as dig writes it, exit statuses. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { fixturePath } from '../helpers/cluster.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const file = fixturePath('dns-cluster.yaml');
const run = (...args: string[]) => spawnSync(process.execPath, [kdp, 'resolve', ...args], { encoding: 'utf8' });
const json = (...args: string[]) => {
  const r = run(file, ...args, '--json');
  assert.equal(r.stderr, '');
  return { status: r.status, out: JSON.parse(r.stdout) };
};

describe('kdp resolve', () => {
  it('writes the JSON contract: name, from, queries[{qname, qtype, rcode, answers[{name, type, ttl, data}], additional}], address', () => {
    const { status, out } = json('web', '--from', 'shop/client');
    assert.equal(status, 0);
    assert.deepEqual(Object.keys(out), ['name', 'from', 'queries', 'address']);
    assert.deepEqual(out, {
      name: 'web',
      from: 'shop/client',
      queries: [
        { qname: 'web.shop.svc.cluster.local.', qtype: 'A', rcode: 'NOERROR', answers: [{ name: 'web.shop.svc.cluster.local.', type: 'A', ttl: 30, data: '10.96.0.20' }], additional: [] },
        { qname: 'web.shop.svc.cluster.local.', qtype: 'AAAA', rcode: 'NOERROR', answers: [], additional: [] },
      ],
      address: '10.96.0.20',
    });
  });

  it('writes SRV data as dig does, with the target\'s address in additional', () => {
    const { out } = json('_http._tcp.web', '--from', 'shop', '--type', 'SRV');
    const answered = out.queries.at(-1);
    assert.deepEqual(answered.answers, [{ name: '_http._tcp.web.shop.svc.cluster.local.', type: 'SRV', ttl: 30, data: '0 100 80 web.shop.svc.cluster.local.' }]);
    assert.deepEqual(answered.additional, [{ name: 'web.shop.svc.cluster.local.', type: 'A', ttl: 30, data: '10.96.0.20' }]);
    assert.equal(out.address, '10.96.0.20');
  });

  it('an absolute name is one query per type; a CNAME target keeps its dot', () => {
    const { out } = json('payments.shop.svc.cluster.local.', '--from', 'shop', '--type', 'CNAME');
    assert.deepEqual(out.queries, [
      { qname: 'payments.shop.svc.cluster.local.', qtype: 'CNAME', rcode: 'NOERROR', answers: [{ name: 'payments.shop.svc.cluster.local.', type: 'CNAME', ttl: 30, data: 'api.example.com.' }], additional: [] },
    ]);
  });

  it('an answer from outside the cluster is null, never guessed, and ends the list', () => {
    const { status, out } = json('api.example.com', '--from', 'shop');
    assert.equal(status, 0);
    assert.equal(out.queries.length, 8);
    assert.deepEqual(out.queries.slice(6).map((q: { qname: string; rcode: unknown }) => [q.qname, q.rcode]), [['api.example.com.', null], ['api.example.com.', null]]);
    assert.equal(out.address, null);
  });

  it('exits 1 when the name does not resolve, with NXDOMAIN and NODATA told apart', () => {
    const nx = json('nosuch.shop.svc.cluster.local.', '--from', 'shop');
    assert.equal(nx.status, 1);
    assert.deepEqual(nx.out.queries.map((q: { rcode: string }) => q.rcode), ['NXDOMAIN', 'NXDOMAIN']);
    const nodata = json('shop.svc.cluster.local.', '--from', 'shop');
    assert.equal(nodata.status, 1);
    assert.deepEqual(nodata.out.queries.map((q: { rcode: string; answers: unknown[] }) => [q.rcode, q.answers.length]), [['NOERROR', 0], ['NOERROR', 0]]);
  });

  it('prints the resolv.conf and the queries for a person', () => {
    const r = run(file, 'db', '--from', 'shop/client');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /search shop\.svc\.cluster\.local svc\.cluster\.local cluster\.local\n/);
    assert.match(r.stdout, /options ndots:5/);
    assert.match(r.stdout, /1\. db\.shop\.svc\.cluster\.local\.\s+A\s+NOERROR/);
    assert.match(r.stdout, /2\. db\.shop\.svc\.cluster\.local\.\s+AAAA\s+NOERROR \(NODATA\)/);
    assert.match(r.stdout, /address: 10\.244\.1\.20\n/);
  });

  it('refuses bad usage with exit 2 and a one-line reason', () => {
    const cases: [string[], RegExp][] = [
      [[file, 'web', '--from', 'nowhere'], /unknown namespace "nowhere"/],
      [[file, 'web', '--from', 'shop/ghost'], /unknown pod shop\/ghost/],
      [[file, 'web', '--from', 'a/b/c'], /--from takes NAMESPACE\/POD or NAMESPACE/],
      [[file, 'web', '--from', 'shop', '--type', 'MX'], /--type takes one of A, AAAA, SRV, PTR, CNAME, ANY/],
      [[file, 'web'], /--from NS\/POD or --from NS is required/],
      [[file], /give a cluster file and a name/],
      [[file, 'a..b', '--from', 'shop'], /"a\.\.b" is not a DNS name/],
    ];
    for (const [args, message] of cases) {
      const r = run(...args);
      assert.equal(r.status, 2, args.join(' '));
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
  });

  it('has --help', () => {
    const r = run('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /Usage: kdp resolve FILE NAME --from NS\/POD\|NS/);
  });
});
