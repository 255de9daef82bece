/**
 * `roundrobin`: the hosts of a zone, ordered by id, get the list rotated left by
 * `position mod serverCount`; a host not (yet) in the zone takes the next position.
 *
 * The serverCount rotations are computed once per plan, and positions come from the live
 * ZoneView, so a lookup is one map read plus one array index: O(1) per host, and hosts added
 * after plan() are answered correctly without re-planning.
 */
import { equalInOrder } from './compare';
import type { Algorithm, ListPlanner, ZoneView } from './types';

/** Every left rotation of `servers`, frozen; only the list itself when there are fewer than 2. */
export function leftRotations(servers: readonly string[]): readonly (readonly string[])[] {
  if (servers.length < 2) return [Object.freeze(servers.slice())];
  const rotations: (readonly string[])[] = [];
  for (let shift = 0; shift < servers.length; shift++) {
    rotations.push(Object.freeze([...servers.slice(shift), ...servers.slice(0, shift)]));
  }
  return rotations;
}

export const roundRobin: Algorithm = {
  name: 'roundrobin',
  // A host-set change only moves positions, which listFor reads live from the ZoneView.
  dependsOnHostSet: false,
  plan(servers: readonly string[], zone: ZoneView): ListPlanner {
    const rotations = leftRotations(servers);
    if (rotations.length === 1) {
      const only = rotations[0]!;
      return { listFor: () => only };
    }
    return {
      listFor(hostId: number | undefined): readonly string[] {
        const position = (hostId === undefined ? undefined : zone.positionOf(hostId)) ?? zone.size;
        return rotations[position % rotations.length]!;
      },
    };
  },
  isUpToDate: equalInOrder,
};
