/**
 * Proof, part 3: the engine runs in a plain JavaScript context. Loads the core into a fresh
 * `node:vm` context that has no `require`, no `process`, no Buffer and no Web APIs, with a
 * loader that refuses every Node built-in, and runs real work there: the fixture is loaded and
 * a synthetic cluster is built. Must run with `node --experimental-vm-modules`.
 *
 * Usage: node --experimental-vm-modules dist/native-free/vm-run.js ROOT FIXTURE
 * Prints one JSON line with what the engine computed inside the context.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import vm from 'node:vm';
import { isBuiltin, resolvePackage, resolveRelative } from './engine-modules.js';

const root = resolve(process.argv[2]);
const fixture = process.argv[3];
const context = vm.createContext({});
const cache = new Map<string, vm.Module>();

/** Evaluates a CommonJS file inside the context; its require() reaches only its own package's files. */
function loadCommonJs(file: string, cjsCache: Map<string, unknown>): unknown {
  if (cjsCache.has(file)) return cjsCache.get(file);
  const module = { exports: {} as unknown };
  cjsCache.set(file, module.exports);
  const wrapper = vm.runInContext(`(function (exports, require, module) {${readFileSync(file, 'utf8')}\n})`, context, { filename: file }) as (
    e: unknown,
    r: (s: string) => unknown,
    m: { exports: unknown },
  ) => void;
  const requireInContext = (spec: string): unknown => {
    if (isBuiltin(spec)) throw new Error(`${file} requires the Node built-in "${spec}"`);
    if (!spec.startsWith('.')) return loadCommonJs(resolvePackage(spec, file, root), cjsCache);
    return loadCommonJs(resolveRelative(spec, file), cjsCache);
  };
  wrapper(module.exports, requireInContext, module);
  cjsCache.set(file, module.exports);
  return module.exports;
}

function isCommonJs(file: string): boolean {
  if (file.endsWith('.cjs')) return true;
  if (file.endsWith('.mjs')) return false;
  for (let dir = dirname(file); dir.length >= root.length; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { type?: string };
      return pkg.type !== 'module';
    } catch {
      // no package.json at this level: keep looking upwards
    }
  }
  return true;
}

async function load(file: string): Promise<vm.Module> {
  const cached = cache.get(file);
  if (cached) return cached;
  let mod: vm.Module;
  if (isCommonJs(file)) {
    const exports = loadCommonJs(file, new Map()) as Record<string, unknown>;
    const names = Object.keys(exports);
    mod = new vm.SyntheticModule(['default', ...names], function (this: vm.SyntheticModule) {
      this.setExport('default', exports);
      for (const n of names) this.setExport(n, exports[n]);
    }, { context, identifier: file });
  } else {
    mod = new vm.SourceTextModule(readFileSync(file, 'utf8'), { context, identifier: file });
  }
  cache.set(file, mod);
  return mod;
}

async function linker(specifier: string, referencing: vm.Module): Promise<vm.Module> {
  if (isBuiltin(specifier)) throw new Error(`${referencing.identifier} imports the Node built-in "${specifier}"`);
  const from = referencing.identifier;
  return load(specifier.startsWith('.') ? resolveRelative(specifier, from) : resolvePackage(specifier, from, root));
}

async function main(): Promise<void> {
  const entry = join(root, 'dist', 'native-free', 'vm-workload.js');
  const mod = await load(entry);
  await mod.link(linker);
  await mod.evaluate();
  const run = (mod.namespace as { run: (text: string) => unknown }).run;
  const probe = vm.runInContext('[typeof require, typeof process, typeof Buffer, typeof TextEncoder, typeof setTimeout].join(",")', context) as string;
  const result = run(readFileSync(fixture, 'utf8'));
  process.stdout.write(`${JSON.stringify({ globals: probe, result })}\n`);
}

main().catch((err: Error) => {
  process.stdout.write(`${JSON.stringify({ error: err.message })}\n`);
  process.exitCode = 1;
});
