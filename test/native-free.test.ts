/**
 * kdp's engine needs no native code and no Node built-ins: checked on every `npm test`.
 */
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { checkRuntimeDependencies } from '../native-free/dependencies.js';
import { findBuiltinImports } from '../native-free/engine-modules.js';
import { fixturePath } from './helpers/cluster.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

describe('native-free', () => {
  it('no runtime dependency ships native code or install scripts', () => {
    const { checked, problems } = checkRuntimeDependencies(root);
    assert.deepEqual(problems, []);
    assert.ok(checked.includes('ip-num') && checked.includes('yaml'), `checked: ${checked.join(', ')}`);
  });

  it('the engine core imports no Node built-in, directly or through a package', () => {
    const { modules, problems } = findBuiltinImports(root);
    assert.deepEqual(problems, []);
    assert.ok(modules > 10, `only ${modules} modules were followed`);
  });

  it('the engine runs in a bare vm context with no require, process or Buffer', () => {
    const out = execFileSync(process.execPath, ['--experimental-vm-modules', '--no-warnings', `${root}dist/native-free/vm-run.js`, root, fixturePath('small-cluster.yaml')], { encoding: 'utf8' });
    const { globals, result, error } = JSON.parse(out) as { globals: string; result: Record<string, number | string>; error?: string };
    assert.equal(error, undefined);
    assert.equal(globals, 'undefined,undefined,undefined,undefined,undefined');
    assert.equal(result.fixtureServices, 3);
    assert.equal(result.fixtureEndpoints, 8);
    assert.equal(result.syntheticServices, 200);
    assert.ok(Number(result.syntheticEndpoints) > 900);
    for (const mode of ['iptables', 'ipvs', 'nftables', 'userspace']) assert.ok(Number(result[`${mode}Rules`]) > 0, `${mode} compiled`);
    assert.ok(Number(result.iptablesSaveBytes) > 1000 && Number(result.nftBytes) > 1000);
    assert.equal(result.traceVerdict, 'delivered');
    assert.equal(result.traceReplyVerdict, 'delivered');
  });
});

describe('the native-free checks can fail', () => {
  it('sees built-in imports in compiled code, and ignores look-alikes in strings', async () => {
    const { specifiersOf, isBuiltin } = await import('../native-free/engine-modules.js');
    const found = specifiersOf(`import { readFile } from 'node:fs';\nconst x = require("path");\nconst msg = "copied from 'elsewhere'";\nexport { y } from './y.js';`);
    assert.deepEqual(found.sort(), ['./y.js', 'node:fs', 'path']);
    assert.equal(isBuiltin('node:fs'), true);
    assert.equal(isBuiltin('path'), true);
    assert.equal(isBuiltin('fs/promises'), true);
    assert.equal(isBuiltin('yaml'), false);
  });
});
