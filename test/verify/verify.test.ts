/**
 * `kdp verify` against the real kernel: the fixture and synthetic clusters of several shapes
 * agree in both modes, and a deliberately wrong ruleset is caught. Every kernel test runs only
 * inside namespaces the code under test creates (kdpv-<pid>-*) and deletes; skipped, with the
 * reason, without root or the tools.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { verifyCommand } from '../../src/cli/verify.js';
import { EXIT_INVALID } from '../../src/cli/command.js';
import { generateCluster } from '../../src/model/synthetic.js';
import { parseConntrack } from '../../src/verify/conntrack.js';
import { runKernelBaseline } from '../../src/verify/kernel-bench.js';
import { missingRequirements } from '../../src/verify/requirements.js';
import { chiSquareUniform } from '../../src/verify/stats.js';
import { kResendRound, kUniformAlpha, resendEventless, runVerify, untilEventsCaughtUp, type VerifyReport } from '../../src/verify/verify.js';
import type { VerifyProbe } from '../../src/verify/probes.js';
import { formatIp, parseIp } from '../../src/net/ipv4.js';
import { runAgent, type AgentOutcome, type AgentRequest } from '../../src/verify/agent.js';
import { fixturePath, loadFixture } from '../helpers/cluster.js';

const kModes = ['iptables', 'nftables'] as const;
const missing = [...new Set(kModes.flatMap((m) => missingRequirements(m)))];
const skip = missing.length > 0 ? `needs root and iptables/nft/conntrack/ip (missing: ${missing.join('; ')})` : undefined;

function ours(): string[] {
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return (r.stdout ?? '').split('\n').filter((l) => l.startsWith(`kdpv-${process.pid}-`));
}

/**
 * The suite's false-alarm budget for the kernel's side of the uniformity test. The kernel draws
 * its own random numbers, so at verify's own alpha (kUniformAlpha: one false alarm in 1,000 honest
 * runs) the twelve kernel checks of one `npm test` fail about one run in 80, and 20 runs in a row
 * about one time in five. That is the flake's cause, so the tests hold the kernel's draw to 1e-6
 * (one run in 100,000). What this gives up: at the 200 draws a run makes, an endpoint the kernel
 * never picks still gives p below 1e-20, but a milder skew (1/3, 2/9, 4/9 over three endpoints,
 * p about 6e-4) now passes here; the uniformity law (test/properties/uniformity.test.ts) and the
 * text round trip are what hold the rendered probabilities. kdp's side is seeded, so it keeps
 * verify's alpha.
 */
const kSuiteKernelAlpha = 1e-6;

/**
 * A report the tests accept: nothing disagreed, kdp's side uniform at verify's alpha, the
 * kernel's at the suite's; and `ok` exactly as verify defines it, so a kernel p-value between the
 * two alphas must have made verify say not ok.
 */
function assertVerified(r: VerifyReport): void {
  assert.equal(r.disagreements.length, 0, explain(r));
  const d = r.distribution;
  if (d) {
    assert.ok(d.kdp.pValue >= kUniformAlpha, explain(r));
    assert.ok(d.kernel.pValue >= kSuiteKernelAlpha, explain(r));
  }
  assert.equal(r.ok, !d || (d.kdp.pValue >= kUniformAlpha && d.kernel.pValue >= kUniformAlpha), explain(r));
}

/** Why a report is not ok: its first disagreements, and the uniformity test (`ok` needs both). */
function explain(r: VerifyReport): string {
  const d = r.distribution;
  const uniformity = d ? `uniformity of ${d.service}: kernel ${d.kernel.counts.join('/')} p=${d.kernel.pValue.toExponential(2)}, kdp ${d.kdp.counts.join('/')} p=${d.kdp.pValue.toExponential(2)}` : 'no uniformity test';
  return [...r.disagreements.slice(0, 5).map((x) => `${x.packet}: ${x.why}`), uniformity].join('\n');
}

test('chi-square: uniform counts pass, skewed counts fail', () => {
  assert.ok(chiSquareUniform([98, 102, 100]).pValue > 0.5);
  assert.ok(chiSquareUniform([180, 10, 10]).pValue < 1e-6);
  assert.equal(chiSquareUniform([5]).pValue, 1);
});

test('conntrack -L and -E lines give both tuples', () => {
  const text = [
    'ipv4     2 udp      17 29 src=10.244.1.250 dst=10.96.0.10 sport=10000 dport=53 [UNREPLIED] src=10.244.2.3 dst=10.244.1.250 sport=53 dport=10000 mark=0 use=1',
    '    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=1.1.1.1 dst=2.2.2.2 sport=1 dport=80 [UNREPLIED] src=3.3.3.3 dst=192.168.0.1 sport=8080 dport=4000',
    'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.',
  ].join('\n');
  const e = parseConntrack(text);
  assert.equal(e.length, 2);
  assert.deepEqual(e[0].reply, { src: '10.244.2.3', dst: '10.244.1.250', sport: 53, dport: 10000 });
  assert.equal(e[1].proto, 'tcp');
  assert.equal(e[1].reply.dst, '192.168.0.1');
});

test('a probe agent starved past its timeout still reads the answer that was waiting (refused, not a timeout)', async () => {
  // Arrange: TCP and UDP to a closed port on loopback; both answers (RST, ICMP) arrive at once.
  const base = 41000 + (process.pid % 2000);
  const probes = [
    { id: 1, proto: 'tcp' as const, src: '127.0.0.1', sport: base, dst: '127.0.0.1', dport: 9 },
    { id: 2, proto: 'udp' as const, src: '127.0.0.1', sport: base + 1, dst: '127.0.0.1', dport: 9 },
  ];
  // Act: the agent's thread is busy well past the 50 ms timeout, as on a loaded machine.
  const pending = runAgent({ probes, timeoutMs: 50, concurrency: 2 });
  const t0 = Date.now();
  while (Date.now() - t0 < 300) {
    // starve the event loop
  }
  const out = await pending;
  // Assert
  assert.deepEqual(out.map((o) => o.outcome), ['refused', 'refused']);
});

test('the wait for conntrack -E after the probes needs a canary printed after the probes, not the one printed before them', async () => {
  // Arrange: a listener that prints the NEW events queued for it only 50 ms after a canary is
  // inserted (a `conntrack -E` behind on a loaded machine), and a fake sandbox whose `conntrack -I`
  // queues the canary's event behind whatever is queued already (netlink keeps the order).
  let printed = '';
  const queued: string[] = [];
  const flush = (): void => {
    printed += queued.splice(0).map((l) => `${l}\n`).join('');
  };
  const exec = async (_ns: string, cmd: string, args: readonly string[]) => {
    if (cmd === 'conntrack' && args[0] === '-I') {
      const arg = (flag: string): string => args[args.indexOf(flag) + 1];
      queued.push(`[NEW] ipv4 2 udp 17 30 src=${arg('-s')} dst=${arg('-d')} sport=${arg('--sport')} dport=${arg('--dport')} [UNREPLIED] src=${arg('-d')} dst=${arg('-s')} sport=${arg('--dport')} dport=${arg('--sport')}`);
      setTimeout(flush, 50);
    }
    return { status: 0, stdout: '', stderr: '', ms: 0 };
  };
  const topo = { node: 'node', sandbox: { exec } };
  const events = { output: () => printed };
  await untilEventsCaughtUp(topo, events); // before the probes
  assert.equal(printed.split('\n').filter((l) => l.includes('sport=1000 dport=9')).length, 1, 'the first wait saw its canary');
  // A TCP probe answered by a RST: the kernel deleted its entry at once, this event is its only evidence.
  const probe = '[NEW] ipv4 2 tcp 6 120 SYN_SENT src=203.0.113.201 dst=192.168.0.10 sport=11125 dport=32767 [UNREPLIED] src=192.168.0.10 dst=203.0.113.201 sport=32767 dport=11125';
  queued.push(probe);
  // Act: the wait after the probes (its first canary has sport 1000 again)
  await untilEventsCaughtUp(topo, events);
  // Assert
  assert.ok(printed.includes(probe), "returned before the listener printed the probe's event (it matched the earlier call's canary)");
});

test('after conntrack -E lost events, every refused probe without an event is sent again, at most kResendRound at a time', async () => {
  // Arrange: a fake sandbox whose listener prints queued NEW events when a canary is inserted, and
  // whose probe agent "sends" each probe: its event is queued (the kernel's) and it is refused.
  let printed = '';
  const queued: string[] = [];
  const line = (p: { proto: string; src: string; sport: number; dst: string; dport: number }): string =>
    `[NEW] ipv4 2 ${p.proto} ${p.proto === 'tcp' ? '6 120 SYN_SENT' : '17 30'} src=${p.src} dst=${p.dst} sport=${p.sport} dport=${p.dport} [UNREPLIED] src=${p.dst} dst=${p.src} sport=${p.dport} dport=${p.sport}`;
  const rounds: number[][] = [];
  let sinceCaughtUp = 0; // probe events queued since the last canary: what a stalled listener would hold unread
  let most = 0;
  const exec = async (_ns: string, cmd: string, args: readonly string[], options?: { input?: string }) => {
    if (cmd === 'conntrack' && args[0] === '-I') {
      const arg = (flag: string): string => args[args.indexOf(flag) + 1];
      queued.push(line({ proto: 'udp', src: arg('-s'), sport: Number(arg('--sport')), dst: arg('-d'), dport: Number(arg('--dport')) }));
      sinceCaughtUp = 0;
      setTimeout(() => (printed += queued.splice(0).map((l) => `${l}\n`).join('')), 10);
    }
    if (cmd !== process.execPath) return { status: 0, stdout: '', stderr: '', ms: 0 };
    const req = JSON.parse(options?.input ?? '') as AgentRequest;
    rounds.push(req.probes.map((p) => p.id));
    sinceCaughtUp += req.probes.length;
    most = Math.max(most, sinceCaughtUp);
    for (const p of req.probes) queued.push(line(p));
    const out: AgentOutcome[] = req.probes.map((p) => ({ id: p.id, outcome: 'refused', code: 'ECONNREFUSED' }));
    return { status: 0, stdout: JSON.stringify(out), stderr: '', ms: 0 };
  };
  const topo = { node: 'node', clientNs: { pods: 'pods', ext: 'ext', node: 'node' }, sandbox: { exec } };
  const probe = (id: number, client: 'pods' | 'ext'): VerifyProbe => ({ id, category: 'x', service: '', proto: 6, src: parseIp(client === 'ext' ? '203.0.113.201' : '10.244.0.250'), sport: 10000 + id, dst: parseIp('192.168.0.10'), dport: 32767, client, entry: 0 });
  const probes = Array.from({ length: 250 }, (_, id) => probe(id, id % 2 ? 'ext' : 'pods'));
  const outcomes = new Map<number, AgentOutcome>(probes.map((p) => [p.id, { id: p.id, outcome: 'refused' }]));
  outcomes.set(1, { id: 1, outcome: 'answered' }); // its entry is in `conntrack -L`: not sent again
  printed = `${line({ proto: 'tcp', src: formatIp(probes[2].src), sport: probes[2].sport, dst: formatIp(probes[2].dst), dport: 32767 })}\n`; // its event was printed
  const tcpKey = (p: VerifyProbe): string => `src=${formatIp(p.src)} dst=${formatIp(p.dst)} sport=${p.sport} dport=${p.dport}`;
  // Act: first with no loss reported, then after one
  let errors = '';
  const events = { output: () => printed, errors: () => errors };
  const none = await resendEventless(topo, events, probes, outcomes, 500, 10_000);
  errors = 'WARNING: We have hit ENOBUFS! We are losing events.\n';
  const after = await resendEventless(topo, events, probes, outcomes, 500, 10_000);
  // Assert
  assert.deepEqual(none, { losses: 0, probes: 0 });
  assert.deepEqual(after, { losses: 1, probes: 248 });
  const sent = rounds.flat().sort((a, b) => a - b);
  assert.deepEqual(sent, probes.map((p) => p.id).filter((id) => id !== 1 && id !== 2));
  assert.equal(most, kResendRound, 'more probes sent than kResendRound before the listener caught up');
  for (const p of probes.filter((q) => q.id !== 1)) assert.ok(printed.includes(tcpKey(p)), `no event for probe ${p.id}`);
});

test('kdp verify refuses an unknown mode with exit status 2', async () => {
  await assert.rejects(() => verifyCommand.run([fixturePath('small-cluster.yaml'), '--mode', 'ipvs']), /--mode takes one of iptables, nftables/);
  assert.equal(await verifyCommand.run([fixturePath('does-not-exist.yaml'), '--mode', 'iptables']).catch(() => EXIT_INVALID), EXIT_INVALID);
});

for (const mode of kModes) {
  test(`kdp verify: the kernel agrees with kdp on the fixture (${mode})`, { skip }, async () => {
    const r = await runVerify(loadFixture('small-cluster.yaml'), { mode, probes: 100, seed: 3 });
    assertVerified(r);
    assert.equal(r.load.stripped.length, 0);
    assert.ok(r.probes > 100);
    assert.ok(r.distribution?.uniform);
    for (const c of ['cluster-ip', 'wrong-port', 'hairpin', 'node-port-external', 'lb-source-in-range', 'lb-source-out-of-range']) {
      assert.ok(r.categories.some((row) => row.category === c), `no ${c} probe`);
    }
    assert.deepEqual(ours(), []);
  });

  const shapes = [
    { services: 40, endpoints: 3, nodes: 3, cni: 'kubenet' as const, seed: 11 },
    { services: 30, endpoints: 1, nodes: 1, cni: 'calico-vxlan' as const, seed: 12 },
    { services: 25, endpoints: 6, nodes: 4, cni: 'flannel-vxlan' as const, seed: 13 },
  ];
  for (const s of shapes) {
    test(`kdp verify: ${s.services} services x ${s.endpoints} endpoints on ${s.nodes} node(s), ${s.cni} (${mode})`, { skip }, async () => {
      const cluster = generateCluster({ ...s, mode });
      const r = await runVerify(cluster, { mode, probes: 150, seed: s.seed, node: s.nodes - 1 });
      assertVerified(r);
      assert.ok(r.categories.some((row) => row.category === 'no-endpoints' || row.category === 'cluster-ip'));
      assert.deepEqual(ours(), []);
    });
  }

  test(`kdp verify catches a wrong ruleset: one endpoint's DNAT port changed after rendering (${mode})`, { skip }, async () => {
    // store/shop:https has one endpoint, 10.244.2.9:8443: every probe to its ClusterIP hits it.
    const tamper = (text: string): string => {
      const out = text.replaceAll('10.244.2.9:8443', '10.244.2.9:8444');
      assert.notEqual(out, text, 'the rendering has no DNAT to 10.244.2.9:8443');
      return out;
    };
    const r = await runVerify(loadFixture('small-cluster.yaml'), { mode, probes: 20, seed: 5, tamper });
    assert.equal(r.ok, false);
    const d = r.disagreements.find((c) => c.kernel.endpoint === '10.244.2.9:8444');
    assert.ok(d, 'no disagreement names the tampered endpoint');
    assert.match(d.why ?? '', /not among kdp's candidates/);
    assert.ok(d.kdp.candidates.includes('10.244.2.9:8443'));
    assert.deepEqual(ours(), []);
  });

  test(`a masquerade that keeps the client's address and port is still seen as one (${mode})`, { skip }, async () => {
    // Without random ports the kernel keeps a masqueraded flow's source port whenever the tuple is
    // free (nf_nat_core.c get_unique_tuple). A host client sends from the node's InternalIP, so
    // the conntrack entry shows masquerade only if it picks another address: the veth's. With
    // `--random-fully` kube-proxy's rules made this case rare (one port draw in 64,512) instead of
    // certain, and verify read it as "kernel no, kdp yes".
    const tamper = (text: string): string => {
      const out = text.replaceAll(' --random-fully', '').replaceAll('masquerade fully-random', 'masquerade');
      assert.notEqual(out, text, 'the rendering has no random-port masquerade');
      return out;
    };
    const r = await runVerify(loadFixture('small-cluster.yaml'), { mode, probes: 40, seed: 7, tamper });
    assertVerified(r);
    const kept = r.comparisons.filter((c) => c.client === 'node' && c.kernel.masquerade && c.kernel.evidence.endsWith(`:${c.packet.split(' ')[1].split(':')[1]}`));
    assert.ok(kept.length > 0, 'no host probe kept its source port through the masquerade: the case was not exercised');
    assert.deepEqual(ours(), []);
  });

  test(`the kernel baseline measures rule loading and new-flow cost (${mode})`, { skip }, async () => {
    const r = await runKernelBaseline({ services: 30, endpointsPerService: 2, seed: 1, mode, flows: 300, runs: 1 });
    assert.ok(!('skipped' in r), 'skipped' in r ? r.skipped : '');
    if ('skipped' in r) return;
    assert.equal(r.mode, `kernel-${mode}`);
    assert.ok(r.sync.fullMs > 0);
    assert.ok(r.newFlow.nsPerFlow >= 0);
    assert.ok((r.counters?.baselineNsPerFlow ?? 0) > 0);
    assert.deepEqual(ours(), []);
  });
}

/**
 * The acceptance run, through the command line as a user runs it: 1,000 random probes (plus the
 * derived edge cases) over a 200-service synthetic cluster with every service type and policy.
 */
for (const mode of kModes) {
  test(`kdp verify --probes 1000 agrees with the kernel over a 200-service cluster (${mode})`, { skip }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'kdp-verify-'));
    try {
      const file = join(dir, 'cluster.json');
      const main = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
      const gen = spawnSync(process.execPath, [main, 'generate', '--services', '200', '--endpoints', '3', '--nodes', '3', '--seed', '1', '-q', '-o', file], { encoding: 'utf8' });
      assert.equal(gen.status, 0, gen.stderr);
      const r = spawnSync(process.execPath, [main, 'verify', file, '--mode', mode, '--probes', '1000', '--seed', '1', '--json'], { encoding: 'utf8', timeout: 240_000, maxBuffer: 256 * 1024 * 1024 });
      // On failure, say why: the disagreements and the uniformity test (the report's `ok` needs both).
      const why = (): string => {
        try {
          const rep = JSON.parse(r.stdout) as VerifyReport;
          return JSON.stringify({ disagreements: rep.disagreements.slice(0, 5), distribution: rep.distribution }, null, 1);
        } catch {
          return r.stdout.slice(0, 2000);
        }
      };
      // Exit 1 is verify's own verdict on a kernel p-value under kUniformAlpha; assertVerified takes it at the suite's alpha.
      assert.ok(r.status === 0 || r.status === 1, `${r.stderr}\n${why()}`);
      const report = JSON.parse(r.stdout) as VerifyReport;
      assert.equal(r.status, report.ok ? 0 : 1, 'the exit status is the report\'s verdict');
      assertVerified(report);
      assert.ok(report.probes >= 1000, `${report.probes} probes`);
      assert.equal(report.agreed, report.probes);
      for (const c of ['cluster-ip', 'wrong-port', 'node-port-external', 'lb-source-in-range', 'lb-source-out-of-range', 'no-endpoints']) {
        assert.ok(report.categories.some((row) => row.category === c), `no ${c} probe`);
      }
      assert.deepEqual(ours(), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
