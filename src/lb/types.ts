/**
 * The one interface every list-ordering algorithm implements.
 *
 * An algorithm is asked to `plan` once per change of settings or of a zone's host set; the
 * resulting planner answers `listFor` in O(1) per host. Planning from the whole host set is
 * what lets a future algorithm (e.g. `balanced`) look at every host at once, while
 * `roundrobin` only needs the zone index's id -> position map.
 */
import type { AlgorithmName } from '../protocol/algorithms';
import type { SliceClock, Sliced } from '../util/slices';

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
  /**
   * plan() for an algorithm whose plan is O(zone) (balanced): the planner of the zone holding
   * `ids` (ascending, ZoneView.ids()), built by a generator that pauses whenever `clock` says a
   * slice is full, so that a server can re-plan 100 000 hosts between other work. Its planner
   * answers exactly as plan()'s would for the same ids, and reads nothing live afterwards.
   */
  planInSlices?(servers: readonly string[], ids: readonly number[], clock: SliceClock): Sliced<ListPlanner>;
  /** Whether `agentList` is up to date against `expected` under this algorithm's rule. */
  isUpToDate(agentList: readonly string[], expected: readonly string[]): boolean;
}
