/**
 * Proof, part 2: the engine's core (model, compile, dataplane, net, dns, errors) imports no Node
 * built-in, directly or through a package. Node-specific code (files, workers, CLI) lives at the
 * edge in src/cli, src/replay and src/report, and is not part of the core.
 */
import { builtinModules } from 'node:module';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

export const kCoreDirs = ['model', 'compile', 'dataplane', 'net', 'dns'];
export const kCoreFiles = ['errors.js'];

const kBuiltins = new Set(builtinModules);

export function isBuiltin(specifier: string): boolean {
  return specifier.startsWith('node:') || kBuiltins.has(specifier) || kBuiltins.has(specifier.split('/')[0]);
}

/** The compiled core modules under dist/src. */
export function coreModules(distSrc: string): string[] {
  const out: string[] = kCoreFiles.map((f) => join(distSrc, f)).filter((f) => existsSync(f));
  const walk = (dir: string): void => {
    if (!existsSync(dir)) return;
    for (const e of readdirSync(dir)) {
      const p = join(dir, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('.js')) out.push(p);
    }
  };
  for (const d of kCoreDirs) walk(join(distSrc, d));
  return out.sort();
}

/** Static and dynamic import specifiers and require() calls in a compiled module. */
export function specifiersOf(source: string): string[] {
  const out: string[] = [];
  // Specifiers are one-line string literals; anchoring on import/export keeps text in strings out.
  const patterns = [
    /^\s*(?:import|export)\b[^'"\n;]*?\bfrom\s*['"]([^'"\n]+)['"]/gm,
    /^\s*import\s*['"]([^'"\n]+)['"]/gm,
    /\bimport\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (let m = re.exec(source); m; m = re.exec(source)) out.push(m[1]);
  return out;
}

interface PackageJson {
  main?: string;
  module?: string;
  browser?: string | Record<string, string | false>;
  exports?: unknown;
}

/** Resolves a bare specifier the way a browser bundler would (browser/default/import conditions). */
export function resolvePackage(specifier: string, from: string, root: string): string {
  const parts = specifier.split('/');
  const name = specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
  const sub = specifier.slice(name.length);
  const dir = join(root, 'node_modules', name);
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as PackageJson;
  const pick = (target: unknown): string | undefined => {
    if (typeof target === 'string') return target;
    if (target && typeof target === 'object') {
      for (const cond of ['browser', 'import', 'default']) {
        const t = pick((target as Record<string, unknown>)[cond]);
        if (t) return t;
      }
    }
    return undefined;
  };
  let entry: string | undefined;
  if (pkg.exports && typeof pkg.exports === 'object' && !Array.isArray(pkg.exports) && Object.keys(pkg.exports).some((k) => k.startsWith('.'))) {
    entry = pick((pkg.exports as Record<string, unknown>)[`.${sub}`]);
  } else if (pkg.exports) {
    entry = sub ? undefined : pick(pkg.exports);
  }
  entry ??= sub ? `.${sub}` : (pkg.module ?? pkg.main ?? 'index.js');
  let file = resolve(dir, entry);
  if (!existsSync(file) && existsSync(`${file}.js`)) file = `${file}.js`;
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.js');
  if (!existsSync(file)) throw new Error(`cannot resolve ${specifier} from ${relative(root, from)}`);
  return file;
}

export function resolveRelative(specifier: string, from: string): string {
  let file = resolve(dirname(from), specifier);
  if (!existsSync(file) && existsSync(`${file}.js`)) file = `${file}.js`;
  if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.js');
  return file;
}

/** Follows every import from the core, into packages too; returns each built-in reached and how. */
export function findBuiltinImports(root: string): { modules: number; problems: string[] } {
  const distSrc = join(root, 'dist', 'src');
  const queue = coreModules(distSrc);
  const seen = new Set<string>();
  const problems: string[] = [];
  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const spec of specifiersOf(readFileSync(file, 'utf8'))) {
      if (isBuiltin(spec)) {
        problems.push(`${relative(root, file)} imports the Node built-in "${spec}"`);
        continue;
      }
      try {
        queue.push(spec.startsWith('.') ? resolveRelative(spec, file) : resolvePackage(spec, file, root));
      } catch (err) {
        problems.push((err as Error).message);
      }
    }
  }
  return { modules: seen.size, problems };
}
