/**
 * Which failures of a PostgreSQL call mean "the database cannot be reached" (callers answer
 * 503 and the store reconnects in the background) and which are real errors to pass on.
 */
import { DatabaseError } from 'pg';
import { SettingsConflictError, StoreUnavailableError } from '../types';
import { SettingsError } from '../../settings/types';

/**
 * SQLSTATE classes and codes that say the server is gone, refusing us, or overloaded:
 * 08 connection exception, 28 authentication, 3D database missing, 53 insufficient
 * resources (e.g. too many connections), 57 operator intervention (shutdown, restart,
 * statement timeout), 55000 database not accepting connections.
 */
const UNAVAILABLE_SQLSTATE_CLASSES = ['08', '28', '3D', '53', '57'];
const UNAVAILABLE_SQLSTATES = ['55000'];

/**
 * True when `err` means the database is unreachable. Anything that is not an error answered
 * by the server (socket errors, "Connection terminated", client-side timeouts) is transport
 * trouble by construction: node-postgres raises DatabaseError for every server answer.
 * JavaScript's own error types are bugs, not outages, and the store's own refusals are
 * answers: both are passed on as they are.
 */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof StoreUnavailableError) return true;
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) return false;
  if (err instanceof SettingsError || err instanceof SettingsConflictError || err instanceof PgStoreInputError) return false;
  if (!(err instanceof DatabaseError)) return true;
  const code = err.code ?? '';
  return UNAVAILABLE_SQLSTATE_CLASSES.includes(code.slice(0, 2)) || UNAVAILABLE_SQLSTATES.includes(code);
}

/** A readable one-line reason for logs and status(). */
export function describeError(err: unknown): string {
  if (err instanceof DatabaseError) return `${err.message} (SQLSTATE ${err.code ?? 'unknown'})`;
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code ? `${err.message} (${code})` : err.message;
  }
  return String(err);
}

/** `err` as the caller should see it: unavailability becomes StoreUnavailableError. */
export function toStoreError(err: unknown): unknown {
  if (err instanceof StoreUnavailableError || !isUnavailable(err)) return err;
  return new StoreUnavailableError(`PostgreSQL unavailable: ${describeError(err)}`);
}

/** A value PostgreSQL cannot store (e.g. a NUL character in text), refused before sending. */
export class PgStoreInputError extends Error {
  readonly code = 'bad_input';
  constructor(message: string) {
    super(message);
    this.name = 'PgStoreInputError';
  }
}
