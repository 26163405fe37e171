/**
 * `npm run profile`: a representative replay (SERVICES=10000 Services x 10 endpoints, FLOWS=200000
 * flows, calico-vxlan, one thread) for iptables and nftables, profiled with Node's own
 * `--cpu-prof` (always) and under `clinic flame` when clinic is installed (NO_INSIGHT=1 is set,
 * or clinic waits silently for a consent prompt). Prints where every profile was written.
 * Open a .cpuprofile in Chrome DevTools (Performance tab) or https://www.speedscope.app.
 *
 * Options: --out DIR (default: a new directory under the system's temp dir); knobs SERVICES,
 * FLOWS, MODES (default iptables,nftables), SEED.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { ProxyMode } from '../src/model/types.js';
import { mergeShards, ReplaySetup, replayShard } from '../src/replay/replay.js';
import { envInt } from './common.js';

const self = fileURLToPath(import.meta.url);

async function child(mode: ProxyMode, services: number, flows: number, seed: number): Promise<void> {
  const key = { mode, services, endpointsPerService: 10, cni: 'calico-vxlan' as const, seed, zipf: 0 };
  const t0 = performance.now();
  const setup = new ReplaySetup(key, () => performance.now());
  const t1 = performance.now();
  const r = mergeShards([replayShard(setup, { ...key, flows, shard: 0, shards: 1 }, () => performance.now())]);
  console.log(
    `${mode}: setup ${(t1 - t0).toFixed(0)} ms; ${flows} flows, ${(r.newPhaseNs / r.firstPackets).toFixed(0)} ns/new flow, ` +
      `${(r.establishedPhaseNs / r.establishedPackets).toFixed(0)} ns/established packet, checksum ${r.decisionChecksum}`,
  );
}

function hasClinic(): boolean {
  const r = spawnSync('clinic', ['--version'], { stdio: 'ignore' });
  return r.status === 0;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv[0] === '--child') {
    await child(argv[1] as ProxyMode, Number(argv[2]), Number(argv[3]), Number(argv[4]));
    return;
  }
  const outIdx = argv.indexOf('--out');
  const out = outIdx >= 0 && argv[outIdx + 1] ? resolve(argv[outIdx + 1]!) : mkdtempSync(join(tmpdir(), 'kdp-profile-'));
  mkdirSync(out, { recursive: true });
  const services = envInt('SERVICES', 10000);
  const flows = envInt('FLOWS', 200_000);
  const seed = envInt('SEED', 1);
  const modes = (process.env.MODES ?? 'iptables,nftables').split(',') as ProxyMode[];
  const clinic = hasClinic();
  const written: string[] = [];
  for (const mode of modes) {
    const args = ['--child', mode, String(services), String(flows), String(seed)];
    const name = `${mode}-${services}svc.cpuprofile`;
    console.log(`profile: ${mode}, ${services} Services, ${flows} flows, node --cpu-prof ...`);
    const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', out, '--cpu-prof-name', name, self, ...args], { stdio: 'inherit' });
    if (r.status !== 0) console.error(`profile: the ${mode} replay exited with ${r.status ?? r.signal}`);
    if (existsSync(join(out, name))) written.push(join(out, name));
    if (clinic) {
      const dest = join(out, `clinic-${mode}`);
      mkdirSync(dest, { recursive: true });
      console.log(`profile: ${mode} under clinic flame ...`);
      const c = spawnSync('clinic', ['flame', '--dest', dest, '--', process.execPath, self, ...args], { stdio: 'inherit', env: { ...process.env, NO_INSIGHT: '1' } });
      if (c.status !== 0) console.error(`profile: clinic flame exited with ${c.status ?? c.signal}`);
      for (const f of readdirSync(dest)) written.push(join(dest, f));
    }
  }
  if (!clinic) console.log('profile: clinic is not installed (npm i -g clinic): only the --cpu-prof profiles were taken');
  console.log(`profile: written:\n${written.map((w) => `  ${w}`).join('\n') || '  (nothing)'}`);
}

await main();
