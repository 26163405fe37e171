/**
 * `npm run bench:micro`: every micro-benchmark under bench/ (compiled to dist/bench), one after
 * the other, each in its own process so that one's JIT state and heap do not colour the next.
 * Knobs pass through the environment (SERVICES, ENDPOINTS, BATCH, WORKERS, FLOWS, MODES, SEED,
 * TIME); a file name filter may be given: `npm run bench:micro -- conntrack`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(fileURLToPath(import.meta.url));

function find(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...find(p));
    else if (name.endsWith('.bench.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = find(root).filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
if (files.length === 0) {
  console.error(`bench:micro: no *.bench.js under ${root}${filters.length ? ` matching ${filters.join(', ')}` : ''} (run npm run build first)`);
  process.exit(2);
}
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${relative(root, f)}`);
  const r = spawnSync(process.execPath, [f], { stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    failed++;
    console.error(`bench:micro: ${relative(root, f)} exited with ${r.status ?? r.signal}`);
  }
}
process.exit(failed > 0 ? 1 : 0);
