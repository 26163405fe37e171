/**
 * measureKernelApply keeps what it measured when one backend fails: a backend that refuses its
 * payload is reported with the tool's reason, and the next backend is still timed. (At 10,000
 * Services iptables-nft-restore --noflush ran past its limit and took the whole kernel cell with it.)
 */
import { strict as assert } from 'node:assert';
import { test } from 'node:test';
import type { ProxyMode } from '../../src/compile/mode.js';
import { kModes } from '../../src/compile/modes.js';
import { measureKernelApply } from '../../src/verify/kernel-apply.js';

const root = process.getuid?.() === 0;

test('a backend that refuses its payload is skipped with the reason, and the others are measured', { skip: root ? undefined : 'needs root (network namespaces)' }, async () => {
  const iptables = kModes.find((m) => m.name === 'iptables')!;
  const backend = (name: string, script: string) => ({ name, tool: 'bash', args: ['-c', script], toolPackage: 'bash', version: /never/ });
  const mode: ProxyMode = {
    ...iptables,
    kernel: {
      ...iptables.kernel!,
      apply: {
        backends: [
          backend('refuses', 'cat >/dev/null; echo "line 2: no chain by that name" >&2; exit 1'),
          backend('takes', 'cat >/dev/null'),
        ],
        payloads: () => ({ full: 'full\n', forward: 'forward\n', back: 'back\n' }),
      },
    },
  };
  const r = await measureKernelApply(mode, 10, 1, 1, 1);
  assert.deepEqual(r.figures.map((f) => f.backend), ['takes']);
  assert.equal(r.figures[0]!.fullBytes, 'full\n'.length);
  assert.ok(r.figures[0]!.partialMs > 0);
  assert.equal(r.skipped.length, 1);
  assert.match(r.skipped[0]!, /^refuses: bash -c .* refused the payload: line 2: no chain by that name$/);
});
