/**
 * The test command StrykerJS runs once per mutant: the given test files one `node --test`
 * process at a time, in the order given, stopping at the first that fails. Node 20's runner has
 * no bail flag, and a mutant is killed by its first failing file, so the cheap, close tests go
 * first and only surviving mutants pay for the whole list.
 *
 *   node dist/test/mutation/bail.js dist/test/net/checksum.test.js dist/test/properties/ttl.test.js
 *
 * Exit status: 0 every file passed, 1 one failed (the mutant is killed), 2 no files were given.
 */
import { spawnSync } from 'node:child_process';

const files = process.argv.slice(2);
if (files.length === 0) {
  process.stderr.write('bail: no test files given\n');
  process.exit(2);
}
for (const file of files) {
  const r = spawnSync(process.execPath, ['--test', '--test-reporter=dot', file], { stdio: ['ignore', 'ignore', 'inherit'], env: process.env });
  if (r.status !== 0) process.exit(1);
}
