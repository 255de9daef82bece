/** `static`: every agent gets the `host` list exactly as configured. */
import { equalInOrder } from './compare';
import type { Algorithm, ListPlanner } from './types';

export const staticAlgorithm: Algorithm = {
  name: 'static',
  dependsOnHostSet: false,
  plan(servers: readonly string[]): ListPlanner {
    // One frozen copy shared by every host: callers cache the encoded frame by its identity.
    const list: readonly string[] = Object.freeze(servers.slice());
    return { listFor: () => list };
  },
  isUpToDate: equalInOrder,
};
