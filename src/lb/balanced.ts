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
 * listFor is one Map read. Lists are interned: hosts with the same order share one frozen
 * array, so callers can cache an encoded frame per list identity. The compare rule is
 * roundrobin's (equal in order), since the order is the whole point.
 */
import { planBalancedOrders, rendezvousOrder, serverSeeds } from './balanced-plan';
import { equalInOrder } from './compare';
import type { Algorithm, ListPlanner, ZoneView } from './types';

/** Largest server count whose orders fit a numeric key exactly (13^13 < 2^53 < 14^14). */
const MAX_NUMERIC_KEY_SERVERS = 13;

/**
 * One frozen array per distinct order. The key is the order read as a base-m number when that
 * is exact (building 100 000 strings cost more than the whole plan), else a string.
 */
class ListInterner {
  private readonly lists = new Map<number | string, readonly string[]>();

  constructor(private readonly servers: readonly string[]) {}

  intern(order: Int32Array): readonly string[] {
    const key = this.keyOf(order);
    let list = this.lists.get(key);
    if (list === undefined) {
      list = Object.freeze(Array.from(order, (index) => this.servers[index]!));
      this.lists.set(key, list);
    }
    return list;
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

/**
 * The planner for one zone from orders already computed by planBalancedOrders(servers, ids)
 * (for instance in a worker thread: the orders are one transferable Int32Array). Hosts
 * registered after the plan get their rendezvous order (the same on every server); the
 * server re-plans on host-set changes since dependsOnHostSet.
 */
export function balancedPlannerFromOrders(servers: readonly string[], ids: readonly number[], orders: Int32Array): ListPlanner {
  const configured: readonly string[] = Object.freeze(servers.slice());
  if (servers.length < 2) return { listFor: () => configured };
  const m = servers.length;
  const interner = new ListInterner(configured);
  const byId = new Map<number, readonly string[]>();
  for (let row = 0; row < ids.length; row++) {
    byId.set(ids[row]!, interner.intern(orders.subarray(row * m, row * m + m)));
  }
  const seeds = serverSeeds(servers);
  return {
    listFor(hostId: number | undefined): readonly string[] {
      // No id yet: nothing to hash, so the list as configured (what `static` would send).
      if (hostId === undefined) return configured;
      return byId.get(hostId) ?? interner.intern(rendezvousOrder(hostId, seeds));
    },
  };
}

/** Plans, in this thread, the zone holding `ids` (ascending, as ZoneView.ids() gives them). */
export function balancedPlanner(servers: readonly string[], ids: readonly number[]): ListPlanner {
  return balancedPlannerFromOrders(servers, ids, planBalancedOrders(servers, ids));
}

export const balanced: Algorithm = {
  name: 'balanced',
  dependsOnHostSet: true,
  plan(servers: readonly string[], zone: ZoneView): ListPlanner {
    return balancedPlanner(servers, zone.ids());
  },
  isUpToDate: equalInOrder,
};
