/**
 * Flap damping for the preferred-host check. When servers disagree about an agent's list (each
 * on its own embedded store, or a cluster still converging), each one names another server
 * first, and every check moves the agent again — for ever. CloudStack has no guard.
 *
 * Rule: `threshold` switches by the check within a sliding window of `windowIntervals` check
 * intervals is flapping. From then on each further switch doubles the check interval, up to
 * `maxFactor` times it (and never past an hour's worth of interval, unless the interval
 * itself is longer). Calm returns (normal interval, history cleared) when the agent stays put
 * for a full window at the backed-off pace (window × factor since the last switch), or when the
 * server it is on sends a list naming that server first (see Agent). Failover after a drop is
 * never damped: only the check's pace is.
 */

export interface FlapDamperOptions {
  /** Monotonic milliseconds. Injected by tests. */
  now: () => number;
  /** Switches within the window that count as flapping. Default 3. */
  threshold?: number;
  /** Window length, in check intervals. Default 10. */
  windowIntervals?: number;
  /** Largest multiple of the interval the check backs off to. Default 16. */
  maxFactor?: number;
  /** Longest backed-off interval in ms, unless the interval itself is longer. Default 1 hour. */
  capMs?: number;
}

/** Returned by recordSwitch when this switch started a flapping episode. */
export interface FlapOnset {
  /** Every server the switches in the window moved between, in order of first appearance. */
  servers: string[];
  switches: number;
  windowMs: number;
}

interface SwitchRecord {
  at: number;
  from: string;
  to: string;
}

export class FlapDamper {
  private readonly now: () => number;
  private readonly threshold: number;
  private readonly windowIntervals: number;
  private readonly maxFactor: number;
  private readonly capMs: number;
  private switches: SwitchRecord[] = [];
  private factorNow = 1;

  constructor(opts: FlapDamperOptions) {
    this.now = opts.now;
    this.threshold = opts.threshold ?? 3;
    this.windowIntervals = opts.windowIntervals ?? 10;
    this.maxFactor = opts.maxFactor ?? 16;
    this.capMs = opts.capMs ?? 3_600_000;
  }

  /** The multiple of the interval the check runs at now: 1 when calm. */
  get factor(): number {
    return this.factorNow;
  }

  get flapping(): boolean {
    return this.factorNow > 1;
  }

  /**
   * The check switched from `from` to `to` under interval `intervalMs`. Returns the onset when
   * this switch started flapping (log it once), otherwise undefined.
   */
  recordSwitch(from: string, to: string, intervalMs: number): FlapOnset | undefined {
    this.settleIfQuiet(intervalMs);
    const at = this.now();
    const windowMs = this.windowIntervals * intervalMs;
    this.switches = this.switches.filter((s) => at - s.at < windowMs);
    this.switches.push({ at, from, to });
    if (this.flapping) {
      this.factorNow = Math.min(this.factorNow * 2, this.maxFactor);
      return undefined;
    }
    if (this.switches.length < this.threshold) return undefined;
    this.factorNow = Math.min(2, this.maxFactor);
    const servers = [...new Set(this.switches.flatMap((s) => [s.from, s.to]))];
    return { servers, switches: this.switches.length, windowMs };
  }

  /**
   * The interval the check should wait for a base of `intervalMs` (before jitter). Returns to
   * calm first if the agent has stayed put long enough; `true` in `calmed` says it just did.
   */
  paceFor(intervalMs: number): { intervalMs: number; calmed: boolean } {
    const calmed = this.settleIfQuiet(intervalMs);
    const backedOff = intervalMs * this.factorNow;
    return { intervalMs: this.factorNow === 1 ? intervalMs : Math.min(backedOff, Math.max(intervalMs, this.capMs)), calmed };
  }

  /** Back to calm at once (the servers agree again). Returns whether it was flapping. */
  reset(): boolean {
    const was = this.flapping;
    this.switches = [];
    this.factorNow = 1;
    return was;
  }

  /** Calm again after a full window, at the backed-off pace, without a switch. */
  private settleIfQuiet(intervalMs: number): boolean {
    const last = this.switches[this.switches.length - 1];
    if (!this.flapping || last === undefined) return false;
    if (this.now() - last.at < this.windowIntervals * intervalMs * this.factorNow) return false;
    return this.reset();
  }
}
