/** `kdp trace` and `kdp compile` as scripts use them: JSON fields, batches, pcap, exit codes. */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { fixturePath } from '../helpers/cluster.js';
import { twoNodeObjects } from '../helpers/two-nodes.js';

const kdp = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (...args: string[]) => spawnSync(process.execPath, [kdp, ...args], { encoding: 'utf8' });
const dir = mkdtempSync(join(tmpdir(), 'kdp-trace-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const vxlanCluster = join(dir, 'vxlan.json');
writeFileSync(vxlanCluster, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: twoNodeObjects('calico-vxlan') }));
const fixture = fixturePath('small-cluster.yaml');

describe('kdp trace', () => {
  it('--json prints the fields other tools rely on', () => {
    const r = run('trace', fixture, '--src', '10.244.1.9:40000', '--dst', 'svc/default/web:http', '--json', '--mode', 'nftables');
    assert.equal(r.status, 0, r.stderr);
    const t = JSON.parse(r.stdout);
    assert.equal(t.mode, 'nftables');
    assert.equal(t.node, 'node-1');
    assert.deepEqual(t.packet, { protocol: 'TCP', src: '10.244.1.9:40000', dst: '10.96.0.10:80' });
    assert.equal(t.decision, 'dnat');
    assert.equal(t.service, 'default/web:http');
    assert.deepEqual(t.candidates, ['10.244.1.5:8080', '10.244.2.7:8080']);
    assert.ok(t.candidates.includes(t.endpoint));
    assert.equal(t.masquerade, false);
    assert.equal(t.verdict, 'delivered');
    assert.ok(Array.isArray(t.hops) && t.hops.length >= 3);
    for (const h of t.hops) for (const k of ['node', 'at', 'action', 'src', 'dst', 'outer']) assert.ok(k in h, `hop field ${k}`);
  });

  it('--batch answers one JSON line per probe, in order, and flags bad lines', () => {
    const probes = join(dir, 'probes.jsonl');
    writeFileSync(
      probes,
      [
        { proto: 'udp', src: '10.244.2.5:5353', dst: '10.96.0.53:53' },
        { proto: 'tcp', src: '198.51.100.7:4000', dst: '192.0.2.10:443', node: 'node-2' },
        { proto: 'tcp', src: 'nonsense', dst: '10.96.0.10:80' },
      ]
        .map((p) => JSON.stringify(p))
        .join('\n'),
    );
    const r = run('trace', fixture, '--batch', probes);
    assert.equal(r.status, 2, 'a bad probe makes the exit status 2');
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 3);
    assert.equal(lines[0].service, 'kube-system/dns:dns');
    assert.equal(lines[0].packet.protocol, 'UDP');
    assert.equal(lines[1].service, 'store/shop:https', 'LoadBalancer IP from an allowed source range');
    assert.equal(lines[1].masquerade, false, 'externalTrafficPolicy Local keeps the client address');
    assert.equal(lines[2].line, 3);
    assert.match(lines[2].error, /source "nonsense"/);
  });

  it('bad addresses and unknown nodes exit 2 with a message', () => {
    const r = run('trace', fixture, '--src', '10.244.1.9', '--dst', '10.96.0.10', '--node', 'node-1');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /needs a port/);
    const n = run('trace', fixture, '--src', '10.244.1.9', '--dst', '10.96.0.10:80', '--node', 'node-9');
    assert.equal(n.status, 2);
    assert.match(n.stderr, /no such Node.*node-1, node-2/);
  });

  it('--pcap of a cross-node VXLAN flow decodes in tshark with inner and outer addresses, VNI and port 4789', (t) => {
    const which = spawnSync('tshark', ['--version'], { encoding: 'utf8' });
    if (which.error) {
      t.skip('tshark not installed (CI installs it)');
      return;
    }
    const pcap = join(dir, 'vxlan.pcap');
    const r = run('trace', vxlanCluster, '--src', '10.244.1.5:40000', '--dst', '10.96.0.10:80', '--pcap', pcap);
    assert.equal(r.status, 0, r.stderr);
    const fields = spawnSync('tshark', ['-r', pcap, '-Y', 'vxlan', '-T', 'fields', '-e', 'ip.src', '-e', 'ip.dst', '-e', 'udp.dstport', '-e', 'vxlan.vni', '-E', 'separator=;'], { encoding: 'utf8' });
    assert.equal(fields.status, 0, fields.stderr);
    const rows = fields.stdout.trim().split('\n');
    assert.ok(rows.length >= 1, 'at least one VXLAN frame');
    // ip.src/ip.dst list the outer, then the inner header.
    assert.equal(rows[0], '192.168.0.11,10.244.1.5;192.168.0.12,10.244.2.7;4789;4096');
    const expert = spawnSync('tshark', ['-r', pcap, '-q', '-z', 'expert,warn'], { encoding: 'utf8' });
    assert.doesNotMatch(expert.stdout, /Malformed|Warning/i);
  });
});

describe('kdp compile', () => {
  it('prints each mode in its own format', () => {
    const ipt = run('compile', fixture, '--mode', 'iptables');
    assert.equal(ipt.status, 0, ipt.stderr);
    assert.match(ipt.stdout, /^\*nat$/m);
    assert.match(ipt.stdout, /-A KUBE-SERVICES -d 10\.96\.0\.10\/32 -p tcp -m comment --comment "default\/web:http cluster IP"/);
    assert.match(run('compile', fixture, '--mode', 'ipvs').stdout, /^-A -t 10\.96\.0\.10:80 -s rr$/m);
    assert.match(run('compile', fixture, '--mode', 'ipvs', '--format', 'ipset').stdout, /^create KUBE-CLUSTER-IP hash:ip,port/m);
    assert.match(run('compile', fixture, '--mode', 'nftables').stdout, /^table ip kube-proxy \{$/m);
  });

  it('--stats and --format json report rules, chains and table memory', () => {
    const j = run('compile', fixture, '--mode', 'nftables', '--format', 'json');
    assert.equal(j.status, 0, j.stderr);
    const s = JSON.parse(j.stdout);
    assert.equal(s.mode, 'nftables');
    assert.ok(s.rules > 0 && s.chains > 0 && s.tableBytes > 0);
    assert.match(run('compile', fixture, '--stats').stdout, /rules: \d+[\s\S]*table memory: [\d,]+ bytes/);
  });

  it('refuses a format the mode does not print, and a parse error in a dump names its line', () => {
    const bad = run('compile', fixture, '--mode', 'nftables', '--format', 'ipvsadm');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /takes nft, nft-transaction, nft-json, json/);
    const dump = join(dir, 'dump.txt');
    writeFileSync(dump, '*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES --frobnicate -j ACCEPT\nCOMMIT\n');
    const r = run('compile', '--from-iptables-save', dump);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /dump\.txt:3: /);
  });

  it('cilium past bpf-lb-map-max: compile (listing and --stats) and trace warn on stderr with the entries needed, and still succeed', () => {
    // 400 ClusterIP Services x 11 entries = 4,400 against a map of 4,096.
    const items: object[] = [
      ...twoNodeObjects('kubenet', 'cilium'),
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'kube-system', name: 'cilium-config' }, data: { 'kube-proxy-replacement': 'true', 'bpf-lb-map-max': '4096' } },
    ];
    const eps = Array.from({ length: 10 }, (_, j) => ({ addresses: [`10.244.1.${100 + j}`], conditions: { ready: true }, nodeName: 'node-1' }));
    for (let k = 0; k < 400; k++) {
      items.push({ apiVersion: 'v1', kind: 'Service', metadata: { namespace: 'big', name: `s${k}` }, spec: { clusterIP: `10.96.${2 + (k >> 8)}.${k & 255}`, ports: [{ name: 'http', port: 80, targetPort: 8080 }] } });
      items.push({ apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { namespace: 'big', name: `s${k}-1`, labels: { 'kubernetes.io/service-name': `s${k}` } }, addressType: 'IPv4', ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: eps });
    }
    const file = join(dir, 'cilium-full.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    const warning = /warning: cilium: node node-1 needs \d[\d,]* service-map entries, more than bpf-lb-map-max 4,096: \d+ frontend\(s\) are not programmed/;
    for (const args of [['compile', file], ['compile', file, '--stats'], ['trace', file, '--src', '10.244.1.9:40000', '--dst', '10.96.0.10:80']]) {
      const r = run(...args);
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, warning, args.join(' '));
    }
    // A cluster that fits is silent.
    const quiet = run('compile', vxlanCluster, '--mode', 'cilium', '--stats');
    assert.equal(quiet.status, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /warning/);
  });

  it('a rendered iptables-save dump loads back with --from-iptables-save', () => {
    const dump = join(dir, 'fixture.rules');
    writeFileSync(dump, run('compile', fixture, '--mode', 'iptables').stdout);
    const r = run('compile', '--from-iptables-save', dump, fixture, '--stats');
    assert.equal(r.status, 0, r.stderr);
    // The compiled ruleset's own count (67: without nfacct counters, ClusterNetwork's default, the
    // localhost NodePort rule with `-m nfacct` is left out, as kube-proxy leaves it out).
    const compiled = JSON.parse(run('compile', fixture, '--mode', 'iptables', '--format', 'json').stdout) as { rules: number };
    assert.equal(compiled.rules, 67);
    assert.match(r.stdout, new RegExp(`rules: ${compiled.rules}\\b`));
  });
});
