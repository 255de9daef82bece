/**
 * Cluster mode's store: `agentlb server --store postgres://...` (or AGENTLB_STORE) puts
 * settings, hosts and the server registry in PostgreSQL, shared by every server of the fleet.
 * Without it the server keeps its embedded data directory.
 */
import type { Logger } from '../log';
import { PgStore } from '../store/pg/store';

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
