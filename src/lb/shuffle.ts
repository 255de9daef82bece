/**
 * `shuffle`: every call draws a uniformly random permutation from the OS's CSPRNG
 * (crypto.randomInt), so two agents served in the same millisecond get independent orders,
 * unlike a generator seeded from the clock.
 */
import { randomInt } from 'node:crypto';
import { equalAsSet } from './compare';
import type { Algorithm, ListPlanner } from './types';

/** A new frozen, uniformly random permutation of `items` (Fisher–Yates). */
export function randomPermutation(items: readonly string[]): readonly string[] {
  const permutation = items.slice();
  for (let last = permutation.length - 1; last > 0; last--) {
    const pick = randomInt(last + 1);
    const kept = permutation[last]!;
    permutation[last] = permutation[pick]!;
    permutation[pick] = kept;
  }
  return Object.freeze(permutation);
}

export const shuffle: Algorithm = {
  name: 'shuffle',
  dependsOnHostSet: false,
  plan(servers: readonly string[]): ListPlanner {
    const base: readonly string[] = Object.freeze(servers.slice());
    return { listFor: () => randomPermutation(base) };
  },
  isUpToDate: equalAsSet,
};
