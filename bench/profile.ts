/**
 * `npm run profile`: a representative replay (SERVICES=10000 Services x 10 endpoints, FLOWS=200000
 * flows, calico-vxlan, one thread) for iptables and nftables, profiled with Node's own
 * `--cpu-prof` (always) and under `clinic flame` (a devDependency; NO_INSIGHT=1 is set,
 * or clinic waits silently for a consent prompt). Prints where every profile was written.
 * Open a .cpuprofile in Chrome DevTools (Performance tab) or https://www.speedscope.app.
 *
 * Options: --out DIR (default: a new directory under the system's temp dir); knobs SERVICES,
 * FLOWS, MODES (default iptables,nftables), SEED.
 */
import { spawnSync } from 'node:child_process';
import { Session } from 'node:inspector/promises';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ModeName } from '../src/model/types.js';
import { mergeShards, ReplaySetup, replayShard } from '../src/replay/replay.js';
import { envInt } from './common.js';

const self = fileURLToPath(import.meta.url);

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time by function and by source file, from a .cpuprofile: where the time goes. The
 * inspector session's own `post` (Profiler.start and .stop, which the replay's profile cannot help
 * holding) is left out with everything under it: it is the profiler's cost, not kdp's, and it
 * showed as a `(dispatch)` of 8-12 % of the replay.
 */
function summarize(file: string, root: string) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const profiler = new Set<number>();
  const mark = (id: number): void => {
    profiler.add(id);
    for (const c of byId.get(id)?.children ?? []) mark(c);
  };
  for (const n of p.nodes) if (n.callFrame.functionName === 'post' && n.callFrame.url === 'node:inspector') mark(n.id);
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, k) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[k] ?? 0)));
  let totalUs = 0;
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  for (const [id, us] of selfUs) {
    if (profiler.has(id)) continue;
    const f = byId.get(id)!.callFrame;
    totalUs += us;
    const where = f.url.startsWith('file://') ? f.url.slice(7).replace(root, '').replace(/^\/?dist\//, '') : f.url || `(${f.functionName || 'native'})`;
    const fn = `${f.functionName || '(anonymous)'} ${where}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    byFn.set(fn, (byFn.get(fn) ?? 0) + us);
    byFile.set(where, (byFile.get(where) ?? 0) + us);
  }
  const top = (m: Map<string, number>, n: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, us]) => ({ name, ms: Math.round(us / 100) / 10, share: Math.round((1000 * us) / totalUs) / 1000 }));
  return { totalMs: Math.round(totalUs / 1000), byFile: top(byFile, 12), byFunction: top(byFn, 15) };
}

async function child(mode: ModeName, services: number, flows: number, seed: number, replayProfile: string): Promise<void> {
  const key = { mode, services, endpointsPerService: 10, cni: 'calico-vxlan' as const, seed, zipf: 0 };
  const t0 = performance.now();
  const setup = new ReplaySetup(key, () => performance.now());
  const t1 = performance.now();
  // A second profile of the replay alone (no cluster build, no compile): what the throughput
  // targets are about.
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  const r = mergeShards([replayShard(setup, { ...key, flows, shard: 0, shards: 1 }, () => performance.now())]);
  const { profile } = await session.post('Profiler.stop');
  writeFileSync(replayProfile, JSON.stringify(profile));
  session.disconnect();
  console.log(
    `${mode}: setup ${(t1 - t0).toFixed(0)} ms; ${flows} flows, ${(r.newPhaseNs / r.firstPackets).toFixed(0)} ns/new flow, ` +
      `${(r.establishedPhaseNs / r.establishedPackets).toFixed(0)} ns/established packet, checksum ${r.decisionChecksum}`,
  );
}

/**
 * The clinic to run: the project's own (node_modules/.bin, which `npm run` puts on PATH and a
 * plain `node dist/bench/profile.js` does not), else one on PATH; undefined when neither runs.
 */
function clinicBin(root: string): string | undefined {
  for (const bin of [join(root, 'node_modules', '.bin', 'clinic'), 'clinic']) {
    if (spawnSync(bin, ['--version'], { stdio: 'ignore' }).status === 0) return bin;
  }
  return undefined;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    await child(argv[1] as ModeName, Number(argv[2]), Number(argv[3]), Number(argv[4]), argv[5]!);
    return;
  }
  const outIdx = argv.indexOf('--out');
  // results/profile by default, where `kdp report` finds the summary and says where the time goes.
  const out = outIdx >= 0 && argv[outIdx + 1] ? resolve(argv[outIdx + 1]!) : resolve('results', 'profile');
  mkdirSync(out, { recursive: true });
  const services = envInt('SERVICES', 10000);
  const flows = envInt('FLOWS', 200_000);
  const seed = envInt('SEED', 1);
  const modes = (process.env.MODES ?? 'iptables,nftables').split(',') as ModeName[];
  const root = resolve(self, '..', '..', '..');
  const clinic = clinicBin(root);
  const written: string[] = [];
  const summaries: unknown[] = [];
  for (const mode of modes) {
    const name = `${mode}-${services}svc.cpuprofile`;
    const replayName = `${mode}-${services}svc-replay.cpuprofile`;
    const args = ['--child', mode, String(services), String(flows), String(seed), join(out, replayName)];
    console.log(`profile: ${mode}, ${services} Services, ${flows} flows, node --cpu-prof ...`);
    const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', out, '--cpu-prof-name', name, self, ...args], { stdio: 'inherit' });
    if (r.status !== 0) console.error(`profile: the ${mode} replay exited with ${r.status ?? r.signal}`);
    if (existsSync(join(out, name))) written.push(join(out, name));
    if (existsSync(join(out, replayName))) {
      written.push(join(out, replayName));
      summaries.push({ mode, services, flows, scope: "replay only (setup, compile and the profiler's own start and stop excluded)", ...summarize(join(out, replayName), `${root}/`) });
    }
    if (clinic !== undefined) {
      const dest = join(out, `clinic-${mode}`);
      mkdirSync(dest, { recursive: true });
      console.log(`profile: ${mode} under clinic flame ...`);
      const c = spawnSync(clinic, ['flame', '--dest', dest, '--', process.execPath, self, ...args], { stdio: 'inherit', env: { ...process.env, NO_INSIGHT: '1' } });
      if (c.status !== 0) console.error(`profile: clinic flame exited with ${c.status ?? c.signal}`);
      for (const f of readdirSync(dest)) written.push(join(dest, f));
    }
  }
  const summaryFile = join(out, 'summary.json');
  writeFileSync(summaryFile, `${JSON.stringify({ command: 'npm run profile', date: new Date().toISOString(), profiles: summaries }, null, 2)}\n`);
  written.push(summaryFile);
  if (clinic === undefined) console.log(`profile: clinic was found neither in ${join(root, 'node_modules', '.bin')} nor on PATH (it is a devDependency: run \`npm ci\`): only the --cpu-prof profiles were taken`);
  console.log(`profile: written:\n${written.map((w) => `  ${w}`).join('\n') || '  (nothing)'}`);
}

await main();
