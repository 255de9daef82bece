/**
 * One timer for the pings of every connection, instead of a Timeout (and a closure) armed and
 * cleared per connection: each handshake armed one, ~1.5 us and ~270 bytes (profiled under the
 * handshake bench), and most connections of a reconnect storm close long before their first ping.
 *
 * Every entry waits the same interval, so appending at the tail keeps the list in due order:
 * O(1) to add and to remove (an intrusive doubly linked list, no object per entry), and one
 * timer armed for the head. The shortened last wait before a ping deadline does not fit that
 * order; the connection arms its own timer for it (connection.ts).
 */

// perf_hooks' object, not the global: globalThis.performance is a getter, run at every use.
import { performance } from 'node:perf_hooks';

/** The links a queued connection carries; only the queue reads or writes them. */
export interface PingLink {
  /** performance.now() at which the ping is due; valid while queued. */
  pingDueAt: number;
  pingPrev: PingLink | undefined;
  pingNext: PingLink | undefined;
  /** Whether it is in the queue (a link of undefined is also the head's or tail's). */
  pingQueued: boolean;
  /** Called once when due, after it was taken out of the queue. */
  pingDue(): void;
}

export class PingQueue {
  private head: PingLink | undefined;
  private tail: PingLink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onTimer = (): void => this.fire();

  constructor(
    /** The delay of every entry, in milliseconds. */
    readonly intervalMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Queues `link` to be due intervalMs from now. */
  add(link: PingLink): void {
    if (link.pingQueued) this.remove(link);
    link.pingDueAt = this.now() + this.intervalMs;
    link.pingQueued = true;
    link.pingPrev = this.tail;
    link.pingNext = undefined;
    if (this.tail === undefined) this.head = link;
    else this.tail.pingNext = link;
    this.tail = link;
    if (this.timer === undefined) this.arm(link.pingDueAt);
  }

  /** Takes `link` out (a no-op when it is not queued). */
  remove(link: PingLink): void {
    if (!link.pingQueued) return;
    link.pingQueued = false;
    const { pingPrev: prev, pingNext: next } = link;
    if (prev === undefined) this.head = next;
    else prev.pingNext = next;
    if (next === undefined) this.tail = prev;
    else next.pingPrev = prev;
    link.pingPrev = undefined;
    link.pingNext = undefined;
    // Empty: no timer may keep the process alive (as none did with a timer per connection).
    // Otherwise an armed timer is left to fire: it finds the head not due yet and arms again;
    // clearing and arming at each close would cost what this file saves.
    if (this.head === undefined) this.close();
  }

  /** Stops the timer (until the next add). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(dueAt: number): void {
    this.timer = setTimeout(this.onTimer, Math.max(1, Math.ceil(dueAt - this.now())));
  }

  private fire(): void {
    this.timer = undefined;
    const now = this.now();
    // Only what was due when this turn began: a link queued again by its own pingDue waits a
    // whole interval, like a timer armed from a timer callback.
    for (let link = this.head; link !== undefined && link.pingDueAt <= now; link = this.head) {
      this.remove(link);
      link.pingDue();
    }
    if (this.head !== undefined && this.timer === undefined) this.arm(this.head.pingDueAt);
  }
}
