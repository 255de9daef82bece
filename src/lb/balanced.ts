/**
 * `balanced`: lists planned per zone from the whole host set (see balanced-plan.ts for how).
 *
 * Guarantees, for n hosts and m ≥ 2 servers in a zone:
 * - deterministic: every server computes the same lists from the same host ids and `host`
 *   entries, with no coordination (the configured order of `host` does not matter);
 * - each server is first for ⌊n/m⌋ or ⌈n/m⌉ hosts;
 * - after any single server failure every survivor holds within one host of n/(m−1);
 * - adding or removing a host moves the first choice of at most m−1 other hosts.
 *
 * listFor is a binary search of the zone's ids. Lists are interned: hosts with the same order share one frozen
 * array, so callers can cache an encoded frame per list identity. The compare rule is
 * roundrobin's (equal in order), since the order is the whole point.
 */
import { UNSLICED, runNow, type SliceClock, type Sliced } from '../util/slices';
import { planBalancedOrdersInSlices, rendezvousOrder, serverSeeds } from './balanced-plan';
import { equalInOrder } from './compare';
import type { Algorithm, ListPlanner, ZoneView } from './types';
import { lowerBound } from './zone-index';

/** Largest server count whose orders fit a numeric key exactly (13^13 < 2^53 < 14^14). */
const MAX_NUMERIC_KEY_SERVERS = 13;

/**
 * One frozen array per distinct order. The key is the order read as a base-m number when that
 * is exact (building 100 000 strings cost more than the whole plan), else a string.
 */
class ListInterner {
  private readonly keys = new Map<number | string, number>();
  /** The distinct lists, by the index intern() returns. */
  readonly lists: (readonly string[])[] = [];

  constructor(private readonly servers: readonly string[]) {}

  /** The index in `lists` of `order`'s list. */
  intern(order: Int32Array): number {
    const key = this.keyOf(order);
    let at = this.keys.get(key);
    if (at === undefined) {
      at = this.lists.length;
      this.lists.push(Object.freeze(Array.from(order, (index) => this.servers[index]!)));
      this.keys.set(key, at);
    }
    return at;
  }

  private keyOf(order: Int32Array): number | string {
    const m = this.servers.length;
    // One UTF-16 code unit per entry: indices are far below 65 536.
    if (m > MAX_NUMERIC_KEY_SERVERS) return String.fromCharCode(...order);
    let key = 0;
    for (let i = 0; i < order.length; i++) key = key * m + order[i]!;
    return key;
  }
}

/** Index of `id` in the ascending `ids`, or -1. */
function rowOf(ids: readonly number[], id: number): number {
  const at = lowerBound(ids, id);
  return at < ids.length && ids[at] === id ? at : -1;
}

/**
 * The planner for one zone from orders already computed by planBalancedOrders(servers, ids)
 * (for instance in a worker thread: the orders are one transferable Int32Array). Hosts
 * registered after the plan get their rendezvous order (the same on every server); the
 * server re-plans on host-set changes since dependsOnHostSet.
 */
export function balancedPlannerFromOrders(servers: readonly string[], ids: readonly number[], orders: Int32Array): ListPlanner {
  return runNow(plannerFromOrdersInSlices(servers, ids, orders, UNSLICED));
}

/**
 * balancedPlannerFromOrders a slice at a time (interning 100 000 lists took 22-31 ms). A host's
 * list is found by a binary search of the ascending ids and one Int32Array read: no Map of
 * every host, whose rehash at 1 000 000 entries was one stall that no slicing could split.
 */
function* plannerFromOrdersInSlices(servers: readonly string[], ids: readonly number[], orders: Int32Array, clock: SliceClock): Sliced<ListPlanner> {
  const configured: readonly string[] = Object.freeze(servers.slice());
  if (servers.length < 2) return { listFor: () => configured };
  const m = servers.length;
  const interner = new ListInterner(configured);
  const listOfRow = new Int32Array(ids.length);
  let ascending = true;
  for (let row = 0; row < ids.length; row++) {
    // A key and a map read per host: dearer than a row of the plan.
    if (clock.due(4 * m)) yield;
    listOfRow[row] = interner.intern(orders.subarray(row * m, row * m + m));
    if (row > 0 && ids[row]! <= ids[row - 1]!) ascending = false;
  }
  // ZoneView.ids() is ascending; a direct caller's ids in any order get a map instead.
  const byId = ascending ? undefined : new Map(ids.map((id, row) => [id, row]));
  const { lists } = interner;
  const seeds = serverSeeds(servers);
  return {
    listFor(hostId: number | undefined): readonly string[] {
      // No id yet: nothing to hash, so the list as configured (what `static` would send).
      if (hostId === undefined) return configured;
      const row = byId === undefined ? rowOf(ids, hostId) : (byId.get(hostId) ?? -1);
      return lists[row < 0 ? interner.intern(rendezvousOrder(hostId, seeds)) : listOfRow[row]!]!;
    },
  };
}

/** Plans, in this thread, the zone holding `ids` (ascending, as ZoneView.ids() gives them). */
export function balancedPlanner(servers: readonly string[], ids: readonly number[]): ListPlanner {
  return runNow(balancedPlannerInSlices(servers, ids, UNSLICED));
}

/** balancedPlanner, pausing whenever `clock` says a slice is full; the same planner. */
export function* balancedPlannerInSlices(servers: readonly string[], ids: readonly number[], clock: SliceClock): Sliced<ListPlanner> {
  const orders = yield* planBalancedOrdersInSlices(servers, ids, clock);
  return yield* plannerFromOrdersInSlices(servers, ids, orders, clock);
}

export const balanced: Algorithm = {
  name: 'balanced',
  dependsOnHostSet: true,
  plan(servers: readonly string[], zone: ZoneView): ListPlanner {
    return balancedPlanner(servers, zone.ids());
  },
  planInSlices: balancedPlannerInSlices,
  isUpToDate: equalInOrder,
};
