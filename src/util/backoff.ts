/**
 * Reconnect delays: capped exponential back-off with FULL jitter.
 *
 * CloudStack's agent waits a fixed 5 s with no jitter, so after a server restart every agent
 * comes back in the same instant. Full jitter (uniform in 0..ceiling) spreads a fleet across
 * the whole window; attempt 0 — the first reconnect after a drop — is jittered too, over
 * 0..base, so even the very first wave is spread out.
 */

export interface BackoffOptions {
  /** Ceiling of attempt 0; doubles with every attempt. Default 1 000 ms. */
  baseMs?: number;
  /** Largest ceiling. Default 60 000 ms. */
  capMs?: number;
  /**
   * Floor of every delay, so an unlucky run of near-zero draws against servers that refuse
   * at once can never become a busy loop. Default 50 ms.
   */
  minMs?: number;
  /** Uniform source in [0, 1). Injected by tests to pin exact values. */
  random?: () => number;
}

/** Beyond this, 2^attempt only saturates at the cap; stop doubling so it never overflows. */
const MAX_DOUBLINGS = 30;

export class Backoff {
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly minMs: number;
  private readonly random: () => number;
  private attempt = 0;

  constructor(opts: BackoffOptions = {}) {
    this.baseMs = opts.baseMs ?? 1_000;
    this.capMs = opts.capMs ?? 60_000;
    this.minMs = Math.min(opts.minMs ?? 50, this.baseMs);
    this.random = opts.random ?? Math.random;
  }

  /** The ceiling of the window for `attempt` (0-based): min(cap, base * 2^attempt). */
  ceilingMs(attempt: number): number {
    return Math.min(this.capMs, this.baseMs * 2 ** Math.min(attempt, MAX_DOUBLINGS));
  }

  /** The delay for `attempt`: uniform in [min, ceiling), drawn from the random source. */
  delayMs(attempt: number): number {
    const ceiling = this.ceilingMs(attempt);
    return Math.round(this.minMs + this.random() * (ceiling - this.minMs));
  }

  /** The delay for the current attempt; the next call gets the following attempt's window. */
  next(): number {
    const delay = this.delayMs(this.attempt);
    this.attempt += 1;
    return delay;
  }

  /** Back to attempt 0: called once a server has welcomed the agent. */
  reset(): void {
    this.attempt = 0;
  }

  /** How many delays were handed out since the last reset (for logs). */
  get attempts(): number {
    return this.attempt;
  }
}
