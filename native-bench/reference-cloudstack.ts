/**
 * What CloudStack (IndirectAgentLBServiceImpl + its roundrobin algorithm) does for every list
 * it computes, kept here only as the micro-benchmark's yardstick: take a fresh copy of the
 * zone's ordered host ids (CloudStack re-reads them from the database each call; a copy is the
 * cheapest stand-in, so this reference flatters CloudStack), search that copy linearly for the
 * host, then build the rotated list. O(n) per host, O(n²) for a reconnect storm.
 *
 * One deliberate difference: CloudStack's search of an id missing from the list yields -1 and
 * crashes the rotation; here, as in our roundrobin, a missing host takes the next position, so
 * the two give identical lists and the benchmark compares equal work.
 */

export function cloudStackRoundRobin(
  servers: readonly string[],
  orderedHostIds: readonly number[],
  hostId: number | undefined,
): string[] {
  if (servers.length < 2) return servers.slice();
  const hostIds = orderedHostIds.slice();
  let position = hostId === undefined ? -1 : hostIds.indexOf(hostId);
  if (position < 0) position = hostIds.length;
  const pivot = position % servers.length;
  return [...servers.slice(pivot), ...servers.slice(0, pivot)];
}
