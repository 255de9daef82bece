/**
 * Throttles the re-sends that hosts arriving out of id order cause (cluster mode).
 *
 * Roundrobin places a host by its position among its zone's hosts in id order. With several
 * servers registering at once, ids from another server often arrive after this server's own
 * higher ids: every such arrival moves the hosts after it, and re-sending their lists at once
 * made a 6 000-agent registration storm over three servers cost 60 `hosts` frames per agent
 * (measured: quadratic in the storm). Here the first shift of a zone is re-sent at once and
 * the shifts that follow within `intervalMs` are folded into one re-send at its end, so a
 * storm costs a few frames per agent per second, and a lone late host is still fixed at once.
 * A list that waits is still a valid list of the same servers, only not yet rotated.
 *
 * `balanced` plans from the whole host set, so every new host of a zone shifts it: the zone is
 * re-planned once per re-send here (controller.ts), not once per host, and a list that waits
 * is the host's rendezvous order until then.
 */

/** Schedules `run` after `ms`; returns a function that cancels it. */
export type Schedule = (run: () => void, ms: number) => () => void;

export const DEFAULT_SHIFT_RESEND_MS = 1_000;

const unrefTimeout: Schedule = (run, ms) => {
  const timer = setTimeout(run, ms);
  // Never what keeps a server alive: the listeners do that.
  timer.unref();
  return () => clearTimeout(timer);
};

interface ZoneWindow {
  /** A shift arrived during the window: re-send when it ends. */
  pending: boolean;
  cancel: () => void;
}

export class ShiftResends {
  private readonly windows = new Map<string, ZoneWindow>();

  constructor(
    private readonly resend: (zone: string) => void,
    private readonly intervalMs = DEFAULT_SHIFT_RESEND_MS,
    private readonly schedule: Schedule = unrefTimeout,
  ) {}

  /** The hosts of `zone` may expect other lists now. */
  shifted(zone: string): void {
    const window = this.windows.get(zone);
    if (window !== undefined) {
      window.pending = true;
      return;
    }
    this.resend(zone);
    this.open(zone);
  }

  /** Drops the pending re-sends (shutdown). */
  close(): void {
    for (const window of this.windows.values()) window.cancel();
    this.windows.clear();
  }

  private open(zone: string): void {
    const window: ZoneWindow = {
      pending: false,
      cancel: this.schedule(() => {
        this.windows.delete(zone);
        if (!window.pending) return;
        // The folded re-send opens a window of its own, so a long storm stays throttled.
        this.resend(zone);
        this.open(zone);
      }, this.intervalMs),
    };
    this.windows.set(zone, window);
  }
}
