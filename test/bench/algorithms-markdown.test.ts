/**
 * The algorithms section of BENCHMARKS.md is written between its markers and replaces the
 * previous one. The writer is fed fixed figures: running the plan table and the micro-benchmarks
 * here (as the test once did) took minutes on a loaded machine to check a few markdown lines.
 * The sizes the real run uses are checked on their own (DEFAULT_OPTIONS, PLAN_TABLE_ALGORITHMS),
 * and the codec rows come from the real codec benchmark at one iteration, so the names are real.
 */
import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { benchCodec } from '../../native-bench/micro-codec';
import { DEFAULT_OPTIONS, type RoundRobinRow } from '../../native-bench/micro';
import { PLAN_TABLE_ALGORITHMS, type PlanTableRow } from '../../native-bench/plan-table';
import { ALGORITHMS_MARKERS, updateAlgorithmsSection, type AlgorithmsFigures } from '../../native-bench/report/algorithms-markdown';

function fixedFigures(): AlgorithmsFigures {
  const plan: PlanTableRow[] = PLAN_TABLE_ALGORITHMS.map((algorithm, index) => ({
    algorithm: algorithm.name,
    maxFirstLoad: 200 + index,
    fairFirstLoad: 200,
    worstFailure: { server: '10.0.0.1:8250', maxLoad: 250 + index, ratioToFair: 1 + index / 10 },
    removedFirstTwoMean: 1.5,
    removedFirstTwoMax: 3,
    addedServerMoved: 167,
    addedServerShare: 167,
    planMs: 12.5,
  }));
  // One row per size the real run measures, so the section reaches what `npm run bench` writes.
  const roundrobin: RoundRobinRow[] = DEFAULT_OPTIONS.sizes.map((hosts) => ({
    hosts,
    buildMs: 1.5,
    lookups: 1_000,
    nsPerLookup: 20,
    referenceLookups: 20,
    referenceNsPerLookup: 2_000,
    ratio: 100,
  }));
  return { plan, roundrobin, codec: benchCodec({ iterations: 1 }) };
}

t.test('the algorithms section is written between its markers, replacing the previous one', async (t) => {
  const file = path.join(t.testdir(), 'BENCHMARKS.md');
  await writeFile(file, '# Benchmarks\n\nhand-written text\n');
  const figures = fixedFigures();
  await updateAlgorithmsSection(file, figures);
  const first = await readFile(file, 'utf8');
  t.ok(first.startsWith('# Benchmarks\n\nhand-written text\n\n' + ALGORITHMS_MARKERS.begin), 'appended after the hand-written text');
  t.ok(first.trimEnd().endsWith(ALGORITHMS_MARKERS.end), 'the section ends with its end marker');
  for (const algorithm of ['roundrobin', 'shuffle', 'balanced']) t.match(first, new RegExp('^\\| `' + algorithm + '` \\|', 'm'));
  t.ok(DEFAULT_OPTIONS.sizes.includes(1_000_000), 'the real run measures a million hosts');
  t.match(first, /^\| 1,000,000 \| /m, 'the micro-benchmark reaches a million hosts');
  t.match(first, /^\| decode\+validate hello \| /m);

  await updateAlgorithmsSection(file, figures);
  const second = await readFile(file, 'utf8');
  t.equal(second.split(ALGORITHMS_MARKERS.begin).length, 2, 'one section after a second run');
  t.ok(second.startsWith('# Benchmarks\n\nhand-written text\n'), 'the text around it is kept');
  t.equal(second, first, 'the same figures write the same file');
});
