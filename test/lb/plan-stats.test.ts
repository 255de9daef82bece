import t from 'tap';
import { balanced } from '../../src/lb/balanced';
import { churn, firstChoiceLoads, loadsAfterFailure, planLists, worstSingleFailure } from '../../src/lb/plan-stats';
import { roundRobin } from '../../src/lb/roundrobin';
import { staticAlgorithm } from '../../src/lb/static';

const A = 'a:8250';
const B = 'b:8250';
const C = 'c:8250';

/** Hosts 1..4 with hand-written lists: A is first for 3, B for 1, C for none. */
const LISTS = new Map<number, readonly string[]>([
  [1, [A, B, C]],
  [2, [A, C, B]],
  [3, [A, B, C]],
  [4, [B, A, C]],
]);

t.test('firstChoiceLoads counts first entries, idle servers at 0', async (t) => {
  t.same([...firstChoiceLoads(LISTS)].sort(), [[A, 3], [B, 1], [C, 0]]);
  t.same([...firstChoiceLoads(new Map())], [], 'no hosts, no servers');
});

t.test('loadsAfterFailure sends each host to its first surviving entry', async (t) => {
  t.same([...loadsAfterFailure(LISTS, new Set([A]))].sort(), [[B, 3], [C, 1]]);
  t.same([...loadsAfterFailure(LISTS, new Set([A, B]))], [[C, 4]], 'two failures');
  t.same([...loadsAfterFailure(LISTS, new Set([A, B, C]))], [], 'every server down: nobody is counted');
  t.same([...loadsAfterFailure(LISTS, new Set(['unknown:1']))].sort(), [[A, 3], [B, 1], [C, 0]], 'an unlisted failure');
});

t.test('worstSingleFailure finds the failure that overloads one survivor most', async (t) => {
  // A down: B 3, C 1. B down: all 4 on A (fair share 4/2 = 2). C down: A 3, B 1.
  t.same(worstSingleFailure(LISTS, [A, B, C]), { server: B, maxLoad: 4, ratioToFair: 2 });
  const symmetric = new Map<number, readonly string[]>([
    [1, [A, B]],
    [2, [B, A]],
  ]);
  t.same(worstSingleFailure(symmetric, [B, A]), { server: B, maxLoad: 2, ratioToFair: 1 }, 'a tie: the first named');
  t.equal(worstSingleFailure(LISTS, [A]), undefined, 'one server: nothing to fail over to');
  t.same(worstSingleFailure(new Map(), [A, B]), { server: A, maxLoad: 0, ratioToFair: 0 }, 'no hosts');
});

t.test('churn counts hosts in both plans whose first, or first two, entries changed', async (t) => {
  const after = new Map<number, readonly string[]>([
    [1, [A, B, C]], // unchanged
    [2, [A, B, C]], // second changed
    [3, [B, A, C]], // first changed
    // 4 removed: not counted
    [5, [C, B, A]], // new: not counted
  ]);
  t.same(churn(LISTS, after), { firstChanged: 1, firstTwoChanged: 2 });
  t.same(churn(LISTS, LISTS), { firstChanged: 0, firstTwoChanged: 0 });
});

t.test("planLists plans one zone over the ids given, in any order (the seed's example)", async (t) => {
  const lists = planLists(roundRobin, ['M1', 'M2', 'M3'], [4, 2, 3, 1]);
  t.same([...lists.keys()], [1, 2, 3, 4], 'ids ascending');
  t.same(lists.get(1), ['M1', 'M2', 'M3']);
  t.same(lists.get(2), ['M2', 'M3', 'M1']);
  t.same(lists.get(3), ['M3', 'M1', 'M2']);
  t.same(lists.get(4), ['M1', 'M2', 'M3']);
  t.same([...planLists(staticAlgorithm, [A, B], new Set([7, 7, 9])).keys()], [7, 9], 'any iterable');
  const balancedLists = planLists(balanced, [A, B, C], [1, 2, 3, 4, 5, 6], 'zone-x');
  t.same([...firstChoiceLoads(balancedLists).values()], [2, 2, 2]);
});
