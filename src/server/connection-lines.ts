/**
 * How many per-agent `connected` / `disconnected` lines are written at info: at most
 * `perSecond` in any one-second window; beyond that they are counted, and one `connections`
 * line at the end of the window says how many agents connected and disconnected without a line
 * of their own (and why they disconnected). A reconnect storm of 15 000 agents is then ~100
 * lines and one summary a second instead of 30 000 lines, and a server at thousands of
 * handshakes a second spends its CPU on the handshakes (two lines cost ~15 us of server CPU per
 * handshake, measured with the handshake benchmark). At --log-level debug every line is written.
 */
// perf_hooks' object, not the global: globalThis.performance is a getter, run at every use.
import { performance } from 'node:perf_hooks';
import type { Logger } from '../log';
import type { DisconnectReason } from './events';

export const DEFAULT_CONNECTION_LINES_PER_SECOND = 100;
const WINDOW_MS = 1_000;

export class ConnectionLines {
  private windowStart = Number.NEGATIVE_INFINITY;
  private written = 0;
  private connected = 0;
  private disconnected = 0;
  private reasons: Partial<Record<DisconnectReason, number>> = {};
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly logger: Logger,
    private readonly perSecond = DEFAULT_CONNECTION_LINES_PER_SECOND,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether this connect gets its own line; if not, it is counted for the summary. */
  connect(): boolean {
    if (this.admit()) return true;
    this.connected++;
    return false;
  }

  /** Whether this disconnect gets its own line; if not, it is counted (with its reason). */
  disconnect(reason: DisconnectReason): boolean {
    if (this.admit()) return true;
    this.disconnected++;
    this.reasons[reason] = (this.reasons[reason] ?? 0) + 1;
    return false;
  }

  /** Writes the pending summary now (shutdown) and stops its timer. */
  close(): void {
    this.summarize();
  }

  private admit(): boolean {
    if (this.logger.isLevelEnabled('debug')) return true;
    const now = this.now();
    if (now - this.windowStart >= WINDOW_MS && this.timer === undefined) {
      this.windowStart = now;
      this.written = 0;
    }
    if (this.written < this.perSecond) {
      this.written++;
      return true;
    }
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.summarize(), Math.max(0, this.windowStart + WINDOW_MS - now));
      this.timer.unref();
    }
    return false;
  }

  private summarize(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.connected === 0 && this.disconnected === 0) return;
    const { connected, disconnected, reasons } = this;
    this.connected = 0;
    this.disconnected = 0;
    this.reasons = {};
    // The next line opens a new window.
    this.windowStart = Number.NEGATIVE_INFINITY;
    this.logger.info(
      { event: 'connections', connected, disconnected, reasons, perSecond: this.perSecond },
      `${connected} more agents connected and ${disconnected} disconnected in the last second without a line each ` +
        `(more than ${this.perSecond} lines a second; --log-level debug writes every one)`,
    );
  }
}
