/**
 * Every guarantee of `balanced`, over random fleets (zones, id gaps, 2..9 servers, 1..5 000
 * hosts). The same figures for roundrobin and shuffle are in balanced-versus.test.ts.
 *
 * Churn bounds, and why they hold (n hosts, m servers, one zone):
 * - removing or adding one host changes the first entry of at most m − 1 other hosts: first
 *   choices are the unique maximum-weight assignment with fixed capacities, and one host less
 *   plus one unit of capacity moved changes it by one shortest augmenting path, which visits
 *   each server at most once;
 * - it changes the first two entries of at most (m − 1) + m·(m − 2) other hosts: only the
 *   servers on that path (at most m) see their hosts change, each such change is again one
 *   augmenting path (at most m − 2 moves) among the other m − 1 servers, and the second-choice
 *   capacities of every other server do not change at all (balanced-capacity.ts);
 * - adding a server moves the first choice of ⌈n/(m+1)⌉ hosts (what the new server must take)
 *   plus a few hosts among the old servers, as the assignment's balance shifts: measured at most
 *   1.34·√n over 600 random fleets; pinned at 2·√n + m. Removing one moves that server's hosts
 *   plus at most 2.05·√n others measured; pinned at 3·√n + m.
 */
import t from 'tap';
import fc from 'fast-check';
import { balanced } from '../../src/lb/balanced';
import { equalInOrder } from '../../src/lb/compare';
import { churn, firstChoiceLoads, loadsAfterFailure, planLists, type PlanLists } from '../../src/lb/plan-stats';
import { expect, fleetArb, holds, serverEntryArb, type Fleet } from './balanced-fleet';

const RUNS = 30;

function eachZone(fleet: Fleet, check: (ids: readonly number[], zone: string) => void): void {
  for (const [zone, ids] of fleet.zones) check(ids, zone);
}

function sameLists(a: PlanLists, b: PlanLists): boolean {
  if (a.size !== b.size) return false;
  for (const [id, list] of a) {
    const other = b.get(id);
    if (other === undefined || !equalInOrder(other, list)) return false;
  }
  return true;
}

t.test('deterministic: independent plans, in any server order, are equal', async (t) => {
  holds(
    t,
    fleetArb(),
    (fleet) =>
      eachZone(fleet, (ids, zone) => {
        const first = planLists(balanced, fleet.servers, ids, zone);
        const again = planLists(balanced, fleet.servers, [...ids].reverse(), zone);
        const reordered = planLists(balanced, [...fleet.servers].reverse(), ids, zone);
        expect(sameLists(first, again), `${zone}: two plans differ`);
        expect(sameLists(first, reordered), `${zone}: the configured server order changed the plan`);
      }),
    RUNS,
  );
});

t.test('every list is a permutation of the servers', async (t) => {
  holds(
    t,
    fleetArb(),
    (fleet) =>
      eachZone(fleet, (ids) => {
        const wanted = [...fleet.servers].sort().join('\n');
        for (const [id, list] of planLists(balanced, fleet.servers, ids)) {
          expect([...list].sort().join('\n') === wanted, `host ${id}: ${list.join(',')}`);
        }
      }),
    RUNS,
  );
});

t.test('first choices: every server is first for ⌊n/m⌋ or ⌈n/m⌉ hosts of each zone', async (t) => {
  holds(
    t,
    fleetArb(),
    (fleet) =>
      eachZone(fleet, (ids, zone) => {
        const n = ids.length;
        const m = fleet.servers.length;
        const loads = firstChoiceLoads(planLists(balanced, fleet.servers, ids));
        expect(loads.size === m, `${zone}: ${loads.size} servers listed, want ${m}`);
        for (const [server, load] of loads) {
          expect(load === Math.floor(n / m) || load === Math.ceil(n / m), `${zone}: ${server} first for ${load} of ${n}`);
        }
      }),
    RUNS,
  );
});

t.test('any single failure leaves every survivor within one host of n/(m−1)', async (t) => {
  holds(
    t,
    fleetArb(),
    (fleet) =>
      eachZone(fleet, (ids, zone) => {
        const lists = planLists(balanced, fleet.servers, ids);
        const fair = ids.length / (fleet.servers.length - 1);
        for (const failed of fleet.servers) {
          for (const [server, load] of loadsAfterFailure(lists, new Set([failed]))) {
            expect(Math.abs(load - fair) <= 1, `${zone}: ${failed} down puts ${load} on ${server}, fair ${fair}`);
          }
        }
      }),
    RUNS,
  );
});

t.test('removing or adding one host: ≤ m−1 others change first, ≤ (m−1)+m(m−2) their first two', async (t) => {
  holds(
    t,
    fleetArb({ maxZones: 1 }),
    (fleet) => {
      const [ids] = [...fleet.zones.values()] as [number[]];
      const m = fleet.servers.length;
      const before = planLists(balanced, fleet.servers, ids);
      const firstBound = m - 1;
      const firstTwoBound = m - 1 + m * (m - 2);
      // The lowest id (the one that reshuffles all of roundrobin), a middle one and the last.
      for (const victim of new Set([ids[0]!, ids[ids.length >> 1]!, ids[ids.length - 1]!])) {
        const removed = churn(before, planLists(balanced, fleet.servers, ids.filter((id) => id !== victim)));
        expect(removed.firstChanged <= firstBound, `removing ${victim}: ${removed.firstChanged} changed first`);
        expect(removed.firstTwoChanged <= firstTwoBound, `removing ${victim}: ${removed.firstTwoChanged} changed first two`);
      }
      const added = churn(before, planLists(balanced, fleet.servers, [...ids, ids[ids.length - 1]! + 7]));
      expect(added.firstChanged <= firstBound, `adding a host: ${added.firstChanged} changed first`);
      expect(added.firstTwoChanged <= firstTwoBound, `adding a host: ${added.firstTwoChanged} changed first two`);
    },
    RUNS,
  );
});

t.test('adding a server moves about n/(m+1) primaries; removing one moves few besides its own', async (t) => {
  holds(
    t,
    fc.record({ fleet: fleetArb({ maxZones: 1, maxServers: 8 }), extra: serverEntryArb }),
    ({ fleet, extra }) => {
      if (fleet.servers.includes(extra)) return;
      const [ids] = [...fleet.zones.values()] as [number[]];
      const n = ids.length;
      const m = fleet.servers.length;
      const before = planLists(balanced, fleet.servers, ids);
      const grown = planLists(balanced, [...fleet.servers, extra], ids);
      const moved = churn(before, grown).firstChanged;
      const share = Math.ceil(n / (m + 1));
      expect(moved >= Math.floor(n / (m + 1)), `adding ${extra}: only ${moved} moved, below its share`);
      expect(moved <= share + 2 * Math.sqrt(n) + m, `adding ${extra}: ${moved} moved, share ${share}`);

      const gone = fleet.servers[0]!;
      if (m < 3) return;
      const shrunk = planLists(balanced, fleet.servers.slice(1), ids);
      let others = 0;
      for (const [id, list] of before) if (list[0] !== gone && shrunk.get(id)![0] !== list[0]) others++;
      expect(others <= 3 * Math.sqrt(n) + m, `removing ${gone}: ${others} of the other servers' hosts moved`);
    },
    RUNS,
  );
});
