/**
 * Bearer-token checks for mutating admin calls.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

function digest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Constant-time equality of two secrets. Both sides are hashed first so the time does not
 * depend on where they differ nor leak the secret's length (timingSafeEqual needs equal
 * lengths, and an early length check would).
 */
export function secretsEqual(presented: string, secret: string): boolean {
  return timingSafeEqual(digest(presented), digest(secret));
}

/**
 * Whether an Authorization header carries `Bearer <token>`. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || token === '') return false;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (match === null) return false;
  return secretsEqual(match[1]!, token);
}
