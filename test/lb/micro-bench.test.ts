import t from 'tap';
import { benchRoundRobin, DEFAULT_OPTIONS, formatTable, parseArguments } from '../../native-bench/micro';
import { benchBalanced } from '../../native-bench/micro-registry';

t.test('the default run covers the three sizes the issue asks for', async (t) => {
  t.same(DEFAULT_OPTIONS.sizes, [1_000, 100_000, 1_000_000]);
});

t.test('benchRoundRobin reports one consistent row per size (no timing asserted)', async (t) => {
  const rows = benchRoundRobin({ sizes: [10, 1_000], lookups: 5_000, referenceBudget: 100_000 });
  t.same(rows.map((row) => row.hosts), [10, 1_000]);
  t.same(rows.map((row) => row.lookups), [5_000, 5_000]);
  // Reference samples: budget / hosts, capped by lookups, at least 20.
  t.same(rows.map((row) => row.referenceLookups), [5_000, 100]);
  for (const row of rows) {
    for (const figure of [row.buildMs, row.nsPerLookup, row.referenceNsPerLookup, row.ratio]) {
      t.ok(Number.isFinite(figure) && figure >= 0, `finite figure ${figure}`);
    }
    t.equal(row.ratio, row.referenceNsPerLookup / row.nsPerLookup);
  }
  const tiny = benchRoundRobin({ sizes: [5], lookups: 30, referenceBudget: 1 });
  t.equal(tiny[0]!.referenceLookups, 20, 'never fewer than 20 reference samples');
});

t.test('formatTable aligns columns and right-aligns numbers', async (t) => {
  const table = formatTable(['name', 'ns/op'], [['a', 1234567], ['bb', 1.5], ['c', 42.25]]);
  t.equal(
    table,
    [
      'name      ns/op',
      '----  ---------',
      'a     1,234,567',
      'bb          1.5',
      'c          42.3',
    ].join('\n'),
  );
  t.equal(formatTable(['x'], []), 'x\n-', 'no rows: header and rule only');
});

t.test('parseArguments accepts --json FILE and refuses anything else', async (t) => {
  t.same(parseArguments([]), {});
  t.same(parseArguments(['--json', 'out.json']), { jsonFile: 'out.json' });
  t.equal(parseArguments(['--json']), '--json needs a file name');
  t.equal(parseArguments(['--json', '']), '--json needs a file name');
  t.equal(parseArguments(['--csv']), 'unknown argument: --csv');
  t.equal(parseArguments(['--json', 'a', 'extra']), 'unknown argument: extra');
});

t.test('benchBalanced reports the one-piece plan and the two sliced ones per size (no timing asserted)', async (t) => {
  const rows = await benchBalanced([300]);
  t.same(
    rows.map((row) => row.operation),
    [
      'balanced: plan of the zone in one piece (before)',
      'balanced: start-up plan in slices (planZones)',
      'balanced: re-plan after a removal, in slices (refreshPlans)',
    ],
  );
  for (const row of rows) t.ok(row.hosts === 300 && Number.isFinite(row.totalMs) && Number.isFinite(row.longestStallMs), row.operation);
});
