/**
 * Random fleets for the balanced / roundrobin / shuffle property tests: zones, host ids with
 * gaps (and above 2^32), 2..9 servers, 1..5 000 hosts. fast-check draws a few numbers and the
 * ids are derived from them with a small PRNG, so a run stays fast and a failure shrinks to a
 * small host count instead of to a 5 000-element array.
 */
import fc from 'fast-check';
import type { Test } from 'tap';

export interface Fleet {
  readonly servers: readonly string[];
  /** Host ids per zone name; ids are unique across zones, ascending within a zone. */
  readonly zones: ReadonlyMap<string, readonly number[]>;
}

/** mulberry32: a tiny deterministic PRNG, so the ids are a pure function of the drawn seed. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let x = Math.imul(state ^ (state >>> 15), 1 | state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Ascending ids from `start`: mostly small gaps, sometimes a big one (hosts deleted long ago). */
export function idsWithGaps(count: number, seed: number, start: number): number[] {
  const random = prng(seed);
  const ids: number[] = [];
  let id = start;
  for (let i = 0; i < count; i++) {
    ids.push(id);
    id += random() < 0.05 ? 1 + Math.floor(random() * 1000) : 1 + Math.floor(random() * 3);
  }
  return ids;
}

/** `count` hosts dealt over `zoneCount` zones by the seed. */
export function fleetZones(count: number, zoneCount: number, seed: number, start: number): Map<string, number[]> {
  const random = prng(seed ^ 0x5bd1e995);
  const zones = new Map<string, number[]>();
  for (const id of idsWithGaps(count, seed, start)) {
    const zone = `zone-${Math.floor(random() * zoneCount)}`;
    let ids = zones.get(zone);
    if (ids === undefined) zones.set(zone, (ids = []));
    ids.push(id);
  }
  return zones;
}

/** Server entries as an operator writes them, some with ports, some IPv6. */
export const serverEntryArb: fc.Arbitrary<string> = fc.oneof(
  fc.ipV4().map((address) => `${address}:8250`),
  fc.ipV4(),
  fc.ipV6().map((address) => `[${address}]:8250`),
  fc.domain(),
);

export function serversArb(min = 2, max = 9): fc.Arbitrary<string[]> {
  return fc.uniqueArray(serverEntryArb, { minLength: min, maxLength: max });
}

export function fleetArb(options: { maxHosts?: number; maxZones?: number; minServers?: number; maxServers?: number } = {}): fc.Arbitrary<Fleet> {
  return fc
    .record({
      servers: serversArb(options.minServers ?? 2, options.maxServers ?? 9),
      // Half tiny fleets (edge cases: fewer hosts than servers), half spread over the whole
      // range: fast-check's default bias alone would rarely reach thousands of hosts.
      hosts: fc.oneof(fc.integer({ min: 1, max: 20 }), fc.noBias(fc.integer({ min: 1, max: options.maxHosts ?? 5_000 }))),
      zoneCount: fc.integer({ min: 1, max: options.maxZones ?? 3 }),
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
      // Up to 2^40, so ids above 2^32 (two hash words) are exercised too.
      start: fc.integer({ min: 1, max: 2 ** 40 }),
    })
    .map(({ servers, hosts, zoneCount, seed, start }) => ({ servers, zones: fleetZones(hosts, zoneCount, seed, start) }));
}

/** Throws (failing the property with `message`) unless `condition` holds. */
export function expect(condition: boolean, message: string): void {
  if (!condition) throw new Error(message);
}

/** Runs a property and reports fast-check's counterexample through tap on failure. */
export function holds<T>(t: Test, arbitrary: fc.Arbitrary<T>, predicate: (value: T) => void, numRuns: number): void {
  const details = fc.check(fc.property(arbitrary, predicate), { numRuns });
  t.notOk(details.failed, (details.failed ? fc.defaultReportMessage(details) : undefined) ?? `${numRuns} fleets`);
}
