/** IdSet: the fixed-size id set a resync compares 1 000 000 hosts with, against a Set. */
import t from 'tap';
import fc from 'fast-check';
import { IdSet } from '../../src/util/id-set';

t.test('answers as a Set does, for ids small, large, negative and above 2^32', async (t) => {
  const details = fc.check(
    fc.property(fc.array(fc.oneof(fc.integer({ min: -5, max: 2_000 }), fc.maxSafeInteger(), fc.integer({ min: 0, max: 2 ** 40 }).map((x) => x * 4096)), { maxLength: 400 }), (ids) => {
      const set = new IdSet(ids.length);
      const reference = new Set<number>();
      for (const id of ids) if (set.add(id) !== !reference.has(id) || (reference.add(id), false)) return false;
      if (set.size !== reference.size) return false;
      for (const id of [...ids, -6, 2_001, 2 ** 53 - 2]) if (set.has(id) !== reference.has(id)) return false;
      return true;
    }),
    { numRuns: 200 },
  );
  t.notOk(details.failed, fc.defaultReportMessage(details) ?? '200 id lists');
});

t.test('refuses more ids than it was sized for, naming the size', async (t) => {
  const set = new IdSet(2);
  t.ok(set.add(1));
  t.ok(set.add(2));
  t.notOk(set.add(2), 'a repeat is not an addition');
  t.throws(() => set.add(3), { name: 'RangeError', message: 'IdSet sized for 2 ids is full' });
});
