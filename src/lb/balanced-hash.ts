/**
 * The only source of "randomness" in `balanced`: a fixed, well-distributed hash of
 * (host id, server entry). Every server computes the same values from the same inputs, so
 * plans agree across a cluster with no coordination.
 *
 * Two independent 32-bit murmur3-style lanes (64 bits of state) are mixed from the host id
 * and a per-server seed; 44 bits of them form a weight. 44 bits keep every sum the assignment
 * solver forms (a path of at most 2·m weights, m < 256) exact in a double, so comparisons
 * never round and ties are practically impossible.
 */

/** A server entry's hash state, computed once per plan rather than once per host. */
export interface ServerSeed {
  readonly a: number;
  readonly b: number;
}

const TWO_POW_32 = 4294967296;
/** Weights lie in [0, 2^44). */
const LOW_LANE_BITS = 12;

function rotl32(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** murmur3's finaliser: full avalanche of a 32-bit lane. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One murmur3 body step: fold the 32-bit word `k` into lane state `h`. */
function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl32(k, 15);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = rotl32(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** FNV-1a over the UTF-16 code units of `text`, from a lane-specific offset basis. */
function fnv1a32(text: string, basis: number): number {
  let h = basis;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

export function serverSeed(entry: string): ServerSeed {
  return { a: fnv1a32(entry, 0x811c9dc5), b: fnv1a32(entry, 0x050c5d1f) };
}

/** The low 32 bits of a (safe-integer) host id. */
export function idLow(hostId: number): number {
  return hostId >>> 0;
}

/** The bits of a host id above 32, so ids beyond 2^32 hash fully. */
export function idHigh(hostId: number): number {
  return Math.floor(hostId / TWO_POW_32) >>> 0;
}

/**
 * The rendezvous weight of the host whose id splits into (`low`, `high`) for the server with
 * `seed`: in [0, 2^44), higher means the host prefers that server more. Split ids once per
 * host with idLow/idHigh, since this runs once per (host, server).
 */
export function weightOfWords(low: number, high: number, seed: ServerSeed): number {
  const laneA = fmix32(mixWord(mixWord(seed.a, low), high) ^ 8);
  const laneB = fmix32(mixWord(mixWord(seed.b, high), low) ^ 8);
  return laneA * 2 ** LOW_LANE_BITS + (laneB >>> (32 - LOW_LANE_BITS));
}

/** weightOfWords for one host id, for one-off lookups and tests; the planner splits each id once (weighAll). */
export function hostWeight(hostId: number, seed: ServerSeed): number {
  return weightOfWords(idLow(hostId), idHigh(hostId), seed);
}

/** A 32-bit value for one server: its place in the order servers gain first-choice places. */
export function seedRank(seed: ServerSeed): number {
  return fmix32(seed.a ^ Math.imul(seed.b, 0x9e3779b1));
}
