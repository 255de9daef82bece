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
import { UsageError } from './args';

/** A `--store` value that is not a PostgreSQL URL. */
export class StoreUrlError extends Error {
  readonly code = 'bad_store_url';
  constructor(message: string) {
    super(message);
    this.name = 'StoreUrlError';
  }
}

const SCHEMES = ['postgres:', 'postgresql:'];

/**
 * Checks a `--store` value. The message never repeats the value: a URL may carry the
 * database password, and usage errors end up in terminals and logs.
 */
export function checkStoreUrl(value: string): StoreUrlError | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return new StoreUrlError('must be a URL: postgres://USER:PASSWORD@HOST:PORT/DATABASE');
  }
  if (!SCHEMES.includes(url.protocol)) {
    return new StoreUrlError(`must be a postgres:// or postgresql:// URL, got a ${url.protocol}// URL`);
  }
  if (url.hostname === '' && !url.searchParams.has('host')) return new StoreUrlError('must name the database host: postgres://HOST:PORT/DATABASE');
  return undefined;
}

/**
 * The store URL of a command: `--store`, else AGENTLB_STORE (empty means unset); undefined
 * when neither is given. A bad value is a UsageError naming where it came from, never the URL.
 */
export function storeUrlOption(flagValue: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const fromEnv = env['AGENTLB_STORE'] === '' ? undefined : env['AGENTLB_STORE'];
  const value = flagValue ?? fromEnv;
  if (value === undefined) return undefined;
  const problem = checkStoreUrl(value);
  if (problem !== undefined) throw new UsageError(`${flagValue === undefined ? 'AGENTLB_STORE' : '--store'} ${problem.message}`);
  return value;
}

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
