/**
 * Preloaded (NODE_OPTIONS=--import) into every process of bail.ts's coverage pass: at exit it
 * writes the ids of the mutants this process reached, read from the counters StrykerJS's
 * instrumented code keeps in globalThis.__stryker__ (the instrumenter's stryCov calls, which count
 * whether or not a mutant is active). A process that loaded no instrumented code (node --test's
 * own parent, a tool) writes nothing. A subprocess of a test inherits NODE_OPTIONS, so what the
 * CLI reaches when a test spawns it counts for that test file too.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';

interface StrykerCoverage {
  static: Record<string, number>;
  perTest: Record<string, Record<string, number>>;
}

const dir = process.env.KDP_MUTATION_COVER_DIR;
if (dir) {
  process.on('exit', () => {
    const cov = (globalThis as { __stryker__?: { mutantCoverage?: StrykerCoverage } }).__stryker__?.mutantCoverage;
    if (!cov) return;
    const ids = new Set(Object.keys(cov.static));
    for (const perTest of Object.values(cov.perTest)) for (const id of Object.keys(perTest)) ids.add(id);
    writeFileSync(join(dir, `${process.pid}-${threadId}.json`), JSON.stringify([...ids]));
  });
}
