/**
 * The bearer-token check every /api call goes through.
 */
import { secretsEqual } from '../security/secrets';

/** Whether an Authorization header carries `Bearer <token>`. */
export function bearerMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || token === '') return false;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  if (match === null) return false;
  return secretsEqual(match[1]!, token);
}
