/** `kdp trace --dst NAME:PORT` as a script sees it: the `dns` field, exit statuses, and errors that say what to do. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { fixturePath } from '../helpers/cluster.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const file = fixturePath('dns-cluster.yaml');
const trace = (...args: string[]) => spawnSync(process.execPath, [kdp, 'trace', file, ...args], { encoding: 'utf8' });

describe('kdp trace with a DNS name', () => {
  it('adds dns: [{qname, qtype, rcode, answers, server, sourcePort, deliveredTo, truncated, hops}] and traces the connection to the answer', () => {
    const r = trace('--src', 'pod/shop/client', '--dst', 'web.shop:80', '--json');
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.packet.dst, '10.96.0.20:80');
    assert.equal(out.endpoint, '10.244.1.5:8080');
    assert.equal(out.dns.length, 4);
    assert.deepEqual(Object.keys(out.dns[2]), ['qname', 'qtype', 'rcode', 'answers', 'server', 'sourcePort', 'deliveredTo', 'truncated', 'hops']);
    assert.deepEqual(out.dns[2].answers, [{ name: 'web.shop.svc.cluster.local.', type: 'A', ttl: 30, data: '10.96.0.20' }]);
    assert.ok(out.dns[2].hops.length >= 4);
  });

  it('the text form shows the lookup, each query hop by hop, then the connection', () => {
    const r = trace('--src', '10.244.1.10', '--dst', 'web.shop.svc.cluster.local.:80');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^lookup of web\.shop\.svc\.cluster\.local\. from shop\/client: nameserver 10\.96\.0\.10/);
    assert.match(r.stdout, /query A web\.shop\.svc\.cluster\.local\. from port 50000 to 10\.96\.0\.10:53, delivered to 10\.244\.1\.2:53: NOERROR A 10\.96\.0\.20/);
    assert.match(r.stdout, /address: 10\.96\.0\.20\n\npacket: TCP 10\.244\.1\.10:40000 > 10\.96\.0\.20:80/);
  });

  it('a name that does not resolve exits 1 with the queries and address null', () => {
    const r = trace('--src', 'pod/shop/client', '--dst', 'nosuch:80', '--json');
    assert.equal(r.status, 1);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out), ['mode', 'name', 'address', 'dns']);
    assert.equal(out.address, null);
    assert.deepEqual(out.dns.map((q: { rcode: string }) => q.rcode), ['NXDOMAIN', 'NXDOMAIN', 'NXDOMAIN', 'NXDOMAIN', 'NXDOMAIN', 'NXDOMAIN', null, null]);
  });

  it('refuses a name without a port, a source that is not a pod, and a malformed name (exit 2)', () => {
    const cases: [string[], RegExp][] = [
      [['--src', 'pod/shop/client', '--dst', 'web.shop'], /needs a port/],
      [['--src', '192.168.0.99', '--dst', 'web.shop:80'], /must be pod\/NAMESPACE\/NAME or the address of a Pod/],
      [['--src', 'pod/shop/client', '--dst', 'web..shop:80'], /is not a DNS name/],
    ];
    for (const [args, message] of cases) {
      const r = trace(...args);
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});
