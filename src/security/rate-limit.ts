/**
 * New connections per second per source address: one token bucket per source. A source may
 * open `burst` connections at once and then `ratePerSecond` per second. Buckets that have
 * refilled are forgotten, so memory follows the sources active in the last few seconds, not
 * every address ever seen.
 */
import { isIPv4, isIPv6 } from 'node:net';

export interface RateLimitOptions {
  /** Tokens added per second; 0 turns the limiter off. */
  ratePerSecond: number;
  /** Bucket size: connections a quiet source may open at once. */
  burst: number;
  /** Also limit loopback sources (off by default: see sourceKey). */
  limitLoopback: boolean;
  /** Monotonic milliseconds; performance.now() by default. */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

const SWEEP_EVERY_MS = 10_000;

export class ConnectionRateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly now: () => number;
  private lastSweep: number;

  constructor(private readonly options: RateLimitOptions) {
    if (!(options.ratePerSecond >= 0) || !(options.burst >= 1)) {
      throw new RangeError(`rate must be >= 0 and burst >= 1, got ${options.ratePerSecond} and ${options.burst}`);
    }
    this.now = options.now ?? (() => performance.now());
    this.lastSweep = this.now();
  }

  /** Sources currently tracked (for tests and metrics). */
  get trackedSources(): number {
    return this.buckets.size;
  }

  /** Takes one token for `address`; false when its bucket is empty (refuse the connection). */
  take(address: string | undefined): boolean {
    return this.options.ratePerSecond === 0 || this.takeForSource(sourceKey(address, this.options.limitLoopback));
  }

  /** take() for a source already keyed by sourceKey (undefined: not limited). */
  takeForSource(key: string | undefined): boolean {
    const { ratePerSecond, burst } = this.options;
    if (ratePerSecond === 0 || key === undefined) return true;
    const now = this.now();
    if (now - this.lastSweep >= SWEEP_EVERY_MS) this.sweep(now);
    const bucket = this.buckets.get(key);
    if (bucket === undefined) {
      this.buckets.set(key, { tokens: burst - 1, at: now });
      return true;
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) * ratePerSecond) / 1000);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  private sweep(now: number): void {
    this.lastSweep = now;
    const { ratePerSecond, burst } = this.options;
    for (const [key, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) * ratePerSecond) / 1000 >= burst) this.buckets.delete(key);
    }
  }
}

/**
 * The bucket a source address falls in, or undefined when it is not limited. IPv4-mapped IPv6
 * is its IPv4 address; IPv6 is grouped by /64, the block one host or site usually holds, so
 * hopping through addresses of one prefix does not escape the limit. Loopback is exempt unless
 * asked: a TLS terminator or proxy on the same machine would otherwise put the whole fleet in
 * one bucket.
 */
export function sourceKey(address: string | undefined, limitLoopback: boolean): string | undefined {
  if (address === undefined) return undefined;
  const v4 = address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
  if (isIPv4(v4)) return !limitLoopback && v4.startsWith('127.') ? undefined : v4;
  if (!isIPv6(v4)) return v4;
  const groups = expandIPv6(v4);
  if (!limitLoopback && groups.every((group, i) => group === (i === 7 ? 1 : 0))) return undefined;
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The 8 groups of an IPv6 address (a zone id and an embedded IPv4 tail are handled). */
function expandIPv6(address: string): number[] {
  const text = address.split('%')[0]!;
  const [head = '', tail] = text.split('::');
  const parse = (part: string): number[] =>
    part === ''
      ? []
      : part.split(':').flatMap((group) => {
          if (!group.includes('.')) return [parseInt(group, 16)];
          const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
          return [(a << 8) | b, (c << 8) | d];
        });
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}
