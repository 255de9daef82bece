import t from 'tap';
import { staticAlgorithm } from '../../src/lb/static';
import { ZoneIndex } from '../../src/lb/zone-index';

t.test('every host gets the configured list, as one shared frozen array', async (t) => {
  const zone = new ZoneIndex('z');
  for (const id of [1, 2, 3]) zone.add(id);
  const servers = ['M1', 'M2', 'M3'];
  const planner = staticAlgorithm.plan(servers, zone);
  const first = planner.listFor(1);
  t.same(first, ['M1', 'M2', 'M3']);
  for (const id of [2, 3, 99, undefined]) t.equal(planner.listFor(id), first);
  t.ok(Object.isFrozen(first));
  servers[0] = 'changed';
  t.same(planner.listFor(1), ['M1', 'M2', 'M3'], 'plan() copied the servers');
  t.equal(staticAlgorithm.name, 'static');
  t.equal(staticAlgorithm.dependsOnHostSet, false);
});

t.test('an empty server list stays empty', async (t) => {
  t.same(staticAlgorithm.plan([], new ZoneIndex('z')).listFor(1), []);
});

t.test('compare: equal in order', async (t) => {
  const expected = ['M1', 'M2', 'M3'];
  t.equal(staticAlgorithm.isUpToDate(['M1', 'M2', 'M3'], expected), true, 'same');
  t.equal(staticAlgorithm.isUpToDate(['M3', 'M2', 'M1'], expected), false, 'reordered');
  t.equal(staticAlgorithm.isUpToDate(['M1', 'M2', 'M4'], expected), false, 'different');
  t.equal(staticAlgorithm.isUpToDate(['M1', 'M2', 'M3', 'M4'], expected), false, 'longer');
  t.equal(staticAlgorithm.isUpToDate([], expected), false, 'empty agent list');
  t.equal(staticAlgorithm.isUpToDate([], []), true, 'both empty');
  t.equal(staticAlgorithm.isUpToDate(['M1'], []), false, 'agent list against empty expected');
  t.equal(staticAlgorithm.isUpToDate(['M1', 'M1', 'M2'], expected), false, 'duplicates');
});
