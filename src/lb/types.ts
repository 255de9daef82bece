/**
 * The one interface every list-ordering algorithm implements.
 *
 * An algorithm is asked to `plan` once per change of settings or of a zone's host set; the
 * resulting planner answers `listFor` in O(1) per host. Planning from the whole host set is
 * what lets a future algorithm (e.g. `balanced`) look at every host at once, while
 * `roundrobin` only needs the zone index's id -> position map.
 */
import type { AlgorithmName } from '../protocol/algorithms';

/** Read-only view of one zone's hosts, ordered by id. */
export interface ZoneView {
  readonly zone: string;
  /** Number of registered hosts in the zone. */
  readonly size: number;
  /** 0-based position of `id` among the zone's ids in ascending order; undefined if absent. */
  positionOf(id: number): number | undefined;
  /** The zone's ids in ascending order (a copy or a frozen view; do not mutate). */
  ids(): readonly number[];
}

/** Answers the list a host should have, in O(1). */
export interface ListPlanner {
  /**
   * The ordered server list for `hostId` in this zone. A host not (yet) in the zone is given
   * the next position (the zone's size), never an error. Planners return the same array
   * instance for hosts that share a list, so callers can cache encoded frames by identity.
   */
  listFor(hostId: number | undefined): readonly string[];
}

export interface Algorithm {
  readonly name: AlgorithmName;
  /** True when a list must be recomputed whenever the zone's host set changes. */
  readonly dependsOnHostSet: boolean;
  plan(servers: readonly string[], zone: ZoneView): ListPlanner;
  /** Whether `agentList` is up to date against `expected` under this algorithm's rule. */
  isUpToDate(agentList: readonly string[], expected: readonly string[]): boolean;
}
