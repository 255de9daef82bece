/**
 * The background reconnection: retries `attempt` with capped exponential back-off and full
 * jitter (so a fleet of servers does not hammer a database that just came back in
 * lock-step) until one attempt succeeds. A start() during an attempt asks for one more
 * attempt after it, since the attempt may have begun before the newest failure.
 */
import { Backoff, type BackoffOptions } from '../../util/backoff';

export class RecoveryLoop {
  private readonly backoff: Backoff;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private again = false;
  private stopped = false;

  constructor(
    private readonly attempt: () => Promise<void>,
    private readonly onAttemptFailed: (err: unknown, nextDelayMs: number) => void,
    backoff: BackoffOptions,
  ) {
    this.backoff = new Backoff(backoff);
  }

  /** Begin retrying (idempotent while already retrying). */
  start(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) return;
    this.schedule(this.backoff.next());
  }

  /** An attempt is running or scheduled. */
  get active(): boolean {
    return this.running || this.timer !== undefined;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delayMs);
  }

  private async run(): Promise<void> {
    this.running = true;
    this.again = false;
    let failure: { err: unknown } | undefined;
    try {
      await this.attempt();
    } catch (err) {
      failure = { err };
    }
    this.running = false;
    if (failure) {
      const delay = this.backoff.next();
      if (!this.stopped) this.onAttemptFailed(failure.err, delay);
      // Checked after the callback too: it may have stopped the loop.
      if (!this.stopped) this.schedule(delay);
    } else if (this.stopped) {
      return;
    } else if (this.again) {
      this.schedule(0);
    } else {
      this.backoff.reset();
    }
  }
}
