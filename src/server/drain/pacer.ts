/**
 * Paces a drain's hand-overs: never more than `rate` agents in any sliding second, released
 * a few at a time on a short tick rather than `rate` at once, so the survivors see a steady
 * trickle instead of a storm. Pure: the caller passes the time, so tests need no clock.
 */

/** Shortest tick: below this, timers cost more than they smooth. */
export const MIN_TICK_MS = 20;
const WINDOW_MS = 1_000;

export class HandoverPacer {
  /** How often the drain should ask for an allowance. */
  readonly tickMs: number;
  /** Most released in one tick (the bucket's depth). */
  private readonly batch: number;
  private tokens: number;
  private lastRefill: number | undefined;
  /** Releases inside the current window, oldest first. */
  private readonly released: { at: number; count: number }[] = [];
  private inWindow = 0;

  constructor(readonly rate: number) {
    if (!Number.isSafeInteger(rate) || rate < 1) throw new RangeError(`drain rate must be a positive integer, got ${rate}`);
    // Whole milliseconds: rate ticks of a fraction can add up to a hair under one second.
    this.tickMs = Math.max(MIN_TICK_MS, Math.ceil(WINDOW_MS / rate));
    this.batch = Math.max(1, Math.ceil((rate * this.tickMs) / WINDOW_MS));
    this.tokens = this.batch;
  }

  /** A pacer at another rate that still counts what this one released in the last second. */
  withRate(rate: number): HandoverPacer {
    const next = new HandoverPacer(rate);
    for (const entry of this.released) next.record(entry.at, entry.count);
    next.tokens = Math.min(next.batch, this.tokens);
    next.lastRefill = this.lastRefill;
    return next;
  }

  /** How many agents may be handed over at `now` (milliseconds, any monotonic origin). */
  allowance(now: number): number {
    this.refill(now);
    this.expire(now);
    // The epsilon absorbs float error in the refill (0.9999... is a whole token).
    return Math.max(0, Math.min(Math.floor(this.tokens + 1e-9), this.rate - this.inWindow));
  }

  /** Records `count` agents handed over at `now`. */
  record(now: number, count: number): void {
    if (count <= 0) return;
    this.refill(now);
    this.tokens = Math.max(0, this.tokens - count);
    this.released.push({ at: now, count });
    this.inWindow += count;
  }

  private refill(now: number): void {
    if (this.lastRefill !== undefined && now > this.lastRefill) {
      this.tokens = Math.min(this.batch, this.tokens + ((now - this.lastRefill) * this.rate) / WINDOW_MS);
    }
    this.lastRefill = Math.max(now, this.lastRefill ?? now);
  }

  /** The window is (now - 1 s, now]: a release exactly one second ago no longer counts. */
  private expire(now: number): void {
    while (this.released.length > 0 && this.released[0]!.at <= now - WINDOW_MS) {
      this.inWindow -= this.released.shift()!.count;
    }
  }
}
