/**
 * Figures about a zone's planned lists, as pure functions over "host id -> list" maps: used by
 * the what-if planner (API and CLI), the property tests and the benchmark table.
 *
 * A host "moves to its first surviving entry" when servers fail, which is what an agent does.
 */
import { ZoneIndex } from './zone-index';
import type { Algorithm } from './types';

/** Each host's ordered server list, by host id. */
export type PlanLists = ReadonlyMap<number, readonly string[]>;

export interface WorstFailure {
  /** The server whose loss puts the most hosts on one survivor (first such in `servers`). */
  readonly server: string;
  /** The largest survivor load after that failure. */
  readonly maxLoad: number;
  /** maxLoad / (hosts / survivors): 1 is perfect, roundrobin reaches ≈ 2(m−1)/m. */
  readonly ratioToFair: number;
}

export interface Churn {
  /** Hosts in both plans whose first entry differs. */
  readonly firstChanged: number;
  /** Hosts in both plans whose first or second entry differs. */
  readonly firstTwoChanged: number;
}

/** Every entry that appears in any list, at load 0: so idle servers show up in the loads. */
function zeroLoads(lists: PlanLists, failed: ReadonlySet<string>): Map<string, number> {
  const loads = new Map<string, number>();
  const seen = new Set<readonly string[]>();
  for (const list of lists.values()) {
    // Planners intern lists, so this visits each distinct list once.
    if (seen.has(list)) continue;
    seen.add(list);
    for (const server of list) if (!failed.has(server)) loads.set(server, 0);
  }
  return loads;
}

/** Hosts per server when every host connects to its first surviving entry. */
export function loadsAfterFailure(lists: PlanLists, failed: ReadonlySet<string>): Map<string, number> {
  const loads = zeroLoads(lists, failed);
  for (const list of lists.values()) {
    const target = list.find((server) => !failed.has(server));
    if (target !== undefined) loads.set(target, loads.get(target)! + 1);
  }
  return loads;
}

/** Hosts per server as first choice (every listed server present, idle ones at 0). */
export function firstChoiceLoads(lists: PlanLists): Map<string, number> {
  return loadsAfterFailure(lists, new Set());
}

function maxValue(loads: ReadonlyMap<string, number>): number {
  let max = 0;
  for (const load of loads.values()) max = Math.max(max, load);
  return max;
}

/**
 * The single failure among `servers` that overloads a survivor most. Undefined with fewer
 * than 2 servers (a failure leaves nobody to compare against).
 */
export function worstSingleFailure(lists: PlanLists, servers: readonly string[]): WorstFailure | undefined {
  if (servers.length < 2) return undefined;
  let worst: WorstFailure | undefined;
  const fairShare = lists.size / (servers.length - 1);
  for (const server of servers) {
    const maxLoad = maxValue(loadsAfterFailure(lists, new Set([server])));
    if (worst === undefined || maxLoad > worst.maxLoad) {
      worst = { server, maxLoad, ratioToFair: fairShare > 0 ? maxLoad / fairShare : 0 };
    }
  }
  return worst;
}

/** How many hosts present in both plans changed their first, or first two, entries. */
export function churn(before: PlanLists, after: PlanLists): Churn {
  let firstChanged = 0;
  let firstTwoChanged = 0;
  for (const [id, was] of before) {
    const now = after.get(id);
    if (now === undefined) continue;
    const firstDiffers = was[0] !== now[0];
    if (firstDiffers) firstChanged++;
    if (firstDiffers || was[1] !== now[1]) firstTwoChanged++;
  }
  return { firstChanged, firstTwoChanged };
}

/** Plans one zone holding exactly `ids` and returns every host's list. */
export function planLists(algorithm: Algorithm, servers: readonly string[], ids: Iterable<number>, zone = ''): Map<number, readonly string[]> {
  const view = new ZoneIndex(zone);
  // Ascending adds are O(1) each in ZoneIndex.
  for (const id of [...ids].sort((a, b) => a - b)) view.add(id);
  const planner = algorithm.plan(servers, view);
  const lists = new Map<number, readonly string[]>();
  for (const id of view.ids()) lists.set(id, planner.listFor(id));
  return lists;
}
