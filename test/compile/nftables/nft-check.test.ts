/**
 * The real nft accepts kdp's rendering of a 1,000-service cluster, and the transactions of a
 * full and a partial sync. Runs `nft -c -f` ONLY inside a throw-away network namespace
 * (`unshare -n`), never against the host's ruleset; skipped, with the reason, without nft or root.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildRuleset, fullSync, planSync, renderRuleset } from '../../../src/compile/nftables/index.js';
import { generateCluster } from '../../../src/model/synthetic.js';
import { unshareSkipReason } from '../../helpers/unshare.js';

function skipReason(): string | undefined {
  return unshareSkipReason('nft');
}
const reason = skipReason();

function nftCheck(text: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'kdp-nft-'));
  const file = join(dir, 'ruleset.nft');
  try {
    writeFileSync(file, text);
    execFileSync('unshare', ['-n', 'nft', '-c', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer };
    assert.fail(`nft -c -f rejected the ruleset:\n${err.stderr?.toString().slice(0, 2000) ?? String(e)}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('nft -c -f accepts the rendering of a 1,000-service cluster', { skip: reason }, () => {
  const cluster = generateCluster({ services: 1000, endpoints: 5, nodes: 10, seed: 3, mode: 'nftables' });
  const text = renderRuleset(buildRuleset(cluster, { node: 0 }));
  assert.ok(text.split('\n').length > 10000);
  nftCheck(text);
});

test('nft -c -f accepts the full and partial sync transactions', { skip: reason }, () => {
  const a = generateCluster({ services: 200, endpoints: 3, nodes: 4, seed: 5, mode: 'nftables' });
  const b = generateCluster({ services: 201, endpoints: 3, nodes: 4, seed: 5, mode: 'nftables' });
  const ra = buildRuleset(a, { node: 0 });
  const rb = buildRuleset(b, { node: 0 });
  nftCheck(fullSync(ra).text);
  // A partial sync is checked on top of the full load it applies to.
  nftCheck(fullSync(ra).text + planSync(ra, rb).text);
});

test('nft rejects a broken ruleset (the check is not vacuous)', { skip: reason }, () => {
  assert.throws(() => nftCheck('table ip kube-proxy {\n\tchain a {\n\t\tjump nowhere\n\t}\n}\n'));
});
