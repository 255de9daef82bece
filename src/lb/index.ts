/**
 * The algorithm registry and the full up-to-date rule. Adding an algorithm is one module plus
 * one entry in REGISTERED (and its name in types.ts ALGORITHM_NAMES).
 */
import { balanced } from './balanced';
import { roundRobin } from './roundrobin';
import { shuffle } from './shuffle';
import { staticAlgorithm } from './static';
import type { Algorithm } from './types';

const REGISTERED: readonly Algorithm[] = [staticAlgorithm, roundRobin, shuffle, balanced];

/** Algorithms by name. A Map, not an object, so names like `__proto__` look up nothing. */
export const ALGORITHMS: ReadonlyMap<string, Algorithm> = new Map(
  REGISTERED.map((algorithm) => [algorithm.name, algorithm]),
);

export function algorithmByName(name: string): Algorithm | undefined {
  return ALGORITHMS.get(name);
}

/**
 * Whether an agent that reported (`agentAlgorithmName`, `agentList`) already holds `expected`
 * under `algorithm`. Names are compared by value: CloudStack up to 4.20 compared them by
 * reference, so every agent was re-sent (and re-wrote) its list on every connect.
 */
export function isUpToDate(
  algorithm: Algorithm,
  agentAlgorithmName: string,
  agentList: readonly string[],
  expected: readonly string[],
): boolean {
  return agentAlgorithmName === algorithm.name && algorithm.isUpToDate(agentList, expected);
}

export { HostIdError, HostIndex, ZoneIndex } from './zone-index';
export { balanced, roundRobin, shuffle, staticAlgorithm };
