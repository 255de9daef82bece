import t from 'tap';
import { randomPermutation, shuffle } from '../../src/lb/shuffle';
import { ZoneIndex } from '../../src/lb/zone-index';

const SERVERS = ['M1', 'M2', 'M3'];

t.test('every call is a permutation of the servers, frozen', async (t) => {
  const planner = shuffle.plan(SERVERS, new ZoneIndex('z'));
  for (let draw = 0; draw < 50; draw++) {
    const list = planner.listFor(draw);
    t.same([...list].sort(), SERVERS);
    t.ok(Object.isFrozen(list));
  }
  t.equal(shuffle.name, 'shuffle');
  t.equal(shuffle.dependsOnHostSet, false);
});

t.test('all 6 permutations of 3 servers appear within 2 000 draws', async (t) => {
  // Each permutation has p = 1/6 per draw: missing one in 2 000 draws has probability
  // 6 * (5/6)^2000, about 1e-158, so this cannot fail by chance.
  const planner = shuffle.plan(SERVERS, new ZoneIndex('z'));
  const seen = new Map<string, number>();
  for (let draw = 0; draw < 2_000; draw++) {
    const key = planner.listFor(undefined).join();
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  t.same([...seen.keys()].sort(), ['M1,M2,M3', 'M1,M3,M2', 'M2,M1,M3', 'M2,M3,M1', 'M3,M1,M2', 'M3,M2,M1']);
});

t.test('consecutive calls are independent: not all equal', async (t) => {
  // 64 back-to-back calls (same millisecond) over 8 servers all equal: probability (1/8!)^63.
  const servers = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'];
  const planner = shuffle.plan(servers, new ZoneIndex('z'));
  const distinct = new Set<string>();
  for (let call = 0; call < 64; call++) distinct.add(planner.listFor(call).join());
  t.ok(distinct.size > 1, `${distinct.size} distinct orders in 64 calls`);
  t.not(planner.listFor(1), planner.listFor(1), 'a new array per call');
});

t.test('plan() copies the servers; 0 and 1 servers are returned as they are', async (t) => {
  const servers = ['A', 'B'];
  const planner = shuffle.plan(servers, new ZoneIndex('z'));
  servers[0] = 'changed';
  t.same([...planner.listFor(1)].sort(), ['A', 'B']);
  t.same(randomPermutation([]), []);
  t.same(randomPermutation(['only']), ['only']);
});

t.test('compare: equal as a set', async (t) => {
  const expected = ['M1', 'M2', 'M3'];
  t.equal(shuffle.isUpToDate(['M1', 'M2', 'M3'], expected), true, 'same');
  t.equal(shuffle.isUpToDate(['M3', 'M1', 'M2'], expected), true, 'reordered');
  t.equal(shuffle.isUpToDate(['M3', 'M1', 'M4'], expected), false, 'different');
  t.equal(shuffle.isUpToDate(['M3', 'M1'], expected), false, 'missing one');
  t.equal(shuffle.isUpToDate(['M3', 'M1', 'M2', 'M4'], expected), false, 'one extra');
  t.equal(shuffle.isUpToDate([], expected), false, 'empty agent list');
  t.equal(shuffle.isUpToDate([], []), true, 'both empty');
  t.equal(shuffle.isUpToDate(['M1', 'M1', 'M2'], expected), false, 'duplicates, same size');
  t.equal(shuffle.isUpToDate(['M1', 'M2', 'M2'], ['M1', 'M2', 'M2']), false, 'duplicates are never up to date');
});
