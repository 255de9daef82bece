/**
 * Whether PostgreSQL is reachable, as the store believes: the answer for status(), the gate
 * that makes calls fail fast during an outage, and the promise the resync waits on.
 */
import type { StoreStatus } from '../types';

export class Availability {
  private available = false;
  private since: Date;
  private lastError: string | undefined;
  private waiters: { resolve(): void; reject(err: Error): void }[] = [];
  private closedWith: Error | undefined;

  constructor(
    private readonly now: () => Date,
    initialError: string,
  ) {
    this.since = now();
    this.lastError = initialError;
  }

  get isAvailable(): boolean {
    return this.available;
  }

  status(): StoreStatus {
    const status: StoreStatus = { available: this.available, since: this.since.toISOString() };
    if (this.lastError !== undefined) status.lastError = this.lastError;
    return status;
  }

  /** Record an outage; true when this call turned the store from available to unavailable. */
  down(reason: string): boolean {
    this.lastError = reason;
    if (!this.available) return false;
    this.available = false;
    this.since = this.now();
    return true;
  }

  /** Record recovery; true when this call turned the store available. */
  up(): boolean {
    if (this.available || this.closedWith) return false;
    this.available = true;
    this.since = this.now();
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.resolve();
    return true;
  }

  /** Resolves when available (at once if it is); rejects once closed. */
  whenAvailable(): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (this.available) return Promise.resolve();
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Never available again; pending waits reject with `err`. */
  close(err: Error): void {
    this.closedWith = err;
    this.available = false;
    this.lastError = err.message;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w.reject(err);
  }
}
