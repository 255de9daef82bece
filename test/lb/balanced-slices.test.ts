/**
 * `balanced` planned in slices (the server re-plans a 100 000-host zone between other work,
 * server/fleet/fleet.ts) gives exactly the plan made in one piece: the same orders and the
 * same list for every host, whatever the slice size, for random fleets. Also pins that the
 * slices really pause, and that a clock without slices never does.
 */
import t from 'tap';
import fc from 'fast-check';
import { balanced, balancedPlanner, balancedPlannerInSlices } from '../../src/lb/balanced';
import { planBalancedOrders, planBalancedOrdersInSlices } from '../../src/lb/balanced-plan';
import { SliceClock, UNSLICED, runNow, type Sliced } from '../../src/util/slices';
import { expect, fleetArb, holds } from './balanced-fleet';

/** Runs `steps` to its end, counting its pauses. */
function drain<T>(steps: Sliced<T>): { value: T; pauses: number } {
  let pauses = 0;
  for (;;) {
    const step = steps.next();
    if (step.done === true) return { value: step.value, pauses };
    pauses++;
  }
}

t.test('sliced orders and planners equal the plan made in one piece (random fleets, random slice sizes)', async (t) => {
  holds(
    t,
    fc.tuple(fleetArb({ maxHosts: 3_000 }), fc.integer({ min: 1, max: 5_000 })),
    ([fleet, slice]) => {
      for (const [zone, ids] of fleet.zones) {
        const whole = planBalancedOrders(fleet.servers, ids);
        const sliced = drain(planBalancedOrdersInSlices(fleet.servers, ids, new SliceClock(slice)));
        expect(whole.length === sliced.value.length && whole.every((server, i) => server === sliced.value[i]), `orders of ${zone} equal`);
        const direct = balancedPlanner(fleet.servers, ids);
        const planner = runNow(balancedPlannerInSlices(fleet.servers, ids, new SliceClock(slice)));
        for (const id of [...ids, ids[ids.length - 1]! + 1, undefined]) {
          expect(planner.listFor(id).join() === direct.listFor(id).join(), `host ${id} of ${zone}: the same list`);
        }
      }
    },
    25,
  );
});

t.test('a zone pauses about once per slice of work; without slices never', async (t) => {
  const servers = ['a:1', 'b:1', 'c:1'];
  const ids = Array.from({ length: 5_000 }, (_, i) => i + 1);
  const sliced = drain(balancedPlannerInSlices(servers, ids, new SliceClock(1_000)));
  t.ok(sliced.pauses > 50, `5 000 hosts in slices of 1 000 units: ${sliced.pauses} pauses`);
  t.equal(drain(balancedPlannerInSlices(servers, ids, UNSLICED)).pauses, 0);
  t.equal(balanced.planInSlices, balancedPlannerInSlices, 'the algorithm offers its sliced plan');
});

t.test('ids not in ascending order still get their own lists (a map instead of the search)', async (t) => {
  const servers = ['a:1', 'b:1', 'c:1', 'd:1'];
  const ids = [9, 3, 27, 1, 81];
  const planner = balancedPlanner(servers, ids);
  const sorted = balancedPlanner(servers, [...ids].sort((a, b) => a - b));
  for (const id of [...ids, 4]) t.same(planner.listFor(id), sorted.listFor(id), `host ${id}`);
});
