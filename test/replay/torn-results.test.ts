/**
 * A crash mid-write leaves half a result line at the end of results.jsonl. Issue 21, item 5:
 * `--resume` used to glue the next result onto that fragment, losing a finished cell. Results are
 * read line by line, the torn last line is dropped and reported (its cell runs again), and every
 * append starts on a line of its own.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseResultsJsonl } from '../../src/report/parse-results.js';
import { cellKeyString } from '../../src/report/result.js';
import { appendResult, planSweep, runSweep, type SweepCell } from '../../src/replay/sweep.js';
import { syntheticCell } from '../report/synthetic.js';
import { runHere } from './run-here.js';

const limits = () => ({ randomReadNs: 80, independentReadNs: 20, scanNsPerElement: 0.5, randomReadBytes: 1 << 20 });
const root = mkdtempSync(join(tmpdir(), 'kdp-torn-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const tmp = (): string => mkdtempSync(join(root, `case-${n++}-`));

describe('a torn result line', () => {
  it('--resume drops and reports the torn last line, runs its cell again and loses no cell', async () => {
    // Arrange: a sweep of three cells killed while writing the second line
    const dir = tmp();
    const cells = planSweep({ cores: 1, services: [10], modes: ['iptables', 'ipvs', 'nftables'], flows: 200, workers: [1] });
    const runCell = async (c: SweepCell) => runHere(c);
    await runSweep({ cells: cells.slice(0, 2), outDir: dir, command: 'test', runCell, limits });
    const file = join(dir, 'results.jsonl');
    const text = readFileSync(file, 'utf8');
    const firstLineEnd = text.indexOf('\n') + 1;
    truncateSync(file, firstLineEnd + 40);
    // Act
    const logged: string[] = [];
    const resumed = await runSweep({ cells, outDir: dir, command: 'test', resume: true, runCell, limits, log: (l) => logged.push(l) });
    // Assert
    assert.equal(resumed.skipped, 1);
    assert.equal(resumed.ran, 2, 'the torn cell and the new one ran');
    assert.ok(logged.some((l) => /torn/.test(l) && /line 2/.test(l)), logged.join('\n'));
    const parsed = parseResultsJsonl(readFileSync(file, 'utf8'));
    assert.deepEqual(parsed.results.map(cellKeyString).sort(), cells.map(cellKeyString).sort(), 'every cell is in the file');
    assert.deepEqual(parsed.malformed.map((m) => m.line), [2], 'the fragment stays a line of its own');
  });

  it('appendResult starts a new line when the file does not end in one', () => {
    const dir = tmp();
    const file = join(dir, 'results.jsonl');
    const a = syntheticCell({ mode: 'iptables', services: 10 });
    const b = syntheticCell({ mode: 'ipvs', services: 10 });
    writeFileSync(file, `${JSON.stringify(a)}\n{"schema":1,"mo`);
    appendResult(dir, b);
    const parsed = parseResultsJsonl(readFileSync(file, 'utf8'));
    assert.deepEqual(parsed.results.map((r) => r.mode), ['iptables', 'ipvs']);
    const fresh = tmp();
    appendResult(fresh, a);
    assert.equal(readFileSync(join(fresh, 'results.jsonl'), 'utf8'), `${JSON.stringify(a)}\n`);
  });

  it('the report names a torn last line as torn, not only as not JSON', () => {
    const a = syntheticCell({ mode: 'iptables', services: 10 });
    const parsed = parseResultsJsonl(`${JSON.stringify(a)}\n{"schema":1,"mo`);
    assert.equal(parsed.results.length, 1);
    assert.equal(parsed.malformed.length, 1);
    assert.match(parsed.malformed[0]!.reason, /torn/);
  });
});
