/**
 * Flap damping for the preferred-host check. When servers disagree about an agent's list (each
 * on its own embedded store, or a cluster still converging), each one names another server
 * first, and every check moves the agent again — for ever. CloudStack has no guard.
 *
 * What counts: a check that moves the agent to its first entry is a flap only when the server
 * it lands on then sends a list naming ANOTHER server first (the servers disagree). Moving
 * back to the first entry after that server came back (a restart, a failover) is a failback:
 * the server it lands on agrees, sends no list or one naming itself first, and nothing is
 * counted. So switched() only notes the landing, and listFrom() gives the verdict; a landing
 * with no verdict within one check interval is a failback. (Counting every switch made three
 * ordinary restarts of the preferred server within 50 s back every agent off.)
 *
 * Rule: `threshold` such switches within a sliding window of `windowIntervals` check
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

/** What a list from the server the agent is on says about the damping (Agent acts on it). */
export type ListVerdict =
  /** The agent landed there by the check and the list names another server first: a flap. */
  | { kind: 'flap'; onset: FlapOnset | undefined; factorChanged: boolean }
  /** The list names that server first: the servers agree; `calmed` when it was flapping. */
  | { kind: 'agrees'; calmed: boolean }
  /** Neither: a list naming another server first, not right after a landing. */
  | { kind: 'none' };

export class FlapDamper {
  private readonly now: () => number;
  private readonly threshold: number;
  private readonly windowIntervals: number;
  private readonly maxFactor: number;
  private readonly capMs: number;
  private switches: SwitchRecord[] = [];
  private factorNow = 1;
  /** The check's last switch, waiting for the landing server's list (listFrom). */
  private landing: SwitchRecord | undefined;

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

  /** The check moved the agent from `from` to `to`: a flap or not is told by listFrom(). */
  switched(from: string, to: string): void {
    this.landing = { at: this.now(), from, to };
  }

  /**
   * The server the agent is on (`server`) sent a list, naming itself first or not. Right after
   * the check landed there (within one interval), one naming another server first is a flap,
   * counted at the landing's time. A list naming itself first ends any damping.
   */
  listFrom(server: string, namesItselfFirst: boolean, intervalMs: number): ListVerdict {
    const landing = this.landing;
    this.landing = undefined;
    if (namesItselfFirst) return { kind: 'agrees', calmed: this.reset() };
    if (landing === undefined || landing.to !== server || this.now() - landing.at > intervalMs) return { kind: 'none' };
    const factor = this.factorNow;
    const onset = this.recordSwitch(landing.from, landing.to, intervalMs, landing.at);
    return { kind: 'flap', onset, factorChanged: this.factorNow !== factor };
  }

  /**
   * Counts a flapping switch from `from` to `to` (at `at`, default now) under interval
   * `intervalMs`. Returns the onset when this switch started flapping (log it once).
   */
  recordSwitch(from: string, to: string, intervalMs: number, at = this.now()): FlapOnset | undefined {
    this.settleIfQuiet(intervalMs);
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
    this.landing = undefined;
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
