import t from 'tap';
import fc from 'fast-check';
import { HostIdError, HostIndex, ZoneIndex } from '../../src/lb/zone-index';

/** Brute-force oracle: the position of every id is its index in the sorted id list. */
function expectedPositions(ids: Iterable<number>): Map<number, number> {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  return new Map(sorted.map((id, position) => [id, position]));
}

function positionsOf(index: ZoneIndex, ids: Iterable<number>): Map<number, number | undefined> {
  return new Map([...ids].map((id) => [id, index.positionOf(id)]));
}

t.test('ascending adds get consecutive positions', async (t) => {
  const index = new ZoneIndex('z1');
  for (const id of [3, 7, 42, 1000]) t.equal(index.add(id), true);
  t.equal(index.zone, 'z1');
  t.equal(index.size, 4);
  t.same(index.ids(), [3, 7, 42, 1000]);
  t.same(positionsOf(index, [3, 7, 42, 1000]), new Map([[3, 0], [7, 1], [42, 2], [1000, 3]]));
  t.equal(index.positionOf(8), undefined);
  t.equal(index.has(42), true);
  t.equal(index.has(43), false);
});

t.test('out-of-order adds re-number the later hosts', async (t) => {
  const index = new ZoneIndex('z');
  for (const id of [10, 30, 20, 5, 25]) index.add(id);
  t.same(index.ids(), [5, 10, 20, 25, 30]);
  t.same(positionsOf(index, [5, 10, 20, 25, 30]), expectedPositions([5, 10, 20, 25, 30]));
});

t.test('a duplicate add is a no-op', async (t) => {
  const index = new ZoneIndex('z');
  index.add(1);
  index.add(2);
  t.equal(index.add(1), false);
  t.equal(index.add(2), false);
  t.equal(index.size, 2);
  t.same(index.ids(), [1, 2]);
});

t.test('remove re-numbers every later host and reports unknown ids', async (t) => {
  const index = new ZoneIndex('z');
  for (const id of [3, 7, 42, 1000, 1001]) index.add(id);
  t.equal(index.remove(7), true);
  t.equal(index.remove(7), false);
  t.equal(index.remove(999), false);
  t.same(index.ids(), [3, 42, 1000, 1001]);
  t.same(positionsOf(index, [3, 7, 42, 1000, 1001]), new Map([[3, 0], [7, undefined], [42, 1], [1000, 2], [1001, 3]]));
  index.remove(3);
  index.remove(1001);
  t.same(positionsOf(index, [42, 1000]), new Map([[42, 0], [1000, 1]]));
  t.equal(index.size, 2);
});

t.test('ids() is a frozen snapshot, reused until the next change', async (t) => {
  const index = new ZoneIndex('z');
  index.add(1);
  const first = index.ids();
  t.ok(Object.isFrozen(first));
  t.equal(index.ids(), first, 'no copy while unchanged');
  index.add(2);
  t.same(first, [1], 'an earlier snapshot is not changed by later adds');
  t.same(index.ids(), [1, 2]);
  const second = index.ids();
  index.remove(1);
  t.same(second, [1, 2]);
  t.same(index.ids(), [2]);
});

t.test('ids that cannot be ordered are refused with bad_host_id', async (t) => {
  const index = new ZoneIndex('z');
  for (const bad of [Number.NaN, 1.5, Number.POSITIVE_INFINITY, 2 ** 53]) {
    t.throws(() => index.add(bad), { name: 'HostIdError', code: 'bad_host_id', message: `host id must be a safe integer, got ${String(bad)}` });
  }
  t.equal(index.size, 0);
  const error = new HostIdError(0.5);
  t.ok(error instanceof RangeError);
  t.equal(error.id, 0.5);
});

t.test('property: any sequence of adds and removes matches the sorted-list oracle', async (t) => {
  const operation = fc.record({ remove: fc.boolean(), id: fc.integer({ min: -50, max: 200 }) });
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 120 }), (operations) => {
      const index = new ZoneIndex('z');
      const present = new Set<number>();
      for (const { remove, id } of operations) {
        if (remove) {
          if (index.remove(id) !== present.delete(id)) return false;
        } else {
          const isNew = !present.has(id);
          present.add(id);
          if (index.add(id) !== isNew) return false;
        }
      }
      const oracle = expectedPositions(present);
      if (index.size !== oracle.size) return false;
      if (index.ids().join() !== [...oracle.keys()].join()) return false;
      for (const [id, position] of oracle) if (index.positionOf(id) !== position) return false;
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass('300 random operation sequences agree with the oracle');
});

t.test('HostIndex keeps one index per zone and knows each host zone', async (t) => {
  const hosts = new HostIndex();
  t.equal(hosts.add(1, 'a'), true);
  t.equal(hosts.add(2, 'b'), true);
  t.equal(hosts.add(3, 'a'), true);
  t.equal(hosts.add(3, 'a'), false, 'duplicate add is a no-op');
  t.equal(hosts.size, 3);
  t.same(hosts.zones(), ['a', 'b']);
  t.equal(hosts.zoneOf(3), 'a');
  t.equal(hosts.zoneOf(2), 'b');
  t.equal(hosts.zoneOf(9), undefined);
  t.same(hosts.zone('a').ids(), [1, 3]);
  t.equal(hosts.zone('a').positionOf(3), 1);
  t.equal(hosts.zone('b').positionOf(2), 0);
});

t.test('HostIndex remove renumbers within the host zone only', async (t) => {
  const hosts = new HostIndex();
  for (const id of [1, 2, 3, 4]) hosts.add(id, id % 2 === 0 ? 'even' : 'odd');
  t.equal(hosts.remove(1), true);
  t.equal(hosts.remove(1), false);
  t.equal(hosts.remove(77), false);
  t.equal(hosts.size, 3);
  t.equal(hosts.zoneOf(1), undefined);
  t.equal(hosts.zone('odd').positionOf(3), 0);
  t.same(hosts.zone('even').ids(), [2, 4]);
  hosts.remove(3);
  t.same(hosts.zones(), ['even'], 'a zone with no hosts left is not listed');
});

t.test('HostIndex moves a host registered again in another zone', async (t) => {
  const hosts = new HostIndex();
  hosts.add(1, 'a');
  hosts.add(2, 'a');
  t.equal(hosts.add(1, 'b'), true);
  t.equal(hosts.zoneOf(1), 'b');
  t.same(hosts.zone('a').ids(), [2]);
  t.equal(hosts.zone('a').positionOf(2), 0);
  t.same(hosts.zone('b').ids(), [1]);
  t.equal(hosts.size, 2);
});

t.test('HostIndex refuses a bad id without registering it', async (t) => {
  const hosts = new HostIndex();
  t.throws(() => hosts.add(Number.NaN, 'a'), { code: 'bad_host_id' });
  t.equal(hosts.size, 0);
  t.equal(hosts.zoneOf(Number.NaN), undefined);
});

t.test('an unknown zone is an empty view that stays live', async (t) => {
  const hosts = new HostIndex();
  const view = hosts.zone('later');
  t.equal(view.zone, 'later');
  t.equal(view.size, 0);
  t.same(view.ids(), []);
  t.equal(view.positionOf(1), undefined);
  t.same(hosts.zones(), [], 'asking for a zone does not list it');
  hosts.add(5, 'later');
  t.equal(view.size, 1, 'the view handed out earlier sees the new host');
  t.equal(view.positionOf(5), 0);
  t.equal(hosts.zone('later'), view, 'the same view is returned for the same zone');
});
