import t from 'tap';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ALGORITHMS_MARKERS, updateAlgorithmsSection } from '../../native-bench/report/algorithms-markdown';

t.test('the algorithms section is written between its markers, replacing the previous one', async (t) => {
  const file = path.join(t.testdir(), 'BENCHMARKS.md');
  await writeFile(file, '# Benchmarks\n\nhand-written text\n');
  await updateAlgorithmsSection(file);
  const first = await readFile(file, 'utf8');
  t.ok(first.startsWith('# Benchmarks\n\nhand-written text\n\n' + ALGORITHMS_MARKERS.begin), 'appended after the hand-written text');
  for (const algorithm of ['roundrobin', 'shuffle', 'balanced']) t.match(first, new RegExp('^\\| `' + algorithm + '` \\|', 'm'));
  t.match(first, /^\| 1,000,000 \| /m, 'the micro-benchmark reaches a million hosts');
  t.match(first, /^\| decode\+validate hello \| /m);

  await updateAlgorithmsSection(file);
  const second = await readFile(file, 'utf8');
  t.equal(second.split(ALGORITHMS_MARKERS.begin).length, 2, 'one section after a second run');
  t.ok(second.startsWith('# Benchmarks\n\nhand-written text\n'), 'the text around it is kept');
});
