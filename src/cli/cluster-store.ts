/**
 * Cluster mode's store: `agentlb server --store postgres://...` (or AGENTLB_STORE) puts
 * settings, hosts and the server registry in PostgreSQL, shared by every server of the fleet.
 * Without it the server keeps its embedded data directory.
 */
import { Client, DatabaseError } from 'pg';
import { describeError } from '../store/pg/errors';
import type { Logger } from '../log';
import { migrate } from '../store/pg/schema';
import type { Queryable } from '../store/pg/queries';
import { PgStore } from '../store/pg/store';

export { checkStoreUrl, StoreUrlError, storeUrlOption } from './store-url';

/** The store could not be reached or used by a one-shot command; the message names no password. */
export class StoreCommandError extends Error {
  readonly code = 'store_failed';
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = 'StoreCommandError';
  }
}

/**
 * One connection to the cluster's PostgreSQL for a one-shot command (`ca revoke --store`):
 * the schema brought up to date first (as a server would at start), then `work`, then closed.
 */
export async function withStoreConnection<T>(url: string, work: (db: Queryable) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000, statement_timeout: 30_000, application_name: 'agentlb-cli' });
  client.on('error', () => undefined); // a connection lost after connect() fails the next query instead
  try {
    await client.connect();
    await migrate(client);
  } catch (error) {
    await client.end().catch(() => undefined);
    throw new StoreCommandError(`cannot use the cluster store: ${describeError(error)}`, { cause: error });
  }
  try {
    return await work(client);
  } catch (error) {
    // The database's answers and lost connections name themselves; the command's own errors pass.
    if (error instanceof DatabaseError || (error instanceof Error && /Connection terminated|ECONN|timeout/i.test(`${error.message} ${(error as NodeJS.ErrnoException).code ?? ''}`))) {
      throw new StoreCommandError(`the cluster store failed: ${describeError(error)}`, { cause: error });
    }
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface ClusterStoreOptions {
  logger: Logger;
  /** This server's heartbeat period; a server silent for three of them is listed as down. */
  heartbeatIntervalMs: number;
}

/** The shared PostgreSQL store for `url` (checked with checkStoreUrl first). */
export function createClusterStore(url: string, options: ClusterStoreOptions): PgStore {
  return new PgStore({
    connectionString: url,
    log: options.logger,
    serverDownAfterMs: 3 * options.heartbeatIntervalMs,
  });
}
