/**
 * Keeps this server's record in the server registry fresh: one heartbeat at start, then one
 * every interval (each after the previous has finished, so a slow database never piles them
 * up). A failed beat is logged once per outage and retried at the next tick; it never stops
 * the server, which keeps serving its agents while the registry is unreachable.
 */
import type { Logger } from '../../log';
import type { ServerRegistry } from '../../store/types';

export interface HeartbeatOptions {
  registry: Pick<ServerRegistry, 'heartbeat'>;
  /** The registry key: the address agents use for this server. */
  address: string;
  /** ISO-8601 time this server started. */
  startedAt: string;
  /** Agents connected now (read at every beat). */
  agents: () => number;
  intervalMs: number;
  logger: Logger;
}

export class HeartbeatLoop {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> = Promise.resolve();
  private failing = false;
  private stopped = false;

  constructor(private readonly options: HeartbeatOptions) {}

  /** Beats once now (resolves when that beat has succeeded or failed), then every interval. */
  start(): Promise<void> {
    this.beat();
    return this.inFlight;
  }

  /** No more beats; resolves once a beat in progress has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }

  private beat(): void {
    const { registry, address, startedAt, agents, logger, intervalMs } = this.options;
    this.inFlight = registry
      .heartbeat({ address, startedAt, agents: agents() })
      .then(
        () => {
          if (this.failing) logger.info({ event: 'heartbeat_restored', address }, 'server registry heartbeat restored');
          this.failing = false;
        },
        (error: unknown) => {
          if (!this.failing) {
            logger.warn({ event: 'heartbeat_failed', address, err: error }, `server registry heartbeat failed: ${(error as Error).message}`);
          }
          this.failing = true;
        },
      )
      .then(() => {
        if (this.stopped) return;
        this.timer = setTimeout(() => this.beat(), intervalMs);
        // The listeners keep the process alive; a pending beat must not.
        this.timer.unref();
      });
  }
}
