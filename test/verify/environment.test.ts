/**
 * A tool that fails inside kdp verify's network namespaces is the machine's problem, not kdp's:
 * it surfaces as an EnvironmentError (KDP_ERR_UNAVAILABLE), which the CLI turns into exit status 3
 * with the tool's message, instead of an internal error with a stack.
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import { EngineError, EnvironmentError } from '../../src/errors.js';
import { Sandbox } from '../../src/verify/sandbox.js';

const skip = process.platform !== 'linux' || process.getuid?.() !== 0 ? 'needs root on Linux (network namespaces)' : undefined;

test('EnvironmentError is an EngineError with code KDP_ERR_UNAVAILABLE', () => {
  const e = new EnvironmentError('conntrack -L failed');
  assert.ok(e instanceof EngineError);
  assert.equal(e.code, 'KDP_ERR_UNAVAILABLE');
});

test('a failing ip command in the sandbox is an EnvironmentError naming the command', { skip }, async () => {
  const sandbox = new Sandbox();
  try {
    const ns = await sandbox.addNamespace('env');
    await assert.rejects(sandbox.ip(ns, ['link', 'set', 'kdp-no-such', 'up']), (err: Error) => {
      assert.ok(err instanceof EnvironmentError);
      assert.match(err.message, /ip -n kdpv-.*-env link set kdp-no-such up: /);
      return true;
    });
  } finally {
    await sandbox.dispose();
  }
});
