/**
 * Proof, part 1: no runtime dependency ships native code. Walks `dependencies` (not
 * devDependencies) transitively through node_modules and flags compiled addons (`.node`),
 * node-gyp builds (`binding.gyp`) and install scripts, any of which would tie kdp to a platform.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface PackageJson {
  name?: string;
  dependencies?: Record<string, string>;
  scripts?: Record<string, string>;
  gypfile?: boolean;
}

const kInstallScripts = ['preinstall', 'install', 'postinstall'];

function findPackageDir(name: string, from: string, root: string): string | undefined {
  for (let dir = from; dir.startsWith(root); dir = join(dir, '..')) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dir === root) break;
  }
  return undefined;
}

function nativeFiles(dir: string, out: string[], depth = 0): void {
  if (depth > 12) return;
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules') continue; // nested packages are checked as packages
    const path = join(dir, entry);
    const st = statSync(path);
    if (st.isDirectory()) nativeFiles(path, out, depth + 1);
    else if (entry.endsWith('.node') || entry === 'binding.gyp') out.push(path);
  }
}

export interface DependencyReport {
  readonly checked: string[];
  readonly problems: string[];
}

export function checkRuntimeDependencies(root: string): DependencyReport {
  const top = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as PackageJson;
  const queue: [string, string][] = Object.keys(top.dependencies ?? {}).map((name) => [name, root]);
  const seen = new Set<string>();
  const checked: string[] = [];
  const problems: string[] = [];
  while (queue.length > 0) {
    const [name, from] = queue.shift()!;
    const dir = findPackageDir(name, from, root);
    if (!dir) {
      problems.push(`${name}: not installed (run npm ci)`);
      continue;
    }
    if (seen.has(dir)) continue;
    seen.add(dir);
    checked.push(name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
    for (const script of kInstallScripts) {
      if (pkg.scripts?.[script]) problems.push(`${name}: has an ${script} script (${pkg.scripts[script]})`);
    }
    if (pkg.gypfile) problems.push(`${name}: declares a node-gyp build (gypfile)`);
    const files: string[] = [];
    nativeFiles(dir, files);
    for (const f of files) problems.push(`${name}: ships native code ${f.slice(root.length + 1)}`);
    for (const dep of Object.keys(pkg.dependencies ?? {})) queue.push([dep, dir]);
  }
  return { checked, problems };
}
