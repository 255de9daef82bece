/**
 * The `--store` URL of a command (the server's, `ca revoke`'s) and its check, without loading
 * the PostgreSQL client: `agentlb ca init` and `--help` must not pay for pg
 * (test/cli/lazy-commands.test.ts).
 */
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
