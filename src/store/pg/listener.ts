/**
 * The dedicated LISTEN connection: one pg.Client outside the pool (a pooled connection may be
 * closed while idle, and LISTEN lives and dies with its session). It reports each payload on
 * the channel, and reports ONCE when the connection is lost — by error, by end, or by a
 * failed periodic health query, which catches a silently dead peer long before TCP does.
 * It never reconnects by itself: the store decides when, so it can resync first.
 */
import { Client, type ClientConfig } from 'pg';

export interface ListenerEvents {
  notification(payload: string): void;
  lost(err: Error): void;
}

export interface ListenerOptions {
  /** How often to run `SELECT 1` on the connection; a failure counts as lost. */
  healthCheckIntervalMs: number;
}

export class PgListener {
  private client: Client | undefined;
  private healthTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly clientConfig: ClientConfig,
    private readonly channel: string,
    private readonly options: ListenerOptions,
    private readonly events: ListenerEvents,
  ) {}

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Connect and LISTEN; replaces (and closes) any previous connection without reporting it. */
  async connect(): Promise<void> {
    if (this.closed) throw new Error('LISTEN connection closed');
    this.detach()?.end().catch(() => undefined);
    const client = new Client(this.clientConfig);
    // Until `this.client === client` these handlers ignore the client: a failure while
    // connecting rejects connect() instead of being reported as a loss, and a notification
    // parsed before connect() returns is dropped — callers read a snapshot after connect(),
    // which holds that change.
    client.on('error', (err) => this.lose(client, err));
    client.on('end', () => this.lose(client, new Error('LISTEN connection closed')));
    client.on('notification', (msg) => {
      if (client === this.client && msg.channel === this.channel) this.events.notification(msg.payload ?? '');
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${client.escapeIdentifier(this.channel)}`);
    } catch (err) {
      client.end().catch(() => undefined);
      throw err;
    }
    if (this.closed) {
      // close() ran while we were connecting: this connection must not outlive it.
      await client.end().catch(() => undefined);
      throw new Error('LISTEN connection closed');
    }
    this.client = client;
    this.scheduleHealthCheck(client);
  }

  /** End the current connection, if any, without reporting it; connect() may follow. */
  async disconnect(): Promise<void> {
    await this.detach()?.end().catch(() => undefined);
  }

  /** End for good: a connect() in progress ends its own connection and fails. */
  async close(): Promise<void> {
    this.closed = true;
    await this.disconnect();
  }

  /** Forget the current connection (the caller ends it) and stop its health checks. */
  private detach(): Client | undefined {
    const client = this.client;
    this.client = undefined;
    if (this.healthTimer) clearTimeout(this.healthTimer);
    this.healthTimer = undefined;
    return client;
  }

  private lose(client: Client, err: Error): void {
    if (client !== this.client) return;
    this.detach();
    client.end().catch(() => undefined);
    this.events.lost(err);
  }

  private scheduleHealthCheck(client: Client): void {
    this.healthTimer = setTimeout(() => {
      client.query('SELECT 1').then(
        () => {
          if (client === this.client) this.scheduleHealthCheck(client);
        },
        (err: Error) => this.lose(client, err),
      );
    }, this.options.healthCheckIntervalMs);
  }
}
