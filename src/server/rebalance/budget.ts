/**
 * How many agents may be told to move now, so that the whole fleet never moves more than
 * `rate` agents in any sliding second. With one server (the embedded store) the server's own
 * pacer is the whole budget (HandoverPacer, the drain's: exact in any sliding second). In a
 * cluster the servers share one budget kept in PostgreSQL (PgStore.takeRebalanceMoves: a
 * sliding window of grants under an advisory lock), each taking a slice per tick.
 */
import { HandoverPacer } from '../drain/pacer';

export interface MoveBudget {
  /** Grants up to `want` moves now (0 when the second's budget is spent). */
  take(want: number): Promise<number>;
  /** How often to ask, ms. */
  readonly tickMs: number;
}

/** The shared store's budget: `take(want, rate)` in one transaction. */
export interface SharedMoveBudget {
  takeRebalanceMoves(want: number, rate: number): Promise<number>;
}

/** Ask the shared budget five times a second: a statement per tick per server, not per move. */
export const SHARED_TICK_MS = 200;

export class LocalMoveBudget implements MoveBudget {
  private readonly pacer: HandoverPacer;

  constructor(
    rate: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.pacer = new HandoverPacer(rate);
  }

  get tickMs(): number {
    return this.pacer.tickMs;
  }

  take(want: number): Promise<number> {
    const now = this.now();
    const granted = Math.min(want, this.pacer.allowance(now));
    this.pacer.record(now, granted);
    return Promise.resolve(granted);
  }
}

export class StoreMoveBudget implements MoveBudget {
  readonly tickMs = SHARED_TICK_MS;
  /** One tick's share at most: the window's rate, spread over the ticks of a second. */
  private readonly slice: number;

  constructor(
    private readonly store: SharedMoveBudget,
    private readonly rate: number,
  ) {
    this.slice = Math.max(1, Math.ceil((rate * SHARED_TICK_MS) / 1_000));
  }

  take(want: number): Promise<number> {
    return this.store.takeRebalanceMoves(Math.min(want, this.slice), this.rate);
  }
}

export function isSharedMoveBudget(store: object): store is SharedMoveBudget {
  return typeof (store as Partial<SharedMoveBudget>).takeRebalanceMoves === 'function';
}
