/**
 * When to check the preferred server: a timer, jittered ±20 % around the interval, that never
 * runs two checks at once and can be re-timed at any moment (an interval pushed by the server
 * takes effect at once, with no restart). What a check does — a real handshake, then a
 * make-before-break switch — is the agent's business, passed in as `check`.
 *
 * CloudStack fires every agent's check in lock-step; the jitter spreads a fleet's failback.
 */
import { performance } from 'node:perf_hooks';
import { timerDelay } from '../src/util/timer-delay';

export interface PreferredCheckOptions {
  /** Runs one check; the next one is timed only after this settles. Must not reject. */
  check: () => Promise<void>;
  /** Uniform source in [0, 1). Injected by tests. */
  random?: () => number;
  /** Fraction of the interval the delay may move either way. Default 0.2. */
  jitter?: number;
  /**
   * The interval to wait for a base interval, asked each time a check is timed: flap damping
   * stretches it (see flap-damper.ts). Default: the base interval.
   */
  pace?: (intervalMs: number) => number;
  /** Where checks are timed. Default setTimeout; tests inject one to see and fire each delay. */
  timer?: CheckTimer;
}

/** A one-shot timer: `set` returns a handle `clear` accepts. */
export interface CheckTimer {
  set(fire: () => void, delayMs: number): unknown;
  clear(handle: unknown): void;
}

const REAL_TIMER: CheckTimer = {
  set: (fire, delayMs) => setTimeout(fire, delayMs),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export class PreferredCheck {
  private readonly check: () => Promise<void>;
  private readonly random: () => number;
  private readonly jitter: number;
  private readonly pace: (intervalMs: number) => number;
  private readonly timers: CheckTimer;
  private intervalMs = 0;
  private timer: unknown;
  private dueAt: number | undefined;
  private running: Promise<void> | undefined;

  constructor(opts: PreferredCheckOptions) {
    this.check = opts.check;
    this.random = opts.random ?? Math.random;
    this.jitter = opts.jitter ?? 0.2;
    this.pace = opts.pace ?? ((intervalMs) => intervalMs);
    this.timers = opts.timer ?? REAL_TIMER;
  }

  /**
   * The delay before the next check for `intervalMs`: uniform in interval × [1-j, 1+j), capped
   * at the longest timer (the longest check interval plus 20 % is beyond it).
   */
  delayFor(intervalMs: number): number {
    return timerDelay(Math.round(intervalMs * (1 - this.jitter + 2 * this.jitter * this.random())));
  }

  /** performance.now() at which the timed check fires; undefined when none is timed. */
  get nextDueAt(): number | undefined {
    return this.dueAt;
  }

  /** Whether a check is timed (or running) now. */
  get active(): boolean {
    return this.timer !== undefined || this.running !== undefined;
  }

  /**
   * (Re)start the timer with a new `intervalMs`, counted from now; 0 stops it. The same
   * interval again leaves a running timer alone (so repeated updates cannot postpone the check
   * forever). A check already running finishes, and the next one is timed with the new interval.
   */
  schedule(intervalMs: number): void {
    if (intervalMs === this.intervalMs && this.active) return;
    this.intervalMs = intervalMs;
    this.clearTimer();
    if (intervalMs > 0 && this.running === undefined) this.arm();
  }

  stop(): void {
    this.intervalMs = 0;
    this.clearTimer();
  }

  /**
   * The pace changed (flap damping decided after the timer was armed): a waiting timer is
   * re-armed with the new pace, counted from now. A running check times its successor anyway.
   */
  repace(): void {
    if (this.timer === undefined || this.intervalMs === 0) return;
    this.clearTimer();
    this.arm();
  }

  /**
   * Runs a check now, whatever the interval (also 0): a server's `recheck` (protocol.md
   * section 5, rule 7). A check already running is that check: false, nothing more starts.
   * The next timed check is then counted from this one's end, as after any check.
   */
  runNow(): boolean {
    if (this.running !== undefined) return false;
    this.clearTimer();
    this.fire();
    return true;
  }

  /** Resolves once a check in progress (if any) has settled. */
  async idle(): Promise<void> {
    await this.running;
  }

  private arm(): void {
    const delay = this.delayFor(this.pace(this.intervalMs));
    this.dueAt = performance.now() + delay;
    this.timer = this.timers.set(() => this.fire(), delay);
  }

  private fire(): void {
    this.timer = undefined;
    this.dueAt = undefined;
    this.running = this.check().finally(() => {
      this.running = undefined;
      if (this.intervalMs > 0 && this.timer === undefined) this.arm();
    });
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
    this.dueAt = undefined;
  }
}
