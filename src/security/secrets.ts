/**
 * Constant-time comparison of secrets (the admin bearer token, the agents' enrolment token).
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
